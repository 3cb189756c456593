"""Scaling out on Ray: counting (then training) and corpus encoding over a cluster.

``tokenforge.train(..., engine="ray")``, ``tokenforge.count(..., engine="ray")`` and
:func:`encode_on_ray` (CLI: ``--ray [ADDRESS]`` on ``count``, ``train``, ``extend`` and ``encode``)
cut the input files into byte ranges (:mod:`.plan`), run one Ray task per range on the existing
counter or encoder, and merge the results: counts as a tree of ``.tfc`` merges, shards into one
index. The artifacts are the local engine's, byte for byte. Ray is an optional extra
(``pip install 'tokenforge[ray]'``), imported only when a Ray engine runs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from .engine import EngineArg, RayEngine, resolve_engine

__all__ = ["EngineArg", "RayEngine", "counter_for", "encode_on_ray", "resolve_engine"]


def counter_for(engine: EngineArg) -> Callable[..., Any]:
    """The counting function of an engine, with :func:`~tokenforge.train.counts.count_corpus`'s
    signature (the training drivers' only contact with this package)."""
    resolved = resolve_engine(engine)
    if resolved is None:
        from ..train.counts import count_corpus

        return count_corpus
    from .count import count_on_ray

    return partial(count_on_ray, resolved)


def __getattr__(name: str) -> Any:
    if name == "encode_on_ray":
        from .encode import encode_on_ray

        return encode_on_ray
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
