"""``tokenforge.load``: a tokenizer from a file path or the name of a known encoding."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from . import vocab_sources
from .errors import (
    FileAccessError,
    InvalidArgumentError,
    InvalidVocabularyError,
    TokenforgeError,
    VocabularyNotFoundError,
)
from .formats import presets
from .formats.hf_json import read_hf_json
from .formats.tiktoken_file import read_tiktoken
from .spec import AddedToken, SplitStep, TokenizerSpec
from .tokenizer import Tokenizer

__all__ = ["load", "load_tiktoken"]

T = TypeVar("T")


def load_tiktoken(
    path: str | os.PathLike[str],
    *,
    pattern: str | None = None,
    special_tokens: Mapping[str, int] | None = None,
    name: str | None = None,
) -> Tokenizer:
    """A tokenizer from a ``.tiktoken`` file.

    A known file (recognised by its sha256) gets its encoding's pattern, special tokens and
    normalization; arguments given here override them. An unknown file needs ``pattern``.
    """
    if special_tokens is not None and not isinstance(special_tokens, Mapping):
        raise InvalidArgumentError(
            f"special_tokens must be a mapping of token text to id, got {type(special_tokens).__name__}"
        )
    ranks, digest = _read_file(path, read_tiktoken)
    known = presets.by_sha256(digest)
    if pattern is None:
        if known is None:
            raise InvalidArgumentError(
                f"{path} is not a known vocabulary (sha256 {digest[:16]}...), so its pre-tokenization "
                "pattern is unknown: pass pattern=... (e.g. tokenforge.PATTERNS['cl100k']) and, if it "
                "has any, special_tokens={...}"
            )
        pattern = known.pattern
    if special_tokens is None:
        special_tokens = known.special_tokens if known is not None else {}
    taken = set(ranks.values())
    for content, token_id in special_tokens.items():
        if token_id in taken:
            raise InvalidVocabularyError(
                f"special token {content!r} has id {token_id}, which is already a token's rank"
            )
    spec = TokenizerSpec(
        name=name or (known.name if known is not None else Path(path).stem),
        vocab=ranks,
        pre_tokenizer=(SplitStep(pattern),),
        normalizers=known.normalizers if known is not None else (),
        added_tokens=tuple(AddedToken(c, i) for c, i in special_tokens.items()),
    )
    return Tokenizer(spec)


def _read_file(path: str | os.PathLike[str], read: Callable[[Path], T]) -> T:
    """``read(path)``, with an unreadable file (permissions, a directory...) as FileAccessError."""
    try:
        return read(Path(path))
    except TokenforgeError:
        raise
    except OSError as exc:
        raise FileAccessError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _read_hf_json(path: Path) -> TokenizerSpec:
    # A field of an unexpected type that the reader's own checks miss (found by tests/test_fuzz.py)
    # is still a typed error naming the file, never a bare TypeError.
    try:
        return read_hf_json(path)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        if isinstance(exc, TokenforgeError):
            raise
        raise InvalidVocabularyError(
            f"{path}: malformed tokenizer.json ({type(exc).__name__}: {exc})"
        ) from None


def _looks_like_json(path: Path) -> bool:
    if path.suffix.lower() == ".json":
        return True
    with path.open("rb") as f:
        return f.read(64).lstrip().startswith(b"{")


def load(
    name_or_path: str | os.PathLike[str],
    *,
    pattern: str | None = None,
    special_tokens: Mapping[str, int] | None = None,
) -> Tokenizer:
    """Loads a tokenizer.

    ``name_or_path`` is a ``tokenizer.json`` (or a directory holding one), a ``.tiktoken`` file, or
    the name of a known encoding (``cl100k_base``, ``o200k_base``, ``gpt2``/``r50k_base``,
    ``p50k_base``, ``llama3``, ``qwen2``). Names resolve offline, from ``$TOKENFORGE_HOME`` (default
    ``~/.cache/tokenforge``) or an installed package that bundles the file; when neither has it,
    :class:`VocabularyNotFoundError` says how to get it (``tokenforge fetch NAME``).
    """
    path = Path(name_or_path)
    try:
        is_dir = path.is_dir()
        if is_dir and (path / "tokenizer.json").is_file():
            path, is_dir = path / "tokenizer.json", False
        is_file = path.is_file()
    except OSError as exc:  # a path too long, a loop of links...
        raise FileAccessError(f"{name_or_path}: cannot be read ({exc.strerror or exc})") from None
    if is_dir:
        raise VocabularyNotFoundError(
            f"{str(name_or_path)!r} is a directory without a tokenizer.json; "
            "pass the tokenizer.json or .tiktoken file itself"
        )
    if is_file:
        if _read_file(path, _looks_like_json):
            if pattern is not None or special_tokens is not None:
                raise InvalidArgumentError(
                    "pattern= and special_tokens= apply to .tiktoken files, not tokenizer.json"
                )
            return Tokenizer(_read_file(path, _read_hf_json))
        return load_tiktoken(path, pattern=pattern, special_tokens=special_tokens)
    known = presets.by_name(str(name_or_path))
    if known is None:
        raise VocabularyNotFoundError(
            f"{str(name_or_path)!r} is neither an existing file nor a known encoding "
            f"(known: {', '.join(presets.names())})"
        )
    found = vocab_sources.find(known.name)
    if found is None:
        raise VocabularyNotFoundError(vocab_sources.missing_message(known.name))
    return load_tiktoken(found, pattern=pattern, special_tokens=special_tokens, name=known.name)
