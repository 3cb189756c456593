"""Threads on shared objects, as free-threaded CPython (3.13t, `make test-freethreaded`) runs them:
no GIL serializes the Python side, so every shared structure must be safe on its own. These tests
run on every build; on a GIL build they check the same results with the GIL interleaving calls."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from typing import Any

import pytest

import tokenforge as tf

from conftest import FREE_THREADED, load_vocab

THREADS = 8

TEXTS = [
    "Hello, world! <|endoftext|> The quick brown fox jumps over the lazy dog.",
    "日本語のテキストとemoji 🙂🙃 mixed with code: def f(x): return x**2",
    "Ünïcödé  whitespace\t\n\n   runs and numbers 1234567890 3.14159",
    "a" * 3000 + " " + "ab" * 500,
    "",
    " ".join(f"word{i}" for i in range(400)),
]


def _in_threads(work: Callable[[int], Any]) -> list[Any]:
    """``work(k)`` for k in 0..THREADS-1, all started together (a barrier) on their own threads."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS
    errors: list[BaseException] = []

    def run(k: int) -> None:
        barrier.wait()
        try:
            results[k] = work(k)
        except BaseException as e:  # re-raised in the main thread below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _everything(tok: tf.Tokenizer, texts: list[str]) -> list[Any]:
    """Every kind of encode/decode call on ``texts``, in a fixed order."""
    out: list[Any] = []
    for text in texts:
        ids = tok.encode(text, allowed_special="all")
        out += [
            ids,
            tok.encode_ordinary(text),
            tok.encode(text, disallowed_special=()),
            tok.count(text, disallowed_special=()),
            tok.decode(ids),
            tok.decode_bytes(ids),
            tok.decode_tokens_bytes(ids[:50]),
            tok.encode_with_unstable(text[:40], disallowed_special=()),
        ]
    out.append(tok.encode_ordinary_batch(texts, num_threads=2))
    out.append(tok.count_batch(texts, num_threads=2, disallowed_special=()))
    return out


def test_eight_threads_on_one_tokenizer_match_one_thread() -> None:
    """8 threads call every encode/decode path of one fresh tokenizer at once (its lazily built
    tables and memo filled concurrently), each in its own order; all match a single thread."""
    expected_tok = load_vocab("cl100k_base")
    expected = [_everything(expected_tok, TEXTS[k:] + TEXTS[:k]) for k in range(len(TEXTS))]
    shared = tf.load("cl100k_base")  # fresh: empty memo, no sorted-token table yet

    def work(k: int) -> list[Any]:
        rotation = k % len(TEXTS)
        runs = [_everything(shared, TEXTS[rotation:] + TEXTS[:rotation]) for _ in range(3)]
        return [runs, shared.token_byte_values()[:5]]

    results = _in_threads(work)
    first_tokens = expected_tok.token_byte_values()[:5]
    for k, (runs, tokens) in enumerate(results):
        assert all(run == expected[k % len(TEXTS)] for run in runs), k
        assert tokens == first_tokens


_FIRST_GET_ENCODING = """
import sys, threading
import tokenforge.compat.tiktoken as tiktoken
barrier = threading.Barrier(8)
got = [None] * 8
def work(k):
    barrier.wait()
    got[k] = tiktoken.get_encoding("cl100k_base")
threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert all(enc is got[0] for enc in got), "get_encoding built more than one encoding"
assert got[0].encode("hello world") == [15339, 1917]
"""


def test_first_get_encoding_from_eight_threads_builds_one_encoding() -> None:
    """tiktoken's cache semantics without the GIL: concurrent first calls share one object."""
    load_vocab("cl100k_base")  # fails with the fix when the vocabulary was not fetched
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FIRST_GET_ENCODING)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.skipif(not FREE_THREADED, reason="checks a free-threaded (--disable-gil) interpreter")
def test_import_keeps_the_gil_disabled() -> None:
    """An extension without ``gil_used = false`` re-enables the GIL on import with a
    RuntimeWarning; with the warning as an error, importing tokenforge (and its submodules that
    load the extension) must leave the GIL off. PYTHON_GIL is unset: 0 would force it off."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    script = (
        "import sys, tokenforge, tokenforge.compat.tiktoken, tokenforge.train; "
        "tokenforge.load('cl100k_base').encode('x'); "
        "assert not sys._is_gil_enabled(), 'the GIL was re-enabled'"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
