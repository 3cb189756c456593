"""Corpus encoding on a local Ray cluster of 2 workers: the merged output reads back as the local
engine's documents in the same order, also after a worker or the driver is killed mid-run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tokenforge as tf
from tokenforge.corpus import encode_corpus, read_corpus
from tokenforge.errors import CorpusError
from tokenforge.scale import RayEngine, encode_on_ray

#: Small shards make every task close many of them, so a kill lands between two closed shards.
SHARD_TOKENS = 15000
ENGINE = RayEngine(tasks=4)
TASK_TITLE = b"ray::tokenforge-encode-"


@pytest.fixture(scope="module")
def gpt2() -> tf.Tokenizer:
    from conftest import load_vocab

    return load_vocab("gpt2")


@pytest.fixture(scope="module")
def local_docs(gpt2: tf.Tokenizer, corpus: list[Path], tmp_path_factory: pytest.TempPathFactory) -> list:
    out = tmp_path_factory.mktemp("local-shards")
    encode_corpus(gpt2, corpus, out, shard_tokens=SHARD_TOKENS, eos="<|endoftext|>", progress=False)
    return list(read_corpus(out))


def _same_documents(out: Path, expected: list) -> None:
    got = list(read_corpus(out))
    assert len(got) == len(expected)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def _encode_workers() -> dict[int, int]:
    """pid -> task index of the worker processes running an encode task (Ray titles them)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                title = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(TASK_TITLE):
                found[int(entry)] = int(title[len(TASK_TITLE) :].split(b"\0")[0])
    return found


def _closed_shards(task_dir: Path) -> int:
    try:
        manifest = json.loads((task_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return 0
    return -1 if manifest.get("complete") else len(manifest["shards"])


def _kill_when_mid_task(out: Path, kill: Any, deadline: float) -> int | None:
    """Calls ``kill(pid)`` on the first encode worker found early in its task (one to three of its
    shards closed) and returns its task index, or None if none was found before ``deadline``.

    A task seen with few shards closed may still finish before the kill lands (a small task has
    few shards), and a worker killed after its task returned is not retried. So the worker is
    stopped first, and ``kill`` is called only if its task folder is still incomplete and the
    process still runs that task: then the task has certainly not returned."""
    while time.monotonic() < deadline:
        for pid, task in _encode_workers().items():
            if not 1 <= _closed_shards(out / f"task-{task:05d}") <= 3:
                continue
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            try:
                if _encode_workers().get(pid) == task and _closed_shards(out / f"task-{task:05d}") >= 0:
                    kill(pid)
                    return task
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)
    return None


def test_killed_worker_is_retried_and_nothing_is_lost(
    ray_cluster: Any, gpt2: tf.Tokenizer, corpus: list[Path], local_docs: list, tmp_path: Path
) -> None:
    out = tmp_path / "shards"
    killed: list[int | None] = []
    killer = threading.Thread(
        target=lambda: killed.append(
            _kill_when_mid_task(out, lambda pid: os.kill(pid, signal.SIGKILL), time.monotonic() + 60)
        )
    )
    killer.start()
    events: list[dict[str, Any]] = []
    stats = encode_on_ray(
        ENGINE, gpt2, corpus, out, shard_tokens=SHARD_TOKENS, eos="<|endoftext|>", progress=events.append
    )
    killer.join()
    assert killed and killed[0] is not None, "no encode task was caught mid-run"
    note = next(e for e in events if e["event"] == "note" and "retried" in e)
    assert note["retried"].get(killed[0], 0) >= 2, (killed, note)  # the killed task ran again
    _same_documents(out, local_docs)
    assert stats.total_documents == len(local_docs)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [s["task"] for s in manifest["shards"]] == sorted(s["task"] for s in manifest["shards"])
    end = next(e for e in events if e.get("phase") == "encode" and e["event"] == "end")
    assert end["tasks"] == "4/4" and end["tokens"] > 0 and end["documents"] > 0
    # Done is done: a rerun returns at once; other settings are refused; so is the local engine.
    again = encode_on_ray(ENGINE, gpt2, corpus, out, shard_tokens=SHARD_TOKENS, eos="<|endoftext|>")
    assert again.resumed and again.documents == 0
    with pytest.raises(CorpusError, match="other settings"):
        encode_on_ray(ENGINE, gpt2, corpus, out, shard_tokens=SHARD_TOKENS)
    with pytest.raises(CorpusError, match="other settings"):
        encode_corpus(gpt2, corpus, out, shard_tokens=SHARD_TOKENS, eos="<|endoftext|>")


def test_killed_driver_resumes_with_the_same_plan(
    ray_cluster: Any, gpt2: tf.Tokenizer, corpus: list[Path], local_docs: list, tmp_path: Path
) -> None:
    out = tmp_path / "shards"
    address = ray_cluster.get_runtime_context().gcs_address
    command = [
        sys.executable, "-m", "tokenforge", "encode", *map(str, corpus), "-t", "gpt2", "-o", str(out),
        "--shard-tokens", str(SHARD_TOKENS), "--eos", "<|endoftext|>", "--ray", address,
        "--ray-tasks", "4", "-q",
    ]  # fmt: skip
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        task = _kill_when_mid_task(out, lambda _pid: driver.kill(), time.monotonic() + 60)
    finally:
        driver.kill()
        driver.wait()
    assert task is not None, "the driver finished before it could be killed"
    with pytest.raises(CorpusError, match="did not finish"):
        list(read_corpus(out))
    plan = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["tasks"]
    stats = encode_on_ray(
        RayEngine(tasks=2), gpt2, corpus, out, shard_tokens=SHARD_TOKENS, eos="<|endoftext|>"
    )
    assert stats.resumed
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["tasks"] == plan
    _same_documents(out, local_docs)
