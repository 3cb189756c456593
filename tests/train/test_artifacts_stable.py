"""Trained artifacts are byte-identical across refactors of the training code: the sha256 of each
saved ``tokenizer.json`` below was recorded from the code before the per-algorithm layout, on the
shipped English paragraphs, and must not change unless the artifact format changes on purpose."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import tokenforge as tf

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
}


def _texts() -> list[str]:
    return [*english()[:400], *code()[:40]]


def _sha(tok: tf.Tokenizer, path: Path) -> str:
    return hashlib.sha256(tok.save(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("case", sorted(CASES))
def test_artifact_bytes_unchanged(case: str, tmp_path: Path) -> None:
    tok = tf.train(_texts(), num_threads=2, **CASES[case])
    assert _sha(tok, tmp_path / "tokenizer.json") == EXPECTED[case]


def test_extend_artifact_unchanged(tmp_path: Path) -> None:
    base = tf.train(_texts()[:200], vocab_size=700, num_threads=1)
    for superword in (False, True):
        tok = tf.extend(base, _texts()[200:], 900, superword=superword, num_threads=2)
        assert _sha(tok, tmp_path / "tokenizer.json") == EXPECTED[f"extend_superword={superword}"]


def test_from_counts_artifact_unchanged(tmp_path: Path) -> None:
    counts = tf.count(_texts(), algorithm="superbpe", special_tokens=["<eos>"])
    tok = tf.train(from_counts=counts, algorithm="superbpe", vocab_size=1000, special_tokens=["<eos>"])
    assert _sha(tok, tmp_path / "tokenizer.json") == EXPECTED["superbpe_from_counts"]
