"""Fixtures for the Ray engine tests: one local cluster per test session (2 CPUs, so 2 worker
processes; no dashboard; a small object store) and a small mixed corpus whose text files are large
enough (> 1 MiB, one read block) to be cut into several byte ranges."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tokenforge.data import code_documents, english_paragraphs

#: Test clusters keep to this; the machine is shared.
CLUSTER_CPUS = 2
OBJECT_STORE_BYTES = 96 << 20


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A running local Ray cluster (the engines use a session open in the process as it is).
    Skips, saying why, only where Ray is missing or cannot start here."""
    try:
        import ray
    except ImportError:
        pytest.skip("SKIPPED LOUDLY: the 'ray' package is not installed (pip install 'tokenforge[ray]')")
    try:
        ray.init(
            num_cpus=CLUSTER_CPUS,
            include_dashboard=False,
            object_store_memory=OBJECT_STORE_BYTES,
            logging_level="warning",
        )
    except Exception as exc:  # Ray's start-up errors are of many kinds
        pytest.skip(f"SKIPPED LOUDLY: a local Ray cluster cannot start on this machine: {exc}")
    try:
        yield ray
    finally:
        ray.shutdown()


def _english() -> list[str]:
    # Brown paragraphs, three times in rotated order (~1.5 MB: two read blocks, so it splits).
    paragraphs = list(english_paragraphs())
    return [*paragraphs, *paragraphs[500:], *paragraphs[:500], *reversed(paragraphs)]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Text (one document per line, and one blank-line run), JSONL with an escaped multi-line
    field, a .gz and a .zst file: the four kinds of input a cluster run must cut or keep whole."""
    import zstandard

    import parity_corpus

    root = tmp_path_factory.mktemp("scale-corpus")
    english = root / "english.txt"
    lines = _english()
    english.write_text("\n".join(lines[:2000]) + "\n\n\n" + "\n".join(lines[2000:]) + "\n", encoding="utf-8")
    code = root / "code.jsonl"
    with code.open("w", encoding="utf-8") as f:
        for round_ in range(4):
            for doc in code_documents():
                f.write(json.dumps({"id": round_, "text": doc["text"]}, ensure_ascii=False) + "\n")
    adversarial = root / "adversarial.txt.gz"
    with gzip.open(adversarial, "wt", encoding="utf-8") as g:
        g.write("\n".join(text for _name, text in parity_corpus.adversarial_texts()[:300]) + "\n")
    udhr = root / "udhr.txt.zst"
    texts = "\n".join(text for _name, text in parity_corpus.udhr_texts()[:40])
    udhr.write_bytes(zstandard.ZstdCompressor().compress(texts.encode("utf-8")))
    return [english, code, adversarial, udhr]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test` runs two workers) every test that needs the cluster goes to
    one worker, so a single local cluster starts, as the machine's two CPUs allow."""
    for item in items:
        if "ray_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("ray"))
