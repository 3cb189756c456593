"""Toy vocabularies and brute-force references for the tokenforge.lm tests."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

import tokenforge as tf
from tokenforge.lm import BigramScorer

# Merged tokens over a small alphabet: overlapping merges (ab/abc/bc, aa/aaa), tokens that the GPT-2
# pattern never produces (" a b" crosses a pre-token boundary, "a1" joins a letter and a digit), a
# two-byte character and tokens that hold half of it.
TOY_MERGES = (
    b"ab", b"bc", b"abc", b"ba", b"aa", b"aaa", b" a", b" ab", b" b", b"  ", b"12", b"a1",
    b"\xc3\xa9", b"a\xc3", b"\xa9b", b" \xc3\xa9", b" a b",
)  # fmt: skip
#: Bytes the random prefixes are drawn from.
ALPHABET = b"abc 12\xc3\xa9\n"


@functools.cache
def toy_tokenizer(special: bool = True) -> tf.Tokenizer:
    """The toy vocabulary, with ``<|endoftext|>`` (its probability is not a byte) unless told."""
    ranks = {bytes([i]): i for i in range(256)}
    for token in TOY_MERGES:
        ranks[token] = len(ranks)
    specials = {"<|endoftext|>": len(ranks)} if special else {}
    return tf.Tokenizer.from_ranks(ranks, tf.PATTERNS["gpt2"], specials, name="toy")


@functools.cache
def byte_tokenizer() -> tf.Tokenizer:
    return tf.Tokenizer.from_ranks({bytes([i]): i for i in range(256)}, tf.PATTERNS["gpt2"], name="bytes")


def toy_scorer(tokenizer: tf.Tokenizer, seed: int = 0) -> BigramScorer:
    return BigramScorer.random(tokenizer.n_vocab, seed=seed)


class BruteForce:
    """Marginalisation over every token sequence by plain enumeration over the vocabulary (no trie),
    with validity checked from its definition on every prefix."""

    def __init__(self, tokenizer: tf.Tokenizer, scorer: BigramScorer, canonical: bool = True) -> None:
        self.tok, self.scorer, self.canonical = tokenizer, scorer, canonical
        special = set(tokenizer.special_tokens.values())
        self.vocab = [
            (i, tokenizer.decode_single_token_bytes(i)) for i in range(tokenizer.n_vocab) if i not in special
        ]

    @functools.cache  # noqa: B019 - one instance per test
    def valid(self, seq: tuple[int, ...]) -> bool:
        if not self.canonical:
            return True
        for i in range(1, len(seq) + 1):
            try:
                text = self.tok.decode_bytes(list(seq[:i])).decode("utf-8")
            except UnicodeDecodeError:
                continue
            starts = {tuple(self.tok.encode_ordinary(text + c))[:i] for c in ("", "x", "1")}
            if seq[:i] not in starts:
                return False
        return True

    def logp(self, seq: tuple[int, ...], token: int) -> float:
        return float(self.scorer([seq])[0][token])

    def covers(self, x: bytes) -> list[tuple[tuple[int, ...], float, bytes]]:
        """Every (sequence, log P, bytes) with bytes(seq[:-1]) a strict prefix of x and bytes(seq)
        starting with x."""
        if not x:
            return [((), 0.0, b"")]  # every stream starts with the empty string
        found = []

        def walk(seq: tuple[int, ...], pos: int, lp: float) -> None:
            for i, data in self.vocab:
                end = pos + len(data)
                if data[: len(x) - pos] != x[pos:end]:
                    continue
                new, new_lp = (*seq, i), lp + self.logp(seq, i)
                if end >= len(x):
                    if self.valid(new):
                        found.append((new, new_lp, self.tok.decode_bytes(list(new))))
                else:
                    walk(new, end, new_lp)

        walk((), 0, 0.0)
        return found

    def prefix_prob(self, x: bytes) -> float:
        return sum(math.exp(lp) for _, lp, _ in self.covers(x))

    def next_byte_probs(self, x: bytes) -> np.ndarray:
        """P(xb) for every byte b, normalised over b."""
        mass = np.zeros(256)
        for seq, lp, data in self.covers(x):
            if len(data) > len(x):
                mass[data[len(x)]] += math.exp(lp)
            else:  # ends exactly at x: one more token
                for i, tdata in self.vocab:
                    new = (*seq, i)
                    if self.valid(new):
                        mass[tdata[0]] += math.exp(lp + self.logp(seq, i))
        return mass / mass.sum()


def sequence_prob(scorer: BigramScorer, seq: Sequence[int]) -> float:
    return math.exp(sum(float(scorer([tuple(seq[:i])])[0][t]) for i, t in enumerate(seq)))
