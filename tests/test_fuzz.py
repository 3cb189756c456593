"""Fuzzing `tokenforge.load` on mutated real files (hypothesis-driven, fixed seed): whatever the
bytes, loading either gives a tokenizer that round-trips text or raises a TokenforgeError; never
another exception, a crash or a hang. `make fuzz` raises TOKENFORGE_FUZZ_EXAMPLES for a long run;
failures hypothesis finds become tests in test_reliability.py."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tokenforge as tf
from tokenforge.formats import sentencepiece as spm_format

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import fetch_test_tokenizers as real_files

EXAMPLES = int(os.environ.get("TOKENFORGE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
_SAMPLE = "Hello wörld 123 <|endoftext|> 😀\n"


def _seed_tokenizer() -> tf.Tokenizer:
    ranks = {bytes([b]): b for b in range(256)}
    for token in (b"He", b"ll", b"llo", b" w", b"\xc3\xb6", b"12", b"123"):
        ranks[token] = len(ranks)
    return tf.Tokenizer.from_ranks(ranks, pattern=r"\S+|\s+", special_tokens={"<|endoftext|>": 300})


_TOKENIZER = _seed_tokenizer()
_JSON = _TOKENIZER.to_hf_json()
_TIKTOKEN = b"".join(
    __import__("base64").b64encode(t) + b" %d\n" % i for t, i in sorted(_TOKENIZER._full_spec().vocab.items())
)


def _check_load(path: Path, **kwargs: Any) -> None:
    try:
        tok = tf.load(path, **kwargs)
    except tf.TokenforgeError:
        return
    try:
        ids = tok.encode(_SAMPLE, allowed_special="all")
        tok.decode(ids)
    except tf.TokenforgeError:
        pass


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in list(node.items())[:40]:
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node[:5]):
            found += _paths(value, (*prefix, i))
    return found


_JSON_PATHS = [p for p in _paths(_JSON) if p]


@FUZZ
@given(where=st.sampled_from(_JSON_PATHS), value=_json_values)
def test_load_tokenizer_json_with_a_replaced_field(where: tuple[Any, ...], value: Any) -> None:
    doc = json.loads(json.dumps(_JSON))
    node = doc
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        path.write_text(json.dumps(doc))
        _check_load(path)


def _mutated(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for position, drop, insert in edits:
        at = position % (len(out) + 1)
        out[at : at + drop] = insert
    return bytes(out)


_edits = st.lists(
    st.tuples(st.integers(0, 1 << 20), st.integers(0, 8), st.binary(max_size=6)), min_size=1, max_size=4
)


@FUZZ
@given(edits=_edits)
def test_load_mutated_tokenizer_json_bytes(edits: list[tuple[int, int, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        path.write_bytes(_mutated(json.dumps(_JSON).encode(), edits))
        _check_load(path)


@FUZZ
@given(edits=_edits)
def test_load_mutated_tiktoken_bytes(edits: list[tuple[int, int, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.tiktoken"
        path.write_bytes(_mutated(_TIKTOKEN, edits))
        _check_load(path, pattern=r"\S+|\s+", special_tokens={"<|endoftext|>": 300})


# ------------------------------------------------------------------ SentencePiece .model (real files)

# The two small real .model files (1000 pieces each, one BPE and one Unigram): a load takes
# milliseconds, so hypothesis can afford many; the larger ones add nothing to the reader's paths.
_MODELS = {
    e.name: e.path
    for e in real_files.find_all()
    if e.name in ("spm-botchan-bpe", "spm-botchan-unigram") and e.filename == "tokenizer.model"
}
needs_models = pytest.mark.skipif(len(_MODELS) < 2, reason="real .model files absent (make test-tokenizers)")
_MODEL_BYTES = {name: path.read_bytes() for name, path in _MODELS.items()}


def _write_model(tmp: str, data: bytes) -> Path:
    path = Path(tmp) / "tokenizer.model"
    path.write_bytes(data)
    return path


def _field_spans(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, payload start, end) of every top-level field of a .model."""
    spans = []
    fields = spm_format._fields(data, 0, len(data), "model")
    for i, (_, _, value, offset) in enumerate(fields):
        end = fields[i + 1][3] if i + 1 < len(fields) else len(data)
        start = end - len(value) if isinstance(value, bytes) else offset
        spans.append((offset, start, end))
    return spans


@needs_models
@FUZZ
@given(name=st.sampled_from(sorted(_MODELS)), flips=st.lists(st.integers(0, 1 << 30), min_size=1, max_size=8))
def test_load_model_with_flipped_bits(name: str, flips: list[int]) -> None:
    data = bytearray(_MODEL_BYTES[name])
    for flip in flips:
        bit = flip % (len(data) * 8)
        data[bit // 8] ^= 1 << bit % 8
    with tempfile.TemporaryDirectory() as tmp:
        _check_load(_write_model(tmp, bytes(data)))


@needs_models
@FUZZ
@given(name=st.sampled_from(sorted(_MODELS)), edits=_edits)
def test_load_mutated_model_bytes(name: str, edits: list[tuple[int, int, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _check_load(_write_model(tmp, _mutated(_MODEL_BYTES[name], edits)))


@needs_models
@FUZZ
@given(
    name=st.sampled_from(sorted(_MODELS)),
    which=st.integers(0, 1 << 20),
    length=st.integers(0, 1 << 35) | st.integers(0, 300),
)
def test_load_model_with_a_corrupt_length_prefix(name: str, which: int, length: int) -> None:
    """One field's length prefix replaced by another varint (shorter, longer, wider)."""
    data = _MODEL_BYTES[name]
    spans = _field_spans(data)
    offset, start, _ = spans[which % len(spans)]
    prefix = bytearray()
    spm_format._put_varint(prefix, length)
    with tempfile.TemporaryDirectory() as tmp:
        # every top-level key of a .model is one byte
        _check_load(_write_model(tmp, data[: offset + 1] + bytes(prefix) + data[start:]))


@needs_models
@pytest.mark.parametrize("name", ["spm-botchan-bpe", "spm-botchan-unigram"])
def test_load_model_truncated_at_every_field_boundary(name: str) -> None:
    """Every cut at a top-level field boundary is valid protobuf; each one must be refused as
    truncated (they used to load as smaller models), and every cut inside a field is an error."""
    data = _MODEL_BYTES[name]
    spans = _field_spans(data)
    with tempfile.TemporaryDirectory() as tmp:
        for offset, _, _ in spans[1:]:
            with pytest.raises(tf.InvalidVocabularyError, match=r"tokenizer\.model: .*truncated"):
                tf.load(_write_model(tmp, data[:offset]))
        for offset, _, end in spans[-3:]:  # inside the last pieces and the specs
            for cut in range(offset + 1, end, max(1, (end - offset) // 40)):
                with pytest.raises(tf.InvalidVocabularyError, match=r"tokenizer\.model"):
                    tf.load(_write_model(tmp, data[:cut]))
