"""``.tiktoken`` files: one token per line, ``base64(token_bytes) rank``.

The file carries no pre-tokenization pattern or special tokens: known files are recognised by their
sha256 (:mod:`tokenforge.formats.presets`), others need them from the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import InvalidVocabularyError

__all__ = ["dump_tiktoken", "parse_tiktoken", "read_tiktoken", "sha256_of"]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_tiktoken(data: bytes, *, source: str = "<bytes>") -> dict[bytes, int]:
    """Parses ``.tiktoken`` content into ``{token_bytes: rank}``.

    Raises :class:`InvalidVocabularyError` naming the file and line on any malformed line, duplicate
    token or duplicate rank, so a truncated or wrong file never loads silently.
    """
    ranks: dict[bytes, int] = {}
    seen_ranks: dict[int, int] = {}
    for lineno, raw in enumerate(data.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise InvalidVocabularyError(
                f"{source}, line {lineno}: expected 'BASE64 RANK', got {line[:80]!r}. "
                "Is this really a .tiktoken file?"
            )
        try:
            token = base64.b64decode(parts[0], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidVocabularyError(
                f"{source}, line {lineno}: invalid base64 {parts[0][:40]!r}"
            ) from exc
        try:
            rank = int(parts[1])
        except ValueError as exc:
            raise InvalidVocabularyError(
                f"{source}, line {lineno}: rank {parts[1][:20]!r} is not an integer"
            ) from exc
        if rank < 0 or rank >= 2**32 - 1:
            raise InvalidVocabularyError(f"{source}, line {lineno}: rank {rank} is out of range")
        if not token:
            raise InvalidVocabularyError(f"{source}, line {lineno}: empty token")
        if token in ranks:
            raise InvalidVocabularyError(
                f"{source}, line {lineno}: token {token!r} already has rank {ranks[token]} (line repeated?)"
            )
        if rank in seen_ranks:
            raise InvalidVocabularyError(
                f"{source}, line {lineno}: rank {rank} already used on line {seen_ranks[rank]}"
            )
        ranks[token] = rank
        seen_ranks[rank] = lineno
    if not ranks:
        raise InvalidVocabularyError(f"{source}: no tokens (empty file?)")
    return ranks


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
