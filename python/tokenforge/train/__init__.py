"""Training: streaming, parallel, deterministic byte-level BPE, SuperBPE and character-level BPE.

``tokenforge.train(...)`` (the function, re-exported at the top level) is the entry point; this
package also holds :func:`extend`, :func:`count`, :class:`Counts` (``.tfc`` files),
:class:`TrainConfig`, the corpus readers and :func:`verify`. Import names from it with
``from tokenforge.train import Counts`` (the attribute ``tokenforge.train`` is the function).

Determinism: the same corpus and config give a byte-identical ``tokenizer.json`` whatever the
thread count, because counts are sums (order-free), pieces are sorted before training, and ties
between equally frequent pairs go to the smaller (left bytes, right bytes).
"""

from __future__ import annotations

from .config import TRAIN_PATTERNS, TrainConfig
from .counts import Counts
from .drivers import count, extend, train
from .export import save_tiktoken
from .progress import Progress
from .selftest import VerifyReport, verify

__all__ = [
    "TRAIN_PATTERNS",
    "Counts",
    "Progress",
    "TrainConfig",
    "VerifyReport",
    "count",
    "extend",
    "save_tiktoken",
    "train",
    "verify",
]
