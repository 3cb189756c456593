"""Training configuration: frozen dataclasses that serialise into the artifact's metadata, so a
tokenizer says exactly how it was made and ``tokenforge verify`` can check it.

Only options that change the result are recorded. Runtime knobs (threads, progress) are
arguments of :func:`tokenforge.train`, not fields here, because recording them would make two
identical tokenizers differ byte for byte.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InvalidArgumentError
from ..formats.presets import PATTERNS
from ..spec import ByteLevelStep, DigitsStep, PreTokenizerStep, SplitStep

__all__ = [
    "ALGORITHMS",
    "TRAIN_PATTERNS",
    "Algorithm",
    "TrainConfig",
    "resolve_pretokenizer",
    "steps_from_json",
    "steps_to_json",
]

Algorithm = Literal["bpe", "superbpe", "charbpe"]
ALGORITHMS: tuple[str, ...] = ("bpe", "superbpe", "charbpe")

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


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run produces.

    ``vocab_size`` counts every id: the 256 bytes, learned tokens, domain tokens and special tokens
    (padding then rounds the total up to ``pad_to_multiple_of``). ``transition`` (SuperBPE) is the
    number of stage-1 merges, the paper's *t*. Lengths: ``max_token_length`` in bytes (HF's
    meaning for byte-level models), ``max_token_chars`` in characters.
    """

    vocab_size: int
    algorithm: Algorithm = "bpe"
    pretokenizer: tuple[PreTokenizerStep, ...] = (SplitStep(PATTERNS["cl100k"]),)
    superword_pretokenizer: tuple[PreTokenizerStep, ...] | None = None
    transition: int | None = None
    special_tokens: tuple[str, ...] = ()
    domain_tokens: tuple[str, ...] = ()
    min_frequency: int = 2
    max_token_length: int | None = None
    max_token_chars: int | None = None
    max_words_per_token: int | None = None
    forbid_colon_space: bool = False
    normalizers: tuple[str, ...] = ()
    line_boundaries: bool = True
    pad_to_multiple_of: int | None = None
    max_memory: int | None = None
    field: str = "text"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise InvalidArgumentError(
                f"algorithm must be one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}"
            )
        for name, most in (("vocab_size", 2**32), ("min_frequency", 2**64 - 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")
            if value > most:
                raise InvalidArgumentError(
                    f"{name} must be at most {most:,} (ids and counts are 32/64-bit), got {value}"
                )
        for name in ("max_token_length", "max_token_chars", "max_words_per_token", "pad_to_multiple_of"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 2**32
            ):
                raise InvalidArgumentError(f"{name} must be an integer from 1 to 2^32 or None, got {value!r}")
        if self.max_token_length is not None and self.max_token_length < 2:
            raise InvalidArgumentError(
                "max_token_length must be at least 2 bytes (tokens of one byte exist anyway)"
            )
        if self.max_memory is not None and self.max_memory < 16 << 20:
            raise InvalidArgumentError(f"max_memory must be at least 16 MiB, got {self.max_memory} bytes")
        seen: set[str] = set()
        for token in (*self.special_tokens, *self.domain_tokens):
            if not isinstance(token, str) or not token:
                raise InvalidArgumentError(
                    f"special and domain tokens must be non-empty strings, got {token!r}"
                )
            if token in seen:
                raise InvalidArgumentError(f"token {token!r} is listed twice (special and domain tokens)")
            seen.add(token)
        if self.algorithm == "superbpe":
            if self.transition is None or self.transition < 1:
                raise InvalidArgumentError("superbpe needs transition >= 1 (the number of stage-1 merges)")
            if self.transition >= self.merge_budget:
                raise InvalidArgumentError(
                    f"transition ({self.transition}) must be below the number of learned tokens "
                    f"({self.merge_budget} for vocab_size={self.vocab_size}); "
                    "at or above it SuperBPE is plain BPE"
                )
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

    def to_json(self) -> dict[str, Any]:
        """The config as JSON data (pre-tokenizers as step lists, with the preset name when known)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("pretokenizer", "superword_pretokenizer"):
                if value is None:
                    out[f.name] = None
                    continue
                out[f.name] = {"preset": preset_name(value), "steps": steps_to_json(value)}
            elif isinstance(value, tuple):
                out[f.name] = list(value)
            elif isinstance(value, Mapping):
                out[f.name] = dict(value)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_json` (unknown keys are rejected, so a typo cannot pass silently)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InvalidArgumentError(f"unknown training config keys: {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("pretokenizer", "superword_pretokenizer"):
                kwargs[key] = None if value is None else steps_from_json(value["steps"])
            elif key in ("special_tokens", "domain_tokens", "normalizers"):
                kwargs[key] = tuple(value)
            else:
                kwargs[key] = value
        return cls(**kwargs)
