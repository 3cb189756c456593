"""Single-thread encode throughput of tokenforge against each real tokenizer file's own library.

Methodology
-----------
* Files: every ``tokenizer.json`` and SentencePiece ``.model`` fetched by
  ``scripts/fetch_test_tokenizers.py`` (``make test-tokenizers``), plus the WordPiece ``vocab.txt``
  and the ``vocab.json + merges.txt`` folder. The reference is the file's own library: HF
  ``tokenizers`` (``TOKENIZERS_PARALLELISM=false``) for the HF formats, ``sentencepiece`` for
  ``.model``.
* Text: documents that neither library has seen before in the process (their caches start cold for
  them): English paragraphs, source code and UDHR articles in every shipped language, shuffled with
  a fixed seed, about ``--mb`` MB of UTF-8. A separate warm-up set of other documents is encoded
  first. Throughput is input bytes (10**6 per MB) over wall time.
* Calls: one single-text call per document, on one thread: tokenforge ``encode_ordinary``
  (``encode(..., allowed_special="all")`` for HF files, whose added tokens HF always matches),
  HF ``encode(text, add_special_tokens=False)`` with ``.ids`` taken, ``SentencePieceProcessor.encode``.
* Timing: ``--repeat`` rounds taking turns between the two libraries. Every round loads both
  tokenizers afresh (untimed) and encodes the warm-up set with each before the timed documents, so
  no round sees text an earlier round or the id check cached. The best round is reported (least
  disturbed by other load on the machine) with the median, and the ratio compares best rounds.
  ``diff`` counts timed documents whose ids differ, checked after the timed rounds.
* A file tokenforge cannot load yet appears as ``unsupported: reason``.

Usage: ``python bench/families.py [--mb 1] [--repeat 3] [--only NAME ...]``; the table goes to
stdout, the results to ``bench/results/families.json``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # before tokenizers is imported

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import fetch_test_tokenizers as real_files  # noqa: E402

import tokenforge as tf  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "families.json"


def build_documents(megabytes: float, seed: int = 2026) -> tuple[list[str], list[str]]:
    """(warm-up documents, timed documents), disjoint, shuffled with a fixed seed."""
    from tokenforge import data

    docs = list(data.english_paragraphs())
    docs += [doc["text"] for doc in data.code_documents()]
    for language in data.udhr_languages():
        docs.append(data.udhr_text(language["code"]))
    docs = [d for d in docs if d.strip()]
    random.Random(seed).shuffle(docs)
    warm, timed, size = docs[:50], [], 0
    for doc in docs[50:]:
        timed.append(doc)
        size += len(doc.encode("utf-8"))
        if size >= megabytes * 1e6:
            break
    return warm, timed


def _targets(only: Sequence[str]) -> list[tuple[str, str, str, Path]]:
    """(label, family, reference, path) of every benchmarked file."""
    out = []
    for entry in real_files.find_all():
        if only and entry.name not in only:
            continue
        if entry.filename in ("tokenizer.json", "vocab.txt") or (
            entry.filename == "tokenizer.model" and entry.reference == "sentencepiece"
        ):
            label = entry.name if entry.filename != "vocab.txt" else f"{entry.name} (vocab.txt)"
            out.append((label, entry.family, entry.reference, entry.path))
        elif entry.filename == "vocab.json":
            out.append((f"{entry.name} (vocab.json)", entry.family, "tokenizers", entry.path))
    return out


def _reference(reference: str, path: Path) -> Callable[[str], list[int]]:
    if reference == "sentencepiece":
        import sentencepiece

        sp = sentencepiece.SentencePieceProcessor(model_file=str(path))
        return sp.encode
    import tokenizers

    if path.name == "vocab.txt" and (path.parent / "tokenizer.json").exists():
        hf = tokenizers.Tokenizer.from_file(str(path.parent / "tokenizer.json"))
    elif path.name == "vocab.txt":
        # A bare vocab.txt (bert-base-chinese from cn-clip): HF's engine on the pipeline HF's
        # BertWordPieceTokenizer builds from it, which is the document tokenforge reads it as.
        from tokenforge.formats.vocab_files import read_vocab_txt

        hf = tokenizers.Tokenizer.from_str(json.dumps(read_vocab_txt(path)))
    elif path.name == "vocab.json":
        hf = tokenizers.Tokenizer(tokenizers.models.BPE.from_file(str(path), str(path.parent / "merges.txt")))
        hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        hf = tokenizers.Tokenizer.from_file(str(path))
    # Some files configure truncation (all-MiniLM: 128 tokens); tokenforge encodes whole texts.
    hf.no_truncation()
    hf.no_padding()
    return lambda text: hf.encode(text, add_special_tokens=False).ids


def _ours(reference: str, path: Path) -> Callable[[str], list[int]]:
    tok = tf.load(path)
    if reference == "sentencepiece" or path.name == "vocab.json":
        return tok.encode_ordinary
    return lambda text: tok.encode(text, allowed_special="all")


def _time(encode: Callable[[str], list[int]], docs: list[str]) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        for doc in docs:
            encode(doc)
        return time.perf_counter() - start
    finally:
        gc.enable()


def run(
    megabytes: float, repeat: int, only: Sequence[str], log: Callable[[str], None]
) -> list[dict[str, Any]]:
    warm, docs = build_documents(megabytes)
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    rows = []
    for label, family, reference, path in _targets(only):
        row: dict[str, Any] = {"file": label, "family": family, "reference": reference, "bytes": nbytes}
        try:
            ours = _ours(reference, path)
        except tf.UnsupportedTokenizerError as exc:
            row["tokenforge"] = f"unsupported: {str(exc)[:120]}"
            rows.append(row)
            log(f"{label}: unsupported by tokenforge")
            continue
        times: dict[str, list[float]] = {"tokenforge": [], reference: []}
        for round_ in range(repeat):
            # Fresh instances each round: their caches have seen only the warm-up set.
            if round_:
                ours = _ours(reference, path)
            theirs = _reference(reference, path)
            for doc in warm:
                ours(doc)
                theirs(doc)
            times["tokenforge"].append(_time(ours, docs))
            times[reference].append(_time(theirs, docs))
        row["differing_documents"] = sum(ours(d) != theirs(d) for d in docs)
        for lib, values in times.items():
            row[f"{lib}_mb_s_best"] = nbytes / 1e6 / min(values)
            row[f"{lib}_mb_s_median"] = nbytes / 1e6 / statistics.median(values)
        row["ratio"] = row["tokenforge_mb_s_best"] / row[f"{reference}_mb_s_best"]
        rows.append(row)
        log(f"{label}: {row['ratio']:.2f}x")
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        f"{'file':<28} {'family':<18} {'reference':<14} {'tokenforge MB/s':>16} "
        f"{'reference MB/s':>15} {'ratio':>7} {'diff':>5}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        if "ratio" not in row:
            lines.append(f"{row['file']:<28} {row['family']:<18} {row['reference']:<14} {row['tokenforge']}")
            continue
        ref = row["reference"]
        lines.append(
            f"{row['file']:<28} {row['family']:<18} {ref:<14} "
            f"{row['tokenforge_mb_s_best']:>8.2f} ({row['tokenforge_mb_s_median']:>5.2f}) "
            f"{row[f'{ref}_mb_s_best']:>7.2f} ({row[f'{ref}_mb_s_median']:>5.2f}) "
            f"{row['ratio']:>6.2f}x {row['differing_documents']:>5}"
        )
    lines.append("MB/s: best of the rounds on unseen text (median); diff: timed documents whose ids differ")
    return "\n".join(lines)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=1.0, help="MB of timed text (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--only", nargs="*", default=(), metavar="NAME", help="only these files")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)
    rows = run(args.mb, args.repeat, args.only, lambda m: print(m, file=sys.stderr, flush=True))
    print(format_table(rows))
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "versions": {n: _version(n) for n in ("tokenforge", "tokenizers", "sentencepiece")},
        "args": {"mb": args.mb, "repeat": args.repeat, "only": list(args.only)},
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
