"""Fuzzing `tokenforge.load` on mutated real files (hypothesis-driven, fixed seed): whatever the
bytes, loading either gives a tokenizer that round-trips text or raises a TokenforgeError; never
another exception, a crash or a hang. `make fuzz` raises TOKENFORGE_FUZZ_EXAMPLES for a long run;
failures hypothesis finds become tests in test_reliability.py."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tokenforge as tf

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
