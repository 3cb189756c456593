"""tiktoken's vocabulary file helpers, offline.

``load_tiktoken_bpe`` reads a local ``.tiktoken`` file, or an OpenAI blob URL of a known
vocabulary, which resolves to tokenforge's verified offline cache instead of the network.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from urllib.parse import urlparse

from ... import vocab_sources
from ...errors import InvalidVocabularyError, VocabularyNotFoundError
from ...formats import presets
from ...formats.tiktoken_file import dump_tiktoken, read_tiktoken

__all__ = ["dump_tiktoken_bpe", "load_tiktoken_bpe"]


def _offline_path(location: str) -> str:
    """A local path for ``location``: itself, or the cached file of a known vocabulary's URL."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # a path (or a Windows drive)
        return parsed.path if parsed.scheme == "file" else location
    filename = PurePosixPath(parsed.path).name
    known = next((e for e in presets.KNOWN_ENCODINGS if e.filename == filename), None)
    if known is None:
        raise VocabularyNotFoundError(
            f"{location} is not a known vocabulary and tokenforge does not download at run time: "
            "download the file yourself and pass its path"
        )
    found = vocab_sources.find(known.name)
    if found is None:
        raise VocabularyNotFoundError(vocab_sources.missing_message(known.name))
    return str(found)


def load_tiktoken_bpe(tiktoken_bpe_file: str, expected_hash: str | None = None) -> dict[bytes, int]:
    """``{token_bytes: rank}`` from a ``.tiktoken`` file; ``ValueError`` if ``expected_hash``
    (sha256) does not match."""
    ranks, digest = read_tiktoken(_offline_path(tiktoken_bpe_file))
    if expected_hash is not None and digest != expected_hash.lower():
        raise InvalidVocabularyError(
            f"{tiktoken_bpe_file}: sha256 {digest} does not match the expected {expected_hash}"
        )
    return ranks


def dump_tiktoken_bpe(bpe_ranks: dict[bytes, int], tiktoken_bpe_file: str | os.PathLike[str]) -> None:
    """Writes ``bpe_ranks`` as a ``.tiktoken`` file (rank order)."""
    with open(tiktoken_bpe_file, "wb") as f:
        f.write(dump_tiktoken(bpe_ranks))
