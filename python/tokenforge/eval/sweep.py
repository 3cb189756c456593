"""Vocabulary-size sweeps: train at several sizes, measure per-language cost, find the size at
which each language reaches a target.

The procedure follows METHODS.md §2.2 after Arnett, Chang, Biderman, Bergen (2025, "Explaining
and Mitigating Crosslingual Tokenizer Inequities"): for each vocabulary size V, train a
tokenizer, measure the corpus token count CTC_ℓ(V) of every language ℓ on parallel text, fit
CTC_ℓ(V) ≈ a_ℓ + b_ℓ·log V by least squares, and solve for the V*_ℓ at which CTC_ℓ reaches a
common target: ``target_premium`` × the reference language's CTC at ``reference_vocab``
(default: the largest size of the sweep). V*_ℓ outside the swept range is an extrapolation and is
flagged as such; a language whose count does not fall with V has no V*.

Training is not done here: the sweep takes ``train_fn(texts, vocab_size) -> tokenizer``, so any
trainer (tokenforge's, HF ``tokenizers``, SentencePiece's, whose ``.model`` file
:func:`tokenforge.load` reads) can be swept. With
``per_language=True`` one tokenizer is trained per language and size (Arnett et al.'s
monolingual setting); otherwise one tokenizer per size on all languages.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from .adapters import EvalTokenizer
from .corpora import Corpus, resolve_corpus

__all__ = ["SweepResult", "TrainFn", "fit_log_curve", "parse_vocab_sizes", "sweep"]

TrainFn = Callable[[Sequence[str], int], EvalTokenizer]


def parse_vocab_sizes(text: str) -> list[int]:
    """``"8k,16k,32000"`` → ``[8000, 16000, 32000]`` (``k`` = 1000, ``Ki`` = 1024)."""
    sizes = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece:
            continue
        lower = piece.lower()
        try:
            if lower.endswith("ki"):
                value = int(float(lower[:-2]) * 1024)
            elif lower.endswith("k"):
                value = int(float(lower[:-1]) * 1000)
            else:
                value = int(lower)
        except ValueError:
            raise InvalidArgumentError(
                f"not a vocabulary size: {piece!r} (write e.g. 8k,16k,32000)"
            ) from None
        if value < 2:
            raise InvalidArgumentError(f"vocabulary size must be at least 2, got {piece!r}")
        sizes.append(value)
    if not sizes:
        raise InvalidArgumentError("no vocabulary sizes given")
    return sorted(set(sizes))


def fit_log_curve(sizes: Sequence[int], counts: Sequence[float | None]) -> tuple[float, float] | None:
    """Least-squares (a, b) of counts ≈ a + b·ln(V); None with fewer than two points."""
    pts = [(math.log(v), c) for v, c in zip(sizes, counts, strict=True) if c is not None]
    if len(pts) < 2 or len({x for x, _c in pts}) < 2:
        return None
    x = np.asarray([p[0] for p in pts])
    y = np.asarray([p[1] for p in pts], dtype=np.float64)
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


@dataclass
class SweepResult:
    """Per-language curves over vocabulary sizes and the size that reaches the target."""

    corpus: str
    reference: str | None
    vocab_sizes: list[int]
    per_language: bool
    tokens: dict[str, list[int | None]]
    bytes_per_token: dict[str, list[float | None]]
    premiums: dict[str, list[float | None]]
    target_tokens: float | None
    target_premium: float
    reference_vocab: int | None
    fits: dict[str, tuple[float, float] | None]
    optimal_vocab: dict[str, float | None]
    extrapolated: dict[str, bool]
    names: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    def to_markdown(self) -> str:
        head = "| language | " + " | ".join(f"premium @{v:,}" for v in self.vocab_sizes) + " | V* |"
        out = [
            f"# Vocabulary-size sweep on `{self.corpus}`",
            "",
            f"Target: {self.target_premium:g} × the tokens of `{self.reference}` "
            f"at V = {self.reference_vocab}"
            + (f" ({self.target_tokens:,.0f} tokens)" if self.target_tokens else ""),
            "",
            head,
            "|---|" + "---:|" * (len(self.vocab_sizes) + 1),
        ]
        for key, prem in self.premiums.items():
            cells = [f"{p:.3f}" if p is not None else "n/a" for p in prem]
            v = self.optimal_vocab.get(key)
            star = (
                "n/a"
                if v is None
                else f"{v:,.0f}" + (" (extrapolated)" if self.extrapolated.get(key) else "")
            )
            out.append(f"| {self.names.get(key, key)} | " + " | ".join(cells) + f" | {star} |")
        if self.failures:
            out += ["", "Failures:", *[f"- {f}" for f in self.failures]]
        return "\n".join(out) + "\n"

    def to_html(self) -> str:
        from .report import page
        from .report.svg import scatter

        compression = [
            (self.names.get(k, k), [(float(v), b) for v, b in zip(self.vocab_sizes, vals, strict=True) if b])
            for k, vals in self.bytes_per_token.items()
        ]
        prem = [
            (self.names.get(k, k), [(float(v), p) for v, p in zip(self.vocab_sizes, vals, strict=True) if p])
            for k, vals in self.premiums.items()
        ]
        body = (
            f"<h1>Vocabulary-size sweep</h1><pre>{self.to_markdown()}</pre>"
            "<h2>Compression against vocabulary size</h2>"
            + scatter(compression, x_label="vocabulary size", y_label="bytes per token", lines=True)
            + "<h2>Premium against vocabulary size</h2>"
            + scatter(prem, x_label="vocabulary size", y_label="premium", lines=True)
        )
        return page("tokenforge sweep", body)


def _count(tok: EvalTokenizer, texts: Sequence[str | None]) -> list[int | None]:
    present = [t for t in texts if t is not None]
    encoded = iter(tok.encode_ordinary_batch(present))
    return [None if t is None else len(next(encoded)) for t in texts]


def sweep(
    train_fn: TrainFn,
    corpus: str | os.PathLike[str] | Corpus = "udhr",
    vocab_sizes: Sequence[int] | str = (8000, 16000, 32000, 64000),
    *,
    train_texts: Sequence[str] | None = None,
    per_language: bool = False,
    reference: str | None = None,
    reference_vocab: int | None = None,
    target_premium: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> SweepResult:
    """Trains with ``train_fn`` at each size and measures every language of ``corpus``.

    ``train_texts`` defaults to the corpus itself (all languages; or each language's own text
    with ``per_language=True``). The corpus should be parallel with a reference part for
    premiums and V*; on a monolingual corpus only the compression curves are filled.
    """
    say = progress or (lambda _msg: None)
    sizes = parse_vocab_sizes(vocab_sizes) if isinstance(vocab_sizes, str) else sorted(set(vocab_sizes))
    if not sizes:
        raise InvalidArgumentError("no vocabulary sizes given")
    data = resolve_corpus(corpus, reference=reference)
    ref = reference or data.reference
    if reference_vocab is not None and reference_vocab not in sizes:
        raise InvalidArgumentError(f"reference_vocab {reference_vocab} is not one of the sizes {sizes}")
    ref_vocab = reference_vocab or sizes[-1]
    keys = [p.key for p in data.parts]
    tokens: dict[str, list[int | None]] = {k: [] for k in keys}
    bpt: dict[str, list[float | None]] = {k: [] for k in keys}
    seg_counts: dict[str, list[list[int | None]]] = {k: [] for k in keys}
    failures: list[str] = []
    for size in sizes:
        if per_language:
            trained = {}
            for part in data.parts:
                texts = [t for t in part.texts if t]
                say(f"training {part.key} at V={size}")
                try:
                    trained[part.key] = train_fn(texts, size)
                except Exception as exc:
                    failures.append(f"{part.key} at V={size}: {type(exc).__name__}: {exc}")
        else:
            texts = (
                list(train_texts)
                if train_texts is not None
                else [t for p in data.parts for t in p.texts if t]
            )
            say(f"training at V={size} on {len(texts):,} texts")
            try:
                shared = train_fn(texts, size)
                trained = {k: shared for k in keys}
            except Exception as exc:
                failures.append(f"V={size}: {type(exc).__name__}: {exc}")
                trained = {}
        for part in data.parts:
            tok = trained.get(part.key)
            counts: list[int | None] = [None] * len(part.texts)
            if tok is not None:
                try:
                    counts = _count(tok, part.texts)
                except Exception as exc:
                    failures.append(f"{part.key} at V={size}: encoding failed: {type(exc).__name__}: {exc}")
            seg_counts[part.key].append(counts)
            total = sum(c for c in counts if c is not None) if any(c is not None for c in counts) else None
            tokens[part.key].append(total)
            n_bytes = sum(
                len(t.encode("utf-8")) for t, c in zip(part.texts, counts, strict=True) if t and c is not None
            )
            bpt[part.key].append(n_bytes / total if total else None)

    prem: dict[str, list[float | None]] = {k: [None] * len(sizes) for k in keys}
    fits: dict[str, tuple[float, float] | None] = {}
    optimal: dict[str, float | None] = {}
    extrapolated: dict[str, bool] = {}
    target = None
    if data.parallel and ref in tokens:
        from .premium import premiums

        for j in range(len(sizes)):
            values = premiums({k: seg_counts[k][j] for k in keys}, ref)
            for k in keys:
                prem[k][j] = values[k]
        ref_total = tokens[ref][sizes.index(ref_vocab)]
        target = target_premium * ref_total if ref_total else None
    for k in keys:
        fit = fit_log_curve(sizes, tokens[k])
        fits[k] = fit
        v_star = None
        if fit is not None and target is not None and fit[1] < 0:
            v_star = math.exp((target - fit[0]) / fit[1])
            if not math.isfinite(v_star):
                v_star = None
        optimal[k] = v_star
        extrapolated[k] = v_star is not None and not (sizes[0] <= v_star <= sizes[-1])
    return SweepResult(
        corpus=data.name,
        reference=ref,
        vocab_sizes=sizes,
        per_language=per_language,
        tokens=tokens,
        bytes_per_token=bpt,
        premiums=prem,
        target_tokens=target,
        target_premium=target_premium,
        reference_vocab=ref_vocab,
        fits=fits,
        optimal_vocab=optimal,
        extrapolated=extrapolated,
        names={p.key: p.label for p in data.parts},
        failures=failures,
    )
