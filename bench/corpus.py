"""Corpus encoding at scale: build a mixed text directory of ``--gb`` GB from the shipped data, encode
it with ``tokenforge encode`` in a child process, report wall time, MB/s and the child's peak RSS
(its own ``VmHWM``: ``ru_maxrss`` survives fork + exec and can report this launcher's peak),
then stream the shards back and check every document decodes to its input exactly.

    .venv/bin/python bench/corpus.py --gb 1 --vocab cl100k_base --threads 2

The directory holds English ``.txt`` files (a paragraph per line), code as ``.jsonl`` and UDHR text
as ``.jsonl.gz``; documents are varied by a running number so the piece cache cannot make the run
unrealistically cheap. Results go to ``bench/results/corpus.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "corpus.json"

# `tokenforge encode` (argv[2:]) in this child, which writes its peak RSS in MB (VmHWM, this process
# image only) to argv[1] when it ends.
_ENCODE_MEASURED = """
import sys
from tokenforge.cli import main
code = main(sys.argv[2:])
with open("/proc/self/status") as f:
    peak_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
with open(sys.argv[1], "w") as out:
    out.write(str(peak_kb / 1024))
sys.exit(code)
"""


def build(root: Path, gigabytes: float) -> tuple[int, int]:
    """Writes the corpus; returns (UTF-8 bytes of document text, documents)."""
    from tokenforge import data

    english = list(data.english_paragraphs())
    code = [d["text"] for d in data.code_documents()]
    udhr = [data.udhr_text(v["code"]).replace("\n", " ") for v in data.udhr_languages()]
    target = int(gigabytes * 1e9)
    written = docs = 0
    part = 0
    while written < target:
        with open(root / f"english-{part:03d}.txt", "w", encoding="utf-8") as f:
            for i, p in enumerate(english):
                text = f"{p} ({part}.{i})"
                f.write(text + "\n")
                written += len(text.encode())
                docs += 1
        with open(root / f"code-{part:03d}.jsonl", "w", encoding="utf-8") as f:
            for i, t in enumerate(code):
                text = f"# {part}.{i}\n{t}"
                f.write(json.dumps({"text": text}) + "\n")
                written += len(text.encode())
                docs += 1
        with gzip.open(root / f"udhr-{part:03d}.jsonl.gz", "wt", encoding="utf-8", compresslevel=1) as f:
            for i, t in enumerate(udhr):
                text = f"{t} {part}.{i}"
                f.write(json.dumps({"text": text}) + "\n")
                written += len(text.encode())
                docs += 1
        part += 1
    return written, docs


def documents(root: Path) -> Iterator[str]:
    """The input documents in the order `tokenforge encode` reads them (sorted file names)."""
    from tokenforge.corpus import expand_inputs

    for source in expand_inputs([root]):
        yield from source.documents()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--vocab", default="cl100k_base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None, help="where to build (default: a temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tokenforge-corpus-", dir=args.workdir) as tmp:
        root, out = Path(tmp) / "corpus", Path(tmp) / "shards"
        root.mkdir()
        t = time.perf_counter()
        nbytes, ndocs = build(root, args.gb)
        print(f"built {nbytes / 1e9:.2f} GB, {ndocs:,} documents in {time.perf_counter() - t:.0f} s")
        peak_file = Path(tmp) / "peak-mb"
        command = [
            sys.executable, "-c", _ENCODE_MEASURED, str(peak_file),
            "encode", str(root), "-t", args.vocab, "-o", str(out),
            "--threads", str(args.threads), "--eos", "<|endoftext|>", "-q",
        ]  # fmt: skip
        t = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - t
        peak_mb = float(peak_file.read_text())
        manifest = json.loads((out / "manifest.json").read_text())
        print(
            f"encoded in {seconds:.1f} s = {nbytes / 1e6 / seconds:.1f} MB/s; peak RSS {peak_mb:.0f} MB; "
            f"{manifest['totals']['tokens']:,} tokens in {manifest['totals']['shards']} shard(s)"
        )

        import tokenforge
        from tokenforge.corpus import read_corpus

        tok = tokenforge.load(args.vocab)
        t = time.perf_counter()
        checked = mismatches = 0
        decoded_docs = read_corpus(out)
        for text in documents(root):
            ids = next(decoded_docs).tolist()
            if ids[-1] != tok.special_tokens["<|endoftext|>"] or tok.decode(ids[:-1]) != text:
                mismatches += 1
            checked += 1
        leftover = sum(1 for _ in decoded_docs)
        print(
            f"verified {checked:,} documents in {time.perf_counter() - t:.0f} s: {mismatches} mismatches, "
            f"{leftover} extra documents in the shards"
        )
        result = {
            "benchmark": "corpus",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "vocab": args.vocab,
            "threads": args.threads,
            "input_bytes": nbytes,
            "documents": ndocs,
            "tokens": manifest["totals"]["tokens"],
            "shards": manifest["totals"]["shards"],
            "seconds": round(seconds, 2),
            "mb_s": round(nbytes / 1e6 / seconds, 2),
            "peak_rss_mb": round(peak_mb),
            "verified_documents": checked,
            "mismatches": mismatches,
            "extra_documents": leftover,
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        return 0 if mismatches == 0 and leftover == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
