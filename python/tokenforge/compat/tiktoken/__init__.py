"""tiktoken's public API (0.14.0) on tokenforge's engine, for existing code to run unmodified.

``import tokenforge.compat.tiktoken as tiktoken`` gives the ``Encoding`` class, ``get_encoding``,
``list_encoding_names``, ``encoding_for_model`` and ``encoding_name_for_model`` with tiktoken's
signatures, results and exception types; ``tiktoken.core``, ``tiktoken.registry``,
``tiktoken.model`` and ``tiktoken.load`` exist as submodules. :func:`install` makes a plain
``import tiktoken`` (in code you do not control) resolve to this module. Vocabularies come from
tokenforge's offline cache (``tokenforge fetch``): nothing is downloaded.
"""

from __future__ import annotations

import sys

from . import core, load, model, registry
from .core import Encoding, UnknownModelError
from .model import encoding_for_model, encoding_name_for_model
from .registry import get_encoding, list_encoding_names

__all__ = [
    "Encoding",
    "UnknownModelError",
    "encoding_for_model",
    "encoding_name_for_model",
    "get_encoding",
    "install",
    "list_encoding_names",
]

#: The tiktoken release whose behaviour this module reproduces.
__version__ = "0.14.0"

_SUBMODULES = {"core": core, "load": load, "model": model, "registry": registry}


def install() -> None:
    """Makes ``import tiktoken`` (and ``tiktoken.core`` etc.) resolve to this module in this process.

    Call it before the code that imports tiktoken; an already imported real tiktoken is replaced
    in ``sys.modules`` (modules holding a reference to it keep using it).
    """
    this = sys.modules[__name__]
    sys.modules["tiktoken"] = this
    for name, module in _SUBMODULES.items():
        sys.modules[f"tiktoken.{name}"] = module
