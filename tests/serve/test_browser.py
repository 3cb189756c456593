"""The playground in a real headless browser (Debian's chromium and chromium-driver, selenium):
the page loads without console errors, a typed text shows the right token counts for two
tokenizers, training shows a new tokenizer, and a screenshot is written."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import tokenforge as tf
import tokenforge.data
from tokenforge.serve import Playground, PlaygroundServer, start

from conftest import load_vocab

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is installed by `make test`")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="LOUD SKIP: chromium and chromium-driver are missing (`make browser` installs them as root)",
)
TEXT = "Tokenizers split text into pieces: déjà vu, 12345 and 🙂."
SCREENSHOT = os.environ.get("TOKENFORGE_SCREENSHOT")


@pytest.fixture(scope="module")
def server() -> Iterator[PlaygroundServer]:
    load_vocab("cl100k_base"), load_vocab("o200k_base")  # fail loudly if not fetched
    playground = Playground()
    running = start(playground, selected=["cl100k_base", "o200k_base"])
    yield running
    running.shutdown()
    running.server_close()
    playground.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,860",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def _count(browser: object, name: str) -> int:
    from selenium.webdriver.common.by import By

    column = browser.find_element(By.CSS_SELECTOR, f'section[data-tokenizer="{name}"] .count')  # type: ignore[attr-defined]
    return int(column.text.replace(",", ""))


def test_page_tokenizes_typed_text(server: PlaygroundServer, browser: object, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(server.url)  # type: ignore[attr-defined]
    # The page re-renders a column on every answer: an element read during one is looked up again.
    wait = WebDriverWait(
        browser, 30, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    )
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "section.column")) == 2)
    box = browser.find_element(By.ID, "text")  # type: ignore[attr-defined]
    box.send_keys(TEXT)
    expected = {name: load_vocab(name).count(TEXT) for name in ("cl100k_base", "o200k_base")}
    wait.until(lambda b: all(_count(b, n) == c for n, c in expected.items()))
    first = browser.find_element(By.CSS_SELECTOR, 'section[data-tokenizer="cl100k_base"] .tokens span')  # type: ignore[attr-defined]
    assert first.get_attribute("title") == f"id {load_vocab('cl100k_base').encode(TEXT)[0]}"

    # Train a small tokenizer on the text: it appears beside the others.
    vocab = browser.find_element(By.ID, "vocab")  # type: ignore[attr-defined]
    vocab.clear()
    vocab.send_keys("280")
    browser.find_element(By.ID, "train").click()  # type: ignore[attr-defined]
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "section.column")) == 3)
    trained = tf.train([TEXT], vocab_size=280)
    wait.until(lambda b: _count(b, "trained-280") == trained.count(TEXT))

    # A UDHR sample: the premium over the same article in English is shown.
    Select(browser.find_element(By.ID, "udhr")).select_by_value("fra")  # type: ignore[attr-defined]
    french = tf.data.udhr_articles("fra")[1]
    wait.until(lambda b: _count(b, "cl100k_base") == load_vocab("cl100k_base").count(french))
    wait.until(
        lambda b: "premium vs English" in b.find_element(By.CSS_SELECTOR, "section.column .stats").text
    )
    assert "UDHR French, article 1" in browser.find_element(By.ID, "status").text  # type: ignore[attr-defined]

    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]  # type: ignore[attr-defined]
    assert errors == []
    shot = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "serve.png"
    assert browser.get_screenshot_as_file(str(shot))  # type: ignore[attr-defined]
    assert shot.stat().st_size > 10_000
