"""Trained artifacts are byte-identical across refactors of the training code: the sha256 of each
saved ``tokenizer.json`` below was recorded on the shipped English paragraphs (and code), and must
not change unless the artifact format changes on purpose. The BPE, SuperBPE and charbpe hashes
were recorded from the code before the per-algorithm layout; the Unigram, LiB and hybrid ones
(and the SentencePiece ``.model`` of Unigram and LiB) when those trainers were complete, after
checking that 1 and 2 threads give the same bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import tokenforge as tf
from tokenforge.data import udhr_text

from .conftest import code, english

CASES: dict[str, dict[str, Any]] = {
    "bpe": {"vocab_size": 1200, "special_tokens": ["<|endoftext|>"]},
    "bpe_options": {
        "vocab_size": 900,
        "pretokenizer": "gpt2",
        "domain_tokens": ["tokenforge", "def "],
        "special_tokens": ["<s>", "</s>"],
        "min_frequency": 3,
        "max_token_length": 6,
        "pad_to_multiple_of": 64,
        "line_boundaries": False,
    },
    "superbpe": {"algorithm": "superbpe", "vocab_size": 1200, "transition": 700},
    "superbpe_default_transition": {"algorithm": "superbpe", "vocab_size": 1000, "special_tokens": ["<eos>"]},
    "charbpe": {"algorithm": "charbpe", "vocab_size": 800},
    "charbpe_options": {
        "algorithm": "charbpe",
        "vocab_size": 800,
        "max_token_chars": 2,
        "normalizers": ["NFC"],
    },
    "unigram": {"algorithm": "unigram", "vocab_size": 1200},
    "unigram_options": {
        "algorithm": "unigram",
        "vocab_size": 1000,
        "max_piece_length": 8,
        "character_coverage": 1.0,
        "byte_fallback": False,
        "split_digits": True,
        "treat_whitespace_as_suffix": True,
        "user_defined_symbols": ["<sep>", "def "],
    },
    "lib": {"algorithm": "lib", "vocab_size": 1200},
    "lib_options": {
        "algorithm": "lib",
        "vocab_size": 1000,
        "within_words": True,
        "inspect_context": True,
        "seed": 3,
        "max_chunk_length": 8,
        "article_sentences": 100,
        "passes": 2,
    },
    # Small dictionaries (self-contained) and the default Turkish ones (`make turkish-data`).
    "hybrid": {
        "algorithm": "hybrid",
        "vocab_size": 900,
        "roots": [
            "ev",
            ("kitap", "kitab", "vowel"),
            ("burun", "burn", "vowel"),
            ("bekle", "bekl", "progressive"),
            "the",
            "walk",
            "talk",
            "house",
        ],
        "affixes": ["lAr", "DA", "(y)I", "(s)I", "(I)yor", "(I)m", "s", "ed", "ing"],
        "special_tokens": ["<eos>"],
    },
    "hybrid_turkish": {"algorithm": "hybrid", "vocab_size": 1500, "max_roots": 500},
}

EXPECTED: dict[str, str] = {
    "bpe": "374b914810682af29add01e4af28eac245be2953c8be1338fe54baf6e2b48df2",
    "bpe_options": "1ef10f9e149fe166182701edb431edfca790deaf32f081b72e7b63eac6ef306a",
    "charbpe": "17a175d06f50eacc520901f99e74bac52cbc43b2389edbf2082ca7997787cbb6",
    "charbpe_options": "b2c487990044e0fd5cd02e7f3499b58278a886102d98801b3fc3d7c60a3bd969",
    "superbpe": "f0fd0f7921ba2b57e7dd75fb02acf9006642c76c58923fe77a8645c9aa301e38",
    "superbpe_default_transition": "50765e14d375377d31be5f168698cc7c4340944f1f33a0da53eb96892f9f6378",
    "superbpe_from_counts": "c326db440c88c2b487603cfbd3459589a4fd0e9f9d3ca0b52534a4f7668d4c97",
    "extend_superword=False": "d30e94e89338c49d973515f679793bfb7ba117f02b19c98a83c77a77eab12367",
    "extend_superword=True": "04c9b645500c9ae4c088ebba5359f263cff4543be978543139a70ab3ff0e88c7",
    "unigram": "7415944c081ae928c6e8083413521a742f3faef9ef84bcb99de51b6914d7cc1e",
    "unigram_options": "f295d60f9a8d6fabf111e2e07a8a57526c2a568504d3a6038ecc2a4d5deb6ac4",
    "lib": "7240ffdf72acee885714fbe93af96216f3bb4cb6aa42b9cd23557cbe19d7b4c3",
    "lib_options": "25ac81061ec68d0b2cd963cc49faeb698106763583e6858b8fb858f8b1d7c464",
    "hybrid": "ecd9bf8f321e90334f278b584eab1fa6f8ce8e80e7fe536dd27bab921c1a4bd8",
    "hybrid_turkish": "793136d8b81a67aaf5bbfeba064db0553644e5ec02e018ef9fc3cfe0dc7a5144",
}

#: sha256 of the SentencePiece ``.model`` that Unigram and LiB tokenizers also save.
EXPECTED_MODEL: dict[str, str] = {
    "unigram": "82177f44abe09f0d94bc2f86e205fc19e78ebb78e84b32eb6945740fdb12b1a3",
    "unigram_options": "85322584e07c0d3ac92275647baebbbd1099eedfdcaacb20dc56932661d0e65c",
    "lib": "ab74cc47c017ec63239ea3e0b3f85f131cd55824535a2ce1e2db5169e2015605",
    "lib_options": "60320a09c246ab9ebf52da7613b790702d2d9d786d41316fad44c7f459326343",
}


def _texts() -> list[str]:
    return [*english()[:400], *code()[:40]]


def _sha(tok: tf.Tokenizer, path: Path) -> str:
    return hashlib.sha256(tok.save(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("case", sorted(CASES))
def test_artifact_bytes_unchanged(case: str, tmp_path: Path) -> None:
    # The hybrid cases add Turkish text, so the dictionaries have words to find.
    texts = [*_texts(), udhr_text("tur")] if case.startswith("hybrid") else _texts()
    tok = tf.train(texts, num_threads=2, **CASES[case])
    assert _sha(tok, tmp_path / "tokenizer.json") == EXPECTED[case]
    if case in EXPECTED_MODEL:
        assert _sha(tok, tmp_path / "tokenizer.model") == EXPECTED_MODEL[case]


def test_extend_artifact_unchanged(tmp_path: Path) -> None:
    base = tf.train(_texts()[:200], vocab_size=700, num_threads=1)
    for superword in (False, True):
        tok = tf.extend(base, _texts()[200:], 900, superword=superword, num_threads=2)
        assert _sha(tok, tmp_path / "tokenizer.json") == EXPECTED[f"extend_superword={superword}"]


def test_from_counts_artifact_unchanged(tmp_path: Path) -> None:
    counts = tf.count(_texts(), algorithm="superbpe", special_tokens=["<eos>"])
    tok = tf.train(from_counts=counts, algorithm="superbpe", vocab_size=1000, special_tokens=["<eos>"])
    assert _sha(tok, tmp_path / "tokenizer.json") == EXPECTED["superbpe_from_counts"]
