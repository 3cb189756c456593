"""The shared training driver: corpus -> counts -> trainer -> frozen result + metadata.

Every algorithm module (:mod:`.bpe`, :mod:`.charbpe`, :mod:`.superbpe`, :mod:`.unigram`) provides a
frozen config (a :class:`~.config.TrainConfig` subclass naming the piece tables it needs) whose
``fit(counts, run)`` turns counts into a :class:`Fitted` result. This module does the
rest the same way for all of them: thread and progress arguments, counting the corpus once (or
loading counts), the metadata block and the self-test samples.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InvalidArgumentError
from ..scale import EngineArg, counter_for
from ..spec import AddedToken, TokenizerSpec
from ..tokenizer import Tokenizer
from .config import TrainConfig
from .counts import Counts
from .progress import Progress, ProgressArg
from .selftest import make_self_test

__all__ = [
    "METADATA_FORMAT",
    "CountsArg",
    "Fitted",
    "Run",
    "freeze_tokenizer",
    "load_counts",
    "metadata_block",
    "padding",
    "progress_arg",
    "run_training",
    "threads_arg",
]

METADATA_FORMAT = 1

CountsArg = Counts | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def threads_arg(num_threads: int | None) -> int:
    if num_threads is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)
    if not isinstance(num_threads, int) or isinstance(num_threads, bool) or num_threads < 1:
        raise InvalidArgumentError(f"num_threads must be a positive integer, got {num_threads!r}")
    return num_threads


def progress_arg(progress: ProgressArg | Progress) -> Progress:
    return progress if isinstance(progress, Progress) else Progress(progress)


def load_counts(from_counts: CountsArg) -> Counts:
    if isinstance(from_counts, Counts):
        return from_counts
    if isinstance(from_counts, str | os.PathLike):
        return Counts.load(from_counts)
    return Counts.load_many(from_counts)


@dataclass(frozen=True)
class Run:
    """Runtime arguments of one training run (never recorded: they do not change the result)."""

    threads: int
    progress: Progress
    #: The counts belong to the caller (a :class:`Counts` passed in) and must stay usable, so the
    #: trainer copies the table instead of taking it over.
    keep_counts: bool
    name: str
    #: Where the corpus is counted: here, or on a Ray cluster (:mod:`tokenforge.scale`).
    engine: EngineArg = "local"


@dataclass
class Fitted:
    """What a trainer produced: a tokenizer spec without metadata, the ``training`` metadata
    section, and a one-line summary for the progress log. ``freeze`` turns the spec and the
    complete metadata into the returned object (a :class:`Tokenizer` unless the algorithm's model
    needs another carrier)."""

    spec: Any
    training: dict[str, Any]
    summary: str
    freeze: Callable[[Any, dict[str, Any], Sequence[str]], Any] | None = None


def metadata_block(
    kind: str,
    config: dict[str, Any],
    corpus: dict[str, Any],
    training: dict[str, Any],
    *,
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``tokenforge`` metadata block (format 1; ``base`` describes the tokenizer an extended
    one grew from); the self-test samples are added when the result is frozen."""
    from .. import __version__

    out: dict[str, Any] = {
        "format": METADATA_FORMAT,
        "library": "tokenforge",
        "version": __version__,
        "kind": kind,
        "config": config,
    }
    if base is not None:
        out["base"] = base
    out["corpus"] = corpus
    out["training"] = training
    return out


def freeze_tokenizer(spec: TokenizerSpec, metadata: dict[str, Any], samples: Sequence[str]) -> Tokenizer:
    """Builds the tokenizer, encodes the self-test samples with it, and returns the tokenizer with
    the complete metadata block."""
    plain = Tokenizer(spec)
    metadata["self_test"] = make_self_test(plain, samples)
    return Tokenizer(replace(spec, metadata=metadata))


def padding(start: int, total: int, multiple: int | None, taken: set[str]) -> list[AddedToken]:
    """Reserved special tokens that round the vocabulary up to a multiple (never matched by text
    unless allowed, so they do not change any encoding)."""
    if not multiple or total % multiple == 0:
        return []
    out: list[AddedToken] = []
    i = 0
    while (total + len(out)) % multiple:
        name = f"<|reserved_{i}|>"
        i += 1
        if name in taken:
            continue
        out.append(AddedToken(name, start + len(out), special=True))
    return out


def run_training(
    config: TrainConfig,
    *,
    inputs: Any,
    counts: Counts | None,
    run: Run,
) -> Any:
    """Counts ``inputs`` the way ``config`` says (unless ``counts`` are given), fits, freezes."""
    samples: list[str] = []
    if counts is None:
        counts, samples = counter_for(run.engine)(
            inputs,
            config.count_tables(),
            normalizers=config.count_normalizers,
            excluded=config.excluded,
            line_boundaries=config.line_boundaries,
            max_memory=config.max_memory,
            field=config.field,
            num_threads=run.threads,
            progress=run.progress,
        )
    corpus_meta = counts.summary()
    fitted = config.fit(counts, run)
    metadata = metadata_block("trained", config.to_json(), corpus_meta, fitted.training)
    run.progress.note(fitted.summary)
    freeze = fitted.freeze or freeze_tokenizer
    return freeze(fitted.spec, metadata, samples)
