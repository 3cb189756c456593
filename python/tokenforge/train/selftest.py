"""Self-test samples stored in a trained tokenizer's metadata, and ``verify`` that replays them.

A sample is a text and the ids the tokenizer gave it when it was made. Replaying them catches a
file that was edited, a loader that reads it differently, or an engine change that alters ids.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidVocabularyError
from ..tokenizer import Tokenizer

__all__ = ["FIXED_SAMPLES", "VerifyReport", "make_self_test", "verify"]

#: Always included: ASCII prose, digits, punctuation runs, whitespace and newlines, several scripts.
FIXED_SAMPLES: tuple[str, ...] = (
    "Hello, world! The year 2025 had 365 days.",
    "  indented\tline\n\n\nand trailing spaces   \n",
    "déjà vu — naïve café; Ελληνικά, русский, 東京, 🙂 (emoji)",
    'key: value, x = f(a[1], "s") -> None',
)


def make_self_test(tokenizer: Tokenizer, samples: Iterable[str]) -> dict[str, Any]:
    """Encodes the fixed samples, the corpus samples and one text with every special and added
    token, with ``allowed_special="all"``."""
    texts: list[str] = list(FIXED_SAMPLES)
    texts.extend(s for s in samples if s not in texts)
    added = [t.content for t in tokenizer.spec.added_tokens]
    if added:
        texts.append(" x ".join(added[:8]))
    return {
        "allowed_special": "all",
        "samples": [{"text": t, "ids": tokenizer.encode(t, allowed_special="all")} for t in texts],
    }


@dataclass
class VerifyReport:
    """Outcome of :func:`verify`: per engine, the samples whose ids differ."""

    samples: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    engines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.samples > 0 and not self.failures


def verify(source: str | os.PathLike[str] | Tokenizer, *, hf: bool = False) -> VerifyReport:
    """Re-encodes the self-test samples of a trained tokenizer (a path or a loaded tokenizer) and
    compares ids. With ``hf=True`` the file is also loaded with HF ``tokenizers`` (a path is
    needed) and its ids are compared too."""
    from ..loader import load

    tok = source if isinstance(source, Tokenizer) else load(source)
    meta = tok.spec.metadata or {}
    test = meta.get("self_test") if isinstance(meta, dict) else None
    if not test or not test.get("samples"):
        raise InvalidVocabularyError(
            f"{source}: no tokenforge self-test samples in this tokenizer (only tokenizers trained or "
            "extended by tokenforge carry them)"
        )
    report = VerifyReport(samples=len(test["samples"]), engines=["tokenforge"])
    for i, sample in enumerate(test["samples"]):
        got = tok.encode(sample["text"], allowed_special="all")
        if got != sample["ids"]:
            report.failures.append(
                {"engine": "tokenforge", "sample": i, "expected": sample["ids"], "got": got}
            )
    if hf:
        if isinstance(source, Tokenizer):
            raise InvalidVocabularyError("verify(hf=True) needs the tokenizer.json path")
        import tokenizers

        path = os.fspath(source)
        if os.path.isdir(path):
            path = os.path.join(path, "tokenizer.json")
        hf_tok = tokenizers.Tokenizer.from_file(path)
        report.engines.append("tokenizers")
        for i, sample in enumerate(test["samples"]):
            got = hf_tok.encode(sample["text"], add_special_tokens=False).ids
            if got != sample["ids"]:
                report.failures.append(
                    {"engine": "tokenizers", "sample": i, "expected": sample["ids"], "got": got}
                )
    return report
