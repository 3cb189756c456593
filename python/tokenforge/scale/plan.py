"""How a corpus is cut into tasks: contiguous byte ranges in input order.

The rule (the same for counting and encoding):

- The inputs are one byte sequence in input order; ``n`` tasks get the cut targets ``k * total / n``.
- A target inside an uncompressed file moves to :func:`~tokenforge.train.corpus.range_cut`: just
  after the last line end before the first read-block end (1 MiB multiple) at or after it. A
  record or line therefore always belongs to exactly one task, and the texts a task's reader
  yields are the very texts a whole-file read yields there, so counts add up exactly.
- A target inside a ``.gz``/``.zst`` file moves to the end of that file: compressed files cannot be
  entered at a byte offset, so each goes whole to one task.
- Cuts that coincide are merged, and empty files join the task before them, so a task is never
  empty; a file smaller than a read block is never split.

Tasks keep the input order, so concatenating their outputs (shards, samples) in task order gives
the order of a local run.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from ..corpus.readers import Source
from ..errors import CorpusError, InvalidArgumentError
from ..train.corpus import range_cut

__all__ = ["DEFAULT_MAX_TASK_BYTES", "Task", "plan_tasks", "tasks_from_json", "tasks_to_json"]

#: Largest task by default: a failed task is redone from its start (counting) or from its last
#: closed shard (encoding), so this bounds the work a lost worker costs (~60 s of one core at the
#: measured per-core rates, see docs/scale.md) while keeping the per-task overhead small.
DEFAULT_MAX_TASK_BYTES = 1 << 30


@dataclass(frozen=True)
class Task:
    """One unit of cluster work: consecutive pieces (files or byte ranges of files)."""

    index: int
    pieces: tuple[Source, ...]

    @property
    def bytes(self) -> int:
        return sum(p.length for p in self.pieces)


def _cut_position(sources: Sequence[Source], index: int, offset: int) -> tuple[int, int]:
    """Where a task boundary aimed at byte ``offset`` of file ``index`` goes, as (file, byte)."""
    source = sources[index]
    if source.compression is not None:
        return index + 1, 0
    cut = range_cut(source, offset)
    return (index + 1, 0) if cut >= source.size else (index, cut)


def plan_tasks(
    sources: Sequence[Source], tasks: int, *, max_task_bytes: int | None = DEFAULT_MAX_TASK_BYTES
) -> list[Task]:
    """Cuts ``sources`` into at most ``max(tasks, total / max_task_bytes)`` tasks (fewer when files
    cannot be cut finely enough); see the module notes for the rule."""
    if not isinstance(tasks, int) or isinstance(tasks, bool) or tasks < 1:
        raise InvalidArgumentError(f"tasks must be a positive integer, got {tasks!r}")
    if max_task_bytes is not None and max_task_bytes < 1:
        raise InvalidArgumentError(f"max_task_bytes must be positive, got {max_task_bytes!r}")
    if not sources:
        raise CorpusError("no input files given")
    if any(s.is_range for s in sources):
        raise InvalidArgumentError("plan_tasks takes whole files")
    total = sum(s.size for s in sources)
    n = max(tasks, -(-total // max_task_bytes) if max_task_bytes else 1)
    cuts: set[tuple[int, int]] = set()
    index, base = 0, 0
    for k in range(1, n):
        target = total * k // n
        while index < len(sources) and target >= base + sources[index].size:
            base += sources[index].size
            index += 1
        if index == len(sources):
            break
        cuts.add(_cut_position(sources, index, target - base))
    bounds = [(0, 0), *sorted(c for c in cuts if (0, 0) < c < (len(sources), 0)), (len(sources), 0)]
    out: list[Task] = []
    carry: list[Source] = []
    for (first, begin), (last, end) in itertools.pairwise(bounds):
        pieces: list[Source] = []
        for i in range(first, min(last, len(sources) - 1) + 1):
            start = begin if i == first else 0
            stop = end if i == last else sources[i].size
            if i == last and end == 0:
                break
            source = sources[i]
            pieces.append(source if (start, stop) == (0, source.size) else source.byte_range(start, stop))
        pieces = [*carry, *pieces]
        carry = []
        if pieces and sum(p.length for p in pieces) == 0:
            # Only empty files: they join a neighbour (a task with no text would be an error).
            if out:
                out[-1] = Task(out[-1].index, (*out[-1].pieces, *pieces))
            else:
                carry = pieces
        elif pieces:
            out.append(Task(len(out), tuple(pieces)))
    if carry:  # every file is empty: one task, which reports the empty corpus
        out.append(Task(0, tuple(carry)))
    return out


def tasks_to_json(tasks: Sequence[Task], sources: Sequence[Source]) -> list[list[list[int]]]:
    """A plan as ``[[source index, start, stop], ...]`` per task (kept in a run's manifest, so a
    resumed run redoes the same tasks whatever the cluster's size is then)."""
    where = {s.path: i for i, s in enumerate(sources)}
    return [[[where[p.path], p.start, p.stop] for p in task.pieces] for task in tasks]


def tasks_from_json(doc: list[list[list[int]]], sources: Sequence[Source]) -> list[Task]:
    """The plan :func:`tasks_to_json` wrote, for the same sources."""
    try:
        return [
            Task(k, tuple(sources[i].byte_range(start, stop) for i, start, stop in pieces))
            for k, pieces in enumerate(doc)
        ]
    except (IndexError, TypeError, ValueError) as exc:
        raise CorpusError(f"the manifest's task plan does not fit the inputs ({exc})") from None
