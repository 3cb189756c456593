"""Token premiums on parallel text and their spread across languages.

Petrov, La Malfa, Torr, Bibi (2023), "Language Model Tokenizers Introduce Unfairness Between
Languages" (NeurIPS): the premium of language A relative to a reference B (English) is

    premium_A = |tok(S_A)| / |tok(S_B)|

over parallel text S, as a ratio of **corpus totals** (not a mean of per-sentence ratios). Only
segments present in both languages (and encoded without error) are counted. Like Petrov et al.,
a premium is left out when more than 10% of the language's tokens are unknown tokens.
tokenforge encodes each aligned segment separately (no BOS/EOS) and sums the counts, where
Petrov et al. join a language's sentences with spaces and encode once; the difference is a few
tokens at segment edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["UNK_LIMIT", "PremiumSpread", "gini", "premiums", "spread"]

UNK_LIMIT = 0.10


def premiums(
    counts: Mapping[str, Sequence[int | None]],
    reference: str,
    unk_rates: Mapping[str, float | None] | None = None,
) -> dict[str, float | None]:
    """Premium of every part relative to ``reference``.

    ``counts[key][i]`` is the token count of aligned segment ``i`` in part ``key`` (None when the
    part lacks the segment or encoding failed). The result maps each key to
    Σ_i tokens_key[i] / Σ_i tokens_ref[i] over the segments both have; None when they share
    none, the reference total is 0, or the part's unknown-token rate exceeds :data:`UNK_LIMIT`.
    """
    ref = counts[reference]
    out: dict[str, float | None] = {}
    for key, seq in counts.items():
        if len(seq) != len(ref):
            raise ValueError(f"part {key!r} has {len(seq)} segments, the reference has {len(ref)}")
        num = den = 0
        for a, b in zip(seq, ref, strict=True):
            if a is not None and b is not None:
                num += a
                den += b
        rate = (unk_rates or {}).get(key)
        out[key] = num / den if den and (rate is None or rate <= UNK_LIMIT) else None
    return out


def gini(values: Sequence[float]) -> float | None:
    """Gini coefficient Σ_i Σ_j |c_i − c_j| / (2 n² μ), as the "Tokenizer Fairness Gini" of
    TokEval (swiss-ai/tokenizer-intrinsic-evals) applied to per-language costs; 0 = every
    language costs the same, values near 1 = a few languages carry all the cost."""
    c = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if c.size == 0 or c.mean() == 0:
        return None
    diffs = np.abs(c[:, None] - c[None, :]).sum()
    return float(diffs / (2 * c.size**2 * c.mean()))


@dataclass(frozen=True)
class PremiumSpread:
    """Summary of the premiums of one tokenizer over the languages of one parallel corpus."""

    languages: int
    mean: float
    median: float
    minimum: float
    maximum: float
    std: float
    gini: float | None
    worst: str
    best: str


def spread(values: Mapping[str, float | None]) -> PremiumSpread | None:
    """Mean, median, range, standard deviation and Gini of the available premiums."""
    items = [(k, v) for k, v in values.items() if v is not None]
    if not items:
        return None
    arr = np.asarray([v for _, v in items], dtype=np.float64)
    worst = max(items, key=lambda kv: kv[1])[0]
    best = min(items, key=lambda kv: kv[1])[0]
    return PremiumSpread(
        languages=len(items),
        mean=float(arr.mean()),
        median=float(np.median(arr)),
        minimum=float(arr.min()),
        maximum=float(arr.max()),
        std=float(arr.std()),
        gini=gini(arr.tolist()),
        worst=worst,
        best=best,
    )
