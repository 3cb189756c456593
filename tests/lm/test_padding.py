"""Plain and rainbow padding (tokenforge.lm.padding)."""

from __future__ import annotations

import numpy as np
import pytest

from tokenforge import InvalidArgumentError
from tokenforge.lm import encode_batch, pad, with_pad_tokens

from .toys import toy_tokenizer


def test_rainbow_padding_cycles_distinct_pad_ids() -> None:
    tok = toy_tokenizer()
    batch = encode_batch(tok, ["abc ab", "a"], pad_to=8, padding="rainbow", pad_tokens=3)
    assert batch.pad_ids == tuple(range(tok.n_vocab, tok.n_vocab + 3))
    assert batch.tokenizer.n_vocab == tok.n_vocab + 3 and tok.n_vocab == 274  # the original is unchanged
    first = tok.encode("abc ab")
    np.testing.assert_array_equal(
        batch.input_ids[0], [*first, *[274, 275, 276, 274, 275, 276][: 8 - len(first)]]
    )
    np.testing.assert_array_equal(batch.input_ids[1], [97, 274, 275, 276, 274, 275, 276, 274])
    np.testing.assert_array_equal(batch.attention_mask[1], [1, 0, 0, 0, 0, 0, 0, 0])
    assert batch.lengths.tolist() == [len(first), 1]
    # The derived tokenizer knows its pad tokens and keeps every other id.
    assert batch.tokenizer.decode([274, 275]) == "<|pad_0|><|pad_1|>"
    assert batch.tokenizer.encode("abc ab") == first


def test_existing_pad_tokens_are_reused() -> None:
    tok, ids = with_pad_tokens(toy_tokenizer(), 2)
    again, same = with_pad_tokens(tok, 2)
    assert again is tok and same == ids
    bigger, more = with_pad_tokens(tok, 3)
    assert more[:2] == ids and bigger.n_vocab == tok.n_vocab + 1


def test_plain_padding_and_left_side() -> None:
    tok = toy_tokenizer()
    eot = tok.special_tokens["<|endoftext|>"]
    batch = encode_batch(tok, ["ab", "abc ab"], pad_id=eot, side="left")
    assert batch.tokenizer is tok and batch.input_ids.shape == (2, len(tok.encode("abc ab")))
    assert batch.input_ids[0, 0] == eot and batch.attention_mask[0].tolist()[-1] == 1
    ids, mask = pad([[1, 2, 3], [4]], [0], pad_to=2, truncation=True)
    assert ids.tolist() == [[1, 2], [4, 0]] and mask.tolist() == [[1, 1], [1, 0]]
    ids, _ = pad([[1, 2, 3]], [0], pad_to=2, truncation=True, side="left")
    assert ids.tolist() == [[2, 3]]


def test_padding_errors() -> None:
    tok = toy_tokenizer()
    with pytest.raises(InvalidArgumentError, match="truncation"):
        encode_batch(tok, ["abc abc abc"], pad_to=2)
    with pytest.raises(InvalidArgumentError):
        encode_batch(tok, ["a"], padding="zebra")
    with pytest.raises(InvalidArgumentError):
        encode_batch(tok, ["a"], padding="rainbow", pad_id=3)
    with pytest.raises(InvalidArgumentError):
        encode_batch(tok, ["a"], pad_tokens=2)
    with pytest.raises(InvalidArgumentError):
        encode_batch(tok, ["a"], pad_id=10**6)
    with pytest.raises(InvalidArgumentError):
        with_pad_tokens(tok, 0)
    with pytest.raises(InvalidArgumentError):
        pad([[1]], [], pad_to=2)
