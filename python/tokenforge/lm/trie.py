"""A prefix trie over the byte strings of a tokenizer's ordinary tokens.

The trie is stored flat: the token byte strings sorted, so the tokens below a trie node (every token
starting with some bytes) are one contiguous range found by two binary searches, and ``id_of`` is a
dict. Built from the public ``Tokenizer`` API (49k tokens: ~60 ms); special and added tokens are left
out: they are not part of any byte stream.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidTokenIdError

if TYPE_CHECKING:
    from ..tokenizer import Tokenizer

__all__ = ["TokenTrie"]


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix`` (None: none)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class TokenTrie:
    """Ordinary tokens of ``tokenizer`` by their bytes."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        excluded = set(tokenizer.special_tokens.values())
        excluded.update(t.id for t in tokenizer.spec.added_tokens)
        pairs: list[tuple[bytes, int]] = []
        for i in range(tokenizer.n_vocab):
            if i in excluded:
                continue
            try:
                pairs.append((tokenizer.decode_single_token_bytes(i), i))
            except InvalidTokenIdError:
                continue  # an unused id below n_vocab
        pairs.sort()
        self.n_vocab = tokenizer.n_vocab
        self._keys = [data for data, _ in pairs]
        self._sorted_ids = np.array([i for _, i in pairs], dtype=np.int64)
        self._by_bytes = {data: i for data, i in pairs}
        self.token_bytes: list[bytes | None] = [None] * tokenizer.n_vocab
        for data, i in pairs:
            self.token_bytes[i] = data
        #: Ids of the ordinary tokens, ascending.
        self.ids = np.sort(self._sorted_ids)
        #: First byte of each id (-1 for ids that are not ordinary tokens).
        self.first_byte = np.full(tokenizer.n_vocab, -1, dtype=np.int64)
        self.first_byte[self._sorted_ids] = [data[0] for data, _ in pairs]
        self.max_len = max((len(d) for d in self._keys), default=0)

    def __len__(self) -> int:
        return len(self._keys)

    def id_of(self, data: bytes) -> int | None:
        """The id of the token whose bytes are exactly ``data``."""
        return self._by_bytes.get(data)

    def starting_with(self, prefix: bytes) -> np.ndarray:
        """Ids of every token whose bytes start with ``prefix`` (all tokens for ``b""``)."""
        lo = bisect.bisect_left(self._keys, prefix)
        after = _successor(prefix)
        hi = len(self._keys) if after is None else bisect.bisect_left(self._keys, after, lo)
        return self._sorted_ids[lo:hi]

    def prefixes_of(self, data: bytes) -> list[int]:
        """Ids of the tokens that are prefixes of ``data`` (shortest first)."""
        found = []
        for n in range(1, min(len(data), self.max_len) + 1):
            i = self._by_bytes.get(data[:n])
            if i is not None:
                found.append(i)
        return found
