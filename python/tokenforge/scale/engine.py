"""The Ray engine: connecting to (or starting) a cluster, the progress board its tasks report to,
and waiting for results while the driver's progress bar shows the cluster's totals.

Ray is imported here only, on first use, so ``import tokenforge`` never needs it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ClusterError, InvalidArgumentError, MissingDependencyError, TokenforgeError
from ..train.progress import Progress
from .plan import DEFAULT_MAX_TASK_BYTES

__all__ = ["EngineArg", "RayEngine", "import_ray", "resolve_engine"]

#: Object store of a cluster started on this machine. Tasks pass counts shards (``.tfc`` bytes,
#: a few MB per GB of text) and shard lists through it; Ray spills to disk beyond it.
LOCAL_OBJECT_STORE_BYTES = 256 << 20
#: How often the driver polls the board and redraws; tasks report at the same pace.
POLL_SECONDS = 0.5


def import_ray() -> Any:
    """The ``ray`` module, or a typed error that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(
            "the Ray engine needs the 'ray' package: pip install 'tokenforge[ray]'"
        ) from exc
    return ray


@dataclass(frozen=True)
class RayEngine:
    """Where and how to run on Ray.

    ``address``: a running cluster (``"auto"``, ``"ray://head:10001"``, ``"10.0.0.5:6379"``); None
    uses ``RAY_ADDRESS`` when set, else starts a cluster on this machine for the call
    (``num_cpus``, ``object_store_memory``; no dashboard) and shuts it down afterwards. A Ray
    session already open in this process (``ray.init`` by the caller) is used as it is.
    ``tasks``: how many tasks to cut the corpus into (default: one per CPU of the cluster), raised
    so that none exceeds ``max_task_bytes``.
    """

    address: str | None = None
    tasks: int | None = None
    max_task_bytes: int | None = DEFAULT_MAX_TASK_BYTES
    num_cpus: int | None = None
    object_store_memory: int = LOCAL_OBJECT_STORE_BYTES

    def __post_init__(self) -> None:
        if self.tasks is not None and (
            not isinstance(self.tasks, int) or isinstance(self.tasks, bool) or self.tasks < 1
        ):
            raise InvalidArgumentError(f"tasks must be a positive integer, got {self.tasks!r}")

    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        """The ``ray`` module with a connected session, closed afterwards if it was opened here."""
        ray = import_ray()
        if ray.is_initialized():
            yield ray
            return
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": "warning"}
        if address is None:
            options.update(num_cpus=self.num_cpus, object_store_memory=self.object_store_memory)
        try:
            ray.init(address=address, **options)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
            where = address or "a new local cluster"
            raise ClusterError(f"cannot start or reach the Ray cluster ({where}): {exc}") from exc
        try:
            yield ray
        finally:
            ray.shutdown()

    def task_count(self, ray: Any) -> int:
        if self.tasks is not None:
            return self.tasks
        return max(1, int(ray.cluster_resources().get("CPU", 1)))


EngineArg = Literal["local", "ray"] | RayEngine


def resolve_engine(engine: EngineArg) -> RayEngine | None:
    """None for the local engine, else the :class:`RayEngine` to use."""
    if isinstance(engine, RayEngine):
        return engine
    if engine == "local":
        return None
    if engine == "ray":
        return RayEngine()
    raise InvalidArgumentError(f"engine must be 'local', 'ray' or a RayEngine, got {engine!r}")


class Board:
    """Ray actor (no CPU of its own) that tasks report to: each task's latest totals, and the
    worker processes that started each task (a task started twice was retried)."""

    def __init__(self) -> None:
        self.totals: dict[int, dict[str, int]] = {}
        self.starts: dict[int, list[int]] = {}
        self.finished: set[int] = set()

    def started(self, task: int, pid: int) -> None:
        self.starts.setdefault(task, []).append(pid)

    def report(self, task: int, values: dict[str, int], final: bool = False) -> None:
        # Keep the largest value seen: a retried task starts its counters again from zero.
        mine = self.totals.setdefault(task, {})
        for key, value in values.items():
            mine[key] = max(mine.get(key, 0), int(value))
        if final:
            self.finished.add(task)

    def snapshot(self) -> dict[str, Any]:
        sums: dict[str, int] = {}
        for values in self.totals.values():
            for key, value in values.items():
                sums[key] = sums.get(key, 0) + value
        return {"totals": sums, "finished": len(self.finished), "starts": dict(self.starts)}


def check_in(board: Any, task: int) -> None:
    """A task's first call: records its worker process on the board. Waited for, because calls
    still queued in a worker that dies are lost, and a retry must be seen as one."""
    import ray

    ray.get(board.started.remote(task, os.getpid()))


def reporter(board: Any, task: int) -> Callable[[dict[str, int], bool], None]:
    """What a task calls with its running totals (fire and forget)."""

    def send(values: dict[str, int], final: bool = False) -> None:
        board.report.remote(task, values, final)

    return send


def remote(ray: Any, fn: Any, **options: Any) -> Any:
    return ray.remote(**options)(fn) if options else ray.remote(fn)


def wait(
    ray: Any,
    results: list[Any],
    pending: list[Any],
    board: Any,
    progress: Progress,
    *,
    phase: str,
    total: int | None,
    tasks: int,
    fields: tuple[str, ...] = (),
) -> tuple[Any, dict[str, Any]]:
    """Waits for every ref in ``results`` while drawing the board's totals (``bytes`` against ``total``, plus
    ``fields``) in ``progress``; returns their values and the last snapshot. A task's own error
    (bad input) is raised as the typed error it was; anything else as :class:`ClusterError`.
    Interrupting or failing cancels every task of ``pending`` still running (the list is pruned of
    finished ones as they finish)."""
    progress.start(phase, total=total, unit="B")
    values: list[Any] = []
    snap: dict[str, Any] = {"totals": {}, "finished": 0, "starts": {}}
    try:
        while True:
            _ready, waiting = ray.wait(results, num_returns=len(results), timeout=POLL_SECONDS)
            # Forget finished tasks: a ref held here would pin its output (a counts shard) in
            # the object store after the merge above it has consumed it.
            pending[:] = ray.wait(pending, num_returns=len(pending), timeout=0)[1] if pending else []
            snap = ray.get(board.snapshot.remote())
            sums = snap["totals"]
            progress.update(
                sums.get("bytes", 0),
                tasks=f"{snap['finished']}/{tasks}",
                **{f: sums.get(f, 0) for f in fields},
            )
            if not waiting:
                values = ray.get(results)
                snap = ray.get(board.snapshot.remote())
                break
    except BaseException as exc:
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        if isinstance(exc, ray.exceptions.RayTaskError):
            cause = getattr(exc, "cause", None)
            if isinstance(cause, TokenforgeError):
                raise cause from None
            raise ClusterError(f"a {phase} task failed: {exc}") from exc
        if isinstance(exc, ray.exceptions.RayError):
            raise ClusterError(f"a {phase} task was lost after its retries: {exc}") from exc
        raise
    sums = snap["totals"]
    progress.finish(sums.get("bytes", 0), tasks=f"{tasks}/{tasks}", **{f: sums.get(f, 0) for f in fields})
    return values, snap


def retried(snap: dict[str, Any]) -> dict[int, int]:
    """Tasks that were started more than once, with how many times."""
    return {int(task): len(pids) for task, pids in snap["starts"].items() if len(pids) > 1}
