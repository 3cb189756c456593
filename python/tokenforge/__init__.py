"""tokenforge: train, encode, evaluate and transplant tokenizers — exact, fast, offline, deterministic.

>>> import tokenforge
>>> enc = tokenforge.load("cl100k_base")          # doctest: +SKIP
>>> enc.encode("hello world")                     # doctest: +SKIP
[15339, 1917]
"""

from __future__ import annotations

from . import adapt
from .errors import (
    CorpusError,
    InvalidArgumentError,
    InvalidTokenIdError,
    InvalidVocabularyError,
    ModelFormatError,
    SpecialTokenError,
    TokenforgeError,
    UnsupportedTokenizerError,
    VocabularyNotFoundError,
)
from .eval import evaluate
from .formats.presets import PATTERNS
from .loader import load, load_tiktoken
from .tokenizer import Tokenizer
from .train import Counts, count, extend, train, verify
from .vocab_sources import fetch

__version__ = "0.1.0"

__all__ = [
    "PATTERNS",
    "CorpusError",
    "Counts",
    "InvalidArgumentError",
    "InvalidTokenIdError",
    "InvalidVocabularyError",
    "ModelFormatError",
    "SpecialTokenError",
    "TokenforgeError",
    "Tokenizer",
    "UnsupportedTokenizerError",
    "VocabularyNotFoundError",
    "__version__",
    "adapt",
    "count",
    "evaluate",
    "extend",
    "fetch",
    "load",
    "load_tiktoken",
    "train",
    "verify",
]
