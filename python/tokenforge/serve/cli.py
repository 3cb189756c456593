"""The ``serve`` command."""

from __future__ import annotations

import argparse
import sys
import webbrowser
from typing import Any

__all__ = ["add_serve_parser"]


def _cmd_serve(args: argparse.Namespace) -> int:
    from ..formats import presets
    from ..loader import load
    from .playground import Playground
    from .server import PlaygroundServer

    extra, selected = {}, []
    for spec in args.tokenizer or ():
        if presets.by_name(spec) is not None:
            selected.append(presets.by_name(spec).name)  # type: ignore[union-attr]
        else:
            tokenizer = load(spec)
            extra[tokenizer.name] = tokenizer
            selected.append(tokenizer.name)
    playground = Playground(extra)
    try:
        server = PlaygroundServer(playground, args.port, selected)
    except OSError as exc:
        print(f"tokenforge serve: error: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 2
    print(f"tokenforge playground on {server.url} (Ctrl-C to stop)", flush=True)
    if args.open:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        playground.close()
    return 0


def add_serve_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="a local web page comparing tokenizers side by side (127.0.0.1 only)",
        description="Serve the tokenizer playground on http://127.0.0.1:PORT/: paste or drop text, compare "
        "tokenizers, load a tokenizer file, train a small tokenizer on the text. Listens on the loopback "
        "interface only and uses no network.",
    )
    p.add_argument(
        "-p", "--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0: any free)"
    )
    p.add_argument(
        "-t",
        "--tokenizer",
        action="append",
        metavar="NAME_OR_PATH",
        help="tokenizer shown first (repeatable): a known name or a tokenizer.json/.tiktoken path",
    )
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(run=_cmd_serve)
