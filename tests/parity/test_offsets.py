"""``Tokenizer.encode_with_offsets`` against each family's own library on the real tokenizer files
(``make test-tokenizers``) over a sample of the parity corpus, and its own guarantees.

* ``tokenizer.json`` files: the char offsets equal HF ``tokenizers``'
  ``encode(text, add_special_tokens=...).offsets`` (with and without the post-processor).
* SentencePiece ``.model`` files: they equal ``sentencepiece``'s ``offset_mapping`` (0.2.3; its
  ``immutable_proto`` is gone) wherever that defines a span (SentencePiece gives a byte-fallback
  byte after a character's first, and a lone dummy-prefix ``▁``, an empty span), including where
  the normalizer collapses whitespace or a charsmap rewrites text.
* tiktoken vocabularies: the starts equal ``tiktoken``'s ``decode_with_offsets``.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tiktoken
import tokenizers
from hypothesis import given, settings
from hypothesis import strategies as st
from tiktoken.load import load_tiktoken_bpe

import tokenforge as tf
from tokenforge import vocab_sources
from tokenforge.compat import tiktoken as compat_tiktoken
from tokenforge.formats import presets
from tokenforge.formats.hf_json import parse_hf_json

from conftest import load_vocab
from parity_corpus import parity_texts

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import fetch_test_tokenizers as real_files

# Every other corpus text, cut to 1,500 chars: every group and adversarial shape is in, and the
# reference libraries' offsets take ~2 s per file (the whole corpus: 17-180 s per file).
SAMPLE = [(label, text[:1500]) for label, text in parity_texts()[::2]]

JSON_NAMES = [e.name for e in real_files.FILES if e.filename == "tokenizer.json"]
MODEL_NAMES = [
    e.name for e in real_files.FILES if e.filename == "tokenizer.model" and e.reference == "sentencepiece"
]


@functools.cache
def _entries() -> dict[tuple[str, str], Path]:
    try:
        return {(e.name, e.filename): e.path for e in real_files.find_all()}
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


def _check_shape(text: str, enc: tf.OffsetEncoding) -> None:
    n = len(enc.ids)
    assert enc.offsets.shape == enc.byte_offsets.shape == (n, 2)
    assert enc.offsets.dtype == np.int64
    data = text.encode("utf-8")
    for (s, e), (bs, be) in zip(enc.offsets.tolist(), enc.byte_offsets.tolist(), strict=True):
        assert 0 <= s <= e <= len(text)
        assert data[bs:be].decode("utf-8") == text[s:e]


@pytest.mark.parametrize("name", JSON_NAMES)
def test_char_offsets_equal_hf(name: str) -> None:
    path = _entries()[(name, "tokenizer.json")]
    hf = tokenizers.Tokenizer.from_file(str(path))
    hf.no_truncation()
    hf.no_padding()
    tok = tf.load(path)
    bad = []
    for label, text in SAMPLE:
        for add in (False, True):
            want = hf.encode(text, add_special_tokens=add)
            got = tok.encode_with_offsets(text, allowed_special="all", add_special_tokens=add)
            assert got.ids == want.ids, label
            if got.offset_tuples() != want.offsets:
                bad.append((label, add))
        _check_shape(text, got)
    assert not bad, f"{len(bad)} of {len(SAMPLE)} texts differ from HF, first {bad[:5]}"


@functools.cache
def _spm(name: str):  # type: ignore[no-untyped-def]
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(_entries()[(name, "tokenizer.model")]))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_char_offsets_equal_sentencepiece_where_it_defines_them(name: str) -> None:
    try:
        tok = tf.load(_entries()[(name, "tokenizer.model")])
    except tf.UnsupportedTokenizerError as exc:
        pytest.xfail(f"the model does not load yet: {exc}")
    sp = _spm(name)
    compared, differ = 0, []
    for label, text in SAMPLE:
        want = sp.encode(text, return_type="offset_mapping")
        got = tok.encode_with_offsets(text, disallowed_special=())
        if got.ids != want["ids"]:
            continue  # a known id difference (tests/parity/test_families.py tracks those)
        _check_shape(text, got)
        for (s, e), (ws, we) in zip(got.offset_tuples(), want["offsets"], strict=True):
            if ws != we:
                compared += 1
                if (s, e) != (ws, we):
                    differ.append((label, (s, e), (ws, we)))
    assert compared > 10_000
    assert not differ, f"{len(differ)} of {compared} tokens differ, first {differ[:5]}"


@functools.cache
def _tiktoken(name: str) -> tiktoken.Encoding:
    """tiktoken itself on the offline vocabulary file."""
    known = presets.by_name(name)
    path = vocab_sources.find(name)
    assert known is not None and path is not None, f"run `make vocab` ({name} missing)"
    return tiktoken.Encoding(
        name=f"ref-{name}",
        pat_str=known.pattern,
        mergeable_ranks=load_tiktoken_bpe(str(path)),
        special_tokens=dict(known.special_tokens),
    )


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_tiktoken_vocabularies_start_where_tiktoken_decodes(name: str) -> None:
    tok = load_vocab(name)
    reference = _tiktoken(name)
    for label, text in SAMPLE:
        enc = tok.encode_with_offsets(text, disallowed_special=())
        assert enc.ids == reference.encode(text, disallowed_special=()), label
        _check_shape(text, enc)
        assert enc.offsets[:, 0].tolist() == reference.decode_with_offsets(enc.ids)[1], label
        assert tok.decode_with_offsets(enc.ids) == reference.decode_with_offsets(enc.ids)


def test_compat_decode_with_offsets_is_the_engines() -> None:
    enc = compat_tiktoken.get_encoding("cl100k_base")
    ids = enc.encode("naïve café 🙂 end")
    assert enc.decode_with_offsets(ids) == _tiktoken("cl100k_base").decode_with_offsets(ids)
    with pytest.raises(UnicodeDecodeError):
        enc.decode_with_offsets(enc.encode("🙂")[:1])
    with pytest.raises(tf.InvalidTokenIdError):
        enc.decode_with_offsets([2**31])


def test_special_tokens_span_their_text_and_added_ones_are_empty() -> None:
    tok = load_vocab("llama3")
    text = "hi<|eot_id|> there"
    enc = tok.encode_with_offsets(text, allowed_special="all")
    eot = tok.special_tokens["<|eot_id|>"]
    at = enc.ids.index(eot)
    assert enc.offset_tuples()[at] == (2, 12)
    with pytest.raises(tf.SpecialTokenError):
        tok.encode_with_offsets(text)
    path = _entries()[("minilm-l6-v2", "tokenizer.json")]
    bert = tf.load(path)
    plain = bert.encode_with_offsets("Hello there")
    full = bert.encode_with_offsets("Hello there", add_special_tokens=True)
    assert full.ids == bert.encode("Hello there", add_special_tokens=True)
    assert full.offset_tuples() == [(0, 0), *plain.offset_tuples(), (0, 0)]
    assert full.byte_offsets.tolist()[0] == [0, 0]


def test_empty_text_surrogates_and_batch() -> None:
    tok = load_vocab("cl100k_base")
    empty = tok.encode_with_offsets("")
    assert empty.ids == [] and empty.offsets.shape == (0, 2) and len(empty) == 0
    lone = tok.encode_with_offsets("a\ud800b")  # encoded as U+FFFD, as encode does
    assert lone.ids == tok.encode("a\ud800b") and lone.offset_tuples()[-1][1] == 3
    texts = [text for _label, text in SAMPLE[:200]]
    batch = tok.encode_batch_with_offsets(texts, num_threads=2, disallowed_special=())
    for text, enc in zip(texts, batch, strict=True):
        one = tok.encode_with_offsets(text, disallowed_special=())
        assert enc.ids == one.ids and (enc.offsets == one.offsets).all()
    with pytest.raises(tf.InvalidArgumentError):
        tok.encode_batch_with_offsets("not a list")


def test_trim_offsets_of_a_byte_level_post_processor() -> None:
    """GPT-2 / RoBERTa files trim spaces off the offsets (no real file of the test set does)."""
    path = _entries()[("bpe-knockout-de", "tokenizer.json")]
    doc = json.loads(path.read_text())
    for add_prefix_space in (False, True):
        doc["post_processor"] = {
            "type": "ByteLevel",
            "add_prefix_space": add_prefix_space,
            "trim_offsets": True,
            "use_regex": True,
        }
        text = json.dumps(doc)
        hf = tokenizers.Tokenizer.from_str(text)
        tok = tf.Tokenizer(parse_hf_json(json.loads(text), source="trim"))
        for sample in (" Hallo  Welt  ", "  zwei   Leerzeichen\n\n x", "ende "):
            got = tok.encode_with_offsets(sample)
            assert got.offset_tuples() == hf.encode(sample, add_special_tokens=False).offsets, sample


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_offsets_are_monotone_in_bounds_and_slice_back(text: str) -> None:
    """Byte-level BPE is lossless: the token spans tile the text in order (neighbours share a
    character only where a token splits it), and each span's bytes hold the token's bytes."""
    tok = load_vocab("cl100k_base")
    enc = tok.encode_with_offsets(text, disallowed_special=())
    assert enc.ids == tok.encode(text, disallowed_special=())
    _check_shape(text, enc)
    spans = enc.offset_tuples()
    data = text.encode("utf-8")
    for i, (s, _end) in enumerate(spans):
        if i:
            assert spans[i - 1][0] <= s and spans[i - 1][1] - 1 <= s <= spans[i - 1][1]
        bs, be = enc.byte_offsets.tolist()[i]
        assert tok.decode_single_token_bytes(enc.ids[i]) in data[bs:be]
    if spans:
        assert spans[0][0] == 0 and spans[-1][1] == len(text)


# Every normalizer kind, on Unigram (mon-unigram) rebuilt around it; the real files add the kinds
# and combinations they ship (and `.model` files the one-pass SentencePiece normalizer).
_NORMALIZER_NODES: dict[str, dict[str, Any]] = {
    kind: {"type": kind}
    for kind in ("NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents", "Nmt", "ByteLevel")
}
_NORMALIZER_NODES |= {
    "Strip": {"type": "Strip", "strip_left": True, "strip_right": True},
    "Replace": {"type": "Replace", "pattern": {"Regex": r"\s{2,}|[0-9]"}, "content": "▁"},
    "Prepend": {"type": "Prepend", "prepend": "▁"},
    "BertNormalizer": {
        "type": "BertNormalizer",
        "clean_text": True,
        "handle_chinese_chars": True,
        "strip_accents": None,
        "lowercase": True,
    },
    "Sequence": {
        "type": "Sequence",
        "normalizers": [
            {"type": "NFKD"},
            {"type": "StripAccents"},
            {"type": "Lowercase"},
            {"type": "Prepend", "prepend": "▁"},
        ],
    },
}


def _charsmap() -> str:
    """The precompiled charsmap of a SentencePiece test model (base64), as tokenforge writes it."""
    model = tf.load(_entries()[("spm-botchan-unigram", "tokenizer.model")])
    normalizer = model.to_hf_json()["normalizer"]
    nodes = normalizer.get("normalizers", [normalizer])
    return next(n["precompiled_charsmap"] for n in nodes if n["type"] == "Precompiled")


@functools.cache
def _rebuilt(kind: str) -> tuple[tokenizers.Tokenizer, tf.Tokenizer]:
    doc = json.loads(_entries()[("mon-unigram", "tokenizer.json")].read_text())
    if kind.startswith("Precompiled"):
        longest = kind.endswith("longest")
        doc["normalizer"] = {"type": "Precompiled", "precompiled_charsmap": _charsmap()}
        if longest:
            doc["normalizer"]["longest_prefix_match"] = True
    else:
        doc["normalizer"] = _NORMALIZER_NODES[kind]
    ours = tf.Tokenizer(parse_hf_json(doc, source=kind))
    doc["normalizer"].pop("longest_prefix_match", None)  # tokenforge's own flag (SentencePiece's rule)
    return tokenizers.Tokenizer.from_str(json.dumps(doc)), ours


_REBUILT = [*_NORMALIZER_NODES, "Precompiled", "Precompiled-longest"]
# The start of every corpus text: every group and shape (2 MB in all, ~1 s a case).
_NORMALIZER_TEXTS = [text[:2000] for _label, text in parity_texts()]


def _normalizer_cases() -> list[str]:
    return (
        [f"json:{n}" for n in JSON_NAMES]
        + [f"model:{n}" for n in MODEL_NAMES]
        + ["vocab:minilm-l6-v2", "vocab:cn-clip"]
        + [f"rebuilt:{k}" for k in _REBUILT]
    )


@pytest.mark.parametrize("case", _normalizer_cases())
def test_offsets_path_normalizes_to_the_encode_paths_text(case: str) -> None:
    """The offsets path's normalizers (which track alignments) give exactly the text of the
    encode path's, for every normalizer kind, on the parity corpus."""
    source, name = case.split(":")
    if source == "rebuilt":
        tok = _rebuilt(name)[1]
    else:
        filename = {"json": "tokenizer.json", "model": "tokenizer.model", "vocab": "vocab.txt"}[source]
        tok = tf.load(_entries()[(name, filename)])
    core = tok._core
    bad = [
        text[:40] for text in _NORMALIZER_TEXTS if core.normalize(text, True) != core.normalize(text, False)
    ]
    assert not bad, f"{len(bad)}/{len(_NORMALIZER_TEXTS)} texts differ: {bad[:5]}"


@pytest.mark.parametrize("kind", _REBUILT)
def test_offsets_of_each_normalizer_kind_equal_hf(kind: str) -> None:
    hf, tok = _rebuilt(kind)
    texts = [text for _label, text in SAMPLE[::3]]
    if kind == "Precompiled-longest":
        # HF has no longest-prefix rule: compare where the two rules give the same text.
        texts = [t for t in texts if hf.normalizer.normalize_str(t) == tok._core.normalize(t, False)]
        assert len(texts) > 50
    bad = []
    for text, want in zip(texts, hf.encode_batch(texts, add_special_tokens=False), strict=True):
        got = tok.encode_with_offsets(text, allowed_special="all")
        assert got.ids == want.ids, text[:40]
        if got.offset_tuples() != want.offsets:
            bad.append(text[:40])
    assert not bad, f"{kind}: {len(bad)}/{len(texts)} texts' offsets differ from HF: {bad[:5]}"
