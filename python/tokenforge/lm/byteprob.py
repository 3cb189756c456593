"""Exact byte-level probabilities from a tokenized language model (Phan et al., ICLR 2025).

**Valid (canonical) token sequences.** A sequence ``t`` is *valid* when every prefix ``t[:i]`` whose
bytes are UTF-8 text is the start of the tokenizer's own encoding of that text, alone or followed by
the letter ``"x"`` or the digit ``"1"``: ``encode_ordinary(text + c)`` begins with ``t[:i]`` for some
``c`` in ``("", "x", "1")``. The tokenizer decides through its own ``encode``, so the pre-tokenizer,
the merge ranks (or HF merge list) and ``ignore_merges`` all take part: a token that crosses a
pre-token boundary, or two tokens that BPE would have merged, make a sequence invalid. The
continuations admit the splits a regex pre-tokenizer makes only when a word or a number follows:
GPT-2's pattern encodes ``"\\n\\n"`` as one token but ``"\\n\\n#"`` as ``"\\n", "\\n", "#"``, so
``"\\n", "\\n"`` is a valid prefix although it is not the encoding of ``"\\n\\n"``; with SmolLM2's
digit splitting ``"\\n    0"`` is ``"\\n   ", " ", "0"``, which only the digit reproduces. A prefix
ending inside a UTF-8 character is judged when the character is complete (byte-level tokens may hold
part of a character); after bytes that can never be UTF-8 nothing is constrained (the tokenizer has
no encoding of them). Validity is prefix-closed by construction. ``canonical=False`` counts every
tokenization (the paper's "fast mode"; exact only for a model without a canonical preference).

**Cover set.** ``cover(x)`` holds the valid ``t`` with ``bytes(t[:-1])`` a strict prefix of ``x`` and
``bytes(t)`` starting with ``x``; ``P(x) = Σ_{t ∈ cover(x)} P_LM(t)`` (the Byte-Token Representation
Lemma), where ``P_LM(t)`` is the product of the model's next-token probabilities. The sequences that
end exactly at byte ``m`` (at most three per character boundary, from the encodings above) are built by
dynamic programming over ``m``; the last token of a cover comes from the token trie.

**Next byte.** ``P(b | x) ∝ P(xb)``: covers of ``x`` whose last token runs past ``x`` vote for their
next byte; sequences ending exactly at ``x`` are extended by every valid next token, grouped by its
first byte. The distribution is normalised over the 256 bytes (the mass of invalid next tokens and of
special tokens, which are not bytes, is left out), so it sums to 1.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import InvalidArgumentError, UnsupportedTokenizerError
from .scorer import Scorer, score_and_next, sequence_logprobs
from .trie import TokenTrie

if TYPE_CHECKING:
    from ..tokenizer import Tokenizer

__all__ = ["ByteEnsemble", "ByteLM", "ByteModel", "byte_logprob", "next_byte_logprobs", "sample_bytes"]

Seq = tuple[int, ...]

# The continuations that start a new word or number after a text (see "Valid" above).
_PROBES = ("x", "1")

# Full-vocabulary rows and validity masks kept per context (49k float32: 200 kB a row).
_ROW_CACHE = 256


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _per_byte_logsumexp(byte_index: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``out[b] = log Σ exp(values[byte_index == b])`` (−inf for bytes without values)."""
    top = np.full(256, -np.inf)
    np.maximum.at(top, byte_index, values)
    safe = np.where(np.isfinite(top), top, 0.0)
    sums = np.bincount(byte_index, weights=np.exp(values - safe[byte_index]), minlength=256)
    with np.errstate(divide="ignore"):
        return np.log(sums) + safe


def _logsumexp(values: np.ndarray) -> float:
    if values.size == 0:
        return -np.inf
    top = float(values.max())
    if not np.isfinite(top):
        return top
    return top + float(np.log(np.exp(values - top).sum()))


class _LRU(OrderedDict):  # type: ignore[type-arg]
    """A bounded map, oldest use evicted first. Each call holds a lock: a lookup is two steps
    (move, read) that a concurrent eviction could split (a KeyError), with or without the GIL."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self._lock = threading.Lock()

    def get(self, key: object, default: object = None) -> object:
        with self._lock:
            if key not in self:
                return default
            self.move_to_end(key)
            return self[key]

    def put(self, key: object, value: object) -> None:
        with self._lock:
            self[key] = value
            self.move_to_end(key)
            while len(self) > self.size:
                self.popitem(last=False)


class ByteModel(Protocol):
    """Anything with a next-byte distribution (:class:`ByteLM`, :class:`ByteEnsemble`)."""

    def next_byte_logprobs(self, prefix: bytes) -> np.ndarray: ...


class ByteLM:
    """A token-level scorer seen as a model over bytes.

    Keeps caches (model rows, sequence log-probabilities, validity masks, the exact-ending sequences
    of each prefix) so that sampling byte by byte reuses the work of the previous byte; build one per
    model and tokenizer and reuse it. ``max_sequences`` bounds the number of tokenizations of one
    prefix that are followed (reached only without ``canonical`` or on bytes that are not UTF-8).
    """

    def __init__(
        self, scorer: Scorer, tokenizer: Tokenizer, *, canonical: bool = True, max_sequences: int = 4096
    ) -> None:
        probe = "Hello,  world!\n\tx = 12345 # é ü 中文 🙂"
        if tokenizer.decode_bytes(tokenizer.encode_ordinary(probe)) != probe.encode("utf-8"):
            raise UnsupportedTokenizerError(
                f"{tokenizer.name!r} does not decode its encodings back to the same bytes (a normalizer or "
                "an added prefix space): byte-level probabilities need decode(encode(text)) == text"
            )
        self.scorer = scorer
        self.tokenizer = tokenizer
        self.canonical = canonical
        self.max_sequences = max_sequences
        self.trie = TokenTrie(tokenizer)
        if len(self.trie) and int(self.trie.ids[-1]) >= scorer.n_vocab:
            raise InvalidArgumentError(
                f"the scorer has {scorer.n_vocab} outputs but the tokenizer has token id "
                f"{int(self.trie.ids[-1])}"
            )
        self._lens = np.array([len(d) if d is not None else 0 for d in self.trie.token_bytes], dtype=np.int64)
        self._exact_memo: dict[bytes, tuple[Seq, ...]] = {b"": ((),)}
        self._logp: dict[Seq, float] = {(): 0.0}
        self._rows: _LRU = _LRU(_ROW_CACHE)
        self._masks: _LRU = _LRU(_ROW_CACHE)
        self._encodings: dict[str, Seq] = {}

    def clear_cache(self) -> None:
        """Drops every cached row, probability and tokenization."""
        self._exact_memo = {b"": ((),)}
        self._logp = {(): 0.0}
        self._rows.clear()
        self._masks.clear()
        self._encodings.clear()

    # ----------------------------------------------------------------- tokenizations

    def _encode(self, text: str) -> Seq:
        found = self._encodings.get(text)
        if found is None:
            found = self._encodings[text] = tuple(self.tokenizer.encode_ordinary(text))
        return found

    def exact_sequences(self, data: bytes) -> tuple[Seq, ...]:
        """The valid token sequences whose bytes are exactly ``data``."""
        memo, trie = self._exact_memo, self.trie
        stack = [data]
        while stack:
            cur = stack[-1]
            if cur in memo:
                stack.pop()
                continue
            text = _utf8(cur) if self.canonical else None
            if text is not None:
                candidates = []
                for enc in (self._encode(text + c) for c in ("", *_PROBES)):
                    k, size = 0, 0
                    while k < len(enc) and size < len(cur):
                        token = trie.token_bytes[enc[k]]
                        if token is None:  # an added token: outside the byte stream
                            break
                        size += len(token)
                        k += 1
                    if size == len(cur) and k and enc[:k] not in candidates:
                        candidates.append(enc[:k])
                heads = {c: cur[: len(cur) - len(trie.token_bytes[c[-1]])] for c in candidates}  # type: ignore[arg-type]
                missing = [h for h in heads.values() if h not in memo]
                if missing:
                    stack.extend(missing)
                    continue
                memo[cur] = tuple(c for c, h in heads.items() if c[:-1] in memo[h])
            else:
                heads = [
                    k
                    for k in range(max(0, len(cur) - trie.max_len), len(cur))
                    if trie.id_of(cur[k:]) is not None
                ]
                missing = [cur[:k] for k in heads if cur[:k] not in memo]
                if missing:
                    stack.extend(missing)
                    continue
                found = [(*s, trie.id_of(cur[k:])) for k in heads for s in memo[cur[:k]]]  # type: ignore[operator]
                if len(found) > self.max_sequences:
                    raise InvalidArgumentError(
                        f"{len(found)} tokenizations of a {len(cur)}-byte prefix exceed max_sequences="
                        f"{self.max_sequences} (bytes that are not UTF-8, or canonical=False on long text)"
                    )
                memo[cur] = tuple(found)
            stack.pop()
        return memo[data]

    def valid_after(self, seq: Seq, candidates: np.ndarray) -> np.ndarray:
        """Which ``seq + (v,)`` are valid, for each id ``v`` of ``candidates`` (``seq`` itself valid)."""
        ok = np.ones(len(candidates), dtype=bool)
        if not self.canonical or not len(candidates):
            return ok
        head = self.tokenizer.decode_bytes(list(seq))
        tb = self.trie.token_bytes
        texts: list[str] = []
        where: list[int] = []
        for j, v in enumerate(candidates.tolist()):
            text = _utf8(head + tb[v])  # type: ignore[operator]
            if text is not None:  # otherwise the sequence ends inside a character: judged later
                texts.append(text)
                where.append(j)
        if texts:
            at = np.asarray(where, dtype=np.int64)
            ok[at] = False
            target = np.asarray(seq, dtype=np.int64)
            for suffix in ("", *_PROBES):
                ids, offsets = self.tokenizer.encode_batch_to_numpy(
                    [t + suffix for t in texts] if suffix else texts
                )
                ids = ids.astype(np.int64)
                offsets = offsets.astype(np.int64)
                n = len(seq) + 1
                good = np.diff(offsets) >= n
                rows = ids[offsets[:-1][good][:, None] + np.arange(n)]
                match = (rows[:, :-1] == target).all(axis=1) & (rows[:, -1] == candidates[at[good]])
                ok[at[good][match]] = True
        return ok

    def _full_mask(self, seq: Seq) -> np.ndarray:
        mask = self._masks.get(seq)
        if mask is None:
            mask = self.valid_after(seq, self.trie.ids)
            self._masks.put(seq, mask)
        return mask

    # ----------------------------------------------------------------- model queries

    def _prepare(self, seqs: Sequence[Seq]) -> None:
        """Fills both caches for ``seqs`` with one scorer call where either is missing."""
        missing = list(dict.fromkeys(s for s in seqs if s not in self._rows or s not in self._logp))
        if missing:
            scored, rows = score_and_next(self.scorer, missing)
            for s, lp, row in zip(missing, scored, rows, strict=True):
                self._logp[s] = float(np.sum(lp, dtype=np.float64))
                self._rows.put(s, np.asarray(row))

    def _next_rows(self, seqs: Sequence[Seq]) -> list[np.ndarray]:
        # Rows are collected locally: a call with more sequences than the cache holds evicts its
        # own first rows.
        found = {s: row for s in seqs if (row := self._rows.get(s)) is not None}
        missing = [s for s in dict.fromkeys(seqs) if s not in found]
        if missing:
            for s, row in zip(missing, self.scorer(missing), strict=True):
                found[s] = np.asarray(row)
                self._rows.put(s, found[s])
        return [found[s] for s in seqs]

    def sequence_logprob(self, seqs: Sequence[Seq]) -> np.ndarray:
        """``log P_LM(seq)`` (natural log) of each sequence, from the scorer's start of sequence."""
        missing = list(dict.fromkeys(s for s in seqs if s not in self._logp))
        if missing:
            for s, lp in zip(missing, sequence_logprobs(self.scorer, missing), strict=True):
                self._logp[s] = float(np.sum(lp, dtype=np.float64))
        return np.array([self._logp[s] for s in seqs], dtype=np.float64)

    # ----------------------------------------------------------------- probabilities

    def _covers(self, x: bytes, strictly_past: bool) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """``(m, last-token ids, log P(s + (v,)))`` for the covers ``s + (v,)`` of ``x`` whose head
        ``s`` ends at byte ``m < len(x)`` and whose last token reaches (``strictly_past``: passes) the
        end of ``x``."""
        n = len(x)
        parts: list[tuple[int, Seq, np.ndarray]] = []
        for m in range(max(0, n - self.trie.max_len), n):
            cand = self.trie.starting_with(x[m:])
            if strictly_past:
                cand = cand[self._lens[cand] > n - m]
            if not len(cand):
                continue
            parts.extend((m, s, cand) for s in self.exact_sequences(x[:m]))
        if not parts:
            return []
        seqs = [s for _, s, _ in parts]
        self._prepare(seqs)
        rows = self._next_rows(seqs)
        heads = self.sequence_logprob(seqs)
        out = []
        for (m, s, cand), row, lp in zip(parts, rows, heads, strict=True):
            cand = cand[self.valid_after(s, cand)]
            out.append((m, cand, lp + row[cand].astype(np.float64)))
        return out

    def byte_logprob(self, text: str | bytes) -> float:
        """``log P(text)`` (natural log): the probability that the model's output starts with ``text``."""
        x = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        if not x:
            return 0.0
        terms = [lp for _, _, lp in self._covers(x, strictly_past=False)]
        return _logsumexp(np.concatenate(terms)) if terms else -np.inf

    def next_byte_logprobs(self, prefix: bytes) -> np.ndarray:
        """``log P(next byte | prefix)`` for the 256 byte values (natural log; the probabilities sum
        to 1). Raises :class:`InvalidArgumentError` when the prefix has probability 0."""
        x = bytes(prefix)
        n = len(x)
        index: list[np.ndarray] = []
        values: list[np.ndarray] = []
        tb = self.trie.token_bytes
        for m, cand, lp in self._covers(x, strictly_past=True):
            index.append(np.fromiter((tb[v][n - m] for v in cand.tolist()), dtype=np.int64, count=len(cand)))  # type: ignore[index]
            values.append(lp)
        exact = self.exact_sequences(x)
        if exact:
            self._prepare(exact)
            rows = self._next_rows(exact)
            heads = self.sequence_logprob(exact)
            for s, row, lp in zip(exact, rows, heads, strict=True):
                cand = self.trie.ids[self._full_mask(s)]
                index.append(self.trie.first_byte[cand])
                values.append(lp + row[cand].astype(np.float64))
        if not index:
            raise InvalidArgumentError(f"the prefix {x[-40:]!r} has probability 0 under the model")
        per_byte = _per_byte_logsumexp(np.concatenate(index), np.concatenate(values))
        total = _logsumexp(per_byte)
        if not np.isfinite(total):
            raise InvalidArgumentError(f"the prefix {x[-40:]!r} has probability 0 under the model")
        return per_byte - total

    def sample(self, prompt: bytes, n_bytes: int, **options: object) -> bytes:
        """:func:`sample_bytes` with this model."""
        return sample_bytes(self, prompt, n_bytes, **options)  # type: ignore[arg-type]


class ByteEnsemble:
    """Models with different vocabularies combined at the byte level.

    ``mode="mixture"``: ``P(b | x) = Σ_i w_i P_i(b | x)``; ``mode="product"``: the normalised
    ``Π_i P_i(b | x)^{w_i}``. Weights default to uniform and are normalised to sum to 1.
    """

    def __init__(
        self, models: Sequence[ByteModel], weights: Sequence[float] | None = None, mode: str = "mixture"
    ) -> None:
        if not models:
            raise InvalidArgumentError("ByteEnsemble needs at least one model")
        if mode not in ("mixture", "product"):
            raise InvalidArgumentError(f"mode must be 'mixture' or 'product', got {mode!r}")
        w = np.ones(len(models)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(models),) or (w < 0).any() or w.sum() <= 0:
            raise InvalidArgumentError(
                f"weights must be {len(models)} non-negative numbers, not all 0; got {weights!r}"
            )
        self.models = tuple(models)
        self.weights = w / w.sum()
        self.mode = mode

    def next_byte_logprobs(self, prefix: bytes) -> np.ndarray:
        rows = np.stack([m.next_byte_logprobs(prefix) for m in self.models])
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.mode == "mixture":
                combined = np.array([_logsumexp(rows[:, b] + np.log(self.weights)) for b in range(256)])
            else:
                combined = np.where(self.weights[:, None] > 0, rows * self.weights[:, None], 0.0).sum(axis=0)
        total = _logsumexp(combined)
        if not np.isfinite(total):
            raise InvalidArgumentError(
                f"the models give the prefix {bytes(prefix)[-40:]!r} no common next byte"
            )
        return combined - total

    def sample(self, prompt: bytes, n_bytes: int, **options: object) -> bytes:
        """:func:`sample_bytes` with this ensemble."""
        return sample_bytes(self, prompt, n_bytes, **options)  # type: ignore[arg-type]


def sample_bytes(
    model: ByteModel,
    prompt: bytes,
    n_bytes: int,
    *,
    temperature: float = 1.0,
    seed: int | None = 0,
    stop: Callable[[bytes], bool] | None = None,
) -> bytes:
    """``n_bytes`` bytes drawn one at a time from ``model`` after ``prompt`` (only the new bytes).

    ``temperature=0`` is greedy (the most probable byte, lowest byte value on ties); ``seed`` fixes
    the draws; ``stop(generated)`` returning True ends early.
    """
    if n_bytes < 0 or temperature < 0:
        raise InvalidArgumentError("n_bytes and temperature must be non-negative")
    rng = np.random.default_rng(seed)
    out = bytearray()
    for _ in range(n_bytes):
        logp = model.next_byte_logprobs(bytes(prompt) + bytes(out))
        if temperature == 0:
            b = int(np.argmax(logp))
        else:
            scaled = logp / temperature
            p = np.exp(scaled - scaled.max())
            b = int(rng.choice(256, p=p / p.sum()))
        out.append(b)
        if stop is not None and stop(bytes(out)):
            break
    return bytes(out)


def next_byte_logprobs(
    scorer: Scorer, tokenizer: Tokenizer, prefix: bytes, *, canonical: bool = True
) -> np.ndarray:
    """``log P(next byte | prefix)`` over the 256 byte values (see :class:`ByteLM`; build one to reuse
    its caches across calls)."""
    return ByteLM(scorer, tokenizer, canonical=canonical).next_byte_logprobs(prefix)


def byte_logprob(scorer: Scorer, tokenizer: Tokenizer, text: str | bytes, *, canonical: bool = True) -> float:
    """``log P(text)`` (natural log) as a byte string, marginalised over its tokenizations."""
    return ByteLM(scorer, tokenizer, canonical=canonical).byte_logprob(text)
