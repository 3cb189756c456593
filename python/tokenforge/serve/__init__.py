"""``tokenforge serve``: a local web page comparing tokenizers side by side.

Paste or drop text and see it tokenized by several tokenizers at once (token boundaries coloured,
ids on hover, counts, bytes per token, and the token premium over English when the text is a UDHR
translation), load a tokenizer file, or train a small tokenizer on the text and compare it live.
The server listens on 127.0.0.1 only and needs no network.
"""

from __future__ import annotations

from .playground import Playground
from .server import LOOPBACK, PlaygroundServer, start

__all__ = ["LOOPBACK", "Playground", "PlaygroundServer", "start"]
