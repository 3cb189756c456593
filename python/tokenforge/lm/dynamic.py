"""Dynamic tokenization: batch-level BPE merging (Feher, Vulić, Minixhofer; ACL 2025; METHODS §8).

Each text of a batch is encoded with the base tokenizer; then, up to ``n_merges`` times (or until the
batch is ``target_reduction`` shorter), the most frequent *valid* adjacent pair over the whole batch is
merged everywhere, left to right and without overlap. Ties go to the pair that occurs first in the
batch (the reference's "first pair counted"); pairs seen once are merged too. A pair is valid when

- ``boundary="pretokens"`` (the default): both tokens lie in one pre-token of the text (the base
  tokenizer's own pre-tokenizer, run on the text), so a merged token never spans what the tokenizer
  keeps apart; invalid UTF-8 (part of a character) is allowed;
- ``boundary="word"``: pre-tokens are ignored (``"hello"`` + ``","`` may merge);

and, in both modes, its bytes have no space, newline or tab after the first byte unless they are all
whitespace, and are not two newlines (the reference's rule for ``Ġ``, ``Ċ``, ``ĉ`` and ``ĊĊ``).

The merged tokens get ids after the base vocabulary; their embeddings come from the base model's
through :func:`tokenforge.adapt.transplant` (``mean`` or ``tokenadapt``) in place of the paper's
hypernetwork. The pair index (pair → positions, a heap with lazy invalidation) makes a batch of
``N`` tokens and ``M`` merges cost ``O((N + M) log N)`` rather than the reference's ``O(N·M)``.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _core
from ..errors import InvalidArgumentError, UnsupportedTokenizerError
from ..spec import ByteLevelStep, DigitsStep, SplitStep

if TYPE_CHECKING:
    from ..adapt import TransplantResult
    from ..tokenizer import Tokenizer

__all__ = ["DynamicBatch", "merge_batch", "pretokens"]

BOUNDARIES = ("pretokens", "word")
_GPT2 = dict(_core.PRESET_PATTERNS)["gpt2"]
_SPACE_LIKE = frozenset(b" \n\t")


def pretokens(tokenizer: Tokenizer, text: str) -> list[str]:
    """``text`` split by the tokenizer's pre-tokenizer (regex splits, ``ByteLevel``, ``Digits``)."""
    pieces = [text]
    for step in tokenizer.spec.pre_tokenizer:
        if isinstance(step, SplitStep) and step.behavior == "isolated" and not step.invert:
            pattern = step.pattern
        elif isinstance(step, ByteLevelStep) and not step.add_prefix_space:
            if not step.use_regex:
                continue
            pattern = _GPT2
        elif isinstance(step, DigitsStep):
            pattern = r"\p{N}" if step.individual else r"\p{N}+"
        else:
            raise UnsupportedTokenizerError(
                f"pre-tokenizer step {step!r} of {tokenizer.name!r} is not supported for pre-token "
                "boundaries; use boundary='word'"
            )
        pieces = [p for piece in pieces for p in _core.split_pieces(pattern, piece, True)]
    return pieces


def _space_rule(data: bytes) -> bool:
    """The reference's whitespace rule on a merged token's bytes."""
    if data == b"\n\n":
        return False
    if all(b in _SPACE_LIKE for b in data):
        return True
    return not any(b in _SPACE_LIKE for b in data[1:])


@dataclass(frozen=True)
class DynamicBatch:
    """A batch re-tokenized with batch-specific merges.

    ``ids[i]`` are text ``i``'s ids: base ids below ``base.n_vocab`` and merged tokens at
    ``base.n_vocab + j`` with bytes ``new_tokens[j]``. ``merges`` lists the applied pairs in order
    (as ids; a merge whose bytes already are a base token yields that base id).
    """

    base: Tokenizer
    ids: list[list[int]]
    new_tokens: tuple[bytes, ...]
    merges: tuple[tuple[int, int, int], ...]
    base_lengths: tuple[int, ...]

    @property
    def lengths(self) -> tuple[int, ...]:
        return tuple(len(i) for i in self.ids)

    @property
    def reduction(self) -> float:
        """``1 − tokens after / tokens before`` over the batch."""
        before = sum(self.base_lengths)
        return 0.0 if before == 0 else 1.0 - sum(self.lengths) / before

    @property
    def n_vocab(self) -> int:
        return self.base.n_vocab + len(self.new_tokens)

    def token_bytes(self, token: int) -> bytes:
        if token >= self.base.n_vocab:
            return self.new_tokens[token - self.base.n_vocab]
        return self.base.decode_single_token_bytes(token)

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        return b"".join(self.token_bytes(t) for t in ids)

    @cached_property
    def vocabulary(self) -> Tokenizer:
        """The base tokenizer plus the merged tokens at their ids (for :func:`tokenforge.adapt.transplant`),
        the batch's merges ranked after the base ones. It is a vocabulary, not this batch's
        segmentation: BPE applies merges in rank order, the batch merged by frequency."""
        from dataclasses import replace

        from ..tokenizer import Tokenizer

        base = self.base
        full = base._full_spec()  # vocabulary and merges read back from the engine
        vocab = dict(full.vocab)
        merges = list(full.merges) if full.merges is not None else None
        for a, b, new_id in self.merges:
            if new_id >= base.n_vocab and self.new_tokens[new_id - base.n_vocab] not in vocab:
                vocab[self.new_tokens[new_id - base.n_vocab]] = new_id
                if merges is not None:  # an HF merge list: the batch's merges rank after the base ones
                    merges.append((a, b))
        spec = replace(
            full,
            name=f"{base.name}+dynamic{len(self.new_tokens)}",
            vocab=vocab,
            merges=None if merges is None else tuple(merges),
            metadata=None,
        )
        return Tokenizer(spec)

    def embeddings(
        self, embeddings: Any, method: str = "mean", output_embeddings: Any | None = None, **options: Any
    ) -> TransplantResult:
        """Base embedding matrices extended with rows for the merged tokens (``mean``: the mean of
        the token's base pieces; ``tokenadapt``: TokenAdapt's local + global estimate), through
        :func:`tokenforge.adapt.transplant`; base rows are copied exactly. ``options`` go to it (e.g.
        ``allow_padded_rows=True`` for models whose matrix is padded past the vocabulary)."""
        from ..adapt import transplant

        return transplant(self.base, self.vocabulary, embeddings, method, output_embeddings, **options)


def merge_batch(
    tokenizer: Tokenizer,
    texts: Iterable[str],
    *,
    n_merges: int | None = None,
    target_reduction: float | None = None,
    boundary: str = "pretokens",
) -> DynamicBatch:
    """Batch-level BPE merging of ``texts`` (see the module docstring). Give ``n_merges`` (the most
    merges to apply), ``target_reduction`` (stop once the batch is that fraction shorter, e.g. 0.2),
    or both (whichever comes first)."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    if n_merges is None and target_reduction is None:
        raise InvalidArgumentError("give n_merges or target_reduction")
    if n_merges is not None and n_merges < 0:
        raise InvalidArgumentError(f"n_merges must be non-negative, got {n_merges}")
    if target_reduction is not None and not 0 < target_reduction < 1:
        raise InvalidArgumentError(f"target_reduction must be in (0, 1), got {target_reduction}")
    if boundary not in BOUNDARIES:
        raise InvalidArgumentError(f"boundary must be one of {', '.join(BOUNDARIES)}; got {boundary!r}")

    encoded = tokenizer.encode_ordinary_batch(texts)
    base_n = tokenizer.n_vocab
    special = set(tokenizer.special_tokens.values()) | {t.id for t in tokenizer.spec.added_tokens}
    # Flat doubly linked list over the batch; `group` ids never pair across texts or pre-tokens.
    sym: list[int] = []
    group: list[int] = []
    n_groups = 0
    for text, ids in zip(texts, encoded, strict=True):
        if boundary == "pretokens":
            ends = np.cumsum([len(p.encode("utf-8")) for p in pretokens(tokenizer, text)]).tolist()
        else:
            ends = []
        offset = 0
        for t in ids:
            piece = bisect.bisect_right(ends, offset)
            sym.append(t)
            group.append(n_groups + piece if t not in special else -1 - len(sym))
            offset += len(tokenizer.decode_single_token_bytes(t))
        n_groups += len(ends) + 1
    n = len(sym)
    starts = np.cumsum([0] + [len(i) for i in encoded]).tolist()
    nxt = list(range(1, n + 1))
    prv = list(range(-1, n - 1))
    for s in starts[1:]:
        if s > 0:
            nxt[s - 1] = -1
        if s < n:
            prv[s] = -1
    alive = [True] * n

    data_of: dict[int, bytes] = {}
    by_bytes: dict[bytes, int] = {}
    new_tokens: list[bytes] = []

    def data(t: int) -> bytes:
        found = data_of.get(t)
        if found is None:
            found = data_of[t] = tokenizer.decode_single_token_bytes(t)
        return found

    rule_cache: dict[tuple[int, int], bool] = {}

    def valid(p: int, q: int) -> bool:
        if q < 0 or group[p] != group[q] or group[p] < 0:
            return False
        key = (sym[p], sym[q])
        ok = rule_cache.get(key)
        if ok is None:
            ok = rule_cache[key] = _space_rule(data(sym[p]) + data(sym[q]))
        return ok

    positions: dict[tuple[int, int], set[int]] = {}
    for p in range(n):
        if valid(p, nxt[p]):
            positions.setdefault((sym[p], sym[nxt[p]]), set()).add(p)
    heap = [(-len(ps), min(ps), pair) for pair, ps in positions.items()]
    heapq.heapify(heap)

    def touch(pair: tuple[int, int]) -> None:
        ps = positions.get(pair)
        if ps:
            heapq.heappush(heap, (-len(ps), min(ps), pair))

    total = n
    goal = -1 if target_reduction is None else int(np.floor(n * (1 - target_reduction)))
    merges: list[tuple[int, int, int]] = []
    while heap and (n_merges is None or len(merges) < n_merges) and total > goal:
        count, first, pair = heapq.heappop(heap)
        ps = positions.get(pair)
        if not ps or len(ps) != -count or min(ps) != first:
            continue  # stale; the current entry was pushed when the pair changed
        a, b = pair
        merged = data(a) + data(b)
        new_id = by_bytes.get(merged)
        if new_id is None:
            new_id = tokenizer.token_to_id(merged)
            if new_id is None or new_id in special:
                new_id = base_n + len(new_tokens)
                new_tokens.append(merged)
                data_of[new_id] = merged
            by_bytes[merged] = new_id
        merges.append((a, b, new_id))
        changed: set[tuple[int, int]] = set()
        for p in sorted(positions.pop(pair)):
            q = nxt[p]
            if not alive[p] or q < 0 or sym[p] != a or sym[q] != b:
                continue  # consumed by an overlapping occurrence on its left
            left, right = prv[p], nxt[q]
            for u, v in ((left, p), (q, right)):
                if u >= 0 and v >= 0 and valid(u, v):
                    key = (sym[u], sym[v])
                    if key in positions:
                        positions[key].discard(u)
                        changed.add(key)
            sym[p] = new_id
            alive[q] = False
            nxt[p] = right
            if right >= 0:
                prv[right] = p
            total -= 1
            for u, v in ((left, p), (p, right)):
                if u >= 0 and v >= 0 and valid(u, v):
                    key = (sym[u], sym[v])
                    positions.setdefault(key, set()).add(u)
                    changed.add(key)
        for key in changed:
            if key in positions and not positions[key]:
                del positions[key]
            else:
                touch(key)
    out_ids: list[list[int]] = []
    for i in range(len(texts)):
        row = []
        p = starts[i] if starts[i] < starts[i + 1] else -1
        while p >= 0:
            row.append(sym[p])
            p = nxt[p]
        out_ids.append(row)
    return DynamicBatch(
        base=tokenizer,
        ids=out_ids,
        new_tokens=tuple(new_tokens),
        merges=tuple(merges),
        base_lengths=tuple(len(i) for i in encoded),
    )
