"""Token healing (tokenforge.lm.healing)."""

from __future__ import annotations

import numpy as np
import pytest

from tokenforge import InvalidArgumentError
from tokenforge.lm import BigramScorer, TokenTrie, generate_healed, heal, healing_logits_processor

from .toys import toy_scorer, toy_tokenizer


def test_heal_removes_the_tail_that_a_longer_token_starts_with(cl100k) -> None:
    healed = heal(cl100k, "http://www.goo")
    assert cl100k.decode_bytes(healed.ids) + healed.tail == b"http://www.goo"
    assert healed.tail.endswith(b"goo") and healed.allowed is not None
    allowed = {cl100k.decode_single_token_bytes(int(i)) for i in healed.allowed}
    assert b"google" in {a.lstrip(b".") for a in allowed} or any(a.startswith(healed.tail) for a in allowed)
    for data in allowed:  # every allowed token is consistent with the tail
        assert data.startswith(healed.tail) or healed.tail.startswith(data)


def test_heal_leaves_a_stable_prompt_alone() -> None:
    tok = toy_tokenizer()
    # "c" then " ": no token starts with " " and continues... except " a", " ab", " b", "  ", " a b", " é"
    healed = heal(tok, "abc")
    assert healed.tail == b"" and healed.allowed is None and healed.ids == tok.encode("abc")


def test_heal_toy_tail_and_remaining() -> None:
    tok = toy_tokenizer()
    healed = heal(tok, "ca")  # "a" could become "ab", "abc", "aa", "aaa", "a1", "a\xc3"
    assert healed.ids == tok.encode("c") and healed.tail == b"a"
    trie = healed.trie
    assert {trie.token_bytes[i] for i in healed.allowed} == {
        b"a",
        b"ab",
        b"abc",
        b"aa",
        b"aaa",
        b"a1",
        b"a\xc3",
    }
    assert healed.remaining([tok.encode("ab")[0]]) == b""
    assert healed.allowed_after([]) is not None and healed.allowed_after(tok.encode("a")) is None


def test_generation_reproduces_the_prompt() -> None:
    tok = toy_tokenizer()
    trie = TokenTrie(tok)
    for seed in range(5):
        scorer = toy_scorer(tok, seed=seed)
        for prompt in ["c ab", "ca", "aa", "c é", "12 a1"]:
            healed = heal(tok, prompt, trie=trie)
            out = generate_healed(scorer, healed, 4, temperature=1.0, seed=seed)
            assert tok.decode_bytes(healed.ids + out).startswith(prompt.encode("utf-8"))


def test_logits_processor_masks_numpy_scores() -> None:
    tok = toy_tokenizer()
    healed = heal(tok, "ca")
    proc = healing_logits_processor(healed)
    scores = np.zeros((1, tok.n_vocab))
    out = proc(np.array([healed.ids]), scores)
    assert set(np.flatnonzero(np.isfinite(out[0]))) == set(healed.allowed.tolist())
    # Once the tail is reproduced, nothing is masked.
    free = proc(np.array([healed.ids + tok.encode("ab")]), np.zeros((1, tok.n_vocab)))
    assert np.isfinite(free).all()


def test_generate_errors() -> None:
    tok = toy_tokenizer()
    with pytest.raises(InvalidArgumentError):
        generate_healed(BigramScorer.random(tok.n_vocab), heal(tok, "a"), -1)
