"""The frozen :class:`Tokenizer`: encode, count, truncate and decode, tiktoken-compatible where the
two overlap, with the engine in Rust (``tokenforge._core``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, final

from . import _core
from .errors import InvalidArgumentError, InvalidTokenIdError, InvalidVocabularyError, SpecialTokenError
from .formats.bytelevel import bytes_to_token_str, token_str_to_bytes
from .spec import AddedToken, ByteLevelStep, DigitsStep, SplitStep, TokenizerSpec
from .validation import as_id, as_size

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from .formats.hf_json import TemplatePiece

__all__ = ["OffsetEncoding", "Tokenizer"]

AllowedSpecial = Literal["all"] | Collection[str]
# One encoded sequence: its ids and, when asked for, the engine's char and byte offsets (int64
# little-endian (start, end) pairs).
_Part = tuple[list[int], bytes | None, bytes | None]
# Ids, the char and byte offset arrays (None when not asked for), type ids and sequence ids: the
# fields of an OffsetEncoding.
_Processed = tuple[list[int], Any, Any, list[int], list["int | None"]]


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _step_tuple(step: object) -> tuple[str, str | None, str | None, bool, bool]:
    if isinstance(step, SplitStep):
        return ("regex", step.pattern, step.behavior, step.invert, False)
    if isinstance(step, ByteLevelStep):
        return ("byte_level", None, None, step.add_prefix_space, step.use_regex)
    if isinstance(step, DigitsStep):
        return ("digits", None, None, step.individual, False)
    raise TypeError(f"unknown pre-tokenizer step {step!r}")


def _trim_offsets(node: Mapping[str, Any] | None) -> bool | None:
    """``add_prefix_space`` of the post-processor that trims offsets (HF's ``ByteLevel`` or
    ``RobertaProcessing`` with ``trim_offsets``), None when none does."""
    if not isinstance(node, Mapping):
        return None
    if node.get("type") == "Sequence":
        found = [_trim_offsets(child) for child in node.get("processors", [])]
        return next((f for f in found if f is not None), None)
    if node.get("type") in ("ByteLevel", "RobertaProcessing") and node.get("trim_offsets", True):
        return bool(node.get("add_prefix_space", True))
    return None


@final
@dataclass(frozen=True, slots=True, eq=False)
class OffsetEncoding:
    """Ids and where each token comes from in the encoded text or pair (see
    :meth:`Tokenizer.encode_with_offsets`), as HF's ``Encoding``.

    ``offsets[i]`` is ``(start, end)`` of token ``i`` in characters of its sequence (the text, or
    the pair for the second sequence's tokens), ``byte_offsets[i]`` the same span in bytes of its
    UTF-8 encoding; both are ``(len(ids), 2)`` int64 arrays. ``type_ids[i]`` is the token's type id
    (HF's ``type_ids``) and ``sequence_ids[i]`` its sequence, 0 for the text and 1 for the pair,
    None for a token the post-processor added (HF's ``sequence_ids``).
    """

    ids: list[int]
    offsets: npt.NDArray[np.int64]
    byte_offsets: npt.NDArray[np.int64]
    type_ids: list[int]
    sequence_ids: list[int | None]

    def __len__(self) -> int:
        return len(self.ids)

    def offset_tuples(self) -> list[tuple[int, int]]:
        """The char offsets as a list of ``(start, end)`` tuples (HF's ``Encoding.offsets``)."""
        return [(s, e) for s, e in self.offsets.tolist()]


def _scrub_surrogates(text: str) -> str:
    # Lone surrogates cannot be UTF-8 encoded; like tiktoken, encode them as U+FFFD.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _explain_bad_ids(spec: TokenizerSpec) -> None:
    """Raises InvalidVocabularyError naming the first id the engine could not take (ids are
    32-bit); returns if every id is fine (the failure was something else)."""
    for kind, entries in (
        ("token", ((bytes(t), i) for t, i in spec.vocab.items())),
        ("special token", ((t.content, t.id) for t in spec.added_tokens)),
    ):
        for token, token_id in entries:
            if not isinstance(token_id, int) or isinstance(token_id, bool) or not 0 <= token_id < 2**32:
                raise InvalidVocabularyError(
                    f"{kind} {token!r} has id {token_id!r}; ids must be integers from 0 to 2^32 - 1"
                ) from None


@final
class Tokenizer:
    """An immutable byte-level BPE tokenizer. Safe to share between threads.

    Build one with :func:`tokenforge.load` or :meth:`Tokenizer.from_ranks`. Per-call options
    (``allowed_special``, ``num_threads``...) are arguments, never state.
    """

    __slots__ = (
        "__weakref__",
        "_always",
        "_around",
        "_byte_level_added",
        "_core",
        "_disallow_all",
        "_layouts",
        "_policies",
        "_processor",
        "_spec",
        "_special_ids",
        "_special_tokens",
        "_trim",
        "_unk",
    )

    def __init__(self, spec: TokenizerSpec) -> None:
        """Builds the engine from a spec (validated in Rust; errors are :class:`TokenforgeError`)."""
        from .formats.hf_json import engine_pipeline, post_processor_ids

        specials = [(t.content, t.id) for t in spec.added_tokens]
        unk = None
        if spec.model is not None:
            unk = None if spec.unk_token is None else spec.model.vocab_ids().get(spec.unk_token)
        elif spec.unk_token is not None:
            unk = spec.vocab.get(token_str_to_bytes(spec.unk_token) or spec.unk_token.encode("utf-8"))
        try:
            core = _core.CoreTokenizer(
                list(spec.vocab.items()),
                None if spec.merges is None else list(spec.merges),
                [_step_tuple(s) for s in spec.pre_tokenizer],
                list(spec.normalizers),
                specials,
                spec.ignore_merges,
                None if spec.model is not None else unk,
                engine_pipeline(spec),
                [(t.lstrip, t.rstrip, t.single_word, t.normalized) for t in spec.added_tokens],
            )
        except (OverflowError, TypeError):
            _explain_bad_ids(spec)
            raise
        set_ = object.__setattr__
        set_(self, "_core", core)
        set_(self, "_unk", unk)
        processor = spec.pipeline.post_processor if spec.pipeline else spec.hf_extra.get("post_processor")
        set_(self, "_around", post_processor_ids(processor))
        set_(self, "_processor", processor)
        set_(self, "_trim", _trim_offsets(processor))
        # HF's ByteLevel decoder reads an added token's text as byte-level alphabet when every char
        # is in it ("õ" becomes byte 0xF5): those tokens decode to those bytes in `decode`.
        decoder = spec.hf_extra.get("decoder")
        byte_level_added: dict[int, bytes] = {}
        if spec.model is None and isinstance(decoder, dict) and decoder.get("type") == "ByteLevel":
            for t in spec.added_tokens:
                data = token_str_to_bytes(t.content)
                if data is not None and data != t.content.encode("utf-8"):
                    byte_level_added[t.id] = data
        set_(self, "_byte_level_added", byte_level_added)
        # The engine holds a byte-level vocabulary; keep only the small parts of the spec (for
        # save/repr). A string-vocabulary model keeps its node, which saving writes back as it is.
        set_(self, "_spec", replace(spec, vocab={}, merges=None if spec.merges is None else ()))
        set_(
            self,
            "_special_tokens",
            MappingProxyType({t.content: t.id for t in spec.added_tokens if t.special}),
        )
        set_(self, "_special_ids", frozenset(self._special_tokens.values()))
        # HF non-special added tokens are always matched and never "disallowed".
        set_(self, "_always", tuple(t.id for t in spec.added_tokens if not t.special))
        set_(self, "_disallow_all", "all" if not self._always else sorted(self._special_ids))
        set_(self, "_policies", {})
        set_(self, "_layouts", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Tokenizer is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Tokenizer is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickling (multiprocessing workers) rebuilds from the full spec, keeping the merge semantics.
        return (Tokenizer, (self._full_spec(),))

    @classmethod
    def from_ranks(
        cls,
        mergeable_ranks: Mapping[bytes, int],
        pattern: str,
        special_tokens: Mapping[str, int] | None = None,
        *,
        name: str = "custom",
    ) -> Tokenizer:
        """A tokenizer from tiktoken-style parts (as ``tiktoken.Encoding(...)`` takes them)."""
        if special_tokens is not None and not isinstance(special_tokens, Mapping):
            raise InvalidArgumentError(
                f"special_tokens must be a mapping of token text to id, got {type(special_tokens).__name__}"
            )
        added = tuple(AddedToken(content, token_id) for content, token_id in (special_tokens or {}).items())
        spec = TokenizerSpec(
            name=name, vocab=dict(mergeable_ranks), pre_tokenizer=(SplitStep(pattern),), added_tokens=added
        )
        return cls(spec)

    # ------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def n_vocab(self) -> int:
        """One past the highest id (tiktoken's definition; there may be unused ids below it)."""
        return int(self._core.n_vocab)

    @property
    def memo_bytes(self) -> int:
        """Bytes held now by the memo of merged pieces and of whole words (character BPE), shared by
        all threads using this tokenizer.
        It never exceeds ``TOKENFORGE_MEMO_MB`` MiB (read at import; default 64), plus a 128 KiB
        front table per thread encoding at the same time; it never changes a result."""
        return int(self._core.memo_bytes)

    @property
    def special_tokens(self) -> Mapping[str, int]:
        """Special token text -> id (read-only)."""
        return self._special_tokens

    @property
    def unk_token_id(self) -> int | None:
        """Id of the unknown token (HF models that have one), else None. Byte-level models rarely do."""
        return self._unk

    @property
    def model_kind(self) -> str:
        """HF's name of the model type: ``BPE``, ``Unigram``, ``WordPiece`` or ``WordLevel``."""
        return str(self._core.model_kind)

    def token_text(self, token_id: int) -> str:
        """A token for display: its vocabulary string (``▁the``, ``##ing``, ``<0x0A>``) for string
        vocabularies, its bytes as UTF-8 (invalid bytes escaped) for byte-level ones."""
        data = self.decode_single_token_bytes(token_id)
        return data.decode("utf-8", "backslashreplace")

    @property
    def special_tokens_set(self) -> frozenset[str]:
        return frozenset(self._special_tokens)

    @property
    def pattern(self) -> str | None:
        """The pre-tokenization regex when it is a single regex (tiktoken-style), else None."""
        return self._spec.pattern

    @property
    def spec(self) -> TokenizerSpec:
        """The tokenizer's description without its vocabulary tables (use :meth:`to_hf_json` for all)."""
        return self._spec

    def fingerprint(self) -> str:
        """sha256 identifying what this tokenizer does: vocabulary, merges, pre-tokenizer,
        normalizers and special tokens (not its name). Equal fingerprints encode identically."""
        digest = hashlib.sha256(self._core.model_canonical_bytes())
        spec = self._spec
        described = {
            "pre_tokenizer": [[type(s).__name__, *vars(s).values()] for s in spec.pre_tokenizer],
            "normalizers": list(spec.normalizers),
            "added": sorted([t.content, t.id, t.special] for t in spec.added_tokens),
            "unk": spec.unk_token,
        }
        if spec.model is not None or spec.pipeline is not None:
            described["model"] = None if spec.model is None else dict(spec.model.node)
            described["pipeline"] = None if spec.pipeline is None else vars(spec.pipeline)
        digest.update(json.dumps(described, sort_keys=True).encode())
        return digest.hexdigest()

    def __repr__(self) -> str:
        return f"<Tokenizer {self.name!r} n_vocab={self.n_vocab} specials={len(self._special_tokens)}>"

    # ------------------------------------------------------------------ special-token policy

    def _policy(self, allowed_special: AllowedSpecial, disallowed_special: AllowedSpecial) -> tuple[Any, Any]:
        """Turns tiktoken-style arguments into the engine's (allowed ids, disallowed ids).

        Hashable arguments (the defaults, strings, tuples, frozensets) are remembered: building the
        id lists took ~10 us, a third of a call on a short text (``encode_to_numpy``; a loop over
        8 KB documents spent 10-40% of its time here).

        No lock, also without the GIL: each dict operation is atomic, a policy is a pure function
        of its key (threads that miss together store equal values), and the size check racing
        only lets the map pass 64 entries by the number of threads."""
        try:
            return self._policies[allowed_special, disallowed_special]
        except (KeyError, TypeError):
            pass
        policy = self._build_policy(allowed_special, disallowed_special)
        try:
            if len(self._policies) < 64:
                self._policies[allowed_special, disallowed_special] = policy
        except TypeError:  # a set or list: not remembered
            pass
        return policy

    def _build_policy(
        self, allowed_special: AllowedSpecial, disallowed_special: AllowedSpecial
    ) -> tuple[Any, Any]:
        if allowed_special == "all":
            allowed_ids: set[int] = set(self._special_ids)
        else:
            allowed_ids = {
                self._special_id(s, "allowed_special")
                for s in self._as_collection(allowed_special, "allowed_special")
            }
        if disallowed_special == "all":
            disallowed: Any = (
                self._disallow_all if not allowed_ids else sorted(self._special_ids - allowed_ids)
            )
        else:
            disallowed = sorted(
                self._special_id(s, "disallowed_special")
                for s in self._as_collection(disallowed_special, "disallowed_special")
            )
        allowed: Any = sorted(allowed_ids.union(self._always)) if allowed_ids else list(self._always)
        if allowed_ids == self._special_ids and not self._always and allowed_ids:
            allowed = "all"
        return allowed, disallowed

    @staticmethod
    def _as_collection(value: AllowedSpecial, argument: str) -> Collection[str]:
        if isinstance(value, str):
            raise InvalidArgumentError(
                f'{argument}: expected "all" or a collection of special tokens, got the string {value!r}; '
                f"write {{{value!r}}} for a single token"
            )
        if not isinstance(value, Iterable):
            raise InvalidArgumentError(
                f'{argument} must be "all" or a collection of special tokens (() for none), '
                f"got {type(value).__name__}"
            )
        return value

    def _special_id(self, token: str, argument: str) -> int:
        try:
            return self._special_tokens[token]
        except KeyError:
            known = ", ".join(sorted(self._special_tokens)[:8]) or "none"
            raise SpecialTokenError(
                f"{argument}: {token!r} is not a special token of {self.name!r} (known: {known}"
                f"{', ...' if len(self._special_tokens) > 8 else ''})"
            ) from None

    def _call(self, method: Any, text: str, *args: Any) -> Any:
        try:
            return method(text, *args)
        except UnicodeEncodeError:
            return method(_scrub_surrogates(text), *args)

    # ------------------------------------------------------------------ encoding

    def encode(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: AllowedSpecial = "all",
        add_special_tokens: bool = False,
        pair: str | None = None,
    ) -> list[int]:
        """Encodes ``text`` (and ``pair``, a second sequence) into ids.

        As in tiktoken, text that looks like a special token raises :class:`SpecialTokenError`
        unless the token is in ``allowed_special`` (then it becomes the special id) or left out of
        ``disallowed_special`` (then it is encoded as ordinary text; ``disallowed_special=()``
        treats all special-looking text as text). ``add_special_tokens=True`` applies the
        tokenizer's post-processor (e.g. BERT's ``[CLS] ... [SEP]``), as HF's ``encode`` does.
        With ``allowed_special="all"`` the result equals HF ``encode(text,
        add_special_tokens=...).ids``; with ``pair``, HF ``encode(text, pair, ...).ids`` (the
        post-processor's pair template, e.g. ``[CLS] A [SEP] B [SEP]``; without special tokens the
        two encodings in the template's order, for most templates the two joined).
        """
        policy = self._policy(allowed_special, disallowed_special)
        if pair is not None:
            return self._encode_processed(text, pair, policy, add_special_tokens, False)[0]
        # The hot path: no layout, type ids or sequence ids are built for one sequence.
        ids = self._call(self._core.encode, text, *policy)
        if add_special_tokens:
            before, after = self._around
            return [*before, *ids, *after]
        return ids

    def encode_with_offsets(
        self,
        text: str,
        *,
        pair: str | None = None,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: AllowedSpecial = "all",
        add_special_tokens: bool = False,
    ) -> OffsetEncoding:
        """:meth:`encode` (the same ids and arguments) with each token's character and byte
        offsets, type id and sequence index, computed in the engine (GIL released).

        Tokenizers from a ``tokenizer.json`` (or a SentencePiece ``.model``) give HF
        ``tokenizers``' offsets, ``encode(text, pair, add_special_tokens=...).offsets``: spans of
        the original text, traced back through the normalizer (a token of ``pair`` spans
        characters of ``pair``); a special token found in the text spans its text, one added by
        the post-processor gets ``(0, 0)``; several tokens that split one character (byte-level or
        byte-fallback pieces) all span that character; a ``ByteLevel`` or ``RobertaProcessing``
        post-processor with ``trim_offsets`` leaves leading and trailing spaces out. For byte-level
        vocabularies without a normalizer (tiktoken's), a token spans the characters it holds
        bytes of, so its start is tiktoken's ``decode_with_offsets`` offset.
        """
        import numpy as np

        policy = self._policy(allowed_special, disallowed_special)
        return OffsetEncoding(*self._encode_processed(text, pair, policy, add_special_tokens, True, np))

    def encode_with_type_ids(
        self,
        text: str,
        *,
        pair: str | None = None,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: AllowedSpecial = "all",
        add_special_tokens: bool = False,
    ) -> tuple[list[int], list[int]]:
        """:meth:`encode` with the type id of each token (HF's ``Encoding.type_ids``: the
        post-processor's ``type_id`` per piece of its template, BERT's 0 for the first sequence
        and 1 for the second). Raises :class:`InvalidArgumentError` for a ``pair`` when the
        post-processor has no pair template."""
        policy = self._policy(allowed_special, disallowed_special)
        ids, _, _, type_ids, _ = self._encode_processed(text, pair, policy, add_special_tokens, False)
        return ids, type_ids

    # One path for everything that needs the post-processor's layout (pairs, type ids, offsets):
    # the sequences are encoded (with offsets or not), then placed by `_post_process`.

    def _layout(self, pair: bool, add_special_tokens: bool) -> tuple[TemplatePiece, ...]:
        """The post-processor's pieces for one sequence or a pair, remembered (a pure function of
        the key, so racing threads store equal values; an error is raised again every time)."""
        key = (pair, add_special_tokens)
        layout = self._layouts.get(key)
        if layout is None:
            from .formats.hf_json import post_processor_layout

            layout = post_processor_layout(self._processor, pair, add_special_tokens)
            self._layouts[key] = layout
        return layout

    def _encode_processed(
        self, text: str, pair: str | None, policy: tuple[Any, Any], add: bool, offsets: bool, np: Any = None
    ) -> _Processed:
        if offsets:
            method, extra = self._core.encode_with_offsets, (self._trim,)
        else:
            method, extra = self._core.encode, ()
        texts = (text,) if pair is None else (text, pair)
        parts = [self._call(method, t, *policy, *extra) for t in texts]
        if not offsets:
            parts = [(ids, None, None) for ids in parts]
        return self._post_process(parts, add, np)

    def _post_process(self, parts: Sequence[_Part], add: bool, np: Any = None) -> _Processed:
        """Ids, char and byte offsets (with ``np``, the sequences' offsets being given), type ids
        and sequence ids of the encoded sequences ``parts`` put through the post-processor."""
        layout = self._layout(len(parts) == 2, add)
        ids: list[int] = []
        type_ids: list[int] = []
        sequence_ids: list[int | None] = []
        chars: list[Any] = []
        in_bytes: list[Any] = []
        for piece in layout:
            if piece.sequence is None:
                part: Sequence[int] = piece.ids
                if np is not None:
                    chars.append(np.zeros((len(part), 2), dtype=np.int64))
                    in_bytes.append(chars[-1])
            else:
                part, char_offsets, byte_offsets = parts[piece.sequence]
                if np is not None:
                    chars.append(np.frombuffer(char_offsets, dtype="<i8").reshape(-1, 2))
                    in_bytes.append(np.frombuffer(byte_offsets, dtype="<i8").reshape(-1, 2))
            ids.extend(part)
            type_ids.extend([piece.type_id] * len(part))
            sequence_ids.extend([piece.sequence] * len(part))
        if np is None:
            return ids, None, None, type_ids, sequence_ids
        if len(chars) == 1:
            return ids, chars[0], in_bytes[0], type_ids, sequence_ids
        return ids, np.concatenate(chars), np.concatenate(in_bytes), type_ids, sequence_ids

    def _encode_sequences(
        self,
        method: Any,
        texts: Iterable[str],
        pairs: Iterable[str] | None,
        allowed_special: AllowedSpecial,
        disallowed_special: AllowedSpecial,
        num_threads: int | None,
        *extra: Any,
    ) -> list[Any]:
        """One batch call of ``method`` per sequence of the batch (see :meth:`_batch_pairs`)."""
        policy = self._policy(allowed_special, disallowed_special)
        threads = self._threads(num_threads)
        return [
            self._call_batch(method, s, *policy, *extra, threads) for s in self._batch_pairs(texts, pairs)
        ]

    def _batch_pairs(self, texts: Iterable[str], pairs: Iterable[str] | None) -> list[list[str]]:
        """The sequences of a batch call: ``[texts]`` or ``[texts, pairs]``, checked."""
        firsts = self._batch_texts(texts)
        if pairs is None:
            return [firsts]
        seconds = self._batch_texts(pairs)
        if len(seconds) != len(firsts):
            raise InvalidArgumentError(
                f"{len(firsts)} texts but {len(seconds)} pairs: give one pair per text"
            )
        return [firsts, seconds]

    def encode_ordinary(self, text: str) -> list[int]:
        """Encodes ``text`` treating special-token text as ordinary text (never raises on it)."""
        return self._call(self._core.encode, text, list(self._always), [])

    def encode_batch(
        self,
        texts: Iterable[str],
        *,
        num_threads: int | None = None,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: AllowedSpecial = "all",
        add_special_tokens: bool = False,
        pairs: Iterable[str] | None = None,
    ) -> list[list[int]]:
        """Encodes many texts (with ``pairs``, one second sequence per text) in parallel (GIL
        released); same result as a loop over :meth:`encode`."""
        encoded = self._encode_sequences(
            self._core.encode_batch, texts, pairs, allowed_special, disallowed_special, num_threads
        )
        if pairs is None:
            if not add_special_tokens:
                return encoded[0]
            before, after = self._around
            return [[*before, *ids, *after] for ids in encoded[0]]
        post = self._post_process
        return [
            post(((a, None, None), (b, None, None)), add_special_tokens)[0]
            for a, b in zip(*encoded, strict=True)
        ]

    def encode_batch_with_offsets(
        self,
        texts: Iterable[str],
        *,
        num_threads: int | None = None,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: AllowedSpecial = "all",
        add_special_tokens: bool = False,
        pairs: Iterable[str] | None = None,
    ) -> list[OffsetEncoding]:
        """:meth:`encode_with_offsets` of many texts (with ``pairs``, of many pairs) in parallel
        (GIL released)."""
        import numpy as np

        encoded = self._encode_sequences(
            self._core.encode_batch_with_offsets,
            texts,
            pairs,
            allowed_special,
            disallowed_special,
            num_threads,
            self._trim,
        )
        post = self._post_process
        return [OffsetEncoding(*post(parts, add_special_tokens, np)) for parts in zip(*encoded, strict=True)]

    def encode_ordinary_batch(
        self, texts: Iterable[str], *, num_threads: int | None = None
    ) -> list[list[int]]:
        """:meth:`encode_ordinary` over many texts in parallel."""
        threads = self._threads(num_threads)
        return self._call_batch(
            self._core.encode_batch, self._batch_texts(texts), list(self._always), [], threads
        )

    @staticmethod
    def _batch_texts(texts: Iterable[str]) -> list[str]:
        if isinstance(texts, str):
            raise InvalidArgumentError("encode_batch takes a sequence of strings, not one string")
        return texts if isinstance(texts, list) else list(texts)

    def _call_batch(self, method: Any, texts: list[str], *args: Any) -> Any:
        # The engine checks the item types while borrowing the texts (a Python-side pass over a
        # 6,000-text list took 0.26 ms, a twentieth of a 2-thread batch call); a failure is
        # explained here.
        try:
            return method(texts, *args)
        except UnicodeEncodeError:
            return method([_scrub_surrogates(t) for t in texts], *args)
        except TypeError:
            for i, t in enumerate(texts):
                if not isinstance(t, str):
                    raise InvalidArgumentError(f"texts[{i}] is {type(t).__name__}, expected str") from None
            raise

    @staticmethod
    def _threads(num_threads: int | None) -> int:
        if num_threads is None:
            return _default_threads()
        if not isinstance(num_threads, int) or num_threads < 1:
            raise InvalidArgumentError(f"num_threads must be a positive integer, got {num_threads!r}")
        return num_threads

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: AllowedSpecial = "all",
    ) -> npt.NDArray[np.uint32]:
        """Like :meth:`encode`, as a ``uint32`` numpy array (built from one buffer, no Python ints)."""
        import numpy as np

        raw = self._call(
            self._core.encode_u32_bytes, text, *self._policy(allowed_special, disallowed_special)
        )
        return np.frombuffer(raw, dtype="<u4")

    def count(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: AllowedSpecial = "all",
    ) -> int:
        """``len(encode(text))`` without building the id list."""
        return int(self._call(self._core.count, text, *self._policy(allowed_special, disallowed_special)))

    def truncate(
        self,
        text: str,
        max_tokens: int,
        *,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: AllowedSpecial = "all",
    ) -> str:
        """The longest prefix of ``text`` that encodes to at most ``max_tokens`` tokens, cut at a
        token boundary; its encoding is a prefix of ``encode(text)``. Builds no id list in Python.

        If the tokenizer normalizes text (e.g. NFC) and ``text`` is not normalized, the prefix is
        one of the normalized text.
        """
        # Any integer type (numpy's too); a budget beyond any text's token count keeps the text.
        max_tokens = min(as_size(max_tokens, "max_tokens"), sys.maxsize)
        policy = self._policy(allowed_special, disallowed_special)
        return self._call(self._core.truncate, text, max_tokens, *policy)

    def count_batch(
        self,
        texts: Iterable[str],
        *,
        num_threads: int | None = None,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: AllowedSpecial = "all",
    ) -> list[int]:
        """:meth:`count` of many texts, in parallel."""
        policy = self._policy(allowed_special, disallowed_special)
        return self._call_batch(
            self._core.count_batch, self._batch_texts(texts), *policy, self._threads(num_threads)
        )

    def encode_batch_to_numpy(
        self,
        texts: Iterable[str],
        *,
        num_threads: int | None = None,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: AllowedSpecial = "all",
        separator: int | None = None,
        add_special_tokens: bool = False,
        pairs: Iterable[str] | None = None,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint64]]:
        """Encodes many texts in parallel into one flat ``uint32`` array and ``len(texts) + 1``
        offsets: text ``i`` is ``ids[offsets[i]:offsets[i + 1]]``. ``separator`` (an id, e.g. the
        end-of-text token) is appended after every text. No Python int is created per token, so
        this is the fast path for bulk encoding.

        With ``pairs`` (one second sequence per text) and ``add_special_tokens``, row ``i`` is
        ``encode(texts[i], pair=pairs[i], add_special_tokens=...)`` (then the separator)."""
        import numpy as np

        if (
            separator is not None
            and self._core.token_bytes(separator := as_id(separator, "separator")) is None
        ):
            raise InvalidTokenIdError(f"separator id {separator} is not in the vocabulary of {self.name!r}")
        policy = self._policy(allowed_special, disallowed_special)
        threads = self._threads(num_threads)
        sequences = self._batch_pairs(texts, pairs)
        layout = self._layout(pairs is not None, add_special_tokens)
        if len(layout) == 1:  # one sequence and nothing added: the engine's rows as they are
            ids, offsets = self._call_batch(
                self._core.encode_batch_flat, sequences[0], *policy, threads, separator
            )
            return np.frombuffer(ids, dtype="<u4"), np.frombuffer(offsets, dtype="<u8")
        encoded = []
        for s in sequences:
            ids, offsets = self._call_batch(self._core.encode_batch_flat, s, *policy, threads, None)
            encoded.append(
                (np.frombuffer(ids, dtype="<u4"), np.frombuffer(offsets, dtype="<u8").astype(np.int64))
            )
        return _place_rows(np, layout, encoded, separator)

    def encode_with_unstable(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = frozenset(),
        disallowed_special: AllowedSpecial = "all",
    ) -> tuple[list[int], list[list[int]]]:
        """Token healing's core (tiktoken's semantics): ``(stable, completions)``.

        ``stable`` encodes a prefix of ``text`` that no continuation can change; every completion
        is an id sequence such that ``stable + completion`` decodes to bytes starting with the
        whole of ``text``, covering every way the last piece could be tokenized once more text
        follows. Completions are sorted and distinct.
        """
        policy = self._policy(allowed_special, disallowed_special)
        return self._call(self._core.encode_with_unstable, text, *policy, list(self._always))

    def encode_bytes(self, data: bytes) -> list[int]:
        """Encodes any byte string, also one that is not valid UTF-8 (tiktoken's ``_encode_bytes``):
        the valid prefix is encoded as ordinary text and its last piece re-merged with the rest,
        so ``decode_bytes(encode_bytes(data)) == data``."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidArgumentError(f"encode_bytes takes bytes, got {type(data).__name__}")
        return self._core.encode_bytes(bytes(data), list(self._always))

    def encode_piece(self, data: bytes) -> list[int]:
        """BPE of one piece, without special tokens, normalization or pre-tokenization (a piece
        that is a whole token is that token)."""
        return self._core.encode_piece(bytes(data), True)

    # ------------------------------------------------------------------ decoding

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        """The bytes of ``tokens`` concatenated. Unknown ids raise :class:`InvalidTokenIdError`."""
        # The engine converts and checks the ids itself; the Python pass over them (0.04 s for
        # 434k ids, twice the whole decode) only runs to explain a failure.
        ids = tokens.tolist() if hasattr(tokens, "tolist") else tokens
        if not isinstance(ids, list):
            ids = list(ids)
        try:
            return self._core.decode_bytes(ids)
        except (TypeError, OverflowError):
            return self._core.decode_bytes(self._ids(ids))

    def decode(
        self, tokens: Sequence[int], errors: str = "replace", *, skip_special_tokens: bool = False
    ) -> str:
        """Decodes ids to text; invalid UTF-8 (a cut inside a character) becomes U+FFFD by default.

        Models with a string vocabulary (Unigram, WordPiece, SentencePiece-style BPE) decode through
        their HF decoder chain, equal to HF ``decode(ids, skip_special_tokens=...)``;
        ``skip_special_tokens=True`` leaves special tokens out.
        """
        skip = sorted(self._special_ids) if skip_special_tokens else []
        if self._spec.model is None and self._spec.pipeline is None:
            if skip or self._byte_level_added:
                ids = tokens.tolist() if hasattr(tokens, "tolist") else list(tokens)
                tokens = [t for t in ids if t not in self._special_ids] if skip else ids
            if self._byte_level_added:
                remap = self._byte_level_added
                data = b"".join(remap[t] if t in remap else self.decode_bytes([t]) for t in tokens)
                return data.decode("utf-8", errors=errors)
            return self.decode_bytes(tokens).decode("utf-8", errors=errors)
        ids = tokens.tolist() if hasattr(tokens, "tolist") else list(tokens)
        try:
            return self._core.decode_text(ids, skip)
        except (TypeError, OverflowError):
            return self._core.decode_text(self._ids(ids), skip)

    def decode_with_offsets(self, tokens: Sequence[int]) -> tuple[str, list[int]]:
        """The text of ``tokens`` and, per token, the index of the first character holding bytes
        of it (tiktoken's ``decode_with_offsets``; a token that starts inside a character belongs
        to it). The tokens must decode to valid UTF-8, else ``UnicodeDecodeError``."""
        ids = tokens.tolist() if hasattr(tokens, "tolist") else list(tokens)
        try:
            data, starts = self._core.decode_with_offsets(ids)
        except (TypeError, OverflowError):
            data, starts = self._core.decode_with_offsets(self._ids(ids))
        return data.decode("utf-8", errors="strict"), starts

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one token."""
        data = self._core.token_bytes(as_id(token))  # numpy integers too (encode_to_numpy's output)
        if data is None:
            raise InvalidTokenIdError(f"token id {token!r} is not in the vocabulary of {self.name!r}")
        return data

    def decode_tokens_bytes(self, tokens: Sequence[int]) -> list[bytes]:
        """The bytes of each token."""
        ids = tokens.tolist() if hasattr(tokens, "tolist") else tokens
        return [self.decode_single_token_bytes(t) for t in ids]

    @staticmethod
    def _ids(tokens: list[int]) -> list[int]:
        for t in tokens:
            if not isinstance(t, int) or t < 0 or t >= 2**32:
                raise InvalidTokenIdError(f"token id {t!r} is not in the vocabulary")
        return tokens

    # ------------------------------------------------------------------ vocabulary

    def token_to_id(self, token: str | bytes) -> int | None:
        """Id of a token given as its bytes, as a special or added token's text, or as its
        ``tokenizer.json`` vocabulary string (byte-level alphabet, e.g. ``"Ġthe"``). None if it is
        not a token."""
        if isinstance(token, bytes):
            model = self._core.token_id(token)
            return model if model is not None else self._special_tokens.get(token.decode("utf-8", "replace"))
        if token in self._special_tokens:
            return self._special_tokens[token]
        for added in self._spec.added_tokens:  # non-special added tokens (e.g. domain tokens)
            if added.content == token:
                return added.id
        if self._spec.model is not None:
            return self._core.token_id(token.encode("utf-8"))
        data = token_str_to_bytes(token)
        return None if data is None else self._core.token_id(data)

    def id_to_token(self, token_id: int) -> str | None:
        """The ``tokenizer.json`` vocabulary string of an id (special tokens as their text), or None."""
        for content, sid in self._special_tokens.items():
            if sid == token_id:
                return content
        for added in self._spec.added_tokens:
            if added.id == token_id:
                return added.content
        data = self._core.token_bytes(token_id) if 0 <= token_id < 2**32 else None
        if data is not None and self._spec.model is not None:
            return data.decode("utf-8")
        return None if data is None else bytes_to_token_str(data)

    def token_byte_values(self) -> list[bytes]:
        """The bytes of every model (non-special) token, in byte order."""
        return self._core.sorted_token_bytes()

    # ------------------------------------------------------------------ saving

    def _full_spec(self) -> TokenizerSpec:
        """The spec including the vocabulary and merges, read back from the engine."""
        vocab = dict(self._core.model_vocab())
        if self._spec.merges is None:
            return replace(self._spec, vocab=vocab)
        merges = tuple((a, b) for a, b, _priority, _merged in self._core.merge_entries())
        return replace(self._spec, vocab=vocab, merges=merges)

    def to_hf_json(self) -> dict[str, Any]:
        """The ``tokenizer.json`` document: HF ``tokenizers`` loads it and encodes with identical ids."""
        from .formats.hf_json import model_spec_to_hf_json, spec_to_hf_json

        if self._spec.model is not None:
            return model_spec_to_hf_json(self._spec)
        spec = self._full_spec()
        vocab = spec.vocab
        if spec.merges is None:
            # tiktoken semantics as an explicit list: every split of a token into two tokens, in the
            # merged token's rank order; whole tokens are emitted first (ignore_merges), as tiktoken does.
            merges = [(a, b) for a, b, _priority, _merged in self._core.merge_entries()]
            spec = replace(spec, ignore_merges=True)
        else:
            merges = list(spec.merges)
        id_to_bytes = {token_id: data for data, token_id in vocab.items()}
        return spec_to_hf_json(spec, vocab, merges, id_to_bytes)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes ``tokenizer.json`` (a directory gets ``tokenizer.json`` inside it), or a SentencePiece
        ``.model`` when the path ends in ``.model`` (SentencePiece-style BPE/Unigram tokenizers; one
        loaded from a ``.model`` is written back bit for bit); returns the path."""
        target = Path(path)
        if target.suffix == ".model" and not target.is_dir():
            from .formats import sentencepiece

            model = sentencepiece.from_hf_doc(self.to_hf_json(), source=self.name)
            return sentencepiece.write_model(target, model)
        from .formats.hf_json import write_hf_json

        if target.is_dir():
            target = target / "tokenizer.json"
        write_hf_json(target, self.to_hf_json())
        return target


def _place_rows(
    np: Any, layout: tuple[TemplatePiece, ...], encoded: list[tuple[Any, Any]], separator: int | None
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint64]]:
    """Flat rows of post-processed sequences from the flat encodings of each sequence
    (``encoded[k]``: ids and int64 row offsets of sequence ``k``), placed with whole-array
    operations: the cost per token is a few numpy element operations, never a Python object."""
    lengths = [np.diff(offsets) for _, offsets in encoded]
    fixed = sum(len(p.ids) for p in layout if p.sequence is None) + (separator is not None)
    rows = len(lengths[0])
    bounds = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(sum(lengths) + fixed, out=bounds[1:])
    out = np.empty(int(bounds[-1]), dtype=np.uint32)
    cursor = bounds[:-1].copy()  # where the next piece of each row goes
    for piece in layout:
        if piece.sequence is None:
            for i, token in enumerate(piece.ids):
                out[cursor + i] = token
            cursor += len(piece.ids)
            continue
        ids, offsets = encoded[piece.sequence]
        length = lengths[piece.sequence]
        row = np.repeat(np.arange(rows), length)
        out[np.arange(len(ids)) + (cursor - offsets[:-1])[row]] = ids
        cursor += length
    if separator is not None:
        out[cursor] = separator
    return out, bounds.astype(np.uint64)
