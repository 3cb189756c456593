"""``tokenforge.train`` and ``tokenforge.count``: pick the algorithm's config class, build the
config from the keyword options, and hand it to the shared driver."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgumentError
from ..scale import EngineArg, counter_for
from . import bpe, charbpe, hybrid, lib, superbpe, unigram  # noqa: F401  (each registers its config class)
from .config import TrainConfig
from .counts import Counts
from .driver import CountsArg, Run, load_counts, progress_arg, run_training, threads_arg
from .progress import Progress, ProgressArg

__all__ = ["ALGORITHMS", "config_class", "count", "make_config", "train"]

ALGORITHMS: tuple[str, ...] = tuple(TrainConfig.registry)

#: Counting does not depend on the vocabulary size; configs built only to describe a count use
#: one large enough to pass every size check.
_COUNTING_VOCAB_SIZE = 1 << 30


def config_class(algorithm: str) -> type[TrainConfig]:
    try:
        return TrainConfig.registry[algorithm]
    except KeyError:
        raise InvalidArgumentError(
            f"algorithm must be one of {', '.join(TrainConfig.registry)}, got {algorithm!r}"
        ) from None


def make_config(algorithm: str, options: dict[str, Any], counts: Counts | None = None) -> TrainConfig:
    """The algorithm's config from keyword options (``None`` means "the default"); options the
    caller leaves out are taken from ``counts`` when training from counts."""
    cls = config_class(algorithm)
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(cls.option_names()))
    if unknown:
        raise InvalidArgumentError(
            f"{algorithm} has no option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(its options: {', '.join(cls.option_names())})"
        )
    if counts is not None:
        for key, value in cls.options_from_counts(counts).items():
            given.setdefault(key, value)
    try:
        config = cls(**given)
    except TypeError as exc:  # a missing required option (vocab_size)
        raise InvalidArgumentError(f"{algorithm}: {exc}") from None
    if counts is not None:
        config.check_counts(counts)
    return config


def train(
    inputs: Any = None,
    *,
    algorithm: str = "bpe",
    config: TrainConfig | None = None,
    from_counts: CountsArg | None = None,
    num_threads: int | None = None,
    progress: ProgressArg | Progress = None,
    name: str = "trained",
    engine: EngineArg = "local",
    **options: Any,
) -> Any:
    """Trains a tokenizer on a corpus and returns it frozen, with a metadata block that records
    the config, a corpus fingerprint and self-test samples.

    ``inputs``: a path, directory or glob (``.txt``, ``.jsonl`` with ``field``, ``.gz``, ``.zst``),
    a list of them, or an iterable of texts; or ``from_counts=`` a ``.tfc`` file / :class:`Counts`.

    ``algorithm`` picks the config class whose fields are the keyword ``options`` (or pass a
    ready ``config=``); ``vocab_size`` is required:

    * ``"bpe"``: byte-level BPE (:class:`~tokenforge.train.bpe.BpeConfig`); ``pretokenizer``
      defaults to ``"cl100k"``.
    * ``"superbpe"``: SuperBPE (:class:`~tokenforge.train.superbpe.SuperBpeConfig`).
    * ``"charbpe"``: KL3M-style short tokens (:class:`~tokenforge.train.charbpe.CharBpeConfig`).
    * ``"unigram"``: SentencePiece's Unigram (:class:`~tokenforge.train.unigram.UnigramConfig`);
      ``save`` writes ``tokenizer.json``, or a SentencePiece ``.model`` for a path ending in
      ``.model``, with the same ids.
    * ``"lib"``: LiB, Less-is-Better lexicon learning (:class:`~tokenforge.train.lib.LibConfig`),
      saved as a Unigram model like ``"unigram"``.
    * ``"hybrid"``: the hybrid morphological tokenizer (roots, affixes, BPE fallback;
      :class:`~tokenforge.train.hybrid.HybridConfig`); returns a
      :class:`~tokenforge.hybrid.HybridTokenizer`.

    Results never depend on ``num_threads`` (ties have total orders, counts are sums).
    ``engine="ray"`` (or a :class:`tokenforge.scale.RayEngine`) counts files on a Ray cluster and
    trains here; the result is the local engine's, byte for byte (:mod:`tokenforge.scale`).
    """
    if config is not None:
        if options or algorithm not in ("bpe", config.algorithm):
            raise InvalidArgumentError("pass either config= or algorithm= with options, not both")
    counts: Counts | None = None
    if from_counts is not None:
        if inputs is not None:
            raise InvalidArgumentError("pass either inputs or from_counts, not both")
        counts = load_counts(from_counts)
    elif inputs is None:
        raise InvalidArgumentError("nothing to train on: pass inputs (paths or texts) or from_counts=")
    if config is None:
        config = make_config(algorithm, options, counts)
    elif counts is not None:
        config.check_counts(counts)
    # A Counts object the caller passed in stays usable (trained from again); counts read here
    # are handed to the trainer without a copy.
    run = Run(
        threads=threads_arg(num_threads),
        progress=progress_arg(progress),
        keep_counts=isinstance(from_counts, Counts),
        name=name,
        engine=engine,
    )
    return run_training(config, inputs=inputs, counts=counts, run=run)


def count(
    inputs: Any,
    *,
    algorithm: str = "bpe",
    num_threads: int | None = None,
    progress: ProgressArg | Progress = None,
    engine: EngineArg = "local",
    **options: Any,
) -> Counts:
    """Counts a corpus's pieces for later training (``train(from_counts=...)``); save the result
    with :meth:`Counts.save` and merge shards with :meth:`Counts.merge`. ``options`` are the
    counting options of the algorithm's config (``pretokenizer``, ``special_tokens``,
    ``normalizers``, ...); ``algorithm="superbpe"`` counts both tables SuperBPE needs in one pass.
    ``engine="ray"``: on a Ray cluster."""
    config = make_config(algorithm, {"vocab_size": _COUNTING_VOCAB_SIZE, **options})
    counts, _samples = counter_for(engine)(
        inputs,
        config.count_tables(),
        normalizers=config.count_normalizers,
        excluded=config.excluded,
        line_boundaries=config.line_boundaries,
        max_memory=config.max_memory,
        field=config.field,
        num_threads=threads_arg(num_threads),
        progress=progress_arg(progress),
    )
    return counts
