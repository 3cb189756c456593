"""The result of :func:`tokenforge.evaluate`: plain dataclasses with JSON, Markdown and HTML views.

Numbers that could not be computed are ``None`` with a reason in the ``notes`` of the same
record, so that a missing lexicon or a failed tokenizer is reported rather than shown as 0.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .compare import VocabularyComparison
from .premium import PremiumSpread

__all__ = [
    "CorpusInfo",
    "CorpusResult",
    "EvalResult",
    "Failure",
    "LanguageResult",
    "Sample",
    "TokenizerResult",
]


@dataclass
class LanguageResult:
    """One part (language) of a corpus encoded by one tokenizer."""

    key: str
    name: str
    script: str | None
    lang: str | None
    unit: str
    segments: int
    failed: int
    bytes: int
    chars: int
    tokens: int
    bytes_per_token: float | None
    chars_per_token: float | None
    fertility: float | None
    continued: float | None
    retention: float | None
    byte_fallback_rate: float | None
    unk_rate: float | None
    lossy_segments: int
    premium: float | None = None
    byte_premium: float | None = None
    morphology: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class CorpusResult:
    """One tokenizer on one corpus: corpus totals, then per-language rows."""

    tokenizer: str
    corpus: str
    segments: int
    failed: int
    bytes: int
    chars: int
    tokens: int
    bytes_per_token: float | None
    chars_per_token: float | None
    fertility: float | None
    fertility_unit: str
    continued: float | None
    retention: float | None
    types: int
    utilization: float | None
    renyi_efficiency: float | None
    renyi_alpha: float
    byte_fallback_rate: float | None
    unk_rate: float | None
    encode_seconds: float
    throughput_mb_s: float | None
    threads: int | None
    premium_reference: str | None = None
    premium: PremiumSpread | None = None
    languages: list[LanguageResult] = field(default_factory=list)
    language_shares: dict[str, dict[str, float]] = field(default_factory=dict)
    morphology: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class TokenizerResult:
    label: str
    name: str
    kind: str
    n_vocab: int | None = None
    vocab_size: int | None = None
    special_tokens: int | None = None
    load_seconds: float | None = None
    table_seconds: float | None = None
    categories: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class CorpusInfo:
    name: str
    description: str
    parallel: bool
    reference: str | None
    parts: int
    segments: int
    bytes: int
    kind: str


@dataclass
class Failure:
    """A tokenizer that could not be loaded, or failed on one segment of a corpus."""

    tokenizer: str
    error: str
    corpus: str | None = None
    part: str | None = None
    segment: int | None = None


@dataclass
class Sample:
    """A short text and how each tokenizer cut it: ``pieces[tokenizer]`` is a list of
    ``[display text, [ids], kind]`` where kind is ``"token"`` or ``"split"`` (several tokens that
    only together make whole characters)."""

    corpus: str
    part: str
    label: str
    text: str
    direction: str
    pieces: dict[str, list[list[Any]]]


# Display names and explanations of the summary columns, in order.
SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("tokens", "tokens", "tokens for the whole corpus (no special tokens)"),
    ("bytes_per_token", "bytes/token", "UTF-8 bytes per token (higher = more compression)"),
    ("chars_per_token", "chars/token", "code points per token"),
    ("fertility", "fertility", "tokens per word (per character for unspaced scripts), pooled"),
    ("continued", "continued", "share of words split into 2+ tokens"),
    ("utilization", "vocab used", "share of the vocabulary that occurs"),
    ("renyi_efficiency", "Rényi eff.", "Rényi efficiency H_α/log₂|V|"),
    ("byte_fallback_rate", "byte fallback", "share of tokens that are raw bytes / parts of characters"),
    ("premium_median", "premium median", "median token premium vs the reference language"),
    ("premium_max", "premium max", "largest premium"),
    ("premium_gini", "premium Gini", "Gini of premiums across languages (0 = equal)"),
    ("throughput_mb_s", "MB/s", "encode throughput, batch, wall clock"),
)


def _fmt(value: Any, key: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if key in ("continued", "utilization", "byte_fallback_rate", "unk_rate", "retention"):
            return f"{100 * value:.1f}%"
        if key == "throughput_mb_s":
            return f"{value:.1f}"
        return f"{value:.3f}"
    return str(value)


@dataclass
class EvalResult:
    """Everything :func:`tokenforge.evaluate` measured. ``to_json``, ``to_markdown`` and
    ``to_html`` render it; ``results`` holds one :class:`CorpusResult` per tokenizer and corpus."""

    tokenizers: list[TokenizerResult]
    corpora: list[CorpusInfo]
    results: list[CorpusResult]
    failures: list[Failure]
    samples: list[Sample]
    config: dict[str, Any]
    timing: dict[str, float]
    definitions: dict[str, str]
    #: With two or more tokenizers and the ``comparison`` metric group: their vocabularies compared.
    comparison: VocabularyComparison | None = None

    def result(self, tokenizer: str, corpus: str) -> CorpusResult:
        for r in self.results:
            if r.tokenizer == tokenizer and r.corpus == corpus:
                return r
        raise KeyError(f"no result for tokenizer {tokenizer!r} on corpus {corpus!r}")

    def summary_value(self, r: CorpusResult, key: str) -> Any:
        if key.startswith("premium_"):
            if r.premium is None:
                return None
            attr = {"max": "maximum", "min": "minimum"}.get(
                key.removeprefix("premium_"), key.removeprefix("premium_")
            )
            return getattr(r.premium, attr)
        return getattr(r, key)

    def summary_table(self) -> list[dict[str, Any]]:
        """One row per tokenizer and corpus with the summary columns (machine-readable)."""
        rows = []
        for r in self.results:
            row: dict[str, Any] = {"tokenizer": r.tokenizer, "corpus": r.corpus}
            for key, _label, _help in SUMMARY_COLUMNS:
                row[key] = self.summary_value(r, key)
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "timing": self.timing,
            "definitions": self.definitions,
            "tokenizers": [asdict(t) for t in self.tokenizers],
            "corpora": [asdict(c) for c in self.corpora],
            "summary": self.summary_table(),
            "results": [asdict(r) for r in self.results],
            "failures": [asdict(f) for f in self.failures],
            "samples": [asdict(s) for s in self.samples],
            "comparison": asdict(self.comparison) if self.comparison is not None else None,
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, allow_nan=False)

    def _columns(self) -> list[tuple[str, str, str]]:
        # Columns that are n/a for every row (premiums on a monolingual corpus) are left out.
        return [
            c for c in SUMMARY_COLUMNS if any(self.summary_value(r, c[0]) is not None for r in self.results)
        ]

    def to_markdown(self, languages: bool = True, max_languages: int = 400) -> str:
        """A Markdown report: summary table, per-language premiums, notes and failures."""
        out = ["# Tokenizer evaluation", ""]
        for c in self.corpora:
            kind = "parallel" if c.parallel else "monolingual"
            out.append(
                f"- corpus `{c.name}`: {c.description or kind}; {c.parts} parts, {c.segments:,} segments, "
                f"{c.bytes:,} bytes ({kind}{', reference ' + c.reference if c.reference else ''})"
            )
        out.append("")
        cols = self._columns()
        out.append("| tokenizer | corpus | " + " | ".join(label for _k, label, _h in cols) + " |")
        out.append("|---|---|" + "---:|" * len(cols))
        for r in self.results:
            cells = [_fmt(self.summary_value(r, k), k) for k, _l, _h in cols]
            out.append(f"| {r.tokenizer} | {r.corpus} | " + " | ".join(cells) + " |")
        out.append("")
        out.append("Columns: " + "; ".join(f"**{label}** = {h}" for _k, label, h in cols) + ".")
        if languages:
            for corpus in self.corpora:
                rows = [r for r in self.results if r.corpus == corpus.name]
                if not rows or not corpus.parallel or not any(r.premium for r in rows):
                    continue
                out += ["", f"## Token premium per language on `{corpus.name}` (vs `{corpus.reference}`)", ""]
                out.append("| language | script | unit | " + " | ".join(r.tokenizer for r in rows) + " |")
                out.append("|---|---|---|" + "---:|" * len(rows))
                by_key = [{lr.key: lr for lr in r.languages} for r in rows]
                keys = sorted(by_key[0], key=lambda k: -(by_key[0][k].premium or 0.0))[:max_languages]
                for key in keys:
                    first = by_key[0][key]
                    cells = [_fmt(b[key].premium) if key in b else "n/a" for b in by_key]
                    out.append(
                        f"| {first.name} (`{key}`) | {first.script or ''} | {first.unit} | "
                        + " | ".join(cells)
                        + " |"
                    )
        if self.comparison is not None:
            out += ["", *self.comparison.to_markdown()]
        morph = [r for r in self.results if r.morphology]
        if morph:
            out += ["", "## Morphology", ""]
            for r in morph:
                for key, value in r.morphology.items():
                    out.append(f"- {r.tokenizer} / {r.corpus} / {key}: {value}")
        notes = [(r.tokenizer, r.corpus, k, v) for r in self.results for k, v in r.notes.items()]
        if notes:
            out += ["", "## Notes", ""]
            out += [f"- {t} / {c}: {k}: {v}" for t, c, k, v in notes]
        if self.failures:
            out += ["", "## Failures", ""]
            for f in self.failures:
                where = "/".join(str(x) for x in (f.corpus, f.part, f.segment) if x is not None)
                out.append(f"- {f.tokenizer}{' on ' + where if where else ''}: {f.error}")
        out.append("")
        return "\n".join(out)

    def to_html(self) -> str:
        """A self-contained HTML report (inline CSS and SVG, no network access)."""
        from .report import render_html

        return render_html(self)
