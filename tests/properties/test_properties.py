"""Hypothesis properties of the public API on real vocabularies."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tokenforge as tf

from conftest import load_vocab
from support_references import tiktoken_reference

# Characters that stress pre-tokenization: whitespace kinds, apostrophes, digits of several scripts,
# combining marks, CJK, emoji with joiners, special-token fragments.
_TRICKY = list(
    " \t\n\r\x0b\x0c\x85\xa0\u2000\u2028\u3000'’sStTlLdD0123456789٣४\u0301\u0308"
    "中文かな한😀\u200d👍🏽<|>_-.,!?"
)
_chars = st.one_of(
    st.sampled_from(_TRICKY),
    st.characters(blacklist_categories=("Cs",)),  # any code point that UTF-8 can encode
)
texts = st.text(alphabet=_chars, max_size=200)
PROPERTY_VOCABS = ("cl100k_base", "o200k_base", "qwen2")
common = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _normalized(name: str, text: str) -> str:
    return unicodedata.normalize("NFC", text) if name == "qwen2" else text


@pytest.mark.parametrize("name", PROPERTY_VOCABS)
@common
@given(text=texts)
def test_decode_encode_roundtrip(name: str, text: str) -> None:
    tok = load_vocab(name)
    ids = tok.encode(text, disallowed_special=())
    assert tok.decode(ids) == _normalized(name, text)
    assert tok.decode_bytes(ids) == _normalized(name, text).encode("utf-8")
    assert b"".join(tok.decode_tokens_bytes(ids)) == tok.decode_bytes(ids)


@pytest.mark.parametrize("name", PROPERTY_VOCABS)
@common
@given(text=texts)
def test_matches_tiktoken_on_arbitrary_text(name: str, text: str) -> None:
    assert load_vocab(name).encode(text, allowed_special="all") == tiktoken_reference(name)(text)


@pytest.mark.parametrize("name", PROPERTY_VOCABS)
@common
@given(text=texts)
def test_count_equals_len_encode(name: str, text: str) -> None:
    tok = load_vocab(name)
    assert tok.count(text, disallowed_special=()) == len(tok.encode(text, disallowed_special=()))
    assert tok.count(text, allowed_special="all") == len(tok.encode(text, allowed_special="all"))


@common
@given(batch=st.lists(texts, max_size=12), threads=st.integers(1, 3))
def test_batch_equals_loop(batch: list[str], threads: int) -> None:
    tok = load_vocab("cl100k_base")
    loop = [tok.encode_ordinary(t) for t in batch]
    assert tok.encode_ordinary_batch(batch, num_threads=threads) == loop
    assert tok.encode_batch(batch, num_threads=threads, disallowed_special=()) == loop


@pytest.mark.parametrize("name", ("cl100k_base", "o200k_base"))
@common
@given(text=texts, budget=st.integers(0, 60))
def test_truncate_is_a_prefix_with_a_prefix_encoding(name: str, text: str, budget: int) -> None:
    tok = load_vocab(name)
    full = tok.encode(text, disallowed_special=())
    cut = tok.truncate(text, budget, disallowed_special=())
    assert text.startswith(cut)
    ids = tok.encode(cut, disallowed_special=())
    assert len(ids) <= budget
    assert ids == full[: len(ids)]
    if len(full) <= budget:
        assert cut == text


@common
@given(ids=st.lists(st.integers(0, 100255), max_size=50))
def test_decode_bytes_of_any_ids_is_the_concatenation(ids: list[int]) -> None:
    tok = load_vocab("cl100k_base")
    assert tok.decode_bytes(ids) == b"".join(tok.decode_single_token_bytes(i) for i in ids)
    assert tok.decode(ids) == tok.decode_bytes(ids).decode("utf-8", "replace")


@common
@given(text=texts)
def test_encode_to_numpy_equals_encode(text: str) -> None:
    tok = load_vocab("o200k_base")
    assert tok.encode_to_numpy(text, disallowed_special=()).tolist() == tok.encode(
        text, disallowed_special=()
    )


def test_surrogates_are_replaced_like_tiktoken() -> None:
    tok = load_vocab("cl100k_base")
    assert tok.decode(tok.encode("a\ud800b")) == "a\ufffdb"
    assert tok.encode_ordinary_batch(["x\udfff"]) == [tok.encode("x\ufffd")]


def test_unknown_vocab_name_is_a_clear_error() -> None:
    with pytest.raises(tf.VocabularyNotFoundError, match="known"):
        tf.load("no_such_encoding")
