"""HF components checked against HF ``tokenizers`` on a real file rebuilt around them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import tokenizers

import tokenforge as tf
from tokenforge.formats.hf_json import parse_hf_json

from parity_corpus import parity_texts

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import fetch_test_tokenizers as real_files


@pytest.mark.parametrize(
    "decoder",
    [{"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}, None],
)
def test_byte_level_normalizer_matches_hf(decoder: dict | None) -> None:
    """Qwen2.5's BPE behind a ByteLevel normalizer (the text in the byte-level alphabet) and a
    split before each "Ġ", instead of its ByteLevel pre-tokenizer."""
    entry = next(e for e in real_files.find_all() if e.name == "qwen-2.5")
    doc = json.loads(entry.path.read_bytes())
    doc["normalizer"] = {"type": "ByteLevel"}
    doc["pre_tokenizer"] = {
        "type": "Split",
        "pattern": {"Regex": "Ġ"},
        "behavior": "MergedWithNext",
        "invert": False,
    }
    doc["decoder"] = decoder
    hf = tokenizers.Tokenizer.from_str(json.dumps(doc))
    tok = tf.Tokenizer(parse_hf_json(doc))
    texts = [t for _, t in parity_texts()[::5]]
    theirs = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    ours = [tok.encode(t, allowed_special="all") for t in texts]
    bad = [t[:40] for t, a, b in zip(texts, ours, theirs, strict=True) if a != b]
    assert not bad, f"{len(bad)}/{len(texts)} texts differ: {bad[:5]}"
    assert [tok.decode(ids) for ids in theirs] == hf.decode_batch(theirs, skip_special_tokens=False)
    assert tok.encode_batch(texts[:20], allowed_special="all", num_threads=2) == theirs[:20]
    assert [tok.count(t, allowed_special="all") for t in texts[:20]] == [len(i) for i in theirs[:20]]
