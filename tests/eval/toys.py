"""Tiny tokenizers whose every number can be checked by hand."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import tokenforge as tf

PATTERN = r" ?[A-Za-z]+| ?[^A-Za-z\s]+|\s+"


def toy() -> tf.Tokenizer:
    """256 bytes plus "th", "the", " c", " ca", " cat" (ids 256-260) and one special token."""
    ranks = {bytes([b]): b for b in range(256)}
    for i, tok in enumerate([b"th", b"the", b" c", b" ca", b" cat"]):
        ranks[tok] = 256 + i
    return tf.Tokenizer.from_ranks(ranks, pattern=PATTERN, special_tokens={"<eos>": 261}, name="toy")


class Flaky:
    """Wraps a tokenizer and raises on any text containing ``poison``."""

    def __init__(self, inner: tf.Tokenizer, poison: str = "☠") -> None:
        self.inner = inner
        self.poison = poison
        self.name = "flaky"

    @property
    def n_vocab(self) -> int:
        return self.inner.n_vocab

    @property
    def special_tokens(self) -> Mapping[str, int]:
        return self.inner.special_tokens

    def encode_ordinary_batch(
        self, texts: Iterable[str], *, num_threads: int | None = None
    ) -> list[list[int]]:
        batch = list(texts)
        for t in batch:
            if self.poison in t:
                raise RuntimeError("cannot encode this text")
        return self.inner.encode_ordinary_batch(batch, num_threads=num_threads)

    def decode_single_token_bytes(self, token: int) -> bytes:
        return self.inner.decode_single_token_bytes(token)
