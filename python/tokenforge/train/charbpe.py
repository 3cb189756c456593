"""Character-level BPE (KL3M style): small vocabularies of short tokens, for domains where whole
words matter less than robust pieces. Byte-level BPE with NFKC normalization and tokens of at
most 3 characters (4 above 8192 ids) unless given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .bpe import BpeConfig, fit

__all__ = ["CharBpeConfig", "fit"]


@dataclass(frozen=True, kw_only=True)
class CharBpeConfig(BpeConfig):
    """:class:`~.bpe.BpeConfig` with ``normalizers`` defaulting to NFKC and ``max_token_chars`` to
    3 (4 for vocabularies above 8192 ids)."""

    algorithm: ClassVar[str] = "charbpe"

    normalizers: tuple[str, ...] | None = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.normalizers is None:
            object.__setattr__(self, "normalizers", ("NFKC",))
        if self.max_token_chars is None:
            object.__setattr__(self, "max_token_chars", 3 if self.vocab_size <= 8192 else 4)
        super().__post_init__()
