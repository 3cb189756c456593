"""Byte-level BPE: its config and trainer (incremental pair counts + a priority queue in Rust).

The counts go to the Rust trainer in chunks of merges, so progress is reported and Ctrl-C works
between chunks; the result is frozen into a :class:`~tokenforge.Tokenizer` whose spec carries
explicit merges (HF semantics). :mod:`.charbpe` and :mod:`.superbpe` build on this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .. import _core
from ..errors import InvalidArgumentError
from ..spec import AddedToken, PreTokenizerStep, TokenizerSpec
from ..validation import as_tokens
from .config import (
    PreTokenizerArg,
    TrainConfig,
    _json_value,
    check_positive,
    check_tokens,
    resolve_pretokenizer,
)
from .counts import Counts
from .driver import Fitted, Run, padding
from .progress import Progress

__all__ = ["BpeConfig", "MergeStage", "byte_stage", "fit", "run_merges"]

#: Merges per call into the engine between progress reports. Each call releases the GIL; 512
#: merges take a few milliseconds, so reports stay smooth and the call overhead is invisible.
STEP_MERGES = 512
TIE_BREAK = "count desc, then left token bytes asc, then right token bytes asc"

#: The keys of a BPE-family config in metadata format 1, in order. Every BPE-family artifact records
#: all of them (the SuperBPE-only ones are null/false for the others), so files stay comparable.
_FORMAT1_KEYS = (
    "vocab_size",
    "algorithm",
    "pretokenizer",
    "superword_pretokenizer",
    "transition",
    "special_tokens",
    "domain_tokens",
    "min_frequency",
    "max_token_length",
    "max_token_chars",
    "max_words_per_token",
    "forbid_colon_space",
    "normalizers",
    "line_boundaries",
    "pad_to_multiple_of",
    "max_memory",
    "field",
)
_NEUTRAL = {
    "superword_pretokenizer": None,
    "transition": None,
    "max_words_per_token": None,
    "forbid_colon_space": False,
}


@dataclass(frozen=True, kw_only=True)
class BpeConfig(TrainConfig):
    """Byte-level BPE.

    ``vocab_size`` counts every id: the 256 bytes, learned tokens, domain tokens and special tokens
    (padding then rounds the total up to ``pad_to_multiple_of``); learned tokens get ids 256..,
    then ``domain_tokens`` (never split, always matched, like HF added tokens), then
    ``special_tokens``. Training stops early when no pair occurs ``min_frequency`` times. Lengths:
    ``max_token_length`` in bytes (HF's meaning for byte-level models), ``max_token_chars`` in
    characters. ``pretokenizer``: a preset name, a regex or steps (default ``cl100k``).
    """

    algorithm: ClassVar[str] = "bpe"
    default_pretokenizer: ClassVar[str] = "cl100k"

    pretokenizer: tuple[PreTokenizerStep, ...] = ()
    special_tokens: tuple[str, ...] = ()
    domain_tokens: tuple[str, ...] = ()
    min_frequency: int = 2
    max_token_length: int | None = None
    max_token_chars: int | None = None
    normalizers: tuple[str, ...] = ()
    pad_to_multiple_of: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        pre: PreTokenizerArg = self.pretokenizer or self.default_pretokenizer
        object.__setattr__(self, "pretokenizer", resolve_pretokenizer(pre))
        for name in ("special_tokens", "domain_tokens"):  # a bare string is refused, not split
            object.__setattr__(self, name, as_tokens(getattr(self, name), name))
        object.__setattr__(self, "normalizers", tuple(self.normalizers))
        check_positive(self, "min_frequency")
        check_positive(self, "max_token_length", "max_token_chars", "pad_to_multiple_of", optional=True)
        if self.max_token_length is not None and self.max_token_length < 2:
            raise InvalidArgumentError(
                "max_token_length must be at least 2 bytes (tokens of one byte exist anyway)"
            )
        check_tokens(self.special_tokens, self.domain_tokens)
        if self.merge_budget < 0:
            raise InvalidArgumentError(
                f"vocab_size={self.vocab_size} is too small: the 256 bytes, {len(self.domain_tokens)} domain "
                f"and {len(self.special_tokens)} special tokens already take "
                f"{self.vocab_size - self.merge_budget} ids"
            )

    @property
    def merge_budget(self) -> int:
        """Number of tokens to learn."""
        return self.vocab_size - 256 - len(self.special_tokens) - len(self.domain_tokens)

    def count_tables(self) -> dict[str, tuple[PreTokenizerStep, ...]]:
        return {"subword": self.pretokenizer}

    @property
    def count_normalizers(self) -> tuple[str, ...]:
        return self.normalizers

    @property
    def excluded(self) -> tuple[str, ...]:
        return (*self.domain_tokens, *self.special_tokens)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in _FORMAT1_KEYS:
            value = self.algorithm if name == "algorithm" else getattr(self, name, _NEUTRAL.get(name))
            out[name] = _json_value(name, value)
        return out

    @classmethod
    def from_json(cls, data: Any) -> TrainConfig:
        mine = set(cls.option_names())
        for key, neutral in _NEUTRAL.items():
            if key in data and key not in mine and data[key] != neutral:
                raise InvalidArgumentError(f"{cls.algorithm} config has no {key} (got {data[key]!r})")
        return super().from_json({k: v for k, v in data.items() if k in mine or k not in _NEUTRAL})

    def check_counts(self, counts: Counts) -> None:
        for name, steps in self.count_tables().items():
            counts.table(name)  # raises a clear error when the table is missing
            if counts.pretokenizers[name] != steps:
                raise InvalidArgumentError(
                    f"the {name} pre-tokenizer differs from the one the counts were made with"
                )
        if counts.normalizers != self.normalizers:
            raise InvalidArgumentError(
                f"normalizers {self.normalizers} differ from the counts' {counts.normalizers}"
            )
        if counts.line_boundaries != self.line_boundaries:
            raise InvalidArgumentError(
                f"line_boundaries={self.line_boundaries} differs from the counts' ({counts.line_boundaries})"
            )
        missing = [t for t in self.domain_tokens if t not in counts.excluded]
        if missing:
            raise InvalidArgumentError(
                f"domain tokens {missing[:5]} were not excluded when these counts were made, so their text "
                "was counted as ordinary text; count again with the same domain tokens"
            )

    def fit(self, counts: Counts, run: Run) -> Fitted:
        return fit(self, counts, run)

    @classmethod
    def options_from_counts(cls, counts: Counts) -> dict[str, Any]:
        return {
            "pretokenizer": counts.pretokenizers.get("subword", ()),
            "normalizers": counts.normalizers,
            "line_boundaries": counts.line_boundaries,
        }


class MergeStage:
    """Result of one trainer run: merges, the new tokens and why it stopped (and, for SuperBPE's
    second stage, the priorities of the base merges it dropped)."""

    def __init__(
        self,
        merges: list[tuple[int, int, int, int]],
        new_vocab: dict[bytes, int],
        reason: str,
        dropped_base_merges: tuple[int, ...] = (),
        extra: dict[str, Any] | None = None,
    ):
        self.merges = merges
        self.new_vocab = new_vocab
        self.reason = reason
        self.dropped_base_merges = dropped_base_merges
        #: More keys for this stage's entry in the training metadata.
        self.extra = extra or {}

    @property
    def last_count(self) -> int | None:
        return self.merges[-1][3] if self.merges else None

    def describe(self, name: str) -> dict[str, Any]:
        out = {"name": name, "merges": len(self.merges), "learned": len(self.new_vocab), "stop": self.reason}
        return out | self.extra


def run_merges(
    counter: Any,
    *,
    base: tuple[list[tuple[bytes, int]], list[tuple[int, int]] | None, bool] | None,
    next_id: int,
    budget: int,
    min_frequency: int,
    max_token_length: int | None,
    max_token_chars: int | None,
    max_words: int | None = None,
    forbid_colon_space: bool = False,
    skip_existing: bool = False,
    drop_unseen_base_merges: bool = False,
    threads: int,
    progress: Progress,
    phase: str,
    keep_counts: bool,
) -> MergeStage:
    """Runs the Rust BPE trainer on one counts table: from the 256 bytes (``base=None``) or from
    an existing vocabulary and merges (SuperBPE's second stage, ``extend``)."""
    # The trainer takes the table over (no copy) unless the caller's Counts must stay usable.
    trainer = _core.CoreBpeTrainer(
        counter,
        base,
        next_id,
        budget,
        min_frequency,
        max_token_length,
        max_token_chars,
        max_words,
        forbid_colon_space,
        skip_existing,
        drop_unseen_base_merges,
        threads,
        keep_counts,
    )
    budget = trainer.max_new_tokens  # plus the ids freed by dropped base merges
    progress.start(phase, total=budget, unit="merges")
    while trainer.step(STEP_MERGES):
        progress.update(trainer.new_tokens)
    merges = trainer.merges()
    new_vocab: dict[bytes, int] = {}
    for _left, _right, token_id, _count in merges:
        if token_id >= next_id:
            new_vocab.setdefault(trainer.token_bytes(token_id), token_id)
    learned = trainer.new_tokens
    reason = "vocab_size" if learned >= budget else f"no pair left that occurs at least {min_frequency} times"
    progress.finish(learned, words=trainer.word_count)
    return MergeStage(merges, new_vocab, reason, tuple(trainer.dropped_base_merges))


def byte_stage(
    counter: Any,
    *,
    budget: int,
    min_frequency: int,
    max_token_length: int | None,
    max_token_chars: int | None,
    run: Run,
    phase: str,
    keep_counts: bool,
) -> MergeStage:
    """Merges from the 256 bytes (new ids from 256) on one counts table: BPE's and SuperBPE's
    first stage, the hybrid tokenizer's fallback."""
    return run_merges(
        counter,
        base=None,
        next_id=256,
        budget=budget,
        min_frequency=min_frequency,
        max_token_length=max_token_length,
        max_token_chars=max_token_chars,
        threads=run.threads,
        progress=run.progress,
        phase=phase,
        keep_counts=keep_counts,
    )


def first_stage(config: BpeConfig, counts: Counts, run: Run, budget: int) -> MergeStage:
    """Merges from the 256 bytes on the subword table."""
    return byte_stage(
        counts.table("subword"),
        budget=budget,
        min_frequency=config.min_frequency,
        max_token_length=config.max_token_length,
        max_token_chars=config.max_token_chars,
        run=run,
        phase="merge",
        keep_counts=run.keep_counts,
    )


def assemble(
    config: BpeConfig,
    run: Run,
    stages: list[MergeStage],
    names: list[str],
    final_steps: tuple[PreTokenizerStep, ...],
) -> Fitted:
    """The spec and training metadata of a BPE-family run from its merge stages: bytes, learned
    tokens, then domain, special and padding tokens."""
    vocab: dict[bytes, int] = {bytes([b]): b for b in range(256)}
    merges: list[tuple[int, int]] = []
    for stage in stages:
        vocab.update(stage.new_vocab)
        merges.extend((left, right) for left, right, _id, _count in stage.merges)
    learned = sum(len(s.new_vocab) for s in stages)
    next_id = 256 + learned
    added = [AddedToken(t, next_id + i, special=False) for i, t in enumerate(config.domain_tokens)]
    next_id += len(added)
    added += [AddedToken(t, next_id + i, special=True) for i, t in enumerate(config.special_tokens)]
    next_id += len(config.special_tokens)
    added += padding(next_id, next_id, config.pad_to_multiple_of, set(config.excluded))
    last = stages[-1]
    training = {
        "learned_tokens": learned,
        "merges": len(merges),
        "stop": last.reason,
        "last_merge_count": last.last_count,
        "stages": [s.describe(n) for s, n in zip(stages, names, strict=True)],
        "tie_break": TIE_BREAK,
        "line_boundaries": config.line_boundaries,
    }
    spec = TokenizerSpec(
        name=run.name,
        vocab=vocab,
        pre_tokenizer=final_steps,
        merges=tuple(merges),
        normalizers=config.normalizers,
        added_tokens=tuple(added),
        ignore_merges=False,
    )
    summary = f"trained {len(vocab)} model tokens ({learned} learned), {len(added)} added tokens"
    summary += f"; stop: {last.reason}"
    return Fitted(spec, training, summary)


def fit(config: BpeConfig, counts: Counts, run: Run) -> Fitted:
    stage = first_stage(config, counts, run, config.merge_budget)
    return assemble(config, run, [stage], ["subword"], config.pretokenizer)
