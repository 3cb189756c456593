"""Fixtures for the training tests: small corpora (shipped Brown paragraphs and code) and a
helper that checks HF `tokenizers` gives the same ids as tokenforge on a saved tokenizer.json."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge.data import code_documents, english_paragraphs

# Text that exercises what tokenizers get wrong: whitespace runs, newlines, digits, many scripts,
# emoji (4-byte UTF-8), combining marks, punctuation runs, colons (SuperBPE's rule), specials.
PROBES: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times.\n\nNew paragraph:  two  spaces\tand a tab.",
    "Numbers 1234567 and 3.14159, dates 2025-11-28, money $1,000,000.",
    "déjà vu — naïve café; Ελληνικά, русский, 東京, हिन्दी, العربية 🙂🚀 e\u0301",
    "key: value\nname: tokenforge\n...!!!??? --- ***",
    "    indented code(x) -> None:\n        return {'a': [1, 2, 3]}\n",
    "",
    " ",
    "\n\n\n",
)


@functools.cache
def english() -> tuple[str, ...]:
    return tuple(english_paragraphs())


@functools.cache
def code() -> tuple[str, ...]:
    return tuple(d["text"] for d in code_documents())


@pytest.fixture(scope="session")
def english_texts() -> tuple[str, ...]:
    return english()


@pytest.fixture(scope="session")
def english_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "english.txt"
    path.write_text("\n".join(english()) + "\n", encoding="utf-8")
    return path


def hf_ids_match(tok: tf.Tokenizer, path: Path, texts: Iterable[str]) -> list[str]:
    """Texts whose ids differ between tokenforge and HF tokenizers (empty = identical)."""
    import tokenizers

    hf = tokenizers.Tokenizer.from_file(str(path))
    bad = []
    for text in texts:
        ours = tok.encode(text, allowed_special="all")
        theirs = hf.encode(text, add_special_tokens=False).ids
        if ours != theirs:
            bad.append(text)
    return bad
