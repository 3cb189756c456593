"""Bytes per token and fertility of tokenizers whose tokens do not spell the text byte for byte
(SentencePiece ``▁`` pieces, WordPiece ``##``), against the same numbers computed independently
from the token offsets that sentencepiece and HF ``tokenizers`` report on the same text."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge import data
from tokenforge.eval import Corpus, CorpusPart, evaluate
from tokenforge.eval.adapters import UNKNOWN_SURFACE, vocab_table
from tokenforge.eval.metrics import unit_spans

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import fetch_test_tokenizers as real_files

#: (start, end) character offsets of each token in the text it was encoded from.
Offsets = Callable[[str], list[tuple[int, int]]]

LANGUAGES = ("eng", "deu_1996", "fra")


def _real(name: str, filename: str) -> Path:
    try:
        found = {(e.name, e.filename): e.path for e in real_files.find_all()}
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    return found[(name, filename)]


def _segments(code: str) -> tuple[str, ...]:
    return tuple(line for line in data.udhr_text(code).split("\n") if line.strip())


def _reference(segments: Sequence[str], offsets: Offsets) -> tuple[float, float]:
    """(bytes per token, fertility) from a library's own offsets: the words are found in the
    source text (``unit_spans``) and a token counts for every word its span overlaps."""
    n_bytes = n_tokens = n_units = in_units = 0
    for text in segments:
        spans = [(s, e) for s, e in offsets(text)]
        units = unit_spans(text)
        n_bytes += len(text.encode("utf-8"))
        n_tokens += len(spans)
        n_units += len(units)
        in_units += sum(1 for s, e in spans if e > s and any(s < ue and us < e for us, ue in units))
    return n_bytes / n_tokens, in_units / n_units


def _sentencepiece_offsets(model: Path) -> Offsets:
    spm = pytest.importorskip("sentencepiece")
    sp = spm.SentencePieceProcessor(model_file=str(model))

    def offsets(text: str) -> list[tuple[int, int]]:
        # begin/end are UTF-8 byte offsets into the input; convert them to characters.
        chars = {len(text[:i].encode("utf-8")): i for i in range(len(text) + 1)}
        pieces = sp.encode(text, return_type="proto").pieces
        return [(chars[p.begin], chars[p.end]) for p in pieces]

    return offsets


def _hf_offsets(path: Path) -> Offsets:
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.Tokenizer.from_file(str(path))
    hf.no_truncation()
    hf.no_padding()

    def offsets(text: str) -> list[tuple[int, int]]:
        return list(hf.encode(text, add_special_tokens=False).offsets)

    return offsets


CASES = [
    pytest.param(
        "spm-botchan-unigram", "tokenizer.model", _sentencepiece_offsets, id="sentencepiece-unigram"
    ),
    pytest.param("minilm-l6-v2", "tokenizer.json", _hf_offsets, id="wordpiece"),
    pytest.param("qwen-2.5", "tokenizer.json", _hf_offsets, id="byte-level-bpe"),
]


@pytest.mark.parametrize(("name", "filename", "reference"), CASES)
def test_bytes_per_token_and_fertility_match_the_libraries_offsets(
    name: str, filename: str, reference: Callable[[Path], Offsets]
) -> None:
    path = _real(name, filename)
    offsets = reference(path)
    corpus = Corpus("udhr-lines", tuple(CorpusPart(code, _segments(code)) for code in LANGUAGES))
    result = evaluate(str(path), corpus, metrics="compression,words", samples=False)
    assert not result.failures
    for lang in result.results[0].languages:
        want_bpt, want_fertility = _reference(_segments(lang.key), offsets)
        # Same ids as the library, so the same token count over the same source bytes.
        assert lang.bytes_per_token == pytest.approx(want_bpt, rel=1e-12), lang.key
        # Words found in what the tokens spell vs in the source: the same up to the words that
        # normalisation or unknown pieces change (at most 1.5 % of them here).
        assert lang.fertility == pytest.approx(want_fertility, rel=0.015), lang.key
        assert 1.0 <= lang.fertility < 6.0, lang.key


def test_surfaces_of_each_family() -> None:
    spm = vocab_table(tf.load(_real("spm-botchan-unigram", "tokenizer.model")))
    wordpiece = tf.load(_real("minilm-l6-v2", "tokenizer.json"))
    wp = vocab_table(wordpiece)
    bl = vocab_table(tf.load("gpt2"))
    sp = tf.load(_real("spm-botchan-unigram", "tokenizer.model"))
    assert spm.surfaces[sp.token_to_id("▁the")] == b" the"
    assert spm.surfaces[sp.token_to_id("▁")] == b" "  # decoded alone it is empty
    assert spm.surfaces[sp.token_to_id("s")] == b"s"
    assert spm.surfaces[sp.unk_token_id] == UNKNOWN_SURFACE
    assert wp.surfaces[wordpiece.token_to_id("##ing")] == b"ing"
    assert wp.surfaces[wordpiece.token_to_id("human")] == b" human"
    # Byte-level tokens are their text: the table shares the bytes.
    assert bl.surfaces == bl.token_bytes and (bl.surface_lengths == bl.lengths).all()


def test_the_dummy_prefix_is_not_lossy() -> None:
    """SentencePiece's leading ``▁`` is the only difference from the text: not a lossy segment."""
    path = _real("spm-botchan-unigram", "tokenizer.model")
    corpus = Corpus("plain", (CorpusPart("en", ("the man and the world", "Where is the café?")),))
    (en,) = evaluate(str(path), corpus, metrics="words", samples=False).results[0].languages
    assert en.lossy_segments == 1  # "é" is an unknown piece in this 1,000-piece model
    assert en.fertility is not None and en.fertility > 1.0
