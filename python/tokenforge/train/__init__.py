"""Training: streaming, parallel, deterministic tokenizer trainers, one module per algorithm.

``tokenforge.train(...)`` (the function, re-exported at the top level) is the entry point; it
builds the algorithm's frozen config (:class:`BpeConfig`, :class:`SuperBpeConfig`,
:class:`CharBpeConfig`, :class:`UnigramConfig`, :class:`LibConfig`, :class:`HybridConfig`) and
runs the shared driver (:mod:`.driver`: corpus -> counts -> trainer -> frozen tokenizer +
metadata). This package also holds :func:`extend`, :func:`count`, :class:`Counts` (``.tfc``
files), the corpus readers and :func:`verify`. Import names from it with
``from tokenforge.train import Counts`` (the attribute ``tokenforge.train`` is the function).

Determinism: the same corpus and config give a byte-identical ``tokenizer.json`` whatever the
thread count, because counts are sums (order-free), pieces are sorted before training, and ties
between equally frequent pairs go to the smaller (left bytes, right bytes).
"""

from __future__ import annotations

from .api import ALGORITHMS, count, train
from .bpe import BpeConfig
from .charbpe import CharBpeConfig
from .config import TRAIN_PATTERNS, TrainConfig
from .continuation import extend
from .counts import Counts
from .export import save_tiktoken
from .hybrid import HybridConfig
from .lib import LibConfig
from .progress import Progress
from .selftest import VerifyReport, verify
from .superbpe import SuperBpeConfig
from .unigram import UnigramConfig

__all__ = [
    "ALGORITHMS",
    "TRAIN_PATTERNS",
    "BpeConfig",
    "CharBpeConfig",
    "Counts",
    "HybridConfig",
    "LibConfig",
    "Progress",
    "SuperBpeConfig",
    "TrainConfig",
    "UnigramConfig",
    "VerifyReport",
    "count",
    "extend",
    "save_tiktoken",
    "train",
    "verify",
]
