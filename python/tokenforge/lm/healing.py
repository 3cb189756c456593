"""Token healing: prompts that end inside what would be one token.

A prompt cut mid-word ("http://www.goo") ends with tokens that the model rarely saw at the end of a
context (".go" + "o" instead of ".google"). :func:`heal` removes that unstable tail and returns the
token ids allowed next: every token consistent with the removed bytes (starting with them, or a
proper prefix of them, so a long tail may be regenerated over several tokens). The tail is the
longest run of final tokens (at most the longest token's length in bytes) that some longer token
starts with, found with the same :class:`~tokenforge.lm.TokenTrie` as the byte-level probabilities.
Healing fixes only the last boundary and is not exact; :mod:`tokenforge.lm.byteprob` is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidArgumentError
from .scorer import Scorer
from .trie import TokenTrie

if TYPE_CHECKING:
    from ..tokenizer import AllowedSpecial, Tokenizer

__all__ = ["HealedPrompt", "HealingLogitsProcessor", "generate_healed", "heal", "healing_logits_processor"]


@dataclass(frozen=True)
class HealedPrompt:
    """``ids``: the prompt without its unstable tail; ``tail``: the removed bytes, which generation
    must reproduce; ``allowed``: ids allowed as the first generated token (all when ``tail`` is empty:
    then it is ``None``)."""

    ids: list[int]
    tail: bytes
    allowed: np.ndarray | None
    trie: TokenTrie

    def remaining(self, generated: Sequence[int]) -> bytes:
        """The part of ``tail`` not yet produced by the ``generated`` ids."""
        rest = self.tail
        for token in generated:
            data = self.trie.token_bytes[token] if 0 <= token < len(self.trie.token_bytes) else None
            if not rest or data is None or not rest.startswith(data):
                return b""
            rest = rest[len(data) :]
        return rest

    def allowed_after(self, generated: Sequence[int]) -> np.ndarray | None:
        """Ids allowed after ``generated`` ids (None: no constraint left)."""
        rest = self.remaining(generated)
        return None if not rest else _consistent(self.trie, rest)


def _consistent(trie: TokenTrie, rest: bytes) -> np.ndarray:
    """Tokens that start with ``rest`` or are a proper prefix of it."""
    return np.union1d(trie.starting_with(rest), np.array(trie.prefixes_of(rest), dtype=np.int64))


def heal(
    tokenizer: Tokenizer,
    prompt: str,
    *,
    allowed_special: AllowedSpecial = frozenset(),
    trie: TokenTrie | None = None,
) -> HealedPrompt:
    """The prompt's ids with the unstable tail removed, and the ids allowed next (see the module).

    ``allowed_special`` is passed to ``encode`` (special-token text otherwise raises, as in
    tiktoken). Build the ``trie`` once and pass it when healing many prompts.
    """
    trie = trie or TokenTrie(tokenizer)
    ids = tokenizer.encode(prompt, allowed_special=allowed_special)
    best = 0
    tail = b""
    for k in range(1, len(ids) + 1):
        data = trie.token_bytes[ids[-k]] if ids[-k] < len(trie.token_bytes) else None
        if data is None:  # a special token: never part of a healed tail
            break
        tail = data + tail
        if len(tail) >= trie.max_len:
            break
        longer = trie.starting_with(tail)
        if len(longer) > 1 or (len(longer) == 1 and len(trie.token_bytes[int(longer[0])]) > len(tail)):  # type: ignore[arg-type]
            best = k
    if best == 0:
        return HealedPrompt(ids, b"", None, trie)
    removed = tokenizer.decode_bytes(ids[-best:])
    return HealedPrompt(ids[:-best], removed, _consistent(trie, removed), trie)


def generate_healed(
    scorer: Scorer,
    healed: HealedPrompt,
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    seed: int | None = 0,
    stop_ids: Sequence[int] = (),
) -> list[int]:
    """Ids generated after ``healed.ids`` with the scorer, the first ones constrained to reproduce the
    healed tail (so ``decode(healed.ids + result)`` starts with the prompt). ``temperature=0`` is
    greedy; ``stop_ids`` end generation (and are included)."""
    if max_new_tokens < 0 or temperature < 0:
        raise InvalidArgumentError("max_new_tokens and temperature must be non-negative")
    rng = np.random.default_rng(seed)
    out: list[int] = []
    for _ in range(max_new_tokens):
        logp = np.asarray(scorer([tuple(healed.ids + out)])[0], dtype=np.float64)
        allowed = healed.allowed_after(out)
        if allowed is not None:
            masked = np.full_like(logp, -np.inf)
            masked[allowed] = logp[allowed]
            logp = masked
        if temperature == 0:
            token = int(np.argmax(logp))
        else:
            scaled = logp / temperature
            p = np.exp(scaled - scaled.max())
            token = int(rng.choice(len(p), p=p / p.sum()))
        out.append(token)
        if token in stop_ids:
            break
    return out


class HealingLogitsProcessor:
    """A ``transformers`` logits processor (``generate(logits_processor=[...])``): while the healed
    tail is not reproduced, only consistent tokens keep their scores. Works on torch tensors and numpy
    arrays; ``prompt_length`` is the length of the prompt in ``input_ids`` (``len(healed.ids)`` plus
    any BOS the caller added)."""

    def __init__(self, healed: HealedPrompt, prompt_length: int) -> None:
        self.healed = healed
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        rows = input_ids.tolist() if hasattr(input_ids, "tolist") else list(input_ids)
        for row, ids in enumerate(rows):
            allowed = self.healed.allowed_after(ids[self.prompt_length :])
            if allowed is None:
                continue
            allowed = allowed[allowed < scores.shape[-1]]
            if isinstance(scores, np.ndarray):
                keep = scores[row, allowed].copy()
                scores[row] = -np.inf
                scores[row, allowed] = keep
            else:  # a torch tensor
                import torch

                index = torch.as_tensor(allowed, device=scores.device)
                keep = scores[row, index].clone()
                scores[row] = float("-inf")
                scores[row, index] = keep
        return scores


def healing_logits_processor(
    healed: HealedPrompt, prompt_length: int | None = None
) -> HealingLogitsProcessor:
    """:class:`HealingLogitsProcessor` for ``healed`` (``prompt_length`` defaults to ``len(healed.ids)``)."""
    return HealingLogitsProcessor(healed, len(healed.ids) if prompt_length is None else prompt_length)
