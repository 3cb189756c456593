"""Training configuration: the base of the per-algorithm frozen config dataclasses (one per module:
:mod:`.bpe`, :mod:`.charbpe`, :mod:`.superbpe`, :mod:`.unigram`, ...), which serialise into the
artifact's metadata so a tokenizer says exactly how it was made, plus the pre-tokenizer presets.

Only options that change the result are recorded. Runtime knobs (threads, progress) are
arguments of :func:`tokenforge.train`, not fields here, because recording them would make two
identical tokenizers differ byte for byte.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import InvalidArgumentError
from ..formats.presets import PATTERNS
from ..spec import ByteLevelStep, DigitsStep, PreTokenizerStep, SplitStep

if TYPE_CHECKING:
    from .counts import Counts
    from .driver import Fitted, Run

__all__ = [
    "TRAIN_PATTERNS",
    "TrainConfig",
    "check_positive",
    "resolve_pretokenizer",
    "steps_from_json",
    "steps_to_json",
]

#: Pre-tokenizer presets for training: the encoding presets plus SuperBPE's two stages
#: (PythonNut/superbpe, Nov 2025 recommendation). Stage 1 is o200k without the contraction
#: suffixes; stage 2 ("superword") isolates only digit groups, runs of two or more punctuation
#: marks and trailing spaces, so words and single punctuation marks may join into superwords.
TRAIN_PATTERNS: dict[str, str] = {
    **PATTERNS,
    "superbpe_stage1": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
    "superword": r"""\p{N}{1,3}| ?[^\s\p{L}\p{N}]{2,}[\r\n/]*| +(?!\S)""",
}

PreTokenizerArg = str | Sequence[PreTokenizerStep]


def resolve_pretokenizer(value: PreTokenizerArg) -> tuple[PreTokenizerStep, ...]:
    """A preset name (``cl100k``, ``o200k``, ``gpt2``, ``llama3``, ``qwen2``, ``superbpe_stage1``,
    ``superword``), a regex (one isolated split, tiktoken style) or a sequence of steps."""
    if isinstance(value, str):
        pattern = TRAIN_PATTERNS.get(value, value)
        if pattern == value and value.isidentifier() and value not in TRAIN_PATTERNS:
            raise InvalidArgumentError(
                f"unknown pre-tokenizer preset {value!r} (presets: {', '.join(TRAIN_PATTERNS)}); "
                "a regex is accepted too"
            )
        return (SplitStep(pattern),)
    steps = tuple(value)
    for step in steps:
        if not isinstance(step, SplitStep | ByteLevelStep | DigitsStep):
            raise InvalidArgumentError(f"not a pre-tokenizer step: {step!r}")
    return steps


def steps_to_json(steps: Sequence[PreTokenizerStep]) -> list[dict[str, Any]]:
    """Steps as plain JSON data (for metadata and counts-file headers)."""
    out: list[dict[str, Any]] = []
    for step in steps:
        if isinstance(step, SplitStep):
            out.append(
                {"type": "split", "pattern": step.pattern, "behavior": step.behavior, "invert": step.invert}
            )
        elif isinstance(step, ByteLevelStep):
            out.append(
                {"type": "byte_level", "add_prefix_space": step.add_prefix_space, "use_regex": step.use_regex}
            )
        else:
            out.append({"type": "digits", "individual": step.individual})
    return out


def steps_from_json(data: Sequence[Mapping[str, Any]]) -> tuple[PreTokenizerStep, ...]:
    """Inverse of :func:`steps_to_json`."""
    steps: list[PreTokenizerStep] = []
    for item in data:
        kind = item.get("type")
        if kind == "split":
            steps.append(
                SplitStep(str(item["pattern"]), item.get("behavior", "isolated"), bool(item.get("invert")))
            )
        elif kind == "byte_level":
            steps.append(ByteLevelStep(bool(item.get("add_prefix_space")), bool(item.get("use_regex", True))))
        elif kind == "digits":
            steps.append(DigitsStep(bool(item.get("individual"))))
        else:
            raise InvalidArgumentError(f"unknown pre-tokenizer step {item!r}")
    return tuple(steps)


def preset_name(steps: Sequence[PreTokenizerStep]) -> str | None:
    """The preset name of a single-regex pre-tokenizer, if it is one."""
    if len(steps) == 1 and isinstance(steps[0], SplitStep) and steps[0].behavior == "isolated":
        for name, pattern in TRAIN_PATTERNS.items():
            if pattern == steps[0].pattern and not steps[0].invert:
                return name
    return None


def check_positive(config: object, *names: str, optional: bool = False) -> None:
    """Raises unless each named field is an int from 1 to 2^32 (or None when ``optional``): the
    engine's ids and lengths are 32-bit, and a larger value (``vocab_size=10**30``) overflowed."""
    for name in names:
        value = getattr(config, name)
        if optional and value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 2**32:
            what = "an integer from 1 to 2^32" + (" or None" if optional else "")
            raise InvalidArgumentError(f"{name} must be {what}, got {value!r}")


def check_tokens(*groups: Sequence[str]) -> None:
    """Special/domain/user-defined tokens: non-empty strings, none listed twice."""
    seen: set[str] = set()
    for token in (t for group in groups for t in group):
        if not isinstance(token, str) or not token:
            raise InvalidArgumentError(f"special and domain tokens must be non-empty strings, got {token!r}")
        if token in seen:
            raise InvalidArgumentError(f"token {token!r} is listed twice (special and domain tokens)")
        seen.add(token)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Base of the per-algorithm configs: everything that decides what a training run produces.

    Each algorithm module defines a subclass with its ``algorithm`` name and registers it, so
    :meth:`from_json` can rebuild the right class from an artifact's metadata. Subclasses convert
    friendly argument forms (a preset name for a pre-tokenizer, lists for tuples) in
    ``__post_init__`` and fill defaults that depend on other fields, so a config always records
    the values that were actually used.
    """

    algorithm: ClassVar[str]
    registry: ClassVar[dict[str, type[TrainConfig]]] = {}

    vocab_size: int
    #: Every line is a hard boundary for pieces (as when HF trains on files) unless False.
    line_boundaries: bool = True
    #: Cap in bytes for the counting tables (rare pieces are pruned to stay under it).
    max_memory: int | None = None
    #: Text field of ``.jsonl`` records.
    field: str = "text"

    def __post_init__(self) -> None:
        check_positive(self, "vocab_size")
        if self.max_memory is not None and self.max_memory < 16 << 20:
            raise InvalidArgumentError(f"max_memory must be at least 16 MiB, got {self.max_memory} bytes")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "algorithm" in cls.__dict__:
            TrainConfig.registry[cls.algorithm] = cls

    # ------------------------------------------------------------------ what the driver needs

    def count_tables(self) -> dict[str, tuple[PreTokenizerStep, ...]]:
        """The piece tables to count (name -> pre-tokenizer); one corpus pass fills them all."""
        raise NotImplementedError

    @property
    def count_normalizers(self) -> tuple[str, ...]:
        return ()

    @property
    def excluded(self) -> tuple[str, ...]:
        """Strings cut out of the text before counting (they become their own tokens)."""
        return ()

    def fit(self, counts: Counts, run: Run) -> Fitted:
        """Trains on ``counts`` (the tables :meth:`count_tables` names)."""
        raise NotImplementedError

    def check_counts(self, counts: Counts) -> None:
        """Raises unless counts made elsewhere were made the way this config counts."""
        raise NotImplementedError

    @classmethod
    def options_from_counts(cls, counts: Counts) -> dict[str, Any]:
        """The options a run from ``counts`` inherits when the caller does not give them."""
        return {}

    # ------------------------------------------------------------------ serialisation

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_json(self) -> dict[str, Any]:
        """The config as JSON data: ``vocab_size``, ``algorithm``, then the other fields."""
        out: dict[str, Any] = {"vocab_size": self.vocab_size, "algorithm": self.algorithm}
        for name in self.option_names():
            if name != "vocab_size":
                out[name] = _json_value(name, getattr(self, name))
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_json`, dispatching on ``algorithm`` when called on the base class
        (unknown keys are rejected, so a typo cannot pass silently)."""
        if cls is TrainConfig:
            algorithm = data.get("algorithm", "bpe")
            if algorithm not in TrainConfig.registry:
                raise InvalidArgumentError(
                    f"unknown training algorithm {algorithm!r} (known: {', '.join(TrainConfig.registry)})"
                )
            return TrainConfig.registry[algorithm].from_json(data)
        kwargs = {k: v for k, v in data.items() if k != "algorithm"}
        unknown = set(kwargs) - set(cls.option_names())
        if unknown:
            raise InvalidArgumentError(f"unknown {cls.algorithm} config keys: {', '.join(sorted(unknown))}")
        return cls(**{k: _from_json_value(k, v) for k, v in kwargs.items()})


_STEP_FIELDS = ("pretokenizer", "superword_pretokenizer")


def _json_value(name: str, value: Any) -> Any:
    if name in _STEP_FIELDS:
        return None if value is None else {"preset": preset_name(value), "steps": steps_to_json(value)}
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _from_json_value(name: str, value: Any) -> Any:
    if name in _STEP_FIELDS:
        return None if value is None else steps_from_json(value["steps"])
    if isinstance(value, list):
        return tuple(value)
    return value
