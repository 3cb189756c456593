"""The scorer protocol: what :mod:`tokenforge.lm` needs from a language model.

A scorer maps a batch of token-id prefixes to next-token log-probabilities. Prefixes hold the ids
*after* the start of the sequence: a scorer adds its own beginning-of-sequence context (a BOS id, or the
bigram model's start row), so the empty prefix asks for the distribution of the first token.

Two adapters: :class:`BigramScorer` (numpy, exact and fast, for tests and examples) and
:class:`TransformersScorer` (a ``transformers`` causal LM; torch is imported only when it is built).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InvalidArgumentError, InvalidTokenIdError

__all__ = ["BigramScorer", "Scorer", "TransformersScorer", "score_and_next", "sequence_logprobs"]

Prefix = Sequence[int]


@runtime_checkable
class Scorer(Protocol):
    """``scorer(prefixes)`` → ``float`` array of shape ``(len(prefixes), n_vocab)``: row ``i`` is
    ``log P(next token | prefixes[i])``. ``n_vocab`` may exceed the tokenizer's (padded matrices)."""

    n_vocab: int

    def __call__(self, prefixes: Sequence[Prefix]) -> np.ndarray: ...


def sequence_logprobs(scorer: Scorer, sequences: Sequence[Prefix]) -> list[np.ndarray]:
    """``log P(seq[i] | seq[:i])`` for every position of every sequence.

    Uses the scorer's ``score_tokens`` when it has one (one forward pass per sequence instead of one
    per prefix); otherwise asks for every prefix in one batch.
    """
    fast = getattr(scorer, "score_tokens", None)
    if fast is not None:
        return list(fast(sequences))
    prefixes = [tuple(seq[:i]) for seq in sequences for i in range(len(seq))]
    rows = scorer(prefixes) if prefixes else np.zeros((0, scorer.n_vocab))
    out, at = [], 0
    for seq in sequences:
        n = len(seq)
        out.append(rows[np.arange(at, at + n), np.asarray(seq, dtype=np.int64)] if n else np.zeros(0))
        at += n
    return out


def score_and_next(scorer: Scorer, sequences: Sequence[Prefix]) -> tuple[list[np.ndarray], np.ndarray]:
    """:func:`sequence_logprobs` of the sequences and the next-token rows after each of them, in one
    pass when the scorer has ``score_and_next`` (a causal LM computes both in the same forward)."""
    fast = getattr(scorer, "score_and_next", None)
    if fast is not None:
        scored, rows = fast(sequences)
        return list(scored), rows
    return sequence_logprobs(scorer, sequences), scorer([tuple(s) for s in sequences])


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class BigramScorer:
    """A bigram language model in numpy: ``P(next | prefix)`` depends on the last id only.

    ``logits`` has shape ``(n_vocab + 1, n_vocab)``; row ``n_vocab`` is the start-of-sequence row.
    """

    def __init__(self, logits: np.ndarray) -> None:
        logits = np.asarray(logits, dtype=np.float64)
        if logits.ndim != 2 or logits.shape[0] != logits.shape[1] + 1:
            raise InvalidArgumentError(
                f"bigram logits must have shape (n_vocab + 1, n_vocab) (the last row starts a sequence), "
                f"got {logits.shape}"
            )
        self.n_vocab = logits.shape[1]
        self._table = _log_softmax(logits)

    @classmethod
    def random(cls, n_vocab: int, seed: int = 0, temperature: float = 1.0) -> BigramScorer:
        """Random logits ``N(0, 1) / temperature`` (lower temperature: peakier distributions)."""
        rng = np.random.default_rng(seed)
        return cls(rng.standard_normal((n_vocab + 1, n_vocab)) / temperature)

    @classmethod
    def fit(cls, sequences: Sequence[Prefix], n_vocab: int, smoothing: float = 0.1) -> BigramScorer:
        """Maximum-likelihood bigram counts over ``sequences`` with additive ``smoothing``."""
        counts = np.full((n_vocab + 1, n_vocab), float(smoothing))
        for seq in sequences:
            ids = np.asarray(seq, dtype=np.int64)
            if ids.size and (ids.min() < 0 or ids.max() >= n_vocab):
                raise InvalidTokenIdError(f"a sequence holds an id outside 0..{n_vocab - 1}")
            prev = np.concatenate([[n_vocab], ids[:-1]]) if ids.size else ids
            np.add.at(counts, (prev, ids), 1.0)
        return cls(np.log(counts))

    def __call__(self, prefixes: Sequence[Prefix]) -> np.ndarray:
        last = np.array([p[-1] if len(p) else self.n_vocab for p in prefixes], dtype=np.int64)
        if last.size and (last.min() < 0 or last.max() > self.n_vocab):
            raise InvalidTokenIdError(f"a prefix ends with an id outside 0..{self.n_vocab - 1}")
        return self._table[last]

    def score_tokens(self, sequences: Sequence[Prefix]) -> list[np.ndarray]:
        out = []
        for seq in sequences:
            ids = np.asarray(seq, dtype=np.int64)
            prev = np.concatenate([[self.n_vocab], ids[:-1]]) if ids.size else ids
            out.append(self._table[prev, ids])
        return out

    def score_and_next(self, sequences: Sequence[Prefix]) -> tuple[list[np.ndarray], np.ndarray]:
        return self.score_tokens(sequences), self(sequences)


class TransformersScorer:
    """A ``transformers`` causal LM as a scorer (CPU or the model's device, no gradients).

    ``bos_id`` is put before every prefix (default: the model config's ``bos_token_id``; a model
    without one needs it given). Prefixes that are prefixes of another prefix in the same call share
    that one's forward pass (causal attention gives every position's distribution at once), so asking
    for all prefixes of a sequence costs one pass. ``batch_size`` sequences run per forward pass.
    """

    def __init__(self, model: Any, *, bos_id: int | None = None, batch_size: int = 8) -> None:
        import torch  # the optional dependency; only this adapter needs it

        self._torch = torch
        self.model = model.eval()
        config = model.config
        bos = config.bos_token_id if bos_id is None else bos_id
        if bos is None:
            raise InvalidArgumentError(
                "the model has no bos_token_id: pass bos_id= (e.g. the <|endoftext|> id)"
            )
        self.bos_id = int(bos)
        self.n_vocab = int(model.get_output_embeddings().weight.shape[0])
        self.batch_size = batch_size
        try:
            self._device = next(model.parameters()).device
        except StopIteration:  # pragma: no cover - a model always has parameters
            self._device = torch.device("cpu")

    def _forward(
        self, sequences: list[tuple[int, ...]], positions: list[list[int]], gather: bool = False
    ) -> list[Any]:
        """Log-softmax rows (float32) of ``(bos, *seq)`` at the given positions of each sequence, or
        with ``gather`` only the log-probability of the sequence's own token at each position.

        Only what is asked for leaves torch: a full ``(length, vocabulary)`` matrix per sequence
        would hold 20 MB for 100 tokens of a 49k vocabulary."""
        torch = self._torch
        out: list[np.ndarray] = []
        for start in range(0, len(sequences), self.batch_size):
            chunk = sequences[start : start + self.batch_size]
            width = 1 + max(len(s) for s in chunk)
            ids = torch.full((len(chunk), width), self.bos_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, seq in enumerate(chunk):
                ids[row, 1 : 1 + len(seq)] = torch.tensor(seq, dtype=torch.long)
                mask[row, : 1 + len(seq)] = 1
            with torch.no_grad():
                logits = self.model(
                    input_ids=ids.to(self._device), attention_mask=mask.to(self._device)
                ).logits
                for row, wanted in enumerate(positions[start : start + self.batch_size]):
                    at = torch.tensor(wanted, dtype=torch.long)
                    picked = torch.log_softmax(logits[row, at].float(), dim=-1)
                    if gather:  # the sequence's own tokens, and the row after its end
                        targets = ids[row, at[:-1] + 1].to(picked.device)
                        scored = picked[:-1].gather(1, targets[:, None])[:, 0]
                        out.append((scored.cpu().numpy(), picked[-1].cpu().numpy()))
                    else:
                        out.append(picked.cpu().numpy())
        return out

    @staticmethod
    def _maximal(sequences: list[tuple[int, ...]]) -> dict[tuple[int, ...], tuple[int, ...]]:
        """Each sequence → the longest sequence of the call that it is a prefix of."""
        host: dict[tuple[int, ...], tuple[int, ...]] = {}
        ordered = sorted(set(sequences))
        # In sorted order a sequence's extensions follow it; the last one extending it is the longest
        # run of shared prefixes, found by walking back from each maximal sequence.
        for i, seq in enumerate(ordered):
            nxt = ordered[i + 1] if i + 1 < len(ordered) else None
            if nxt is not None and nxt[: len(seq)] == seq:
                continue
            for k in range(len(seq) + 1):
                host.setdefault(seq[:k], seq)
        return {s: host[s] for s in sequences}

    def __call__(self, prefixes: Sequence[Prefix]) -> np.ndarray:
        seqs = [tuple(int(t) for t in p) for p in prefixes]
        if not seqs:
            return np.zeros((0, self.n_vocab), dtype=np.float32)
        host = self._maximal(seqs)
        hosts = sorted(set(host.values()))
        wanted: dict[tuple[int, ...], list[int]] = {h: [] for h in hosts}
        for s in dict.fromkeys(seqs):
            wanted[host[s]].append(len(s))
        rows = {}
        for h, picked in zip(hosts, self._forward(hosts, [wanted[h] for h in hosts]), strict=True):
            rows.update({(h, pos): picked[i] for i, pos in enumerate(wanted[h])})
        return np.stack([rows[host[s], len(s)] for s in seqs])

    def score_and_next(self, sequences: Sequence[Prefix]) -> tuple[list[np.ndarray], np.ndarray]:
        seqs = [tuple(int(t) for t in s) for s in sequences]
        if not seqs:
            return [], np.zeros((0, self.n_vocab), dtype=np.float32)
        # A sequence's own scores come from its host; its next row is at its end, so each distinct
        # sequence is its own host here (a prefix of another would need its row mid-host).
        hosts = sorted(set(seqs))
        done = self._forward(hosts, [list(range(len(h) + 1)) for h in hosts], gather=True)
        by_host = dict(zip(hosts, done, strict=True))
        return [by_host[s][0] for s in seqs], np.stack([by_host[s][1] for s in seqs])

    def score_tokens(self, sequences: Sequence[Prefix]) -> list[np.ndarray]:
        seqs = [tuple(int(t) for t in s) for s in sequences]
        nonempty = [s for s in seqs if s]
        if not nonempty:
            return [np.zeros(0, dtype=np.float32) for _ in seqs]
        host = self._maximal(nonempty)
        hosts = sorted(set(host.values()))
        scored = self._forward(hosts, [list(range(len(h) + 1)) for h in hosts], gather=True)
        by_host = {h: tokens for h, (tokens, _) in zip(hosts, scored, strict=True)}
        return [by_host[host[s]][: len(s)] if s else np.zeros(0, np.float32) for s in seqs]
