"""``.tiktoken`` files: one token per line, ``base64(token_bytes) rank``.

The file carries no pre-tokenization pattern or special tokens: known files are recognised by their
sha256 (:mod:`tokenforge.formats.presets`), others need them from the caller.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from .. import _core
from ..errors import InvalidVocabularyError

__all__ = ["dump_tiktoken", "parse_tiktoken", "read_tiktoken", "sha256_of"]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_tiktoken(data: bytes, *, source: str = "<bytes>") -> dict[bytes, int]:
    """Parses ``.tiktoken`` content into ``{token_bytes: rank}``.

    Raises :class:`InvalidVocabularyError` naming the file and line on any malformed line, duplicate
    token or duplicate rank, so a truncated or wrong file never loads silently.
    """
    try:
        tokens, ranks = _core.parse_tiktoken(data)
        return dict(zip(tokens, ranks, strict=True))
    except InvalidVocabularyError as exc:
        where = f"{source}, " if str(exc).startswith("line ") else f"{source}: "
        raise InvalidVocabularyError(where + str(exc)) from None


def read_tiktoken(path: str | os.PathLike[str]) -> tuple[dict[bytes, int], str]:
    """Reads a ``.tiktoken`` file; returns the ranks and the file's sha256."""
    data = Path(path).read_bytes()
    return parse_tiktoken(data, source=str(path)), sha256_of(data)


def dump_tiktoken(ranks: Mapping[bytes, int]) -> bytes:
    """The ``.tiktoken`` bytes for ``ranks``, in rank order (the layout of OpenAI's files)."""
    lines = [
        base64.b64encode(token) + b" " + str(rank).encode()
        for token, rank in sorted(ranks.items(), key=lambda kv: kv[1])
    ]
    return b"\n".join(lines) + b"\n"
