"""Tokenizer evaluation: intrinsic metrics, cross-lingual premiums, vocabulary categories,
morphology, a comparison of the vocabularies, vocabulary-size sweeps and a self-contained HTML
report.

>>> import tokenforge
>>> result = tokenforge.evaluate(["cl100k_base", "o200k_base"], ["udhr"])  # doctest: +SKIP
>>> print(result.to_markdown())                                             # doctest: +SKIP
"""

from __future__ import annotations

from .adapters import EvalTokenizer, resolve_tokenizer
from .compare import VocabularyComparison
from .corpora import Corpus, CorpusPart, load_corpus_file, resolve_corpus
from .result import EvalResult
from .runner import ALL_METRICS, DEFAULT_METRICS, evaluate

__all__ = [
    "ALL_METRICS",
    "DEFAULT_METRICS",
    "Corpus",
    "CorpusPart",
    "EvalResult",
    "EvalTokenizer",
    "VocabularyComparison",
    "evaluate",
    "load_corpus_file",
    "resolve_corpus",
    "resolve_tokenizer",
]
