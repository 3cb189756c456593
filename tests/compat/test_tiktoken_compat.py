"""tokenforge.compat.tiktoken against the real tiktoken 0.14.0, beyond tiktoken's own suite:
token healing, byte encoding, two names on one special id, tiktoken's argument names and
exception types."""

from __future__ import annotations

import functools
import pickle
import random

import hypothesis
import hypothesis.strategies as st
import pytest
import tiktoken as real

import tokenforge as tf
import tokenforge.compat.tiktoken as tt

from parity_corpus import parity_texts

NAMES = ("gpt2", "cl100k_base")


@functools.cache
def pair(name: str) -> tuple[tt.Encoding, real.Encoding]:
    """Our encoding and tiktoken's own engine on the same ranks (tiktoken's registry needs network)."""
    ours = tt.get_encoding(name)
    reference = real.Encoding(
        name,
        pat_str=ours._pat_str,
        mergeable_ranks=ours._mergeable_ranks,
        special_tokens=ours._special_tokens,
    )
    return ours, reference


def _healing_texts() -> list[str]:
    fixed = ["hello fanta", "today\n ", "a\n\n", "x  ", "我非常渴望", "def f(x):\n    return", "can't", " "]
    fixed += ["hello\t", "a \u3000", "emoji 🙂", "end<|endoftext|>", "\n\n\n ", "naïve café", "12 34", ""]
    rng = random.Random(0)
    alphabet = list("ab cd\n\t!é🙂0123'sS ")
    return fixed + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(40)]


@pytest.mark.parametrize("name", NAMES)
def test_encode_with_unstable_matches_tiktoken(name: str) -> None:
    ours, reference = pair(name)
    for text in _healing_texts():
        stable, completions = ours.encode_with_unstable(text, allowed_special="all")
        want_stable, want_completions = reference.encode_with_unstable(text, allowed_special="all")
        assert stable == want_stable, text
        assert completions == sorted(want_completions), text
        for completion in completions:
            assert ours.decode_bytes(stable + completion).startswith(text.encode())


@pytest.mark.parametrize("name", NAMES)
@hypothesis.given(data=st.binary(max_size=24))
@hypothesis.settings(deadline=None, max_examples=150)
def test_encode_bytes_matches_tiktoken(name: str, data: bytes) -> None:
    ours, reference = pair(name)
    assert ours._encode_bytes(data) == reference._encode_bytes(data)
    assert ours.decode_bytes(ours._encode_bytes(data)) == data


@pytest.mark.parametrize("name", NAMES)
def test_text_api_matches_tiktoken(name: str) -> None:
    ours, reference = pair(name)
    # The parity corpus without its multi-megabyte stress texts (the engine's own parity tests
    # cover those); this checks the wrappers.
    texts = [text for _label, text in parity_texts() if len(text) < 2000]
    assert ours.encode_batch(text=texts, allowed_special="all") == reference.encode_batch(
        texts, allowed_special="all"
    )
    assert ours.encode_ordinary_batch(text=texts, num_threads=2) == reference.encode_ordinary_batch(texts)
    batch = ours.encode_ordinary_batch(texts)
    assert ours.decode_batch(batch) == reference.decode_batch(batch)
    assert ours.decode_bytes_batch(batch) == reference.decode_bytes_batch(batch)
    for text in texts[:50]:
        ids = ours.encode_ordinary(text)
        assert ours.decode_with_offsets(ids) == reference.decode_with_offsets(ids)
        assert ours._encode_single_piece(text.encode()) == reference._encode_single_piece(text.encode())
    assert ours.token_byte_values() == reference.token_byte_values()
    assert (ours.n_vocab, ours.max_token_value, ours.eot_token) == (
        reference.n_vocab,
        reference.max_token_value,
        reference.eot_token,
    )


def test_special_token_policy_matches_tiktoken() -> None:
    ours, reference = pair("cl100k_base")
    text = "a<|endoftext|>b<|fim_prefix|>c unknown"
    for allowed, disallowed in [
        ({"<|fim_prefix|>"}, ()),
        ({"<|endoftext|>", "not-a-special"}, ()),
        ("all", "all"),
        (set(), {"<|endoftext|>"}),
        (set(), {"unknown"}),
        (set(), {"absent"}),
    ]:
        try:
            want: object = reference.encode(text, allowed_special=allowed, disallowed_special=disallowed)
        except ValueError:
            want = ValueError
        try:
            got: object = ours.encode(text, allowed_special=allowed, disallowed_special=disallowed)
        except ValueError as exc:
            assert isinstance(exc, tf.TokenforgeError)
            got = ValueError
        assert got == want, (allowed, disallowed)


def test_errors_are_tiktokens_and_tokenforges() -> None:
    enc = tt.get_encoding("cl100k_base")
    with pytest.raises(KeyError) as unknown_id:
        enc.decode_single_token_bytes(100261)  # a hole in cl100k's ids
    assert isinstance(unknown_id.value, tf.InvalidTokenIdError)
    assert str(unknown_id.value).startswith("token id 100261")  # not a quoted repr
    with pytest.raises(KeyError):
        enc.decode_bytes([15339, 10**6])
    with pytest.raises(tf.InvalidTokenIdError):
        enc.encode_single_token("not one token")
    with pytest.raises(KeyError) as unknown_model:
        tt.encoding_name_for_model("no-such-model")
    assert isinstance(unknown_model.value, tf.TokenforgeError)
    with pytest.raises(ValueError):
        tt.get_encoding("no_such_encoding")
    with pytest.raises(ValueError):
        tt.get_encoding(42)  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        enc.is_special_token("100257")  # type: ignore[arg-type]
    with pytest.raises(AssertionError) as wrong_size:
        tt.Encoding("x", pat_str=r"\S+", mergeable_ranks={b"a": 0}, special_tokens={}, explicit_n_vocab=5)
    assert isinstance(wrong_size.value, tf.InvalidVocabularyError)


def test_two_special_names_on_one_id() -> None:
    harmony = tt.get_encoding("o200k_harmony")
    assert (
        harmony._special_tokens["<|endofprompt|>"] == harmony._special_tokens["<|reserved_200018|>"] == 200018
    )
    assert harmony.encode("<|reserved_200018|><|endofprompt|>", allowed_special="all") == [200018, 200018]
    assert harmony.decode_single_token_bytes(200018) == b"<|endofprompt|>"
    assert harmony.encode_single_token("<|reserved_200018|>") == 200018
    assert harmony.n_vocab == 201088 and harmony.eot_token == 199999
    assert harmony.encode("<|start|>user<|message|>hi<|end|>", allowed_special="all") == [
        200006,
        1428,
        200008,
        3686,
        200007,
    ]


def test_registry_caches_and_pickles_by_name() -> None:
    enc = tt.get_encoding("p50k_edit")
    assert tt.get_encoding("p50k_edit") is enc
    assert tt.encoding_for_model("code-davinci-edit-001") is enc
    assert enc.encode("<|fim_middle|>", allowed_special="all") == [50282]
    restored = pickle.loads(pickle.dumps(enc))  # a registered encoding pickles as its name
    assert len(pickle.dumps(enc)) < 200 and restored._tokenizer is enc._tokenizer
    custom = tt.Encoding(
        "custom", pat_str=enc._pat_str, mergeable_ranks=enc._mergeable_ranks, special_tokens={}
    )
    assert pickle.loads(pickle.dumps(custom)).encode("hello world") == custom.encode("hello world")
    assert tt.list_encoding_names() == real.list_encoding_names()


def test_model_table_matches_tiktoken() -> None:
    from tiktoken import model as real_model

    assert tt.model.MODEL_TO_ENCODING == real_model.MODEL_TO_ENCODING
    assert list(tt.model.MODEL_PREFIX_TO_ENCODING.items()) == list(
        real_model.MODEL_PREFIX_TO_ENCODING.items()
    )


def test_load_resolves_known_urls_offline(tmp_path) -> None:
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    ranks = tt.load.load_tiktoken_bpe(url, expected_hash=tt.registry.presets.by_name("cl100k_base").sha256)
    assert ranks == tt.get_encoding("cl100k_base")._mergeable_ranks
    with pytest.raises(tf.VocabularyNotFoundError):
        tt.load.load_tiktoken_bpe("https://example.com/unknown.tiktoken")
    path = tmp_path / "toy.tiktoken"
    tt.load.dump_tiktoken_bpe({b"a": 0, b"b": 1, b"ab": 2}, path)
    assert tt.load.load_tiktoken_bpe(str(path)) == {b"a": 0, b"b": 1, b"ab": 2}
    with pytest.raises(ValueError):
        tt.load.load_tiktoken_bpe(str(path), expected_hash="0" * 64)
