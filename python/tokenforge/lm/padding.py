"""Batches as numpy arrays: plain padding, Rainbow padding and attention masks.

Rainbow padding (for diffusion LMs, where a single repeated pad token teaches the model to stop
early) fills the padded positions of a row with ``K`` distinct pad tokens in turn:
``pad_0, pad_1, ..., pad_{K-1}, pad_0, ...``. Tokenizers are immutable, so when the pad tokens are
missing, :func:`with_pad_tokens` returns a new tokenizer that has them (special tokens
``<|pad_0|>``... at ids from ``n_vocab`` on) and says which ids they got.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidArgumentError
from ..spec import AddedToken

if TYPE_CHECKING:
    from ..tokenizer import AllowedSpecial, Tokenizer

__all__ = ["PADDINGS", "PaddedBatch", "encode_batch", "pad", "pad_token_names", "with_pad_tokens"]

PADDINGS = ("plain", "rainbow")


def pad_token_names(k: int) -> list[str]:
    """The pad tokens' texts: ``<|pad_0|>`` ... ``<|pad_{k-1}|>``."""
    return [f"<|pad_{i}|>" for i in range(k)]


def with_pad_tokens(tokenizer: Tokenizer, k: int) -> tuple[Tokenizer, list[int]]:
    """``(tokenizer, ids)`` of ``k`` pad tokens: the same tokenizer when it already has them all as
    special tokens, else a new one with the missing ones added after its largest id."""
    if k < 1:
        raise InvalidArgumentError(f"the number of pad tokens must be at least 1, got {k}")
    names = pad_token_names(k)
    missing = [name for name in names if name not in tokenizer.special_tokens]
    if missing:
        from ..tokenizer import Tokenizer

        # The engine's full spec (vocabulary and merges included) with the new special tokens.
        spec = tokenizer._full_spec()
        start = tokenizer.n_vocab
        added = tuple(AddedToken(name, start + i) for i, name in enumerate(missing))
        tokenizer = Tokenizer(
            replace(spec, name=f"{spec.name}+pad{k}", added_tokens=spec.added_tokens + added)
        )
    return tokenizer, [tokenizer.special_tokens[name] for name in names]


def pad(
    sequences: Sequence[Sequence[int]],
    pad_ids: Sequence[int],
    *,
    pad_to: int | None = None,
    side: str = "right",
    truncation: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, attention_mask)`` of shape ``(len(sequences), pad_to)`` (default: the longest row).

    Padded positions cycle through ``pad_ids`` (one id: plain padding), counted from the first pad of
    the row; the mask is 1 on real tokens. Rows longer than ``pad_to`` raise unless ``truncation``
    (then they keep their first ``pad_to`` ids; with ``side="left"`` padding, their last).
    """
    if side not in ("right", "left"):
        raise InvalidArgumentError(f"side must be 'right' or 'left', got {side!r}")
    if not pad_ids:
        raise InvalidArgumentError("pad_ids must hold at least one id")
    longest = max((len(s) for s in sequences), default=0)
    width = longest if pad_to is None else pad_to
    if width < 0:
        raise InvalidArgumentError(f"pad_to must be non-negative, got {pad_to}")
    if longest > width and not truncation:
        raise InvalidArgumentError(
            f"a sequence has {longest} ids, more than pad_to={width}; pass truncation=True to cut it"
        )
    cycle = np.asarray(pad_ids, dtype=np.int64)
    ids = np.empty((len(sequences), width), dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int8)
    for row, seq in enumerate(sequences):
        real = np.asarray(seq, dtype=np.int64)
        real = (real[:width] if side == "right" else real[len(real) - width :]) if len(real) > width else real
        fill = cycle[np.arange(width - len(real)) % len(cycle)]
        if side == "right":
            ids[row] = np.concatenate([real, fill])
            mask[row, : len(real)] = 1
        else:
            ids[row] = np.concatenate([fill, real])
            mask[row, width - len(real) :] = 1
    return ids, mask


@dataclass(frozen=True)
class PaddedBatch:
    """``input_ids`` and ``attention_mask`` (``(batch, pad_to)``, int64 / int8), the ``tokenizer``
    the ids belong to (a new one when pad tokens were added) and the ``pad_ids`` used."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    tokenizer: Tokenizer
    pad_ids: tuple[int, ...]

    @property
    def lengths(self) -> np.ndarray:
        return self.attention_mask.sum(axis=1)


def encode_batch(
    tokenizer: Tokenizer,
    texts: Iterable[str],
    *,
    pad_to: int | None = None,
    padding: str = "plain",
    pad_tokens: int = 1,
    pad_id: int | None = None,
    side: str = "right",
    truncation: bool = False,
    allowed_special: AllowedSpecial = frozenset(),
    num_threads: int | None = None,
) -> PaddedBatch:
    """Encodes ``texts`` and pads them into arrays.

    ``padding="plain"`` pads with ``pad_id`` (default: the tokenizer's ``<|pad_0|>``, added when
    missing); ``padding="rainbow"`` cycles ``pad_tokens`` distinct pad ids ``<|pad_0|>``... (added
    when missing; the returned batch carries the tokenizer they belong to).
    """
    if padding not in PADDINGS:
        raise InvalidArgumentError(f"padding must be one of {', '.join(PADDINGS)}; got {padding!r}")
    if padding == "rainbow" and pad_id is not None:
        raise InvalidArgumentError("pad_id is for plain padding; rainbow padding uses pad_tokens ids")
    if padding == "plain" and pad_tokens != 1:
        raise InvalidArgumentError("plain padding uses one pad token; use padding='rainbow' for several")
    if pad_id is not None:
        if tokenizer.id_to_token(pad_id) is None:
            raise InvalidArgumentError(f"pad_id {pad_id} is not in the vocabulary of {tokenizer.name!r}")
        pad_ids = [pad_id]
    else:
        tokenizer, pad_ids = with_pad_tokens(tokenizer, pad_tokens)
    sequences = tokenizer.encode_batch(texts, allowed_special=allowed_special, num_threads=num_threads)
    ids, mask = pad(sequences, pad_ids, pad_to=pad_to, side=side, truncation=truncation)
    return PaddedBatch(ids, mask, tokenizer, tuple(pad_ids))
