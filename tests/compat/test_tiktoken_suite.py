"""tiktoken 0.14.0's test suite, unmodified, with tokenforge.compat.tiktoken standing in.

The suite runs in a subprocess whose ``tiktoken`` is a one-line package calling
:func:`tokenforge.compat.tiktoken.install` (the real tiktoken stays importable everywhere else);
its subprocesses inherit the stand-in through ``PYTHONPATH``. Vocabularies come from the offline
cache (``make vocab``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tokenforge import vocab_sources

from .tiktoken_suite import suite_dir

SUITE_TESTS = 33
NEEDED_VOCABS = ("gpt2", "p50k_base", "cl100k_base", "o200k_base")


def test_tiktoken_suite_passes(tmp_path: Path) -> None:
    missing = [name for name in NEEDED_VOCABS if vocab_sources.find(name) is None]
    assert not missing, f"run `make vocab` (tokenforge fetch {' '.join(missing)})"
    try:
        tests = suite_dir()
    except RuntimeError as exc:
        pytest.skip(f"tiktoken's test suite could not be fetched from PyPI: {exc}")
    shim = tmp_path / "shim" / "tiktoken"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("from tokenforge.compat.tiktoken import install\n\ninstall()\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shim.parent), os.environ.get("PYTHONPATH", "")]))
    # Seeded: Hypothesis draws text from string constants of the local (editable) tokenforge
    # source too, so an unseeded run now and then feeds `<|endoftext|>` to the suite's
    # `encode(text)` roundtrips, which then raise, for tiktoken itself as well.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tests.parent),
         "-c", os.devnull, "--hypothesis-seed=0", str(tests)],
        cwd=tests.parent, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert re.search(rf"\b{SUITE_TESTS} passed\b", summary), summary
    # The stand-in was used, not the installed tiktoken.
    probe = subprocess.run(
        [sys.executable, "-c", "import tiktoken; print(tiktoken.Encoding.__module__)"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert probe.stdout.strip() == "tokenforge.compat.tiktoken.core"
