"""The hybrid morphological tokenizer ("Tokens with Meaning", Bayram et al. 2025, arXiv
2508.14292): a frozen tokenizer over root and affix dictionaries with a BPE fallback, and its file
format. Train one with ``tokenforge.train(..., algorithm="hybrid")``
(:mod:`tokenforge.train.hybrid`); load a saved one with :func:`tokenforge.load`.

Segmentation, encoding and decoding run in the Rust core (``crates/core/src/model/hybrid.rs``,
where the rules are documented). In short: ids are the markers ``<uppercase>``, ``" "`` and
``"\\n"``, then one id per root, one per affix (every allomorph of a morpheme shares it: ``lar``
and ``ler`` are one id, ``kitap`` and ``kitab`` are one id), then a byte-level BPE for everything
else. Decoding picks each allomorph from its context, and the encoder only uses a segmentation
that decodes back to its input, so ``decode(encode(text)) == text`` for every text.

**File format.** A JSON file (``tokenizer.json`` by default) whose ``model`` has the type
``"tokenforge.Hybrid"``: the piece pattern, ``roots`` (``[form]`` or ``[form, alternate,
trigger]`` in id order), ``affixes`` (templates in id order), the fallback's ``vocab`` (GPT-2
byte-level strings -> ids from 0) and ``merges``, plus ``added_tokens`` (special tokens after all
other ids) and the ``tokenforge`` metadata block. HF ``tokenizers`` cannot load it (the model
type is tokenforge's); :func:`tokenforge.load` and :meth:`HybridTokenizer.save` round-trip it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, final

from . import _core
from .errors import InvalidArgumentError, InvalidTokenIdError, InvalidVocabularyError, SpecialTokenError
from .formats.bytelevel import bytes_to_token_str, token_str_to_bytes
from .tokenizer import AllowedSpecial, _default_threads, _scrub_surrogates

__all__ = ["HYBRID_MODEL_TYPE", "MARKERS", "PIECE_PATTERN", "HybridSpec", "HybridTokenizer", "is_hybrid_doc"]

HYBRID_MODEL_TYPE = "tokenforge.Hybrid"
FORMAT = 1
#: Marker tokens, ids 0.. (``<uppercase>`` capitalises the next token; it has no text of its own).
MARKERS: tuple[str, ...] = ("<uppercase>", " ", "\n")
#: Pieces: words (letters and marks, with one ``'``/``’`` + letters part for suffixes written
#: after an apostrophe), digit runs, each space and newline, other whitespace, other symbols.
PIECE_PATTERN = r"[\p{L}\p{M}]+(?:['’][\p{L}\p{M}]+)?|\p{N}+|[ \n]|[^\S \n]+|[^\p{L}\p{M}\p{N}\s]+"

TokenKind = Literal["marker", "root", "affix", "fallback", "special"]


@dataclass(frozen=True)
class HybridSpec:
    """Everything a hybrid tokenizer is made of. ``roots`` are ``(form, alternate, trigger)``
    (alternate and trigger both None, or a stem and ``"vowel"``/``"progressive"``);
    ``fallback_vocab`` maps token bytes to ids from 0 (the 256 bytes first) and
    ``fallback_merges`` lists ``(left, right)`` id pairs in priority order."""

    roots: tuple[tuple[str, str | None, str | None], ...]
    affixes: tuple[str, ...]
    fallback_vocab: tuple[tuple[bytes, int], ...]
    fallback_merges: tuple[tuple[int, int], ...]
    special_tokens: tuple[str, ...] = ()
    pattern: str = PIECE_PATTERN
    name: str = "hybrid"
    metadata: Mapping[str, Any] | None = None


def is_hybrid_doc(doc: Mapping[str, Any]) -> bool:
    """Whether a parsed JSON document is a hybrid tokenizer file."""
    model = doc.get("model")
    return isinstance(model, Mapping) and model.get("type") == HYBRID_MODEL_TYPE


@final
class HybridTokenizer:
    """An immutable hybrid morphological tokenizer. Safe to share between threads; per-call
    options are arguments. It has the methods evaluation uses (``encode_ordinary_batch``,
    ``decode_single_token_bytes``, ``n_vocab``, ``special_tokens``), so it works in
    :func:`tokenforge.evaluate` and ``tokenforge eval`` like any other tokenizer."""

    def __init__(self, spec: HybridSpec) -> None:
        self._spec = spec
        self._core = _core.CoreHybrid(
            [tuple(r) for r in spec.roots],
            list(spec.affixes),
            ([(b, i) for b, i in spec.fallback_vocab], [tuple(m) for m in spec.fallback_merges]),
            spec.pattern,
        )
        base = self._core.id_space
        if len(set(spec.special_tokens)) != len(spec.special_tokens) or any(
            not t for t in spec.special_tokens
        ):
            raise InvalidVocabularyError("special tokens must be distinct non-empty strings")
        self._special = {token: base + i for i, token in enumerate(spec.special_tokens)}
        self._special_bytes = {i: t.encode() for t, i in self._special.items()}
        self._n_vocab = base + len(spec.special_tokens)
        self._root_base = len(MARKERS)
        self._affix_base = self._root_base + len(spec.roots)
        self._fallback_base = self._core.fallback_base

    # ------------------------------------------------------------------ facts

    @property
    def spec(self) -> HybridSpec:
        return self._spec

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def n_vocab(self) -> int:
        return self._n_vocab

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._special)

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._spec.metadata or {})

    def token_kind(self, token: int) -> TokenKind:
        """What an id stands for."""
        self._check_id(token)
        if token < self._root_base:
            return "marker"
        if token < self._affix_base:
            return "root"
        if token < self._fallback_base:
            return "affix"
        return "special" if token in self._special_bytes else "fallback"

    def id_to_token(self, token: int) -> str:
        """A readable name: the marker, the root's first form, the affix template (``lAr``), the
        fallback token's byte-level string, or the special token."""
        kind = self.token_kind(token)
        if kind == "marker":
            return MARKERS[token]
        if kind == "root":
            return self._spec.roots[token - self._root_base][0]
        if kind == "affix":
            return self._spec.affixes[token - self._affix_base]
        if kind == "special":
            return self._special_bytes[token].decode()
        return bytes_to_token_str(self.decode_single_token_bytes(token))

    def _check_id(self, token: int) -> None:
        if not isinstance(token, int) or isinstance(token, bool) or not 0 <= token < self._n_vocab:
            raise InvalidTokenIdError(f"token id {token!r} is not in the vocabulary of {self.name!r}")

    # ------------------------------------------------------------------ encoding

    def encode(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: AllowedSpecial = "all",
    ) -> list[int]:
        """Encodes ``text``. Special tokens follow tiktoken's rules: text that looks like one
        raises :class:`SpecialTokenError` unless it is allowed (it becomes the special id) or
        left out of ``disallowed_special`` (it is encoded as ordinary text)."""
        allowed = self._special_set(allowed_special, "allowed_special")
        disallowed = self._special_set(disallowed_special, "disallowed_special") - allowed
        if disallowed:
            found = _special_regex(disallowed).search(text)
            if found:
                raise SpecialTokenError(
                    f"text contains the special token {found.group()!r} at character {found.start()}, "
                    "which this call does not allow: pass allowed_special={...} to encode it as the "
                    "special token, or disallowed_special=() to encode it as text"
                )
        if not allowed:
            return self.encode_ordinary(text)
        parts = _special_regex(allowed).split(text)
        texts = parts[0::2]
        encoded = self.encode_ordinary_batch(texts, num_threads=1)
        out: list[int] = list(encoded[0])
        for special, ids in zip(parts[1::2], encoded[1:], strict=True):
            out.append(self._special[special])
            out.extend(ids)
        return out

    def encode_ordinary(self, text: str) -> list[int]:
        """Encodes ``text``; special-token text is ordinary text."""
        return self.encode_ordinary_batch([text], num_threads=1)[0]

    def encode_ordinary_batch(
        self, texts: Iterable[str], *, num_threads: int | None = None
    ) -> list[list[int]]:
        """:meth:`encode_ordinary` over many texts in parallel (GIL released); the result does not
        depend on ``num_threads``."""
        if isinstance(texts, str):
            raise InvalidArgumentError("encode_ordinary_batch takes a sequence of strings, not one string")
        batch = texts if isinstance(texts, list) else list(texts)
        for i, t in enumerate(batch):
            if not isinstance(t, str):
                raise InvalidArgumentError(f"texts[{i}] is {type(t).__name__}, expected str")
        if num_threads is None:
            threads = _default_threads()
        elif isinstance(num_threads, int) and not isinstance(num_threads, bool) and num_threads >= 1:
            threads = num_threads
        else:
            raise InvalidArgumentError(f"num_threads must be a positive integer, got {num_threads!r}")
        try:
            return self._core.encode_batch(batch, threads)
        except UnicodeEncodeError:
            return self._core.encode_batch([_scrub_surrogates(t) for t in batch], threads)

    def encode_batch(self, texts: Iterable[str], *, num_threads: int | None = None) -> list[list[int]]:
        """Same as :meth:`encode_ordinary_batch` (special tokens are not recognised in a batch)."""
        return self.encode_ordinary_batch(texts, num_threads=num_threads)

    def count(self, text: str) -> int:
        return len(self.encode_ordinary(text))

    def segment(self, text: str) -> list[tuple[str, list[str]]]:
        """How each piece of ``text`` is cut: ``(piece, [unit, ...])`` where a unit is
        ``root:kitap``, ``affix:lAr``, ``marker:<uppercase>``, ``marker: `` or
        ``fallback:<text>`` (a span the BPE encodes)."""
        out = []
        for piece, units in self._core.segment(text):
            names = []
            for token, residue in units:
                if token is None:
                    names.append(f"fallback:{residue}")
                else:
                    names.append(f"{self.token_kind(token)}:{self.id_to_token(token)}")
            out.append((piece, names))
        return out

    def _special_set(self, value: AllowedSpecial, name: str) -> frozenset[str]:
        if value == "all":
            return frozenset(self._special)
        if isinstance(value, str):
            raise InvalidArgumentError(f"{name} must be 'all' or a collection of strings, got {value!r}")
        chosen = frozenset(value)
        unknown = sorted(chosen - set(self._special))
        if unknown:
            raise SpecialTokenError(
                f"{name} names {unknown[:3]}, which are not special tokens of {self.name!r}"
            )
        return chosen

    # ------------------------------------------------------------------ decoding

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        ids = tokens.tolist() if hasattr(tokens, "tolist") else list(tokens)
        if not self._special_bytes:
            return self._decode_core(ids)
        out: list[bytes] = []
        run: list[int] = []
        for token in ids:
            if token in self._special_bytes:
                out.append(self._decode_core(run))
                out.append(self._special_bytes[token])
                run = []
            else:
                run.append(token)
        out.append(self._decode_core(run))
        return b"".join(out)

    def _decode_core(self, ids: list[int]) -> bytes:
        try:
            return self._core.decode(ids)
        except (OverflowError, TypeError):
            bad = next((t for t in ids if not isinstance(t, int) or not 0 <= t < 1 << 32), None)
            raise InvalidTokenIdError(f"token id {bad!r} is not in the vocabulary of {self.name!r}") from None

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str:
        """Decodes ids to text (each allomorph from its context)."""
        return self.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one id on its own (a root's first form, an affix after a back vowel and a
        voiced consonant; ``b""`` for ``<uppercase>``)."""
        self._check_id(token)
        if token in self._special_bytes:
            return self._special_bytes[token]
        data = self._core.token_bytes(token)
        if data is None:
            raise InvalidTokenIdError(f"token id {token!r} is not in the vocabulary of {self.name!r}")
        return bytes(data)

    # ------------------------------------------------------------------ files

    def to_json(self) -> dict[str, Any]:
        """The file's document."""
        spec = self._spec
        doc: dict[str, Any] = {
            "version": "1.0",
            "added_tokens": [
                {"id": i, "content": t, "special": True}
                for t, i in sorted(self._special.items(), key=lambda x: x[1])
            ],
            "model": {
                "type": HYBRID_MODEL_TYPE,
                "format": FORMAT,
                "name": spec.name,
                "pattern": spec.pattern,
                "markers": list(MARKERS),
                "roots": [[f] if a is None else [f, a, t] for f, a, t in spec.roots],
                "affixes": list(spec.affixes),
                "fallback": {
                    "vocab": {bytes_to_token_str(b): i for b, i in spec.fallback_vocab},
                    "merges": [[a, b] for a, b in spec.fallback_merges],
                },
            },
        }
        if spec.metadata is not None:
            doc["tokenforge"] = dict(spec.metadata)
        return doc

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the tokenizer file (a directory gets ``tokenizer.json``); returns its path."""
        from .formats.hf_json import write_hf_json

        target = Path(path)
        if target.is_dir():
            target = target / "tokenizer.json"
        write_hf_json(target, self.to_json())
        return target

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], *, source: str = "<document>") -> HybridTokenizer:
        """A tokenizer from a parsed file (fields checked; errors name the field)."""
        if not is_hybrid_doc(doc):
            raise InvalidVocabularyError(
                f"{source}: not a hybrid tokenizer (model.type is not {HYBRID_MODEL_TYPE!r})"
            )
        model = doc["model"]

        def need(key: str, kind: type, where: Mapping[str, Any] = model, prefix: str = "model") -> Any:
            value = where.get(key)
            if not isinstance(value, kind):
                raise InvalidVocabularyError(f"{source}: {prefix}.{key} must be a {kind.__name__}")
            return value

        if model.get("format") != FORMAT:
            raise InvalidVocabularyError(f"{source}: model.format {model.get('format')!r} is not {FORMAT}")
        if model.get("markers") != list(MARKERS):
            raise InvalidVocabularyError(f"{source}: model.markers must be {list(MARKERS)!r}")
        roots: list[tuple[str, str | None, str | None]] = []
        for i, item in enumerate(need("roots", list)):
            if (
                not isinstance(item, list)
                or len(item) not in (1, 3)
                or not all(isinstance(x, str) for x in item)
            ):
                raise InvalidVocabularyError(
                    f"{source}: model.roots[{i}] must be [form] or [form, alternate, trigger]"
                )
            roots.append((item[0], None, None) if len(item) == 1 else (item[0], item[1], item[2]))
        affixes = need("affixes", list)
        if not all(isinstance(a, str) for a in affixes):
            raise InvalidVocabularyError(f"{source}: model.affixes must be strings")
        fallback = need("fallback", dict)
        vocab: list[tuple[bytes, int]] = []
        for token, token_id in need("vocab", dict, fallback, "model.fallback").items():
            data = token_str_to_bytes(token)
            if data is None or not isinstance(token_id, int) or isinstance(token_id, bool) or token_id < 0:
                raise InvalidVocabularyError(
                    f"{source}: model.fallback.vocab entry {token!r}: {token_id!r} is invalid"
                )
            vocab.append((data, token_id))
        merges: list[tuple[int, int]] = []
        for i, pair in enumerate(need("merges", list, fallback, "model.fallback")):
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int) for x in pair)):
                raise InvalidVocabularyError(
                    f"{source}: model.fallback.merges[{i}] must be [left_id, right_id]"
                )
            merges.append((pair[0], pair[1]))
        base = len(MARKERS) + len(roots) + len(affixes) + (max((i for _, i in vocab), default=-1) + 1)
        specials: list[str] = []
        for i, entry in enumerate(sorted(doc.get("added_tokens") or [], key=lambda e: e.get("id", -1))):
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("content"), str)
                or entry.get("id") != base + i
            ):
                raise InvalidVocabularyError(
                    f"{source}: added_tokens must be special tokens with consecutive ids from {base}"
                )
            specials.append(entry["content"])
        metadata = doc.get("tokenforge")
        return cls(
            HybridSpec(
                roots=tuple(roots),
                affixes=tuple(affixes),
                fallback_vocab=tuple(sorted(vocab, key=lambda x: x[1])),
                fallback_merges=tuple(merges),
                special_tokens=tuple(specials),
                pattern=need("pattern", str),
                name=str(model.get("name") or "hybrid"),
                metadata=metadata if isinstance(metadata, dict) else None,
            )
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> HybridTokenizer:
        source = Path(path)
        try:
            doc = json.loads(source.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidVocabularyError(f"{source}: not a JSON tokenizer file ({exc})") from None
        if not isinstance(doc, dict):
            raise InvalidVocabularyError(f"{source}: not a JSON object")
        return cls.from_json(doc, source=str(source))

    def __repr__(self) -> str:
        return (
            f"HybridTokenizer(name={self.name!r}, n_vocab={self.n_vocab}, roots={len(self._spec.roots)}, "
            f"affixes={len(self._spec.affixes)}, fallback={self._core.id_space - self._fallback_base})"
        )


def _special_regex(tokens: frozenset[str]) -> re.Pattern[str]:
    return re.compile("(" + "|".join(re.escape(t) for t in sorted(tokens, key=lambda t: (-len(t), t))) + ")")
