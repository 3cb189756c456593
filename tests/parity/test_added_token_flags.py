"""HF added-token matching flags (``lstrip``, ``rstrip``, ``single_word``, ``normalized``) against HF
``tokenizers``: real ``tokenizer.json`` files of four families with flagged tokens added by HF itself,
over a slice of the parity corpus plus texts made of the tokens, their look-alikes and whitespace."""

from __future__ import annotations

import functools
import json
import random
import sys
from pathlib import Path

import pytest
import tokenizers
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import AddedToken

import tokenforge as tf
from tokenforge.formats.hf_json import parse_hf_json

from parity_corpus import parity_texts

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import fetch_test_tokenizers as real_files

# One file per family: WordPiece + BertNormalizer (lowercases, strips accents), byte-level BPE +
# NFC, Metaspace BPE with byte fallback (normalizer Prepend + Replace), Unigram + NFC.
BASES = ["minilm-l6-v2", "qwen-2.5", "llama2-wordllama", "mon-unigram"]

# Pieces of the adversarial texts: the tokens, what they normalize from/to, word characters next
# to them, and whitespace for the strip flags.
PIECES = ["<mask>", "[END]", "Hello", "WORLD", "world", "Café", "cafe\u0301", "CAFÉ", "ab", "x", " x ", " "]
PIECES += ["  ", "\t", "\n", "\u3000", "é", "Hello_", "_ab", "ab1", "1ab", "«ab»", "ab.", "ñ", "Ab"]


def _adversarial(n: int) -> list[str]:
    rng = random.Random(1)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 12))) for _ in range(n)]


@functools.cache
def _pair(base: str) -> tuple[tokenizers.Tokenizer, tf.Tokenizer]:
    entry = next(e for e in real_files.find_all() if e.name == base and e.filename == "tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(str(entry.path))
    hf.no_truncation()
    hf.no_padding()
    hf.add_special_tokens(
        [
            AddedToken("<mask>", lstrip=True, special=True, normalized=False),  # MPNet's mask
            AddedToken("[END]", rstrip=True, special=True, normalized=False),
        ]
    )
    hf.add_tokens(
        [
            AddedToken("Hello", single_word=True, normalized=False),
            AddedToken("WORLD", normalized=True),
            AddedToken("Café", normalized=True, lstrip=True, rstrip=True),
            AddedToken("ab", single_word=True, normalized=True),
            AddedToken(" x ", normalized=False),
        ]
    )
    return hf, tf.Tokenizer(parse_hf_json(json.loads(hf.to_str())))


@pytest.mark.parametrize("base", BASES)
def test_flagged_added_tokens_match_hf(base: str) -> None:
    hf, tok = _pair(base)
    texts = [t for _, t in parity_texts()[::7]] + _adversarial(2000)
    encodings = hf.encode_batch(texts, add_special_tokens=False)
    theirs = [e.ids for e in encodings]
    bad = [
        (t[:60], ours[:12], ref[:12])
        for t, ref in zip(texts, theirs, strict=True)
        if (ours := tok.encode(t, allowed_special="all")) != ref
    ]
    assert not bad, f"{base}: {len(bad)}/{len(texts)} texts differ: {bad[:5]}"
    # Offsets: HF's span of an lstrip/rstrip token includes the whitespace it took, a
    # normalized token's the original text its normalized form comes from.
    bad = [
        (t[:60], ours[:6], ref.offsets[:6])
        for t, ref in zip(texts, encodings, strict=True)
        if (ours := tok.encode_with_offsets(t, allowed_special="all").offset_tuples()) != ref.offsets
    ]
    assert not bad, f"{base}: {len(bad)}/{len(texts)} texts' offsets differ: {bad[:5]}"
    added = {hf.token_to_id(t) for t in ("<mask>", "[END]", "Hello", "WORLD", "Café", " x ")}
    assert sum(i in added for ids in theirs for i in ids) > 1000  # the tokens really occur
    # A normalized token decodes to its normalized form, as in HF.
    for skip in (False, True):
        ours = [tok.decode(ids, skip_special_tokens=skip) for ids in theirs]
        assert ours == hf.decode_batch(theirs, skip_special_tokens=skip)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=12).map("".join))
def test_flagged_tokens_batch_count_and_hf(text: str) -> None:
    hf, tok = _pair("minilm-l6-v2")
    ids = tok.encode(text, allowed_special="all")
    want = hf.encode(text, add_special_tokens=False)
    assert ids == want.ids
    assert tok.encode_with_offsets(text, allowed_special="all").offset_tuples() == want.offsets
    assert tok.count(text, allowed_special="all") == len(ids)
    assert tok.encode_batch([text, text], allowed_special="all", num_threads=2) == [ids, ids]
