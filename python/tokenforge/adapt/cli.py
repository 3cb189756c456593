"""``tokenforge adapt``: transplant an HF model folder onto a new tokenizer."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InvalidArgumentError
from .embeddings import METHODS


def _cmd_adapt(args: argparse.Namespace) -> int:
    from .model_io import adapt_model

    special_map: dict[str, str] = {}
    for pair in args.map_special or []:
        new, sep, old = pair.partition("=")
        if not sep or not new or not old:
            raise InvalidArgumentError(f"--map-special takes NEW=OLD (two special-token texts), got {pair!r}")
        special_map[new] = old
    result = adapt_model(
        args.model,
        args.tokenizer,
        args.output,
        method=args.method,
        old_tokenizer=args.old_tokenizer,
        seed=args.seed,
        special_map=special_map or None,
        pad_to_multiple_of=args.pad_to_multiple_of,
    )
    if not args.quiet:
        tied = "untied" if result.output_embeddings is not None else "tied"
        print(
            f"{args.output}: {result.embeddings.shape[0]} rows ({tied}); {result.copied} copied, "
            f"{result.initialized} initialised with {result.method}, {result.fallback} fallback rows"
        )
    return 0


def add_adapt_parser(sub: Any) -> None:
    """Registers the ``adapt`` subcommand on the main parser's subparsers."""
    p = sub.add_parser(
        "adapt",
        help="move an HF model folder onto a new tokenizer (embedding transplant)",
        description="Read an HF model folder (config.json + *.safetensors, sharded or not, tied or untied "
        "embeddings), give it embedding rows for the new tokenizer (rows of shared tokens copied exactly, "
        "the rest initialised with --method) and write the adapted folder with vocab_size and special "
        "token ids updated and the new tokenizer.json beside, loadable by transformers.",
    )
    p.add_argument("--model", required=True, help="HF model folder (config.json, *.safetensors)")
    p.add_argument(
        "-t", "--tokenizer", required=True, help="the new tokenizer: name, tokenizer.json or .tiktoken"
    )
    p.add_argument("-o", "--output", required=True, help="output folder (created)")
    p.add_argument("--method", choices=METHODS, default="tokenadapt", help="initialisation of new rows")
    p.add_argument("--old-tokenizer", help="the model's tokenizer (default: MODEL/tokenizer.json)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument(
        "--map-special",
        action="append",
        metavar="NEW=OLD",
        help="copy the row of old special token OLD for new special token NEW (repeatable)",
    )
    p.add_argument("--pad-to-multiple-of", type=int, help="pad the new matrices to a multiple of N rows")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary")
    p.set_defaults(run=_cmd_adapt)
