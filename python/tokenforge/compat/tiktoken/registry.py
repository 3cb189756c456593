"""tiktoken's encoding registry: its seven encodings, built from tokenforge's offline cache.

``ENCODING_CONSTRUCTORS`` maps each name to a function returning ``Encoding`` keyword arguments,
as tiktoken's plugin functions do (code that builds a variant from ``o200k_base()``'s parts keeps
working); ``get_encoding`` builds each encoding once per process and caches it in ``ENCODINGS``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ... import vocab_sources
from ...errors import InvalidArgumentError, VocabularyNotFoundError
from ...formats import presets
from ...formats.tiktoken_file import read_tiktoken
from .core import Encoding

__all__ = ["ENCODINGS", "ENCODING_CONSTRUCTORS", "get_encoding", "list_encoding_names"]

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"

_lock = threading.RLock()
ENCODINGS: dict[str, Encoding] = {}


def _ranks(name: str) -> dict[bytes, int]:
    """The verified ranks of a known vocabulary from the offline cache (never downloads)."""
    path = vocab_sources.find(name)
    if path is None:
        raise VocabularyNotFoundError(vocab_sources.missing_message(name))
    return read_tiktoken(path)[0]


def _from_preset(preset: str, name: str, explicit_n_vocab: int | None = None) -> dict[str, Any]:
    known = presets.by_name(preset)
    assert known is not None, preset
    parts: dict[str, Any] = {
        "name": name,
        "pat_str": known.pattern,
        "mergeable_ranks": _ranks(known.name),
        "special_tokens": dict(known.special_tokens),
    }
    if explicit_n_vocab is not None:
        parts["explicit_n_vocab"] = explicit_n_vocab
    return parts


def gpt2() -> dict[str, Any]:
    # tiktoken reads GPT-2's vocab.bpe + encoder.json; they hold r50k_base's ranks.
    return _from_preset("gpt2", "gpt2", 50257)


def r50k_base() -> dict[str, Any]:
    return _from_preset("gpt2", "r50k_base", 50257)


def p50k_base() -> dict[str, Any]:
    return _from_preset("p50k_base", "p50k_base", 50281)


def p50k_edit() -> dict[str, Any]:
    parts = _from_preset("p50k_base", "p50k_edit")
    parts["special_tokens"] = {ENDOFTEXT: 50256, FIM_PREFIX: 50281, FIM_MIDDLE: 50282, FIM_SUFFIX: 50283}
    return parts


def cl100k_base() -> dict[str, Any]:
    return _from_preset("cl100k_base", "cl100k_base")


def o200k_base() -> dict[str, Any]:
    return _from_preset("o200k_base", "o200k_base")


def o200k_harmony() -> dict[str, Any]:
    """o200k_base with the harmony chat format's tokens. 200018 keeps its o200k_base name
    <|endofprompt|> and is also <|reserved_200018|>."""
    parts = o200k_base()
    named = {
        "<|startoftext|>": 199998,
        ENDOFTEXT: 199999,
        "<|return|>": 200002,
        "<|constrain|>": 200003,
        "<|channel|>": 200005,
        "<|start|>": 200006,
        "<|end|>": 200007,
        "<|message|>": 200008,
        "<|call|>": 200012,
    }
    by_id = {token_id: token for token, token_id in named.items()}
    specials = dict(parts["special_tokens"])
    for token_id in range(199998, 201088):
        specials[by_id.get(token_id, f"<|reserved_{token_id}|>")] = token_id
    parts.update(name="o200k_harmony", special_tokens=specials)
    return parts


ENCODING_CONSTRUCTORS: dict[str, Callable[[], dict[str, Any]]] = {
    "gpt2": gpt2,
    "r50k_base": r50k_base,
    "p50k_base": p50k_base,
    "p50k_edit": p50k_edit,
    "cl100k_base": cl100k_base,
    "o200k_base": o200k_base,
    "o200k_harmony": o200k_harmony,
}


def get_encoding(encoding_name: str) -> Encoding:
    """The named encoding, built on first use and then shared (thread-safe)."""
    if not isinstance(encoding_name, str):
        raise InvalidArgumentError(f"Expected a string in get_encoding, got {type(encoding_name)}")
    found = ENCODINGS.get(encoding_name)
    if found is not None:
        return found
    with _lock:
        found = ENCODINGS.get(encoding_name)
        if found is not None:
            return found
        constructor = ENCODING_CONSTRUCTORS.get(encoding_name)
        if constructor is None:
            raise InvalidArgumentError(
                f"Unknown encoding {encoding_name}; known: {', '.join(ENCODING_CONSTRUCTORS)}"
            )
        enc = Encoding(**constructor())
        ENCODINGS[encoding_name] = enc
        return enc


def list_encoding_names() -> list[str]:
    """Names ``get_encoding`` accepts."""
    return list(ENCODING_CONSTRUCTORS)
