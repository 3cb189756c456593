"""Training benchmark: byte-level BPE with tokenforge vs HF tokenizers, SentencePiece (BPE), bpeasy
and youtokentome on the same English corpus; Unigram with tokenforge vs SentencePiece; then
SuperBPE vs BPE with a sweep of the transition.

    .venv/bin/python bench/build_corpus.py                # once: ~100 MB from Debian docs (cached)
    .venv/bin/python bench/train.py                       # 20 MB prefix, all libraries
    .venv/bin/python bench/train.py --mb 100              # the full corpus
    .venv/bin/python bench/train.py --mb 30 --libraries unigram-tokenforge,unigram-sentencepiece
    .venv/bin/python bench/train.py --mb 30 --libraries tokenforge,unigram-tokenforge,lib-tokenforge \
        --json bench/results/train-lib.json       # LiB vs BPE vs Unigram at equal vocabulary size
    .venv/bin/python bench/train.py --mb 100 --superbpe   # plus the SuperBPE t sweep (tokenforge)

Each library trains in its own child process, so peak RSS (the child's VmHWM) and wall time are
its own; the child then measures bytes per token on held-out text (not timed). The table is
printed and everything goes to ``bench/results/train.json``.

What is compared, and how fairly:

* ``tokenforge-gpt2`` and gigabpe are byte-level BPE with GPT-2's pre-tokenizer (gigabpe's
  ``bytelevel``), same vocabulary size, min_frequency 2 and ``--threads`` threads.
* tokenforge, HF tokenizers and bpeasy are byte-level BPE with the same pre-tokenizer (cl100k's
  regex; HF gets the Oniguruma spelling tokenforge writes into tokenizer.json), the same vocabulary
  size, min_frequency 2 where the library has it, and ``--threads`` threads where it can use them.
* SentencePiece (BPE, byte fallback) and youtokentome are not byte-level and pre-tokenize on
  whitespace in their own way; their bytes/token are shown for reference.
* Bytes/token is UTF-8 bytes of the held-out text divided by the number of tokens each library's own
  encoder produces (special tokens never occur in it).
* Unigram: both trainers get the same options (byte fallback, character coverage 0.9995, pieces
  of at most 16 characters, identity normalization without whitespace collapsing, every line of
  the corpus, ``--threads`` threads); both models are encoded by sentencepiece itself (tokenforge
  writes a ``.model``), line by line.
* LiB (``lib-tokenforge``, the paper's settings, one pass) is saved as a Unigram ``.model`` and
  encoded the same way; its ratios are against SentencePiece's Unigram when that row ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LIBRARIES = (
    "tokenforge",
    "tokenforge-gpt2",
    "gigabpe",
    "tokenizers",
    "sentencepiece",
    "bpeasy",
    "youtokentome",
)
#: Models written as SentencePiece .model files (encoded by sentencepiece itself); LiB's
#: vocabulary is saved as a Unigram model, so it is compared with the Unigram trainers.
UNIGRAM_LIBRARIES = ("unigram-tokenforge", "unigram-sentencepiece", "lib-tokenforge")
EOT = "<|endoftext|>"


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------------------------------------- child


def _child(args: argparse.Namespace) -> dict[str, Any]:
    """Trains with one library (in this process), then measures bytes/token on the held-out text."""
    lib, path, vocab, threads = args.child, args.input, args.vocab, args.threads
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from tokenforge.train.config import TRAIN_PATTERNS

    pattern = TRAIN_PATTERNS["cl100k"]
    encode: Any
    result: dict[str, Any] = {}
    base = _status("VmRSS")
    import resource

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    if lib in ("tokenforge", "tokenforge-gpt2"):
        import tokenforge as tf

        t0 = time.perf_counter()
        tok = tf.train(
            Path(path),
            vocab_size=vocab,
            algorithm=args.algorithm,
            transition=args.transition,
            pretokenizer="gpt2" if lib == "tokenforge-gpt2" else args.pretokenizer,
            special_tokens=[EOT],
            num_threads=threads,
        )
        seconds = time.perf_counter() - t0
        tok.save(out / "tokenizer.json")
        encode = tok.encode_ordinary
        result["n_vocab"] = tok.n_vocab
    elif lib == "tokenizers":
        from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

        from tokenforge.formats.regex_dialect import engine_to_hf

        hf = Tokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(engine_to_hf(pattern)), "isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab,
            min_frequency=2,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=[EOT],
            show_progress=False,
        )
        t0 = time.perf_counter()
        hf.train([path], trainer)
        seconds = time.perf_counter() - t0
        hf.save(str(out / "tokenizer.json"))
        result["n_vocab"] = hf.get_vocab_size()

        def encode(text: str) -> list[int]:
            return hf.encode(text, add_special_tokens=False).ids

    elif lib == "sentencepiece":
        import sentencepiece as spm

        t0 = time.perf_counter()
        spm.SentencePieceTrainer.train(
            input=path,
            model_prefix=str(out / "spm"),
            vocab_size=vocab,
            model_type="bpe",
            character_coverage=1.0,
            byte_fallback=True,
            num_threads=threads,
            input_sentence_size=0,
            max_sentence_length=1 << 16,
            user_defined_symbols=[EOT],
            minloglevel=2,
        )
        seconds = time.perf_counter() - t0
        sp = spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
        result["n_vocab"] = sp.get_piece_size()

        def encode(text: str) -> list[int]:
            return [i for line in text.split("\n") for i in sp.encode(line)]

    elif lib == "gigabpe":
        import gigabpe
        from tokenizers import Tokenizer

        # gigabpe's byte-level pre-tokenizer is GPT-2's (HF ByteLevel); compare with tokenforge-gpt2.
        t0 = time.perf_counter()
        gigabpe.train_tokenizer(
            [path],
            vocab,
            str(out / "tokenizer.json"),
            special_tokens=[EOT],
            min_frequency=2,
            pretokenizer="bytelevel",
            threads=threads,
        )
        seconds = time.perf_counter() - t0
        giga = Tokenizer.from_file(str(out / "tokenizer.json"))
        result["n_vocab"] = giga.get_vocab_size()

        def encode(text: str) -> list[int]:
            return giga.encode(text, add_special_tokens=False).ids

    elif lib == "bpeasy":
        import bpeasy
        import tiktoken

        def lines() -> Any:
            with open(path, encoding="utf-8") as f:
                yield from f

        t0 = time.perf_counter()
        ranks = bpeasy.train_bpe(lines(), pattern, 128, vocab - 1)
        seconds = time.perf_counter() - t0
        enc = tiktoken.Encoding(
            "bpeasy", pat_str=pattern, mergeable_ranks=ranks, special_tokens={EOT: len(ranks)}
        )
        encode = enc.encode_ordinary
        result["n_vocab"] = enc.n_vocab
    elif lib == "youtokentome":
        import youtokentome as yttm

        t0 = time.perf_counter()
        bpe = yttm.BPE.train(data=path, model=str(out / "yttm.model"), vocab_size=vocab, n_threads=threads)
        seconds = time.perf_counter() - t0
        result["n_vocab"] = bpe.vocab_size()

        def encode(text: str) -> list[int]:
            return [i for ids in bpe.encode(text.split("\n")) for i in ids]

    elif lib in UNIGRAM_LIBRARIES:
        import sentencepiece as spm

        t0 = time.perf_counter()
        if lib in ("unigram-tokenforge", "lib-tokenforge"):
            import tokenforge as tf

            algorithm = lib.split("-")[0]
            model = tf.train(Path(path), algorithm=algorithm, vocab_size=vocab, num_threads=threads)
            seconds = time.perf_counter() - t0
            model.save(out / "tokenizer.json")
            model.save(out / "spm.model")
        else:
            spm.SentencePieceTrainer.train(
                input=path,
                model_prefix=str(out / "spm"),
                vocab_size=vocab,
                model_type="unigram",
                byte_fallback=True,
                character_coverage=0.9995,
                normalization_rule_name="identity",
                remove_extra_whitespaces=False,
                num_threads=threads,
                input_sentence_size=0,
                max_sentence_length=1 << 16,
                minloglevel=2,
            )
            seconds = time.perf_counter() - t0
        sp = spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
        result["n_vocab"] = sp.get_piece_size()

        def encode(text: str) -> list[int]:
            return [i for line in text.split("\n") for i in sp.encode(line)]

    else:
        raise SystemExit(f"unknown library {lib}")
    peak = _status("VmHWM")
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    result.update(
        {
            "seconds": round(seconds, 3),
            # CPU time of all threads (training and saving): the fairer figure on a busy machine.
            "cpu_seconds": round(cpu, 2),
            "peak_rss_mb": round(peak / 2**20, 1),
            "base_rss_mb": round(base / 2**20, 1),
        }
    )
    for name, held in (("heldout", args.heldout), ("prose", args.prose)):
        if held:
            text = Path(held).read_text(encoding="utf-8")
            result[f"bytes_per_token_{name}"] = round(len(text.encode()) / max(1, len(encode(text))), 4)
    return result


# --------------------------------------------------------------------------------------------- parent


def _prefix(source: Path, mb: float, into: Path) -> Path:
    """The first ``mb`` MB of ``source`` (cut at a line end), cached."""
    target = into / f"train-{mb:g}MB.txt"
    if target.exists():
        return target
    limit = int(mb * 1e6)
    with source.open("rb") as f:
        data = f.read(limit)
    if len(data) == limit:
        data = data[: data.rfind(b"\n") + 1]
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def _prose_file(into: Path) -> Path:
    """Held-out English prose: the Brown paragraphs shipped with tokenforge (not in the corpus)."""
    target = into / "prose-brown.txt"
    if not target.exists():
        from tokenforge.data import english_paragraphs

        target.write_text("\n".join(english_paragraphs()) + "\n", encoding="utf-8")
    return target


def _run(child_args: list[str], threads: int, timeout: float) -> dict[str, Any]:
    env = dict(os.environ)
    env["RAYON_NUM_THREADS"] = str(threads)
    env["TOKENIZERS_PARALLELISM"] = "true"
    env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, str(Path(__file__).resolve()), *child_args]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"timeout after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"status": f"failed: {tail[:200]}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["status"] = "ok"
    result["process_seconds"] = round(time.perf_counter() - t0, 2)
    return result


def _available(lib: str) -> str | None:
    module = {"tokenforge-gpt2": "tokenforge"}.get(lib, lib)
    if lib in UNIGRAM_LIBRARIES:
        module = "sentencepiece"
    try:
        __import__(module)
    except ImportError as exc:
        return f"not installed ({exc.name}); make bench-train installs it"
    return None


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    cells = [[h for h, _ in columns]]
    for r in rows:
        cells.append(["" if r.get(k) is None else str(r.get(k)) for _, k in columns])
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mb", type=float, default=20.0, help="corpus size in MB (prefix of the corpus; default 20)"
    )
    parser.add_argument("--vocab", type=int, default=32000, help="vocabulary size (default 32000)")
    parser.add_argument(
        "--threads", type=int, default=2, help="threads for libraries that use them (default 2)"
    )
    parser.add_argument("--libraries", default=",".join(LIBRARIES), help="comma-separated subset")
    parser.add_argument(
        "--corpus", type=Path, default=None, help="corpus directory (default: build_corpus's)"
    )
    parser.add_argument("--superbpe", action="store_true", help="also run the SuperBPE vs BPE sweep")
    parser.add_argument("--sweep-vocab", default="32000,64000", help="vocabulary sizes of the SuperBPE sweep")
    parser.add_argument(
        "--sweep-t",
        default="0.25,0.5,0.625,0.75,0.875",
        help="transitions as fractions of the learned tokens",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="per-run timeout in seconds")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "train.json")
    # Internal: one training run in this process.
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--heldout", help=argparse.SUPPRESS)
    parser.add_argument("--prose", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--algorithm", default="bpe", help=argparse.SUPPRESS)
    parser.add_argument("--transition", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--pretokenizer", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args)))
        return 0

    sys.path.insert(0, str(HERE))
    import build_corpus

    corpus_dir = args.corpus or build_corpus.default_dir()
    if not (corpus_dir / "train.txt").exists():
        print(f"building the corpus in {corpus_dir} (once)...", file=sys.stderr)
        build_corpus.build(corpus_dir, 100.0, corpus_dir.parent / "debs")
    manifest = json.loads((corpus_dir / "manifest.json").read_text())
    work = corpus_dir.parent / "runs"
    work.mkdir(parents=True, exist_ok=True)
    train_file = _prefix(corpus_dir / "train.txt", args.mb, corpus_dir)
    heldout = corpus_dir / "heldout.txt"
    prose = _prose_file(corpus_dir)
    common = [
        "--input",
        str(train_file),
        "--heldout",
        str(heldout),
        "--prose",
        str(prose),
        "--threads",
        str(args.threads),
    ]
    started = time.perf_counter()

    rows: list[dict[str, Any]] = []
    for lib in [x.strip() for x in args.libraries.split(",") if x.strip()]:
        row: dict[str, Any] = {"library": lib, "vocab": args.vocab}
        reason = _available(lib)
        if reason:
            row["status"] = reason
        else:
            print(f"training {lib} ({args.mb:g} MB, V={args.vocab})...", file=sys.stderr, flush=True)
            out = work / f"{lib}-{args.mb:g}MB-{args.vocab}"
            row.update(
                _run(
                    ["--child", lib, *common, "--vocab", str(args.vocab), "--out", str(out)],
                    args.threads,
                    args.timeout,
                )
            )
        rows.append(row)
    # Ratios against the reference trainer of the row's kind: HF for BPE, SentencePiece for Unigram.
    refs = {
        kind: next((r for r in rows if r["library"] == name and r.get("status") == "ok"), None)
        for kind, name in (("bpe", "tokenizers"), ("unigram", "unigram-sentencepiece"))
    }
    for r in rows:
        ref = refs["unigram" if r["library"] in UNIGRAM_LIBRARIES else "bpe"]
        if ref and r.get("status") == "ok":
            r["speedup_vs_ref"] = round(ref["seconds"] / r["seconds"], 2)
            r["cpu_speedup_vs_ref"] = round(ref["cpu_seconds"] / r["cpu_seconds"], 2)
            r["rss_vs_ref"] = round(r["peak_rss_mb"] / ref["peak_rss_mb"], 2)
            r["bpt_vs_ref"] = round(r["bytes_per_token_heldout"] / ref["bytes_per_token_heldout"], 4)

    sweep: list[dict[str, Any]] = []
    if args.superbpe:
        for vocab in [int(v) for v in args.sweep_vocab.split(",")]:
            learned = vocab - 256 - 1
            runs: list[tuple[str, list[str]]] = [
                ("bpe cl100k", ["--pretokenizer", "cl100k"]),
                ("bpe superbpe_stage1", ["--pretokenizer", "superbpe_stage1"]),
            ]
            for frac in [float(f) for f in args.sweep_t.split(",")]:
                t = int(learned * frac)
                runs.append((f"superbpe t={t}", ["--algorithm", "superbpe", "--transition", str(t)]))
            for label, extra in runs:
                print(f"sweep V={vocab}: {label}...", file=sys.stderr, flush=True)
                out = work / f"sweep-{args.mb:g}MB-{vocab}-{label.replace(' ', '_').replace('=', '')}"
                res = _run(
                    ["--child", "tokenforge", *common, "--vocab", str(vocab), "--out", str(out), *extra],
                    args.threads,
                    args.timeout,
                )
                sweep.append({"vocab": vocab, "run": label, **res})
        for vocab in {r["vocab"] for r in sweep}:
            base = next((r for r in sweep if r["vocab"] == vocab and r["run"] == "bpe superbpe_stage1"), None)
            if not base or base.get("status") != "ok":
                continue
            for r in sweep:
                if r["vocab"] == vocab and r.get("status") == "ok":
                    for name in ("heldout", "prose"):
                        r[f"fewer_tokens_{name}"] = round(
                            1 - base[f"bytes_per_token_{name}"] / r[f"bytes_per_token_{name}"], 4
                        )

    columns = [
        ("library", "library"),
        ("status", "status"),
        ("train s", "seconds"),
        ("x ref", "speedup_vs_ref"),
        ("cpu s", "cpu_seconds"),
        ("cpu x ref", "cpu_speedup_vs_ref"),
        ("peak RSS MB", "peak_rss_mb"),
        ("RSS/ref", "rss_vs_ref"),
        ("n_vocab", "n_vocab"),
        ("bytes/token held-out", "bytes_per_token_heldout"),
        ("vs ref", "bpt_vs_ref"),
        ("bytes/token prose", "bytes_per_token_prose"),
    ]
    print(
        f"\nV={args.vocab}, {train_file.stat().st_size / 1e6:.1f} MB, {args.threads} threads "
        "(ref: HF tokenizers for BPE rows, SentencePiece for the unigram rows)"
    )
    print(_table(rows, columns))
    if sweep:
        print(
            "\nSuperBPE vs BPE (tokenforge); fewer tokens relative to BPE with the same stage-1 pre-tokenizer"
        )
        print(
            _table(
                sweep,
                [
                    ("V", "vocab"),
                    ("run", "run"),
                    ("status", "status"),
                    ("train s", "seconds"),
                    ("peak RSS MB", "peak_rss_mb"),
                    ("bytes/token held-out", "bytes_per_token_heldout"),
                    ("fewer tokens", "fewer_tokens_heldout"),
                    ("bytes/token prose", "bytes_per_token_prose"),
                    ("fewer tokens prose", "fewer_tokens_prose"),
                ],
            )
        )

    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("tokenforge", "gigabpe", "tokenizers", "sentencepiece", "bpeasy", "youtokentome", "tiktoken"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    report = {
        "benchmark": "train",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - started, 1),
        "args": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if v is not None
            and k
            not in ("child", "input", "heldout", "prose", "out", "algorithm", "transition", "pretokenizer")
        },
        "corpus": {
            "train_file_bytes": train_file.stat().st_size,
            "heldout_bytes": heldout.stat().st_size,
            "prose_bytes": prose.stat().st_size,
            "manifest": manifest,
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "processor": platform.processor(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average": os.getloadavg(),
            "versions": versions,
        },
        "rows": rows,
        "superbpe_sweep": sweep,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, args.json)
    print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
