"""Corpus -> Megatron shards on Ray tasks over file ranges.

Layout of the output directory::

    manifest.json          the merged index: every shard of every task, in input order
    task-00000/            task 0's own resumable output (manifest.json, shard-00000.bin/.idx, ...)
    task-00001/            ...

Each task runs the local encoder (:func:`tokenforge.corpus.encode_corpus`) on its byte ranges into
its own directory, so each inherits its resume rule: a shard is final once the task's manifest
lists it, an unfinished one is deleted and redone. The plan (which ranges each task covers) is
written to the top manifest before any task starts and reused when the run is started again, so:

- a worker that dies mid-task: Ray starts the task again (``max_retries``) and it resumes from its
  last closed shard; no document is lost or written twice;
- a driver that dies: running the same command again reuses the plan; finished tasks return at
  once, unfinished ones resume.

The merged manifest lists the tasks' shards in task order, which is input order, so
:func:`~tokenforge.corpus.read_corpus` reads the documents in the local engine's order.

Why tasks over file ranges rather than Ray Data: the output is Megatron ``.bin``/``.idx`` pairs
with an exact resume point per shard, which Ray Data's writers do not produce; Ray Data restarts a
dataset from scratch when its driver dies, and keeping its blocks in input order costs
``preserve_order``. Ranges are also what counting uses, so both share one plan and one reader.
The output directory must be visible to every node (a shared filesystem).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..corpus.encode import FORMAT, MANIFEST, EncodeStats, _resolve_eos, _write_json, encode_corpus
from ..corpus.readers import DEFAULT_MAX_DOCUMENT_BYTES, Source, expand_inputs
from ..corpus.shards import dtype_for_vocab
from ..errors import CorpusError, InvalidArgumentError
from ..tokenizer import Tokenizer
from ..train.progress import Progress, ProgressArg
from .engine import Board, RayEngine, check_in, remote, reporter, retried, wait
from .plan import plan_tasks, tasks_from_json, tasks_to_json

__all__ = ["encode_on_ray"]

LOCK = ".lock"
#: How often Ray starts a task again after its worker process or node died.
MAX_RETRIES = 3


def _task_dir(out: Path, index: int) -> Path:
    return out / f"task-{index:05d}"


def _encode_task(
    tokenizer: Tokenizer,
    pieces: tuple[Source, ...],
    task_dir: str,
    options: dict[str, Any],
    board: Any,
    task: int,
) -> dict[str, Any]:
    import fcntl

    check_in(board, task)
    send = reporter(board, task)
    folder = Path(task_dir)
    folder.mkdir(parents=True, exist_ok=True)
    # One writer per task folder: an attempt whose driver or node was given up for dead may still
    # be running on this machine; the lock makes the next attempt wait until it is really gone.
    with open(folder / LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stats = encode_corpus(
            tokenizer, list(pieces), folder, num_threads=1, progress=send, allow_empty=True, **options
        )
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    send({"documents": stats.documents, "tokens": stats.tokens, "bytes": stats.bytes}, True)
    return {"shards": manifest["shards"], "stats": stats}


def encode_on_ray(
    engine: RayEngine,
    tokenizer: Tokenizer,
    inputs: Iterable[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    *,
    field: str = "text",
    eos: int | str | None = None,
    shard_tokens: int = 1 << 28,
    utf8_errors: str = "strict",
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    overwrite: bool = False,
    progress: ProgressArg | Progress = None,
) -> EncodeStats:
    """:func:`~tokenforge.corpus.encode_corpus` on a Ray cluster (see the module notes); the
    result counts this run's work over all tasks."""
    if shard_tokens < 1:
        raise InvalidArgumentError(f"shard_tokens must be positive, got {shard_tokens}")
    if utf8_errors not in ("strict", "replace"):
        raise InvalidArgumentError(f"utf8_errors must be 'strict' or 'replace', got {utf8_errors!r}")
    report = progress if isinstance(progress, Progress) else Progress(progress)
    eos_id = _resolve_eos(tokenizer, eos)
    sources = expand_inputs(inputs)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "engine": "ray",
        "tokenizer": {
            "name": tokenizer.name,
            "fingerprint": tokenizer.fingerprint(),
            "n_vocab": tokenizer.n_vocab,
        },
        "dtype": dtype_for_vocab(tokenizer.n_vocab).name,
        "eos": eos_id,
        "field": field,
        "utf8_errors": utf8_errors,
        "shard_tokens": shard_tokens,
        "inputs": [s.describe() for s in sources],
    }
    options = {
        "field": field,
        "eos": eos_id,
        "shard_tokens": shard_tokens,
        "utf8_errors": utf8_errors,
        "max_document_bytes": max_document_bytes,
    }
    manifest_path = out / MANIFEST
    plan: list[list[list[int]]] | None = None
    if manifest_path.exists() and not overwrite:
        previous = json.loads(manifest_path.read_text(encoding="utf-8"))
        if previous.get("format") != FORMAT or previous.get("config") != config:
            raise CorpusError(
                f"{out} already holds shards made with other settings, tokenizer, input files or engine; "
                "use a new output directory or overwrite=True (--overwrite)"
            )
        if previous.get("complete"):
            totals = previous["totals"]
            return EncodeStats(0, 0, 0, 0.0, totals["shards"], totals["documents"], totals["tokens"], True)
        plan = previous["tasks"]
    elif overwrite:
        manifest_path.unlink(missing_ok=True)
        for stale in [*out.glob("task-*"), *out.glob("shard-*")]:
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    resumed = plan is not None
    began = time.perf_counter()
    with engine.session() as ray:
        tasks = (
            tasks_from_json(plan, sources)
            if plan is not None
            else plan_tasks(sources, engine.task_count(ray), max_task_bytes=engine.max_task_bytes)
        )
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": 1,
            "config": config,
            "tasks": tasks_to_json(tasks, sources),
            "shards": [],
            "complete": False,
        }
        _write_json(manifest_path, manifest)
        board = remote(ray, Board, num_cpus=0).remote()
        encode_task = remote(ray, _encode_task, num_cpus=1, max_retries=MAX_RETRIES)
        shared = ray.put(tokenizer)
        refs = [
            encode_task.options(name=f"tokenforge-encode-{t.index}").remote(
                shared, t.pieces, str(_task_dir(out, t.index)), options, board, t.index
            )
            for t in tasks
        ]
        results, snap = wait(
            ray,
            refs,
            list(refs),
            board,
            report,
            phase="encode",
            total=None,
            tasks=len(tasks),
            fields=("documents", "tokens"),
        )
    shards = [
        {**shard, "name": f"{_task_dir(out, k).name}/{shard['name']}", "task": k}
        for k, result in enumerate(results)
        for shard in result["shards"]
    ]
    if not shards:
        raise CorpusError(f"no documents in {len(sources)} input file(s): every line is empty")
    manifest["shards"] = shards
    manifest["complete"] = True
    manifest["totals"] = {
        "documents": sum(s["documents"] for s in shards),
        "tokens": sum(s["tokens"] for s in shards),
        "shards": len(shards),
    }
    _write_json(manifest_path, manifest)
    runs: list[EncodeStats] = [r["stats"] for r in results]
    again = retried(snap)
    report.note(
        f"encoded on Ray: {len(tasks)} tasks, {len(shards)} shards"
        + (f"; {len(again)} task(s) retried after a failure" if again else ""),
        tasks=len(tasks),
        retried=again,
    )
    return EncodeStats(
        documents=sum(r.documents for r in runs),
        tokens=sum(r.tokens for r in runs),
        bytes=sum(r.bytes for r in runs),
        seconds=time.perf_counter() - began,
        shards=len(shards),
        total_documents=manifest["totals"]["documents"],
        total_tokens=manifest["totals"]["tokens"],
        resumed=resumed,
    )
