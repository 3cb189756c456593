"""Model name -> encoding name, as tiktoken 0.14.0 maps them (exact names, then prefixes)."""

from __future__ import annotations

from .core import Encoding, UnknownModelError
from .registry import get_encoding

__all__ = ["MODEL_PREFIX_TO_ENCODING", "MODEL_TO_ENCODING", "encoding_for_model", "encoding_name_for_model"]


def _table(groups: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {model: encoding for encoding, models in groups.items() for model in models}


# Checked in order; the first matching prefix wins (tiktoken's order).
MODEL_PREFIX_TO_ENCODING: dict[str, str] = {
    "o1-": "o200k_base",
    "o3-": "o200k_base",
    "o4-mini-": "o200k_base",
    "gpt-5": "o200k_base",
    "gpt-4.5-": "o200k_base",
    "gpt-4.1-": "o200k_base",
    "chatgpt-4o-": "o200k_base",
    "gpt-4o-": "o200k_base",
    "gpt-4-": "cl100k_base",
    "gpt-3.5-turbo-": "cl100k_base",
    "gpt-35-turbo-": "cl100k_base",
    "gpt-oss-": "o200k_harmony",
    "ft:gpt-4o": "o200k_base",
    "ft:gpt-4": "cl100k_base",
    "ft:gpt-3.5-turbo": "cl100k_base",
    "ft:davinci-002": "cl100k_base",
    "ft:babbage-002": "cl100k_base",
}

MODEL_TO_ENCODING: dict[str, str] = _table(
    {
        "o200k_base": ("o1", "o3", "o4-mini", "gpt-5", "gpt-4.1", "gpt-4o"),
        "cl100k_base": (
            "gpt-4",
            "gpt-3.5-turbo",
            "gpt-3.5",
            "gpt-35-turbo",
            "davinci-002",
            "babbage-002",
            "text-embedding-ada-002",
            "text-embedding-3-small",
            "text-embedding-3-large",
        ),
        "p50k_base": (
            "text-davinci-003",
            "text-davinci-002",
            "code-davinci-002",
            "code-davinci-001",
            "code-cushman-002",
            "code-cushman-001",
            "davinci-codex",
            "cushman-codex",
        ),
        "p50k_edit": ("text-davinci-edit-001", "code-davinci-edit-001"),
        "r50k_base": (
            "text-davinci-001",
            "text-curie-001",
            "text-babbage-001",
            "text-ada-001",
            "davinci",
            "curie",
            "babbage",
            "ada",
            *(f"text-similarity-{m}-001" for m in ("davinci", "curie", "babbage", "ada")),
            *(f"text-search-{m}-doc-001" for m in ("davinci", "curie", "babbage", "ada")),
            "code-search-babbage-code-001",
            "code-search-ada-code-001",
        ),
        "gpt2": ("gpt2", "gpt-2"),
    }
)


def encoding_name_for_model(model_name: str) -> str:
    """The encoding name of a model; ``KeyError`` (:class:`UnknownModelError`) if unknown."""
    if model_name in MODEL_TO_ENCODING:
        return MODEL_TO_ENCODING[model_name]
    for prefix, encoding in MODEL_PREFIX_TO_ENCODING.items():
        if model_name.startswith(prefix):
            return encoding
    raise UnknownModelError(
        f"Could not automatically map {model_name} to a tokeniser. "
        "Please use `tiktoken.get_encoding` to explicitly get the tokeniser you expect."
    )


def encoding_for_model(model_name: str) -> Encoding:
    """The encoding of a model; ``KeyError`` (:class:`UnknownModelError`) if unknown."""
    return get_encoding(encoding_name_for_model(model_name))
