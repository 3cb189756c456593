"""Long pieces (CJK clauses, letter runs, > 1,000 bytes) against tiktoken: the backtracking
search that encodes them in cl100k/o200k/qwen2 must give exactly tiktoken's merge order, and
llama3 (merge kernels) the same."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import PARITY_VOCABS, load_vocab
from support_references import tiktoken_reference

#: Letters only, so the preset pre-tokenizers keep a whole run as one piece.
ALPHABETS = {
    "cjk": "的一是不了人我在有他这为之大来以个中上们国和地到说时要就出会可也你对生能而子那得于着下自之",
    "hangul": "가나다라마바사아자차카타파하한국어입니다습",
    "kana": "あいうえおかきくけこさしすせそたちつてとなにぬねのアイウエオカキクケコ",
    "latin": "aeiourstlnmkbz",
    "mixed": "aé的한あЖقअ",
}


@pytest.mark.parametrize("name", PARITY_VOCABS)
@pytest.mark.parametrize("alphabet", sorted(ALPHABETS))
def test_long_runs_match_tiktoken(name: str, alphabet: str) -> None:
    tok, ref = load_vocab(name), tiktoken_reference(name)
    rng = random.Random(f"{name}-{alphabet}")
    letters = ALPHABETS[alphabet]
    for length in (50, 120, 400, 1_000, 3_000):
        random_run = "".join(rng.choice(letters) for _ in range(length))
        motif = "".join(rng.choice(letters) for _ in range(rng.randint(1, 4)))
        for text in (random_run, (motif * length)[:length], letters[0] * length):
            assert tok.encode(text) == ref(text), (name, alphabet, length, text[:40])


@settings(max_examples=60, deadline=None)
@given(
    st.text(alphabet=ALPHABETS["cjk"] + ALPHABETS["latin"] + ALPHABETS["mixed"], min_size=300, max_size=1_500)
)
@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_random_long_runs_match_tiktoken(name: str, text: str) -> None:
    assert load_vocab(name).encode(text) == tiktoken_reference(name)(text)
