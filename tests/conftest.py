"""Shared fixtures: real vocabularies (fetched by `make vocab`) and reference tokenizers built from
the same files by tiktoken and HF `tokenizers`."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import tokenforge as tf
from tokenforge import vocab_sources

PARITY_VOCABS = ("cl100k_base", "o200k_base", "llama3", "qwen2")


@functools.cache
def load_vocab(name: str) -> tf.Tokenizer:
    """A real vocabulary; fails (never skips) when it was not fetched, naming the fix."""
    if vocab_sources.find(name) is None:
        pytest.fail(
            f"vocabulary {name!r} is not available offline: run `make vocab` (tokenforge fetch {name})"
        )
    return tf.load(name)


@pytest.fixture(scope="session", params=PARITY_VOCABS)
def vocab_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def cl100k() -> tf.Tokenizer:
    return load_vocab("cl100k_base")
