"""Pair encoding (``encode(text, pair=...)``), type ids, sequence ids and offsets against HF
``tokenizers`` on real files, each post-processor kind: TemplateProcessing, BertProcessing,
RobertaProcessing (with ``trim_offsets``), ByteLevel and Sequence."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import tokenizers
from hypothesis import given, settings
from hypothesis import strategies as st

import tokenforge as tf
from tokenforge.formats.hf_json import parse_hf_json

from parity_corpus import parity_texts

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import fetch_test_tokenizers as real_files


def _doc(name: str) -> dict:
    entry = next(e for e in real_files.find_all() if e.name == name and e.filename.endswith(".json"))
    doc = json.loads(entry.path.read_bytes())
    doc["padding"] = doc["truncation"] = None  # HF applies them in encode, tokenforge does not
    return doc


def _bert(doc: dict) -> dict:
    doc["post_processor"] = {"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]}
    return doc


def _roberta(doc: dict) -> dict:
    # Qwen2.5's <|endoftext|> and <|im_start|> as Roberta's separator and start.
    doc["post_processor"] = {
        "type": "RobertaProcessing",
        "sep": ["<|endoftext|>", 151643],
        "cls": ["<|im_start|>", 151644],
        "trim_offsets": True,
        "add_prefix_space": False,
    }
    return doc


def _t5_template(doc: dict) -> dict:
    # T5's "$A </s> $B </s>" with the second sequence typed 1.
    doc["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
        "pair": [
            {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": "</s>", "type_id": 0}},
            {"Sequence": {"id": "B", "type_id": 1}},
            {"SpecialToken": {"id": "</s>", "type_id": 1}},
        ],
        "special_tokens": {"</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}},
    }
    return doc


CASES: dict[str, tuple[str, Callable[[dict], dict]]] = {
    "minilm-template": ("minilm-l6-v2", lambda d: d),
    "minilm-bert": ("minilm-l6-v2", _bert),
    "qwen-roberta": ("qwen-2.5", _roberta),
    "qwen-bytelevel": ("qwen-2.5", lambda d: d),
    "llama3-sequence": ("llama-3.2", lambda d: d),
    "llama2-template": ("llama2-wordllama", lambda d: d),
    "mon-t5-template": ("mon-unigram", _t5_template),
}


@cache
def _pair(case: str) -> tuple[tf.Tokenizer, tokenizers.Tokenizer]:
    name, edit = CASES[case]
    doc = edit(_doc(name))
    return tf.Tokenizer(parse_hf_json(doc)), tokenizers.Tokenizer.from_str(json.dumps(doc))


def _text_pairs(step: int = 29, cut: int | None = None) -> list[tuple[str, str]]:
    texts = [t[:cut] for _, t in parity_texts()[::step]]
    return list(zip(texts, texts[1:] + texts[:1], strict=True))


@pytest.mark.parametrize("case", sorted(CASES))
def test_pairs_match_hf_ids_and_type_ids(case: str) -> None:
    ours, theirs = _pair(case)
    pairs = _text_pairs()
    for add in (True, False):
        expected = theirs.encode_batch(pairs, add_special_tokens=add)
        got = [
            ours.encode_with_type_ids(a, pair=b, allowed_special="all", add_special_tokens=add)
            for a, b in pairs
        ]
        bad = [a[:30] for (a, _), g, e in zip(pairs, got, expected, strict=True) if g != (e.ids, e.type_ids)]
        assert not bad, f"add_special_tokens={add}: {len(bad)}/{len(pairs)} pairs differ: {bad[:3]}"
        batch = ours.encode_batch(
            [a for a, _ in pairs],
            pairs=[b for _, b in pairs],
            allowed_special="all",
            add_special_tokens=add,
            num_threads=2,
        )
        assert batch == [e.ids for e in expected]
    # A single sequence's type ids too.
    single = theirs.encode(pairs[0][0])
    assert ours.encode_with_type_ids(pairs[0][0], allowed_special="all", add_special_tokens=True) == (
        single.ids,
        single.type_ids,
    )


@settings(max_examples=60, deadline=None)
@given(a=st.text(max_size=40), b=st.text(max_size=40))
def test_property_pair_is_the_concatenation_rule(a: str, b: str) -> None:
    tok, _ = _pair("minilm-bert")
    first, second = tok.encode(a, allowed_special="all"), tok.encode(b, allowed_special="all")
    assert tok.encode(a, pair=b, allowed_special="all") == first + second
    assert tok.encode(a, pair=b, allowed_special="all", add_special_tokens=True) == [
        101,
        *first,
        102,
        *second,
        102,
    ]


def test_pair_without_a_pair_template_is_a_typed_error() -> None:
    name, edit = CASES["mon-t5-template"]
    doc = edit(_doc(name))
    del doc["post_processor"]["pair"]
    tok = tf.Tokenizer(parse_hf_json(doc))
    assert tok.encode("a", allowed_special="all", add_special_tokens=True)[-1] == 2
    with pytest.raises(tf.InvalidArgumentError, match="no pair template"):
        tok.encode("a", pair="b", add_special_tokens=True)


def test_batch_pairs_must_match_the_texts() -> None:
    tok, _ = _pair("minilm-bert")
    with pytest.raises(tf.InvalidArgumentError, match="2 texts but 1 pairs"):
        tok.encode_batch(["a", "b"], pairs=["c"])


def _hf_view(enc: object) -> tuple[list[int], list[int], list[int | None], list[tuple[int, int]]]:
    return enc.ids, enc.type_ids, enc.sequence_ids, [tuple(o) for o in enc.offsets]  # type: ignore[attr-defined]


def _our_view(enc: tf.OffsetEncoding) -> tuple[list[int], list[int], list[int | None], list[tuple[int, int]]]:
    return enc.ids, enc.type_ids, enc.sequence_ids, enc.offset_tuples()


@pytest.mark.parametrize("case", sorted(CASES))
def test_pair_offsets_type_ids_and_sequence_ids_match_hf(case: str) -> None:
    ours, theirs = _pair(case)
    # Every other corpus text (every group and adversarial shape), cut to 1,500 chars as in
    # test_offsets.py: the whole texts take HF 10-60 s per setup.
    pairs = _text_pairs(2, 1500)
    for add in (True, False):
        expected = [_hf_view(e) for e in theirs.encode_batch(pairs, add_special_tokens=add)]
        got = [
            ours.encode_with_offsets(a, pair=b, allowed_special="all", add_special_tokens=add)
            for a, b in pairs
        ]
        bad = [a[:30] for (a, _), g, e in zip(pairs, got, expected, strict=True) if _our_view(g) != e]
        assert not bad, f"add_special_tokens={add}: {len(bad)}/{len(pairs)} pairs differ: {bad[:3]}"
        for (a, b), g in zip(pairs, got, strict=True):
            # Byte offsets are the same spans in the UTF-8 of the sequence each token comes from.
            for seq, (s, e), (bs, be) in zip(
                g.sequence_ids, g.offsets.tolist(), g.byte_offsets.tolist(), strict=True
            ):
                text = b if seq == 1 else a
                assert text.encode()[bs:be].decode() == (text[s:e] if seq is not None else "")
        batch = ours.encode_batch_with_offsets(
            [a for a, _ in pairs],
            pairs=[b for _, b in pairs],
            allowed_special="all",
            add_special_tokens=add,
            num_threads=2,
        )
        assert [_our_view(g) for g in batch] == expected
        # A single sequence's offsets, type ids and sequence ids through the same path.
        single = theirs.encode(pairs[0][0], add_special_tokens=add)
        one = ours.encode_with_offsets(pairs[0][0], allowed_special="all", add_special_tokens=add)
        assert _our_view(one) == _hf_view(single)


@pytest.mark.parametrize("case", sorted(CASES))
def test_pairs_to_numpy_equal_the_loop(case: str) -> None:
    ours, _ = _pair(case)
    pairs = _text_pairs()
    firsts, seconds = [a for a, _ in pairs], [b for _, b in pairs]
    for add in (True, False):
        for separator in (None, 0):
            ids, offsets = ours.encode_batch_to_numpy(
                firsts,
                pairs=seconds,
                allowed_special="all",
                add_special_tokens=add,
                separator=separator,
                num_threads=2,
            )
            assert ids.dtype == np.uint32 and offsets.dtype == np.uint64 and len(offsets) == len(pairs) + 1
            tail = [] if separator is None else [separator]
            rows = [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(pairs))]
            loop = [
                ours.encode(a, pair=b, allowed_special="all", add_special_tokens=add) + tail for a, b in pairs
            ]
            assert rows == loop
    # One sequence with the post-processor's tokens, and an empty batch.
    ids, offsets = ours.encode_batch_to_numpy(firsts[:5], allowed_special="all", add_special_tokens=True)
    assert [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(5)] == [
        ours.encode(a, allowed_special="all", add_special_tokens=True) for a in firsts[:5]
    ]
    ids, offsets = ours.encode_batch_to_numpy([], pairs=[], add_special_tokens=True)
    assert ids.tolist() == [] and offsets.tolist() == [0]


def test_template_order_and_types_hold_without_special_tokens() -> None:
    # HF keeps a template's order and type ids when add_special_tokens=False (only the special
    # pieces go): a template putting B first encodes the pair B then A.
    doc = _t5_template(_doc("mon-unigram"))
    doc["post_processor"]["pair"] = [
        {"Sequence": {"id": "B", "type_id": 3}},
        {"SpecialToken": {"id": "</s>", "type_id": 2}},
        {"Sequence": {"id": "A", "type_id": 1}},
    ]
    doc["post_processor"]["single"] = [{"Sequence": {"id": "A", "type_id": 5}}]
    ours, theirs = tf.Tokenizer(parse_hf_json(doc)), tokenizers.Tokenizer.from_str(json.dumps(doc))
    for add in (True, False):
        for pair in ("xy zw", None):
            want = theirs.encode("ab cd", pair, add_special_tokens=add)
            got = ours.encode_with_offsets("ab cd", pair=pair, add_special_tokens=add)
            assert _our_view(got) == _hf_view(want)
            assert ours.encode("ab cd", pair=pair, add_special_tokens=add) == want.ids


def test_offsets_with_a_pair_need_a_pair_template() -> None:
    name, edit = CASES["mon-t5-template"]
    doc = edit(_doc(name))
    del doc["post_processor"]["pair"]
    tok = tf.Tokenizer(parse_hf_json(doc))
    with pytest.raises(tf.InvalidArgumentError, match="no pair template"):
        tok.encode_with_offsets("a", pair="b", add_special_tokens=True)
    with pytest.raises(tf.InvalidArgumentError, match="no pair template"):
        tok.encode_batch_to_numpy(["a"], pairs=["b"], add_special_tokens=True)
    with pytest.raises(tf.InvalidArgumentError, match="2 texts but 1 pairs"):
        tok.encode_batch_with_offsets(["a", "b"], pairs=["c"])
