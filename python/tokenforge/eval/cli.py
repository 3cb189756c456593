"""``tokenforge eval``: the command-line front of :func:`tokenforge.evaluate`.

Kept here (not in ``tokenforge/cli.py``) so the main CLI only registers it with one call.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import InvalidArgumentError

__all__ = ["add_eval_parser", "add_sweep_parser"]


def _cmd_eval(args: argparse.Namespace) -> int:
    from .runner import evaluate

    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    if args.threads is not None and args.threads < 1:
        raise InvalidArgumentError(f"--threads must be a positive integer, got {args.threads}")
    started = time.perf_counter()
    result = evaluate(
        args.tokenizer,
        args.corpus or ["udhr"],
        metrics=args.metrics,
        alpha=args.alpha,
        reference=args.reference,
        num_threads=args.threads,
        morphology_languages=[x for x in (args.morph_langs or "").split(",") if x] or None,
        samples=not args.no_samples,
        progress=progress,
    )
    if args.report:
        Path(args.report).write_text(result.to_html(), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(result.to_json(), encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(result.to_markdown(), encoding="utf-8")
    print(result.to_markdown(languages=args.languages))
    written = [p for p in (args.report, args.json, args.markdown) if p]
    if not args.quiet:
        print(
            f"evaluated {len(result.tokenizers)} tokenizers on {len(result.corpora)} corpora in "
            f"{time.perf_counter() - started:.1f} s" + (f"; wrote {', '.join(written)}" if written else ""),
            file=sys.stderr,
        )
    return 1 if result.failures and args.strict else 0


def add_eval_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Registers ``eval`` on the main CLI's subparsers."""
    p = sub.add_parser(
        "eval",
        help="measure tokenizers: compression, fertility, premiums, vocabulary, morphology; HTML report",
        description="Evaluate one or more tokenizers on named corpora (udhr, english, code; udhr:eng,fra "
        "picks UDHR versions) or files (.txt, .jsonl, aligned .jsonl/.tsv). Prints a Markdown summary; "
        "--report writes a self-contained HTML report, --json every number. With two or more tokenizers the "
        "report compares their vocabularies (overlap, token lengths, held-out numbers side by side; "
        "-m comparison). A tokenizer that fails to load "
        "or to encode some text is reported, and the others are still evaluated.",
    )
    p.add_argument(
        "-t",
        "--tokenizer",
        action="append",
        required=True,
        metavar="TOK",
        help="known name, tokenizer.json, .tiktoken or SentencePiece .model (repeat for several)",
    )
    p.add_argument(
        "--corpus",
        action="append",
        metavar="NAME_OR_PATH",
        help="udhr (default), udhr:CODE,..., english, code, or a file (repeat for several)",
    )
    p.add_argument(
        "-m",
        "--metrics",
        action="append",
        metavar="GROUP",
        help="compression, words, premium, vocabulary, fallback, categories, throughput, comparison "
        "(vocabulary overlap and token lengths, with 2+ tokenizers), morphology; 'default' (all but "
        "morphology) or 'all' (repeat or comma-separate)",
    )
    p.add_argument("--alpha", type=float, default=2.5, help="Rényi efficiency order (default 2.5)")
    p.add_argument("--reference", help="reference part for premiums (default: eng or en)")
    p.add_argument("--threads", type=int, help="encoding threads (default: all cores)")
    p.add_argument(
        "--morph-langs", metavar="KEYS", help="comma-separated parts/languages for morphology (default: all)"
    )
    p.add_argument("--report", metavar="HTML", help="write the HTML report here")
    p.add_argument("--json", metavar="JSON", help="write all results as JSON here")
    p.add_argument("--markdown", metavar="MD", help="write the Markdown report here")
    p.add_argument("--languages", action="store_true", help="also print the per-language premium table")
    p.add_argument("--no-samples", action="store_true", help="leave the token view out")
    p.add_argument("--strict", action="store_true", help="exit with status 1 when anything failed")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    p.set_defaults(run=_cmd_eval)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from ..train import train
    from .sweep import sweep

    def train_fn(texts: object, vocab_size: int) -> object:
        return train(
            list(texts),  # type: ignore[call-overload]
            vocab_size=vocab_size,
            algorithm=args.algorithm,
            transition=args.transition,
            num_threads=args.threads,
            progress=False,
            name=f"{args.algorithm}-{vocab_size}",
        )

    say = (lambda _msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    started = time.perf_counter()
    result = sweep(
        train_fn,
        args.corpus,
        args.vocab_sizes,
        per_language=args.per_language,
        target_premium=args.target_premium,
        progress=say,
    )
    for path, text in ((args.report, result.to_html), (args.json, result.to_json)):
        if path:
            Path(path).write_text(text(), encoding="utf-8")
    print(result.to_markdown())
    say(f"sweep finished in {time.perf_counter() - started:.1f} s")
    return 0


def add_sweep_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Registers ``tokenforge sweep``."""
    p = sub.add_parser(
        "sweep",
        help="train at several vocabulary sizes and report per-language premium and compression curves",
        description="Trains one tokenizer per vocabulary size (on the corpus itself, or per language with "
        "--per-language) and reports, per language, tokens, bytes/token and premium against the reference "
        "language, and the vocabulary size at which each language reaches the target premium.",
    )
    p.add_argument("--corpus", default="udhr", help="named corpus (udhr, udhr:eng,fra, ...) or a path")
    p.add_argument("--vocab-sizes", default="8k,16k,32k,64k", help="comma-separated sizes, k suffix allowed")
    p.add_argument("--algorithm", choices=("bpe", "superbpe", "charbpe", "unigram", "lib"), default="bpe")
    p.add_argument("--transition", type=int, default=None, help="SuperBPE transition point (merges)")
    p.add_argument("--per-language", action="store_true", help="train one tokenizer per language and size")
    p.add_argument("--target-premium", type=float, default=1.0, help="premium to reach (default 1.0)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--report", metavar="HTML", help="write the HTML report here")
    p.add_argument("--json", metavar="JSON", help="write the results as JSON here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    p.set_defaults(run=_cmd_sweep)
