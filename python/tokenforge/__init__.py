"""tokenforge: train, encode, evaluate and transplant tokenizers — exact, fast, offline, deterministic.

>>> import tokenforge
>>> enc = tokenforge.load("cl100k_base")          # doctest: +SKIP
>>> enc.encode("hello world")                     # doctest: +SKIP
[15339, 1917]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    CorpusError,
    DictionaryNotFoundError,
    FileAccessError,
    InvalidArgumentError,
    InvalidTokenIdError,
    InvalidVocabularyError,
    ModelFormatError,
    SpecialTokenError,
    TokenforgeError,
    UnsupportedModelError,
    UnsupportedTokenizerError,
    VocabularyNotFoundError,
)
from .formats.presets import PATTERNS
from .loader import load, load_tiktoken
from .tokenizer import OffsetEncoding, Tokenizer
from .train import Counts, count, extend, train, verify
from .vocab_sources import fetch

if TYPE_CHECKING:
    from . import adapt
    from .eval import evaluate

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Evaluation and adaptation need numpy and many modules of their own: imported on first use,
    # `import tokenforge` (paid by every CLI call) went from 0.27 s to 0.11 s (best of 8).
    if name == "adapt":
        return importlib.import_module(".adapt", __name__)
    if name == "evaluate":
        return importlib.import_module(".eval", __name__).evaluate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PATTERNS",
    "CorpusError",
    "Counts",
    "DictionaryNotFoundError",
    "FileAccessError",
    "InvalidArgumentError",
    "InvalidTokenIdError",
    "InvalidVocabularyError",
    "ModelFormatError",
    "OffsetEncoding",
    "SpecialTokenError",
    "TokenforgeError",
    "Tokenizer",
    "UnsupportedModelError",
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


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
