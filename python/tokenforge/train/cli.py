"""The training subcommands of the ``tokenforge`` command line: ``train``, ``extend``, ``count``
and ``verify``. Each ``--help`` is the reference."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError

__all__ = ["add_ray_options", "add_train_commands", "engine_of"]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.I)


def parse_size(text: str) -> int:
    """``512M``, ``2G``, ``1.5GiB``, ``1000000`` -> bytes (binary multiples)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 512M, 2G)")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def _lines_of(path: str | None) -> list[str]:
    if not path:
        return []
    return [line.rstrip("\n") for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def add_ray_options(p: argparse.ArgumentParser, work: str) -> None:
    """``--ray [ADDRESS]`` and ``--ray-tasks N`` (shared with ``encode``)."""
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help=f"{work} on a Ray cluster: ADDRESS (e.g. auto, ray://head:10001), else RAY_ADDRESS, else a "
        "cluster started on this machine (needs pip install 'tokenforge[ray]')",
    )
    p.add_argument(
        "--ray-tasks", type=int, metavar="N", help="Ray tasks to cut the input into (default: one per CPU)"
    )


def engine_of(args: argparse.Namespace) -> Any:
    """The engine the ``--ray`` options ask for."""
    if args.ray is None:
        if args.ray_tasks is not None:
            raise InvalidArgumentError("--ray-tasks needs --ray")
        return "local"
    from ..scale import RayEngine

    return RayEngine(address=args.ray or None, tasks=args.ray_tasks)


def _progress(args: argparse.Namespace) -> Any:
    if args.quiet or args.progress == "none":
        return None
    return args.progress


def _add_counting_options(p: argparse.ArgumentParser, *, algorithm: bool = True) -> None:
    if algorithm:
        from .api import ALGORITHMS

        p.add_argument(
            "--algorithm",
            choices=ALGORITHMS,
            default="bpe",
            help="bpe (default), superbpe (two-stage SuperBPE), charbpe (KL3M-style short tokens), "
            "unigram (SentencePiece's Unigram), lib (Less-is-Better lexicon, saved as a Unigram model) or "
            "hybrid (roots + affixes + BPE fallback, Turkish default)",
        )
    p.add_argument(
        "--pretokenizer",
        help="preset (cl100k, o200k, gpt2, llama3, qwen2, superbpe_stage1, superword) or a regex; "
        "default cl100k (superbpe: superbpe_stage1)",
    )
    p.add_argument("--superword-pretokenizer", help="SuperBPE stage-2 pre-tokenizer (default: superword)")
    p.add_argument(
        "--special-token", action="append", default=[], metavar="TOKEN", help="a special token (repeatable)"
    )
    p.add_argument(
        "--domain-token",
        action="append",
        default=[],
        metavar="TEXT",
        help="a string that becomes one never-split token (repeatable)",
    )
    p.add_argument("--domain-tokens-file", metavar="FILE", help="domain tokens, one per line")
    p.add_argument(
        "--normalizer",
        action="append",
        default=None,
        choices=("NFC", "NFD", "NFKC", "NFKD", "Lowercase"),
        help="text normalizer applied before pre-tokenization (repeatable; charbpe default NFKC)",
    )
    p.add_argument(
        "--no-line-boundaries",
        dest="line_boundaries",
        action="store_const",
        const=False,
        default=None,
        help="let pieces and merges cross line ends (default: every line is a hard boundary)",
    )
    p.add_argument("--field", help="text field of .jsonl records (default: text)")
    p.add_argument(
        "--max-memory",
        type=parse_size,
        metavar="SIZE",
        help="cap for the counting tables (e.g. 2G): rare pieces are pruned to stay under it",
    )
    p.add_argument("--threads", type=int, default=None, help="worker threads (default: all usable CPUs)")
    add_ray_options(p, "count")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--progress",
        choices=("text", "jsonl", "none"),
        default="text",
        help="progress on stderr: text (default), jsonl (one JSON object per line) or none",
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from .api import train

    if bool(args.inputs) == bool(args.from_counts):
        raise InvalidArgumentError("give INPUT files or --from-counts, not both and not neither")
    if args.tiktoken and args.algorithm == "hybrid":
        raise InvalidArgumentError("--tiktoken needs a byte-level BPE tokenizer, not a hybrid one")
    # Options left out stay None, so each algorithm applies its own defaults and an option the
    # algorithm does not have is reported only when it was actually given.
    tok = train(
        [Path(p) for p in args.inputs] if args.inputs else None,
        algorithm=args.algorithm,
        from_counts=args.from_counts or None,
        num_threads=args.threads,
        progress=_progress(args),
        name=args.name or Path(args.output).name,
        engine=engine_of(args),
        vocab_size=args.vocab_size,
        **_counting_options(args),
        min_frequency=args.min_frequency,
        max_token_length=args.max_token_length,
        max_token_chars=args.max_token_chars,
        transition=args.transition,
        pad_to_multiple_of=args.pad_to_multiple_of,
        max_piece_length=args.max_piece_length,
        character_coverage=args.character_coverage,
        byte_fallback=args.byte_fallback,
        split_digits=args.split_digits,
        treat_whitespace_as_suffix=args.treat_whitespace_as_suffix,
        user_defined_symbols=args.user_defined_symbol or None,
        split_by_number=args.split_by_number,
        split_by_unicode_script=args.split_by_unicode_script,
        unk_piece=args.unk_piece,
        bos_piece=args.bos_piece,
        eos_piece=args.eos_piece,
        seed_sentencepiece_size=args.seed_sentencepiece_size,
        shrinking_factor=args.shrinking_factor,
        num_sub_iterations=args.num_sub_iterations,
        max_roots=args.max_roots,
        in_rate=args.in_rate,
        out_rate=args.out_rate,
        life=args.life,
        update_rate=args.update_rate,
        max_chunk_length=args.max_chunk_length,
        article_sentences=args.article_sentences,
        passes=args.passes,
        seed=args.seed,
        within_words=args.within_words,
        inspect_context=args.inspect_context,
    )
    return _write(tok, args)


def _counting_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "pretokenizer": args.pretokenizer,
        "superword_pretokenizer": args.superword_pretokenizer,
        "special_tokens": args.special_token or None,
        "domain_tokens": [*args.domain_token, *_lines_of(args.domain_tokens_file)] or None,
        "normalizers": args.normalizer,
        "line_boundaries": args.line_boundaries,
        "max_memory": args.max_memory,
        "field": args.field,
    }


def _write(tok: Any, args: argparse.Namespace) -> int:
    from .export import save_tiktoken

    sentencepiece_style = "sentencepiece" in (tok.spec.metadata or {})  # unigram, lib
    if args.tiktoken and sentencepiece_style:
        raise InvalidArgumentError("--tiktoken needs a byte-level BPE tokenizer, not a Unigram model")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    path = tok.save(out / "tokenizer.json")
    result = {"tokenizer": str(path), "n_vocab": tok.n_vocab}
    if sentencepiece_style:
        result["sentencepiece"] = str(tok.save(out / "tokenizer.model"))
    if args.tiktoken:
        tk, differing = save_tiktoken(tok, out / "tokenizer.tiktoken")
        result["tiktoken"] = str(tk)
        result["tiktoken_differing_samples"] = differing
        if differing and not args.quiet:
            print(
                f"note: {differing} self-test samples encode differently with rank (tiktoken) semantics; "
                "tokenizer.json is the exact artifact",
                file=sys.stderr,
            )
    meta = tok.spec.metadata or {}
    result["training"] = {k: meta.get("training", {}).get(k) for k in ("learned_tokens", "stop")}
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _cmd_extend(args: argparse.Namespace) -> int:
    from ..loader import load
    from .continuation import extend

    if bool(args.inputs) == bool(args.from_counts):
        raise InvalidArgumentError("give INPUT files or --from-counts, not both and not neither")
    base = load(args.tokenizer)
    tok = extend(
        base,
        [Path(p) for p in args.inputs] if args.inputs else None,
        args.vocab_size,
        pretokenizer=args.pretokenizer,
        superword=args.superword,
        min_frequency=args.min_frequency or 2,
        max_token_length=args.max_token_length,
        max_token_chars=args.max_token_chars,
        line_boundaries=args.line_boundaries is not False,
        max_memory=args.max_memory,
        field=args.field or "text",
        from_counts=args.from_counts or None,
        num_threads=args.threads,
        progress=_progress(args),
        name=args.name,
        engine=engine_of(args),
    )
    return _write(tok, args)


def _cmd_count(args: argparse.Namespace) -> int:
    from .api import count
    from .counts import Counts

    if args.merge:
        if args.inputs and not all(p.endswith(".tfc") for p in args.inputs):
            raise InvalidArgumentError("--merge takes .tfc files only")
        counts = Counts.load_many([*args.merge, *args.inputs])
    else:
        if not args.inputs:
            raise InvalidArgumentError("nothing to count: give INPUT files (or --merge A.tfc B.tfc)")
        counts = count(
            [Path(p) for p in args.inputs],
            algorithm=args.algorithm,
            num_threads=args.threads,
            progress=_progress(args),
            engine=engine_of(args),
            **_counting_options(args),
        )
    path = counts.save(args.output)
    print(json.dumps({"counts": str(path), **counts.summary()}, ensure_ascii=False))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .selftest import verify

    report = verify(args.tokenizer, hf=args.hf)
    for failure in report.failures[:10]:
        print(
            f"MISMATCH ({failure['engine']}) sample {failure['sample']}: "
            f"expected {failure['expected'][:12]}... got {failure['got'][:12]}...",
            file=sys.stderr,
        )
    status = "ok" if report.ok else "FAILED"
    print(f"{status}: {report.samples} self-test samples, engines: {', '.join(report.engines)}")
    return 0 if report.ok else 1


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-frequency", type=int, help="stop when no pair occurs this often (default 2)")
    p.add_argument("--max-token-length", type=int, help="longest token in bytes")
    p.add_argument("--max-token-chars", type=int, help="longest token in characters (charbpe default 3 or 4)")
    p.add_argument("-o", "--output", required=True, help="output directory (gets tokenizer.json)")
    p.add_argument("--tiktoken", action="store_true", help="also write tokenizer.tiktoken (ranks = ids)")
    p.add_argument("--name", help="tokenizer name (default: the output directory's name)")
    p.add_argument(
        "--from-counts", nargs="+", default=[], metavar="TFC", help="train from .tfc counts (merged) instead"
    )


def add_train_commands(sub: Any) -> None:
    """Registers ``train``, ``extend``, ``count`` and ``verify`` on the main parser's subparsers."""
    p = sub.add_parser(
        "train",
        help="train a tokenizer (BPE, SuperBPE, charbpe, Unigram, LiB, hybrid) on a corpus",
        description="Train a tokenizer. INPUTs are files, directories or globs (.txt, .jsonl with --field, "
        ".gz). Writes OUTPUT/tokenizer.json with a tokenforge metadata block (config, corpus fingerprint, "
        "self-tests); it loads in HF tokenizers with identical ids, except the hybrid's (tokenforge's own "
        "model type). unigram and lib also write OUTPUT/tokenizer.model (SentencePiece). Results do not "
        "depend on --threads. Every option with its default: docs/training.md.",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT")
    p.add_argument(
        "--vocab-size", type=int, required=True, help="total ids: bytes + learned + domain + special"
    )
    p.add_argument(
        "--transition", type=int, help="SuperBPE: number of stage-1 tokens (default 3/4 of learned)"
    )
    p.add_argument("--pad-to-multiple-of", type=int, help="add reserved special tokens up to a multiple")
    u = p.add_argument_group(
        "unigram (SentencePiece's options; unigram and lib also write OUTPUT/tokenizer.model)"
    )
    u.add_argument("--max-piece-length", type=int, help="longest piece in characters (default 16)")
    u.add_argument(
        "--character-coverage",
        type=float,
        help="share of characters with pieces of their own (default 0.9995)",
    )
    u.add_argument(
        "--no-byte-fallback",
        dest="byte_fallback",
        action="store_const",
        const=False,
        default=None,
        help="unknown characters become <unk> instead of byte pieces",
    )
    u.add_argument(
        "--split-digits", action="store_const", const=True, help="every digit is a piece of its own"
    )
    u.add_argument(
        "--treat-whitespace-as-suffix", action="store_const", const=True, help="the space marker ends pieces"
    )
    u.add_argument(
        "--user-defined-symbol",
        action="append",
        default=[],
        metavar="TEXT",
        help="always one piece (repeatable)",
    )
    u.add_argument(
        "--no-split-by-number",
        dest="split_by_number",
        action="store_const",
        const=False,
        default=None,
        help="let digits share pieces with other characters",
    )
    u.add_argument(
        "--no-split-by-unicode-script",
        dest="split_by_unicode_script",
        action="store_const",
        const=False,
        default=None,
        help="let a piece mix scripts",
    )
    u.add_argument("--unk-piece", help="unknown piece, id 0 (default <unk>; unigram and lib)")
    u.add_argument("--bos-piece", help="begin-of-sentence piece, id 1 (default <s>; unigram and lib)")
    u.add_argument("--eos-piece", help="end-of-sentence piece, id 2 (default </s>; unigram and lib)")
    u.add_argument("--seed-sentencepiece-size", type=int, help="seed pieces before EM (default 1000000)")
    u.add_argument("--shrinking-factor", type=float, help="share of pieces kept per pruning (default 0.75)")
    u.add_argument("--num-sub-iterations", type=int, help="EM rounds between prunings (default 2)")
    lib = p.add_argument_group("lib (Less-is-Better; defaults are the paper's; also --character-coverage)")
    lib.add_argument("--in-rate", type=float, help="alpha: chance to memorize two adjacent chunks (0.25)")
    lib.add_argument("--out-rate", type=float, help="omega: lexicon tail share put on probation (0.0001)")
    lib.add_argument("--life", type=int, help="tau0: probation length in articles (10)")
    lib.add_argument("--update-rate", type=float, help="Delta: re-ranking step as a share of rank (0.2)")
    lib.add_argument("--max-chunk-length", type=int, help="longest chunk in characters (12)")
    lib.add_argument("--article-sentences", type=int, help="lines per article (500)")
    lib.add_argument("--passes", type=int, help="times the corpus is read (1)")
    lib.add_argument("--seed", type=int, help="seed of the reading order and the memorizer (0)")
    lib.add_argument("--within-words", action="store_const", const=True, help="chunks never span a space")
    lib.add_argument(
        "--inspect-context",
        action="store_const",
        const=True,
        help="a chunk leaves probation only in a new context (the authors' later revision; off by "
        "default, as in the paper; up to ~20%% more training time)",
    )
    h = p.add_argument_group("hybrid (Turkish roots and affixes by default; needs `make turkish-data`)")
    h.add_argument("--max-roots", type=int, help="most root ids to keep (default 20000)")
    _add_counting_options(p)
    _train_options(p)
    p.set_defaults(run=_cmd_train)

    p = sub.add_parser(
        "extend",
        help="continue training an existing tokenizer, keeping every id",
        description="Learn new tokens for TOKENIZER on more text; existing tokens keep their ids and new "
        "ones are appended. --superword continues with SuperBPE's superword stage.",
    )
    p.add_argument("tokenizer", help="known name, tokenizer.json or .tiktoken path")
    p.add_argument("inputs", nargs="*", metavar="INPUT")
    p.add_argument("--vocab-size", type=int, required=True, help="new total n_vocab")
    p.add_argument("--superword", action="store_true", help="superword pre-tokenizer and SuperBPE filters")
    _add_counting_options(p, algorithm=False)
    _train_options(p)
    p.set_defaults(run=_cmd_extend)

    p = sub.add_parser(
        "count",
        help="count corpus pieces into a .tfc file (or merge .tfc shards)",
        description="Pre-tokenize and count a corpus into a checksummed .tfc file, to train from later "
        "(train --from-counts) or to merge with counts of other shards "
        "(count --merge A.tfc B.tfc -o all.tfc).",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT")
    p.add_argument("--merge", nargs="+", default=[], metavar="TFC", help="merge these .tfc files")
    p.add_argument("-o", "--output", required=True, help="the .tfc file to write")
    _add_counting_options(p)
    p.set_defaults(run=_cmd_count)

    p = sub.add_parser("verify", help="replay a trained tokenizer's self-test samples")
    p.add_argument("tokenizer", help="tokenizer.json (or its directory) written by tokenforge")
    p.add_argument("--hf", action="store_true", help="also check the ids of HF tokenizers on the same file")
    p.set_defaults(run=_cmd_verify)
