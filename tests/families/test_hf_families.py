"""Every HF model family and pipeline component against HF ``tokenizers`` itself: tokenizer.json
documents built with HF's Python API and trainers (see ``hf_builders``), the whole parity corpus,
ids with and without the post-processor, decode with and without special tokens, batch/count/
numpy/truncate paths, saving back to tokenizer.json, hypothesis properties, and typed errors for
malformed or unsupported files."""

from __future__ import annotations

import copy
import functools
import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HfTokenizer

sys.path.insert(0, str(Path(__file__).parent))

import hf_builders

import tokenforge as tf
from tokenforge.errors import InvalidVocabularyError, TokenforgeError, UnsupportedTokenizerError
from tokenforge.formats.hf_json import parse_hf_json

import parity_corpus

FAMILIES = sorted(hf_builders.BUILDERS)


@functools.cache
def pair(name: str) -> tuple[tf.Tokenizer, HfTokenizer]:
    doc = hf_builders.build(name)
    return tf.Tokenizer(parse_hf_json(json.loads(doc), name=name)), HfTokenizer.from_str(doc)


@functools.cache
def corpus() -> list[str]:
    return [text for _label, text in parity_corpus.parity_texts()]


def sample(step: int) -> list[str]:
    """Every ``step``-th parity text: the small built tokenizers cover each component on a sample
    (CI time), the real files below get the whole corpus."""
    return corpus()[::step]


def _first_differences(got: list, expected: list, texts: list[str]) -> list[str]:
    bad = [
        f"{t[:40]!r}: {g[:12]} != {e[:12]}" for t, g, e in zip(texts, got, expected, strict=True) if g != e
    ]
    return bad[:5] + ([f"... {len(bad)} texts differ"] if bad else [])


@pytest.mark.parametrize("name", FAMILIES)
def test_ids_match_hf_on_the_parity_corpus(name: str) -> None:
    ours, hf = pair(name)
    texts = sample(3)
    plain = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    assert not _first_differences([ours.encode(t, allowed_special="all") for t in texts], plain, texts)
    wrapped = [e.ids for e in hf.encode_batch(texts[:60], add_special_tokens=True)]
    got = [ours.encode(t, allowed_special="all", add_special_tokens=True) for t in texts[:60]]
    assert not _first_differences(got, wrapped, texts[:60])


@pytest.mark.parametrize("name", FAMILIES)
def test_decode_matches_hf(name: str) -> None:
    ours, hf = pair(name)
    texts = sample(6)
    ids = [ours.encode(t, allowed_special="all", add_special_tokens=True) for t in texts]
    for skip in (False, True):
        expected = hf.decode_batch(ids, skip_special_tokens=skip)
        got = [ours.decode(i, skip_special_tokens=skip) for i in ids]
        assert not _first_differences(got, expected, texts), skip


@pytest.mark.parametrize("name", FAMILIES)
def test_batch_count_numpy_and_truncate_agree_with_encode(name: str) -> None:
    ours, _hf = pair(name)
    texts = sample(15)
    looped = [ours.encode(t, allowed_special="all") for t in texts]
    assert ours.encode_batch(texts, allowed_special="all", num_threads=2) == looped
    assert ours.count_batch(texts, allowed_special="all", num_threads=2) == [len(i) for i in looped]
    ids, offsets = ours.encode_batch_to_numpy(texts, allowed_special="all", num_threads=2)
    assert [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(texts))] == looped
    text = texts[3] * 3
    full = ours.encode(text, allowed_special="all")
    for budget in (0, 1, 5, len(full) // 2):
        cut = ours.truncate(text, budget, allowed_special="all")
        again = ours.encode(cut, allowed_special="all")
        assert len(again) <= budget and again == full[: len(again)] and text.startswith(cut)


@pytest.mark.parametrize("name", FAMILIES)
def test_saved_tokenizer_json_loads_in_hf_with_identical_ids(name: str, tmp_path: Path) -> None:
    ours, hf = pair(name)
    path = ours.save(tmp_path / "tokenizer.json")
    reloaded = HfTokenizer.from_file(str(path))
    again = tf.load(path)
    for text in sample(20):
        expected = hf.encode(text).ids
        assert reloaded.encode(text).ids == expected
        assert again.encode(text, allowed_special="all", add_special_tokens=True) == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40))
@pytest.mark.parametrize("name", ["bert_wordpiece", "t5_unigram", "llama_bpe", "unigram_byte_fallback"])
def test_property_any_text_matches_hf(name: str, text: str) -> None:
    ours, hf = pair(name)
    ids = ours.encode(text, allowed_special="all")
    assert ids == hf.encode(text, add_special_tokens=False).ids
    assert ours.count(text, allowed_special="all") == len(ids)
    assert ours.decode(ids) == hf.decode(ids, skip_special_tokens=False)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=30))
def test_property_byte_fallback_bpe_round_trips(text: str) -> None:
    """Llama-style BPE with byte fallback is lossless up to the normalizer (spaces <-> ▁) and the
    leading space the decoder strips."""
    ours, _hf = pair("llama_bpe")
    text = text.encode("utf-8", "replace").decode("utf-8").replace("▁", " ")
    assert ours.decode(ours.encode(text, allowed_special="all")) == text


def test_pipeline_components_are_described() -> None:
    ours, _hf = pair("t5_unigram")
    assert ours.spec.model is not None and ours.spec.model.kind == "Unigram"
    assert ours.spec.pipeline is not None
    assert ours.spec.pipeline.components() == {
        "normalizer": ["NFKC", "Replace"],
        "pre_tokenizer": ["WhitespaceSplit", "Metaspace"],
        "decoder": ["Metaspace"],
        "post_processor": ["TemplateProcessing"],
    }


# ------------------------------------------------------------------ malformed and unsupported files


def _doc(name: str = "bert_wordpiece") -> dict:
    return copy.deepcopy(json.loads(hf_builders.build(name)))


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (
            lambda d: d.update(normalizer={"type": "ByteLevelish"}),
            UnsupportedTokenizerError,
            "normalizer 'ByteLevelish'",
        ),
        (
            lambda d: d.update(pre_tokenizer={"type": "UnicodeWords"}),
            UnsupportedTokenizerError,
            "UnicodeWords",
        ),
        (lambda d: d.update(decoder={"type": "Nope"}), UnsupportedTokenizerError, "decoder 'Nope'"),
        (lambda d: d["model"].update(type="Mystery"), UnsupportedTokenizerError, "model type 'Mystery'"),
        (lambda d: d.update(decoder="WordPiece"), InvalidVocabularyError, "decoder must be an object"),
        (
            lambda d: d.update(
                normalizer={"type": "Sequence", "normalizers": [{"type": "Strip", "strip_left": 1}]}
            ),
            InvalidVocabularyError,
            "normalizer.normalizers[0].strip_left must be a boolean",
        ),
        (lambda d: d["added_tokens"][0].update(id=300.7), InvalidVocabularyError, "added_tokens[0].id"),
        (lambda d: d["added_tokens"][1].update(content=5), InvalidVocabularyError, "added_tokens[1].content"),
        (
            lambda d: d["added_tokens"][2].update(special="false"),
            InvalidVocabularyError,
            "added_tokens[2].special",
        ),
        (lambda d: d["model"]["vocab"].update(x=1.5), InvalidVocabularyError, "model.vocab['x']"),
        (lambda d: d["model"].update(max_input_chars_per_word=-1), InvalidVocabularyError, "max_input_chars"),
        (lambda d: d["added_tokens"][0].update(lstrip=1), InvalidVocabularyError, "added_tokens[0].lstrip"),
    ],
)
def test_malformed_or_unsupported_json_is_a_typed_error_naming_the_field(edit, error, message: str) -> None:
    doc = _doc()
    edit(doc)
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        parse_hf_json(doc)


def test_unigram_and_bpe_field_errors() -> None:
    doc = _doc("t5_unigram")
    doc["model"]["vocab"][3] = ["x", "high"]
    with pytest.raises(InvalidVocabularyError, match=r"model.vocab\[3\]"):
        parse_hf_json(doc)
    doc = _doc("llama_bpe")
    doc["model"]["dropout"] = 0.1
    with pytest.raises(UnsupportedTokenizerError, match="dropout"):
        parse_hf_json(doc)
    doc = _doc("llama_bpe")
    doc["model"]["merges"][0] = ["▁", "nope-not-a-token"]
    with pytest.raises(InvalidVocabularyError, match=r"model.merges\[0\]"):
        parse_hf_json(doc)


def test_deeply_nested_sequence_is_a_typed_error() -> None:
    doc = _doc()
    node = {"type": "Lowercase"}
    for _ in range(5000):
        node = {"type": "Sequence", "normalizers": [node]}
    doc["normalizer"] = node
    with pytest.raises(InvalidVocabularyError, match="nested"):
        parse_hf_json(doc)


def test_added_token_colliding_with_a_vocabulary_id_gets_hf_fresh_id(tmp_path: Path) -> None:
    """#16: an added token whose stated id is a model token's id: HF ignores the stated id and gives
    it a fresh one; so do we (decode(encode("a")) stays "a")."""
    for name in ("bert_wordpiece", "llama_bpe"):
        doc = _doc(name)
        vocab = doc["model"]["vocab"]
        taken = next(i for t, i in vocab.items() if t == "a" or t == "▁a")
        doc["added_tokens"].append(
            {
                "id": taken,
                "content": "<x>",
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        )
        text = json.dumps(doc)
        hf = HfTokenizer.from_str(text)
        ours = tf.Tokenizer(parse_hf_json(json.loads(text)))
        for sample in ("a", "a<x>a", "x <x>"):
            assert (
                ours.encode(sample, allowed_special="all") == hf.encode(sample, add_special_tokens=False).ids
            )
        assert ours.special_tokens["<x>"] == hf.token_to_id("<x>") != taken


def test_missing_unknown_token_fails_with_a_typed_error() -> None:
    doc = _doc("wordlevel")
    doc["model"]["unk_token"] = "<not-there>"
    tok = tf.Tokenizer(parse_hf_json(doc))
    with pytest.raises(TokenforgeError, match="not in the WordLevel vocabulary"):
        tok.encode("qqqzzz unseen")


def _real_files() -> list[Path]:
    home = Path(os.environ.get("TOKENFORGE_HOME", Path.home() / ".cache" / "tokenforge"))
    return sorted((home / "test-tokenizers").glob("*/tokenizer.json"))


def _string_vocabulary(path: Path) -> bool:
    model = json.loads(path.read_text(encoding="utf-8"))["model"]
    return model.get("type") in ("Unigram", "WordPiece", "WordLevel") or bool(model.get("byte_fallback"))


@pytest.mark.parametrize(
    "path", [p for p in _real_files() if _string_vocabulary(p)], ids=lambda p: p.parent.name
)
def test_real_files_match_hf(path: Path) -> None:
    """Real third-party Unigram / WordPiece / Metaspace-BPE files fetched by the project's setup
    step (``make test-tokenizers``; the byte-level ones are covered by tests/parity). HF applies a
    file's truncation and padding settings inside ``encode``; tokenforge does not (``truncate`` is
    a separate call), so the reference is compared without them."""
    hf = HfTokenizer.from_file(str(path))
    hf.no_truncation()
    hf.no_padding()
    ours = tf.load(path)
    texts = corpus()
    expected = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    got = [ours.encode(t, allowed_special="all") for t in texts]
    assert not _first_differences(got, expected, texts)
    some, some_ids = texts[::4], got[::4]
    decoded = hf.decode_batch(some_ids, skip_special_tokens=False)
    assert not _first_differences([ours.decode(i) for i in some_ids], decoded, some)
    wrapped = [e.ids for e in hf.encode_batch(texts[:50])]
    assert wrapped == [ours.encode(t, allowed_special="all", add_special_tokens=True) for t in texts[:50]]
