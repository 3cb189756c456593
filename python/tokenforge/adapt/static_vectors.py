"""Static token vectors trained on target text: an auxiliary space for the ``focus`` method.

FOCUS (Dobler & de Melo 2023, METHODS §7.3) trains fastText on target text pre-tokenized with the new
tokenizer. This is a numpy-only stand-in with the same role: positive PMI of windowed token
co-occurrences, factorised by a randomized truncated SVD (Levy & Goldberg 2014 show the two families
are closely related). Deterministic given ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CorpusError, InvalidArgumentError

if TYPE_CHECKING:
    from ..tokenizer import Tokenizer

__all__ = ["cooccurrence_vectors"]


def cooccurrence_vectors(
    tokenizer: Tokenizer,
    texts: Iterable[str],
    *,
    dim: int = 100,
    window: int = 5,
    min_count: int = 3,
    max_context: int = 4096,
    seed: int = 0,
) -> np.ndarray:
    """One vector per id of ``tokenizer`` (shape ``(n_vocab, dim)``; all-zero rows for tokens seen
    fewer than ``min_count`` times, which ``focus`` treats as "no vector").

    ``M[w, c] = Σ 1/d`` over occurrences of context token ``c`` at distance ``d ≤ window`` of ``w``
    (contexts limited to the ``max_context`` most frequent tokens); ``PPMI = max(log(M·N / (n_w ·
    n_c^0.75 · Z)), 0)`` with context-distribution smoothing 0.75; vectors = ``U_k · √S_k`` of a
    randomized rank-``dim`` SVD.
    """
    if dim < 1 or window < 1 or min_count < 1 or max_context < 1:
        raise InvalidArgumentError("dim, window, min_count and max_context must be positive")
    docs = [d for d in texts if d]
    if not docs:
        raise CorpusError("cooccurrence_vectors needs at least one non-empty text")
    ids, offsets = tokenizer.encode_batch_to_numpy(docs, disallowed_special=())
    ids = ids.astype(np.int64)
    n_vocab = tokenizer.n_vocab
    counts = np.bincount(ids, minlength=n_vocab)
    rows_of = np.flatnonzero(counts >= min_count)
    if len(rows_of) == 0:
        raise CorpusError(f"no token occurs {min_count} times in the text; lower min_count or add text")
    row_index = np.full(n_vocab, -1, dtype=np.int64)
    row_index[rows_of] = np.arange(len(rows_of))
    order = np.argsort(-counts, kind="stable")[: min(max_context, int((counts > 0).sum()))]
    col_index = np.full(n_vocab, -1, dtype=np.int64)
    col_index[order] = np.arange(len(order))
    matrix = np.zeros((len(rows_of), len(order)), dtype=np.float64)
    doc_of = np.repeat(np.arange(len(docs)), np.diff(offsets.astype(np.int64)))
    for distance in range(1, window + 1):
        left, right = ids[:-distance], ids[distance:]
        same = doc_of[:-distance] == doc_of[distance:]
        for a, b in ((left, right), (right, left)):
            r, c = row_index[a], col_index[b]
            ok = same & (r >= 0) & (c >= 0)
            np.add.at(matrix, (r[ok], c[ok]), 1.0 / distance)
    total = matrix.sum()
    if total == 0:
        raise CorpusError("the text is too short for co-occurrence statistics")
    row_sum = matrix.sum(axis=1, keepdims=True)
    col_smooth = matrix.sum(axis=0, keepdims=True) ** 0.75
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(matrix * col_smooth.sum() / (row_sum * col_smooth))
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)
    rank = min(dim, *ppmi.shape)
    rng = np.random.default_rng(seed)
    probe = ppmi @ rng.standard_normal((ppmi.shape[1], min(rank + 10, ppmi.shape[1])))
    basis, _ = np.linalg.qr(probe)
    u_small, singular, _ = np.linalg.svd(basis.T @ ppmi, full_matrices=False)
    vectors = (basis @ u_small[:, :rank]) * np.sqrt(singular[:rank])
    out = np.zeros((n_vocab, dim), dtype=np.float32)
    out[rows_of, :rank] = vectors
    return out
