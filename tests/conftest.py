"""Shared fixtures: real vocabularies (fetched by `make vocab`) and reference tokenizers built from
the same files by tiktoken and HF `tokenizers`."""

from __future__ import annotations

import functools
import re
import sys
import sysconfig
from collections.abc import Generator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import tokenforge as tf
from tokenforge import vocab_sources

PARITY_VOCABS = ("cl100k_base", "o200k_base", "llama3", "qwen2")

#: A free-threaded (--disable-gil) interpreter: `make test-freethreaded`.
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")


def _third_party(module: str) -> bool:
    top = module.partition(".")[0]
    here = Path(__file__).parent
    local = (here / f"{top}.py").exists() or (here / top).is_dir()
    return not local and top != "tokenforge" and top not in sys.stdlib_module_names


if FREE_THREADED:

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        collector: pytest.Collector,
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        """A test module that imports a test dependency with no free-threaded wheel on PyPI (HF
        tokenizers, tiktoken, ...; scripts/test_freethreaded.sh installs the others) is skipped,
        naming it. On a GIL build `make test` installs them all and a missing one stays an error."""
        report = yield
        if report.failed and isinstance(collector, pytest.Module):
            found = _MISSING_MODULE.search(str(report.longrepr))
            if found and _third_party(found.group(1)):
                report.outcome = "skipped"
                reason = f"needs {found.group(1)}, which has no free-threaded wheel on PyPI"
                report.longrepr = (str(collector.path), 0, reason)
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """The same for a test or fixture that imports such a dependency when it runs."""
        report = yield
        error = call.excinfo.value if call.excinfo else None
        if isinstance(error, ModuleNotFoundError) and error.name and _third_party(error.name):
            report.outcome = "skipped"
            reason = f"needs {error.name}, which has no free-threaded wheel on PyPI"
            report.longrepr = (str(item.path), item.location[1] or 0, reason)
        return report


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
