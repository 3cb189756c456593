"""What evaluation needs from a tokenizer, and how to get it from any tokenizer.

Evaluation only uses the public surface that :class:`tokenforge.Tokenizer` shares with
``tiktoken.Encoding``: ``encode_ordinary_batch``, ``decode_single_token_bytes``, ``n_vocab``,
``special_tokens`` (and ``name``). Anything with these methods can be evaluated;
:class:`SentencePieceTokenizer` gives a SentencePiece ``.model`` the same surface, so
SentencePiece models are measured by the same code as byte-level BPE.

Two optional attributes refine the unknown/byte-fallback metric: ``unk_token_id`` (an int or
None) and ``byte_fallback_ids`` (a collection of ids that stand for a raw byte).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InvalidArgumentError, TokenforgeError, UnsupportedTokenizerError

__all__ = [
    "EvalTokenizer",
    "SentencePieceTokenizer",
    "VocabTable",
    "resolve_tokenizer",
    "vocab_table",
]


@runtime_checkable
class EvalTokenizer(Protocol):
    """The methods evaluation calls (a subset of :class:`tokenforge.Tokenizer`)."""

    @property
    def n_vocab(self) -> int: ...

    @property
    def special_tokens(self) -> Mapping[str, int]: ...

    def encode_ordinary_batch(self, texts: Iterable[str], *, num_threads: int | None = None) -> Any: ...

    def decode_single_token_bytes(self, token: int) -> bytes: ...


class SentencePieceTokenizer:
    """A SentencePiece ``.model`` behind the evaluation surface (needs the ``sentencepiece`` package).

    Token bytes are the piece with ``▁`` read as a space; byte pieces ``<0xNN>`` are that byte;
    control pieces (``<s>``, ``</s>``) are special tokens and decode to nothing inside text; the
    unknown piece decodes to U+FFFD so that text stays readable. SentencePiece normalises text
    (NFKC, whitespace) and adds a leading space, so the concatenated token bytes are the
    *normalised* text: evaluation segments words on that text, not on the input.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            import sentencepiece as spm
        except ImportError as exc:
            raise UnsupportedTokenizerError(
                f"{path}: reading SentencePiece models needs the 'sentencepiece' package "
                "(pip install 'tokenforge[eval]')"
            ) from exc
        self._path = Path(path)
        try:
            self._sp = spm.SentencePieceProcessor(model_file=str(self._path))
        except (OSError, RuntimeError) as exc:
            raise UnsupportedTokenizerError(f"{path}: not a readable SentencePiece model: {exc}") from exc
        sp = self._sp
        self._n = int(sp.get_piece_size())
        self._unk = int(sp.unk_id()) if sp.unk_id() >= 0 else None
        self._bytes: list[bytes] = []
        self._specials: dict[str, int] = {}
        self._byte_ids: set[int] = set()
        for i in range(self._n):
            piece = sp.id_to_piece(i)
            if sp.is_byte(i):
                self._bytes.append(bytes([int(piece[3:5], 16)]))
                self._byte_ids.add(i)
            elif sp.is_control(i):
                self._bytes.append(b"")
                self._specials[piece] = i
            elif sp.is_unknown(i):
                self._bytes.append("\ufffd".encode())
            else:
                self._bytes.append(piece.replace("\u2581", " ").encode("utf-8"))

    @property
    def name(self) -> str:
        return self._path.stem

    @property
    def n_vocab(self) -> int:
        return self._n

    @property
    def special_tokens(self) -> Mapping[str, int]:
        return dict(self._specials)

    @property
    def unk_token_id(self) -> int | None:
        return self._unk

    @property
    def byte_fallback_ids(self) -> frozenset[int]:
        return frozenset(self._byte_ids)

    def encode_ordinary(self, text: str) -> list[int]:
        return [int(i) for i in self._sp.encode(text)]

    def encode_ordinary_batch(
        self, texts: Iterable[str], *, num_threads: int | None = None
    ) -> list[list[int]]:
        batch = list(texts)
        if not batch:
            return []
        return [list(ids) for ids in self._sp.encode(batch, num_threads=num_threads or -1)]

    def decode_single_token_bytes(self, token: int) -> bytes:
        if not 0 <= token < self._n:
            raise InvalidArgumentError(f"token id {token} is not in the vocabulary of {self.name!r}")
        return self._bytes[token]

    def __repr__(self) -> str:
        return f"<SentencePieceTokenizer {self.name!r} n_vocab={self._n}>"


def resolve_tokenizer(spec: Any) -> tuple[str, EvalTokenizer]:
    """``(label, tokenizer)`` from a known name, a path (``tokenizer.json``, ``.tiktoken``, a
    SentencePiece ``.model``) or an object with the evaluation methods."""
    if not isinstance(spec, (str, os.PathLike)):
        missing = [
            m
            for m in ("encode_ordinary_batch", "decode_single_token_bytes", "n_vocab")
            if not hasattr(spec, m)
        ]
        if missing:
            raise InvalidArgumentError(
                f"{spec!r} cannot be evaluated: it lacks {', '.join(missing)} "
                "(pass a tokenforge.Tokenizer, a tiktoken.Encoding, a name or a path)"
            )
        return str(getattr(spec, "name", type(spec).__name__)), spec
    text = os.fspath(spec)
    path = Path(text)
    if path.suffix == ".model" and path.is_file():
        return path.stem, SentencePieceTokenizer(path)
    from ..loader import load

    tok = load(text)
    label = (
        tok.name if not path.exists() else (path.parent.name if path.name == "tokenizer.json" else path.stem)
    )
    return label or text, tok


@dataclass(frozen=True)
class VocabTable:
    """Per-id facts, computed once per tokenizer with ``decode_single_token_bytes``.

    ``lengths[i]`` is the byte length of token ``i`` (-1 when the id is unused), ``partial[i]``
    marks tokens whose bytes are not whole UTF-8 characters (a character split across tokens,
    i.e. byte-level fallback), ``special`` marks special ids.
    """

    token_bytes: tuple[bytes | None, ...]
    lengths: np.ndarray
    partial: np.ndarray
    special: np.ndarray
    unk_id: int | None

    @property
    def ordinary_size(self) -> int:
        """Ids that exist and are not special: the denominator of utilization and Rényi efficiency."""
        return int(np.count_nonzero((self.lengths >= 0) & ~self.special))


def vocab_table(tok: EvalTokenizer) -> VocabTable:
    """The :class:`VocabTable` of ``tok`` (one ``decode_single_token_bytes`` call per id)."""
    n = int(tok.n_vocab)
    specials: Collection[int] = set(dict(getattr(tok, "special_tokens", {}) or {}).values())
    fallback: Collection[int] = set(getattr(tok, "byte_fallback_ids", ()) or ())
    token_bytes: list[bytes | None] = []
    lengths = np.full(n, -1, dtype=np.int64)
    partial = np.zeros(n, dtype=bool)
    special = np.zeros(n, dtype=bool)
    for i in range(n):
        try:
            data = tok.decode_single_token_bytes(i)
        except (TokenforgeError, KeyError, ValueError, IndexError):
            token_bytes.append(None)
            continue
        token_bytes.append(data)
        lengths[i] = len(data)
        if i in specials:
            special[i] = True
        elif i in fallback:
            partial[i] = True
        else:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                partial[i] = True
    unk = getattr(tok, "unk_token_id", None)
    return VocabTable(tuple(token_bytes), lengths, partial, special, unk if isinstance(unk, int) else None)
