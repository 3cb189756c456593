"""Counting on Ray: one counts shard per task, merged as a tree, then the usual trainer.

Each task counts its byte ranges with the local counter (:func:`tokenforge.train.counts.count_corpus`
on one thread) and returns its ``.tfc`` bytes and sample lines through the object store. Shards are
merged pairwise in task order (``log2(tasks)`` levels, each merge its own task), so no single
process ever holds more than two shards plus their sum. Counts are sums, so the merged tables are
the local run's tables exactly; the corpus totals are sums too, and the sample lines of the
self-test are the first ones in task order, i.e. in input order. A trained artifact is therefore
byte-identical to the local engine's. The one exception is ``max_memory``: a memory cap prunes each
task's table separately (a per-worker cap), which is not the same as pruning one table.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..corpus.readers import Source
from ..errors import InvalidArgumentError
from ..spec import PreTokenizerStep
from ..train.corpus import resolve_inputs
from ..train.counts import Counts, count_corpus
from ..train.progress import Progress
from .engine import Board, RayEngine, check_in, remote, reporter, retried, wait
from .plan import Task, plan_tasks

__all__ = ["count_on_ray"]

#: Sample lines a counts shard carries (the self-test keeps the first three of the corpus).
SAMPLES = 3


def _to_bytes(counts: Counts) -> bytes:
    with tempfile.TemporaryDirectory(prefix="tokenforge-") as tmp:
        return counts.save(Path(tmp) / "shard.tfc").read_bytes()


def _from_bytes(data: bytes) -> Counts:
    with tempfile.TemporaryDirectory(prefix="tokenforge-") as tmp:
        path = Path(tmp) / "shard.tfc"
        path.write_bytes(data)
        return Counts.load(path)


def _count_task(
    pieces: tuple[Source, ...], options: dict[str, Any], board: Any, task: int
) -> tuple[bytes, list[str]]:

    check_in(board, task)
    send = reporter(board, task)

    def relay(event: dict[str, Any]) -> None:
        if event.get("event") in ("progress", "end") and event.get("phase") == "count":
            send({"bytes": int(event["done"])}, event["event"] == "end")

    counts, samples = count_corpus(
        list(pieces), num_threads=1, progress=Progress(relay, interval=0.5), **options
    )
    return _to_bytes(counts), samples[:SAMPLES]


def _merge_task(left: tuple[bytes, list[str]], right: tuple[bytes, list[str]]) -> tuple[bytes, list[str]]:
    merged = _from_bytes(left[0]).merge(_from_bytes(right[0]))
    return _to_bytes(merged), (left[1] + right[1])[:SAMPLES]


def count_on_ray(
    engine: RayEngine,
    inputs: Any,
    pretokenizers: Mapping[str, tuple[PreTokenizerStep, ...]],
    *,
    normalizers: Sequence[str] = (),
    excluded: Sequence[str] = (),
    line_boundaries: bool = True,
    max_memory: int | None = None,
    field: str = "text",
    num_threads: int = 1,
    progress: Progress | None = None,
) -> tuple[Counts, list[str]]:
    """:func:`~tokenforge.train.counts.count_corpus` on a Ray cluster (same arguments and
    result; ``num_threads`` is per task: one, as each task holds one CPU)."""
    del num_threads
    progress = progress or Progress(None)
    sources, texts, described = resolve_inputs(inputs)
    if texts is not None:
        raise InvalidArgumentError(
            "the Ray engine reads files (each task opens its own byte ranges); write the texts to "
            ".txt/.jsonl files or use the local engine"
        )
    options = {
        "pretokenizers": dict(pretokenizers),
        "normalizers": tuple(normalizers),
        "excluded": tuple(excluded),
        "line_boundaries": line_boundaries,
        "max_memory": max_memory,
        "field": field,
    }
    with engine.session() as ray:
        tasks: list[Task] = plan_tasks(sources, engine.task_count(ray), max_task_bytes=engine.max_task_bytes)
        board = remote(ray, Board, num_cpus=0).remote()
        count_task = remote(ray, _count_task, num_cpus=1)
        merge_task = remote(ray, _merge_task, num_cpus=1)
        level = [
            count_task.options(name=f"tokenforge-count-{t.index}").remote(t.pieces, options, board, t.index)
            for t in tasks
        ]
        pending = list(level)
        while len(level) > 1:  # pairwise in task order: the tree keeps the input order of samples
            merged = [merge_task.remote(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            pending += merged
            level = [*merged, level[-1]] if len(level) % 2 else merged
        [(data, samples)], snap = wait(
            ray,
            [level[0]],
            pending,
            board,
            progress,
            phase="count",
            total=sum(t.bytes for t in tasks),
            tasks=len(tasks),
        )
    counts = _from_bytes(data)
    # The sources are the inputs as given (as a local run records them), not the task ranges.
    counts.corpus = {
        "bytes": counts.corpus["bytes"],
        "lines": counts.corpus["lines"],
        "documents": counts.corpus["documents"],
        "sources": described,
    }
    again = retried(snap)
    progress.note(
        f"counted on Ray: {len(tasks)} tasks, {max(0, len(tasks) - 1)} merges"
        + (f"; {len(again)} task(s) retried after a failure" if again else ""),
        tasks=len(tasks),
        retried=again,
    )
    return counts, samples
