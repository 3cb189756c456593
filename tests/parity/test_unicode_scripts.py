"""The ``UnicodeScripts`` pre-tokenizer against HF ``tokenizers``: its script table on every code
point, and real files rebuilt with it in front of their own pre-tokenizer."""

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

CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def _pieces_tokenizers() -> tuple[tf.Tokenizer, tokenizers.Tokenizer]:
    """A WordLevel model that knows no word: one unknown token per piece, spanning it."""
    doc = {
        "version": "1.0",
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": {"type": "UnicodeScripts"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"},
    }
    return tf.Tokenizer(parse_hf_json(doc)), tokenizers.Tokenizer.from_str(json.dumps(doc))


def _assert_same_pieces(text: str) -> None:
    ours, theirs = _pieces_tokenizers()
    got = ours.encode_with_offsets(text, allowed_special="all").offset_tuples()
    expected = theirs.encode(text, add_special_tokens=False).offsets
    if got != expected:
        pairs = zip(got, expected, strict=False)
        first = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(got), len(expected)))
        ours_piece = got[first] if first < len(got) else None
        hf_piece = expected[first] if first < len(expected) else None
        pytest.fail(f"piece {first} differs: ours {ours_piece}, HF {hf_piece}")


def test_every_code_point_in_order_splits_as_hf() -> None:
    # A cut between neighbours exactly where HF's scripts differ.
    _assert_same_pieces("".join(map(chr, CODE_POINTS)))


@pytest.mark.parametrize("separator", ["a", "α"])
def test_chars_without_a_script_are_the_same_as_hf(separator: str) -> None:
    # A char with no script (unassigned in Unicode 9.0) between two Latin or Greek letters cuts
    # nothing; any other char cuts before or after itself.
    _assert_same_pieces(separator + separator.join(map(chr, CODE_POINTS)) + separator)


def test_every_pair_of_scripts_compares_as_in_hf() -> None:
    # One char of each run of the code point order, every ordered pair of them side by side:
    # which scripts count as the same (hiragana and Han) is HF's, not only which neighbours differ.
    _, theirs = _pieces_tokenizers()
    text = "".join(map(chr, CODE_POINTS))
    runs = [text[s] for s, _ in theirs.encode(text, add_special_tokens=False).offsets]
    assert len(runs) > 300
    _assert_same_pieces("".join(x + y for x in runs for y in runs))


def test_spaces_and_empty_text_as_hf() -> None:
    for text in ["", " ", "   ", "  abc", "abc  ", " a b ", "\t \n", "a 京 ひ"]:
        _assert_same_pieces(text)


def _with_unicode_scripts(name: str) -> dict:
    """A real file with ``UnicodeScripts`` run before its own pre-tokenizer."""
    entry = next(e for e in real_files.find_all() if e.name == name and e.filename.endswith(".json"))
    doc = json.loads(entry.path.read_bytes())
    own = doc["pre_tokenizer"]
    own = own["pretokenizers"] if own and own["type"] == "Sequence" else [own] if own else []
    doc["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "UnicodeScripts"}, *own]}
    doc["padding"] = doc["truncation"] = None  # HF applies them in encode, tokenforge does not
    return doc


@pytest.mark.parametrize("name", ["minilm-l6-v2", "qwen-2.5", "mon-unigram"])
def test_real_file_with_unicode_scripts_matches_hf(name: str) -> None:
    doc = _with_unicode_scripts(name)
    hf = tokenizers.Tokenizer.from_str(json.dumps(doc))
    tok = tf.Tokenizer(parse_hf_json(doc))
    texts = [t for _, t in parity_texts()[::3]]
    theirs = hf.encode_batch(texts, add_special_tokens=False)
    ours = tok.encode_batch(texts, allowed_special="all", num_threads=2)
    bad = [t[:40] for t, a, b in zip(texts, ours, theirs, strict=True) if a != b.ids]
    assert not bad, f"{len(bad)}/{len(texts)} texts differ: {bad[:5]}"
    offsets = [tok.encode_with_offsets(t, allowed_special="all").offset_tuples() for t in texts[:200]]
    assert offsets == [e.offsets for e in theirs[:200]]
    assert [tok.count(t, allowed_special="all") for t in texts[:50]] == [len(e.ids) for e in theirs[:50]]
