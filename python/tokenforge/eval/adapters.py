"""What evaluation needs from a tokenizer, and how to get it from any tokenizer.

Evaluation only uses the public surface that :class:`tokenforge.Tokenizer` shares with
``tiktoken.Encoding``: ``encode_ordinary_batch``, ``decode_single_token_bytes``, ``n_vocab``,
``special_tokens`` (and ``name``). Anything with these methods can be evaluated. Every file
format (``tokenizer.json`` of any family, SentencePiece ``.model``, ``vocab.txt``, ``.tiktoken``) is
loaded by :func:`tokenforge.load`, so no other tokenizer library is needed.

Two optional attributes refine the unknown/byte-fallback metric: ``unk_token_id`` (an int or
None) and ``byte_fallback_ids`` (a collection of ids that stand for a raw byte).

Word metrics need the text a token stands for in running text, which is not always its bytes:
a SentencePiece piece ``▁word`` stands for `` word``, a WordPiece ``##ing`` for ``ing`` and
``word`` for `` word``. A tokenizer with a ``decode`` method gives that *surface* through its own
decoder: the text ``decode([a, i])`` adds after ``decode([a])`` for an anchor word token ``a``
(decoders treat the first token specially: Metaspace drops its space, WordPiece keeps its ``##``,
and SentencePiece drops every leading space, so a token is never measured alone).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InvalidArgumentError, TokenforgeError
from ..tokenizer import Tokenizer

__all__ = [
    "EvalTokenizer",
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
    from ..loader import load

    tok = load(text)
    label = (
        tok.name if not path.exists() else (path.parent.name if path.name == "tokenizer.json" else path.stem)
    )
    return label or text, tok


#: The surface of the unknown token: it stands for text of unknown length, so word alignment
#: reads it as one letter-like character (a private-use code point, which no punctuation or
#: space class claims): part of the word it occurs in, one unit in a text without spaces.
UNKNOWN_SURFACE = "\ue000".encode()

_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")


def _byte_fallback_ids(tok: EvalTokenizer) -> Collection[int]:
    """Ids that stand for a raw byte: the tokenizer's ``byte_fallback_ids`` if it has them, else, for
    a tokenforge tokenizer whose model has byte fallback, its ``<0xNN>`` pieces."""
    given = getattr(tok, "byte_fallback_ids", None)
    if given is not None:
        return set(given)
    if not isinstance(tok, Tokenizer):
        return set()
    metadata = tok.spec.metadata or {}
    types = (metadata.get("sentencepiece") or {}).get("piece_types")
    if types is not None:
        return {i for i, kind in enumerate(types) if kind == 6}  # SentencePiece BYTE pieces
    out = set()
    for i in range(tok.n_vocab):
        piece = tok.id_to_token(i)
        if isinstance(piece, str) and _BYTE_PIECE.fullmatch(piece):
            out.add(i)
    return out


@dataclass(frozen=True)
class VocabTable:
    """Per-id facts, computed once per tokenizer with ``decode_single_token_bytes``.

    ``lengths[i]`` is the byte length of token ``i`` (-1 when the id is unused), ``partial[i]``
    marks tokens whose bytes are not whole UTF-8 characters (a character split across tokens,
    i.e. byte-level fallback), ``special`` marks special ids. ``surfaces[i]`` is the text the token
    stands for in running text (its bytes unless its decoder changes them) and
    ``surface_lengths`` their byte lengths: word alignment spells texts with them.
    """

    token_bytes: tuple[bytes | None, ...]
    lengths: np.ndarray
    partial: np.ndarray
    special: np.ndarray
    unk_id: int | None
    surfaces: tuple[bytes | None, ...]
    surface_lengths: np.ndarray

    @property
    def ordinary_size(self) -> int:
        """Ids that exist and are not special: the denominator of utilization and Rényi efficiency."""
        return int(np.count_nonzero((self.lengths >= 0) & ~self.special))


def _decodes_text(tok: EvalTokenizer) -> bool:
    """Whether ``tok`` has a decoder that can make text differ from its tokens' bytes (a
    string-vocabulary tokenizer.json or ``.model``; byte-level BPE, ``.tiktoken`` and tiktoken
    decode to their bytes)."""
    if isinstance(tok, Tokenizer):
        return tok.spec.model is not None or tok.spec.pipeline is not None
    return callable(getattr(tok, "decode", None)) and not hasattr(tok, "_core_bpe")  # tiktoken.Encoding


def _anchor(tok: Any, token_bytes: Sequence[bytes | None], skip: np.ndarray) -> tuple[int, str] | None:
    """The first ordinary id that decodes alone to letters or digits, with that text."""
    for i, data in enumerate(token_bytes):
        if data is None or skip[i]:
            continue
        try:
            text = tok.decode([i])
        except Exception:  # a third-party decoder may raise anything
            continue
        if isinstance(text, str) and text.isalnum():
            return i, text
    return None


def _surface(tok: Any, anchor: tuple[int, str], token: int, data: bytes) -> bytes:
    """What ``token`` adds to running text after the anchor (see the module docstring); its
    bytes when the decoder does not extend the anchor's text that way."""
    try:
        after = tok.decode([anchor[0], token])
    except Exception:  # a third-party decoder may raise anything: keep the bytes
        return data
    if not isinstance(after, str) or not after.startswith(anchor[1]):
        return data
    return after[len(anchor[1]) :].encode("utf-8", "surrogatepass")


def vocab_table(tok: EvalTokenizer) -> VocabTable:
    """The :class:`VocabTable` of ``tok`` (one ``decode_single_token_bytes`` call per id, and one
    ``decode`` call per whole-character ordinary id when the tokenizer has a text decoder)."""
    n = int(tok.n_vocab)
    specials: Collection[int] = set(dict(getattr(tok, "special_tokens", {}) or {}).values())
    fallback = _byte_fallback_ids(tok)
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
    surfaces = list(token_bytes)
    # Byte pieces and special tokens stand for their bytes.
    anchor = _anchor(tok, token_bytes, partial | special) if _decodes_text(tok) else None
    if anchor is not None:
        surfaces = [
            data if data is None or partial[i] or special[i] else _surface(tok, anchor, i, data)
            for i, data in enumerate(token_bytes)
        ]
    unk = getattr(tok, "unk_token_id", None)
    if isinstance(unk, int) and 0 <= unk < n and surfaces[unk] is not None:
        surfaces[unk] = UNKNOWN_SURFACE
    surface_lengths = np.array([-1 if d is None else len(d) for d in surfaces], dtype=np.int64)
    return VocabTable(
        tuple(token_bytes),
        lengths,
        partial,
        special,
        unk if isinstance(unk, int) else None,
        tuple(surfaces),
        surface_lengths,
    )
