"""``tiktoken.Encoding`` on a :class:`tokenforge.Tokenizer`.

Every encode and decode goes through the tokenizer (tokenforge's engine); this class only maps
tiktoken's signatures, defaults and error types onto it. Differences from tiktoken 0.14.0, all
where tiktoken's own result depends on hash order: when two special tokens match at the same
place, the longest wins; an id with two special names (``o200k_harmony``'s 200018) decodes to
the name listed first; ``encode_with_unstable`` returns its completions sorted. Allowing or
disallowing one of two names that share an id applies to both.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Literal

from ...errors import InvalidArgumentError, InvalidTokenIdError, InvalidVocabularyError, SpecialTokenError
from ...tokenizer import Tokenizer

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Encoding", "NotAnIdError", "UnknownModelError", "VocabularySizeError"]

Specials = Literal["all"] | AbstractSet[str]


class UnknownModelError(InvalidArgumentError, KeyError):
    """A model name that maps to no encoding (tiktoken raises ``KeyError``)."""

    __str__ = Exception.__str__


class NotAnIdError(InvalidArgumentError, AssertionError):
    """A token id argument that is not an int (tiktoken asserts)."""


class VocabularySizeError(InvalidVocabularyError, AssertionError):
    """``explicit_n_vocab`` disagrees with the ranks and special tokens (tiktoken asserts)."""


def _threads(num_threads: int) -> int:
    # tiktoken's default of 8 threads; more workers than cores only add overhead, and the ids do
    # not depend on the thread count.
    if not isinstance(num_threads, int) or num_threads < 1:
        raise InvalidArgumentError(f"num_threads must be a positive integer, got {num_threads!r}")
    return min(num_threads, os.cpu_count() or 1)


class Encoding:
    """tiktoken's ``Encoding``: same constructor, attributes, methods and exceptions."""

    def __init__(
        self,
        name: str,
        *,
        pat_str: str,
        mergeable_ranks: dict[bytes, int],
        special_tokens: dict[str, int],
        explicit_n_vocab: int | None = None,
    ) -> None:
        self.name = name
        self._pat_str = pat_str
        self._mergeable_ranks = mergeable_ranks
        self._special_tokens = special_tokens
        if not mergeable_ranks:
            raise InvalidVocabularyError(f"encoding {name!r}: mergeable_ranks is empty")
        self.max_token_value = max(max(mergeable_ranks.values()), max(special_tokens.values(), default=0))
        if explicit_n_vocab:
            if len(mergeable_ranks) + len(special_tokens) != explicit_n_vocab:
                raise VocabularySizeError(
                    f"encoding {name!r}: {len(mergeable_ranks)} ranks + {len(special_tokens)} special "
                    f"tokens != explicit_n_vocab {explicit_n_vocab}"
                )
            if self.max_token_value != explicit_n_vocab - 1:
                raise VocabularySizeError(
                    f"encoding {name!r}: highest id {self.max_token_value} != explicit_n_vocab - 1"
                )
        self._special_token_values = set(special_tokens.values())
        self._tokenizer = Tokenizer.from_ranks(mergeable_ranks, pat_str, special_tokens, name=name)

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenforge tokenizer doing the work (for tokenforge's own API: count, truncate...)."""
        return self._tokenizer

    def __repr__(self) -> str:
        return f"<Encoding {self.name!r}>"

    # ------------------------------------------------------------------ special-token policy

    def _policy(self, text: str, allowed: Specials, disallowed: Specials | Collection[str]) -> dict[str, Any]:
        """tiktoken's rules as arguments for the tokenizer: names that are not special tokens are
        ignored when allowed and, when disallowed, an error if the text contains them."""
        if allowed == "all":
            allowed = self.special_tokens_set
        if disallowed == "all":
            disallowed = self.special_tokens_set - set(allowed)
        known_disallowed = []
        for token in disallowed:
            if token in self._special_tokens:
                known_disallowed.append(token)
            elif token and token in text:
                raise SpecialTokenError(
                    f"Encountered text corresponding to disallowed special token {token!r}.\n"
                    "To encode it as ordinary text, pass disallowed_special=() or a set without it."
                )
        return {
            "allowed_special": [t for t in allowed if t in self._special_tokens],
            "disallowed_special": known_disallowed,
        }

    # ------------------------------------------------------------------ encoding

    def encode_ordinary(self, text: str) -> list[int]:
        """Encodes ``text``, treating special-token text as ordinary text."""
        return self._tokenizer.encode_ordinary(text)

    def encode(
        self,
        text: str,
        *,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials | Collection[str] = "all",
    ) -> list[int]:
        """Encodes ``text``; special-token text raises ``ValueError`` unless allowed or not disallowed."""
        return self._tokenizer.encode(text, **self._policy(text, allowed_special, disallowed_special))

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials | Collection[str] = "all",
    ) -> npt.NDArray[np.uint32]:
        """:meth:`encode` as a ``uint32`` numpy array."""
        return self._tokenizer.encode_to_numpy(
            text, **self._policy(text, allowed_special, disallowed_special)
        )

    def encode_ordinary_batch(self, text: list[str], *, num_threads: int = 8) -> list[list[int]]:
        """:meth:`encode_ordinary` of many texts, in parallel."""
        return self._tokenizer.encode_ordinary_batch(text, num_threads=_threads(num_threads))

    def encode_batch(
        self,
        text: list[str],
        *,
        num_threads: int = 8,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials | Collection[str] = "all",
    ) -> list[list[int]]:
        """:meth:`encode` of many texts, in parallel."""
        texts = list(text)
        if disallowed_special != "all":
            # Disallowed names that are not special tokens are looked for in Python.
            unknown = [t for t in disallowed_special if t not in self._special_tokens]
            for item in texts if unknown else ():
                self._policy(item, (), unknown)
        policy = self._policy("", allowed_special, disallowed_special)
        return self._tokenizer.encode_batch(texts, num_threads=_threads(num_threads), **policy)

    def encode_with_unstable(
        self,
        text: str,
        *,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials | Collection[str] = "all",
    ) -> tuple[list[int], list[list[int]]]:
        """Stable tokens and every possible completion of the rest (token healing; see
        :meth:`tokenforge.Tokenizer.encode_with_unstable`)."""
        return self._tokenizer.encode_with_unstable(
            text, **self._policy(text, allowed_special, disallowed_special)
        )

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        """The id of a text or byte string that is exactly one token (special tokens included).

        Raises ``KeyError`` (:class:`tokenforge.InvalidTokenIdError`) otherwise."""
        data = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else bytes(text_or_bytes)
        token = self._tokenizer.token_to_id(data)
        if token is not None and token in self._special_token_values:
            # A special token's text must be exactly its UTF-8 bytes.
            try:
                token = self._special_tokens.get(data.decode("utf-8"))
            except UnicodeDecodeError:
                token = None
        if token is None:
            raise InvalidTokenIdError(f"{data!r} is not a single token of {self.name!r}")
        return token

    # ------------------------------------------------------------------ decoding

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        """The bytes of ``tokens``; an unknown id raises ``KeyError``."""
        return self._tokenizer.decode_bytes(tokens)

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str:
        """The text of ``tokens`` (invalid UTF-8 handled by ``errors``, lossy by default)."""
        return self._tokenizer.decode(tokens, errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one token (special tokens included); an unknown id raises ``KeyError``."""
        return self._tokenizer.decode_single_token_bytes(token)

    def decode_tokens_bytes(self, tokens: Sequence[int]) -> list[bytes]:
        """The bytes of each token."""
        return self._tokenizer.decode_tokens_bytes(tokens)

    def decode_with_offsets(self, tokens: Sequence[int]) -> tuple[str, list[int]]:
        """The text and, per token, the index of the first character holding bytes of it.

        The tokens must decode to valid UTF-8 (else ``UnicodeDecodeError``)."""
        return self._tokenizer.decode_with_offsets(tokens)

    def decode_batch(
        self, batch: Sequence[Sequence[int]], *, errors: str = "replace", num_threads: int = 8
    ) -> list[str]:
        """:meth:`decode` of each item (``num_threads`` is accepted for compatibility: decoding is
        a copy of token bytes, faster in one thread than handing items to others)."""
        _threads(num_threads)
        return [self._tokenizer.decode(tokens, errors=errors) for tokens in batch]

    def decode_bytes_batch(self, batch: Sequence[Sequence[int]], *, num_threads: int = 8) -> list[bytes]:
        """:meth:`decode_bytes` of each item."""
        _threads(num_threads)
        return [self._tokenizer.decode_bytes(tokens) for tokens in batch]

    # ------------------------------------------------------------------ miscellaneous

    def token_byte_values(self) -> list[bytes]:
        """The bytes of every ordinary (non-special) token, sorted."""
        return self._tokenizer.token_byte_values()

    @property
    def eot_token(self) -> int:
        """Id of ``<|endoftext|>`` (``KeyError`` if the encoding has none)."""
        return self._special_tokens["<|endoftext|>"]

    @functools.cached_property
    def special_tokens_set(self) -> set[str]:
        return set(self._special_tokens)

    def is_special_token(self, token: int) -> bool:
        if not isinstance(token, int):
            raise NotAnIdError(f"is_special_token takes an int id, got {type(token).__name__}")
        return token in self._special_token_values

    @property
    def n_vocab(self) -> int:
        """``max_token_value + 1``."""
        return self.max_token_value + 1

    # ------------------------------------------------------------------ private API users rely on

    def _encode_single_piece(self, text_or_bytes: str | bytes) -> list[int]:
        """BPE of one piece without the regex split (no special tokens)."""
        data = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else bytes(text_or_bytes)
        return self._tokenizer.encode_piece(data)

    def _encode_only_native_bpe(self, text: str) -> list[int]:
        """Encodes with the regex split done by the ``regex`` package in Python (for testing a
        pattern against the engine's own split)."""
        import regex

        pattern = regex.compile(self._pat_str)
        ids: list[int] = []
        for piece in pattern.findall(text):
            ids.extend(self._encode_single_piece(piece))
        return ids

    def _encode_bytes(self, text: bytes) -> list[int]:
        """Encodes any byte string, valid UTF-8 or not."""
        return self._tokenizer.encode_bytes(text)

    def __getstate__(self) -> object:
        from . import registry

        # A registered encoding pickles as its name, as in tiktoken.
        if registry.ENCODINGS.get(self.name) is self:
            return self.name
        return {
            "name": self.name,
            "pat_str": self._pat_str,
            "mergeable_ranks": self._mergeable_ranks,
            "special_tokens": self._special_tokens,
        }

    def __setstate__(self, value: object) -> None:
        from . import registry

        if isinstance(value, str):
            self.__dict__ = registry.get_encoding(value).__dict__
            return
        if not isinstance(value, dict):
            raise InvalidArgumentError(f"cannot unpickle an Encoding from {type(value).__name__}")
        self.__init__(**value)  # type: ignore[misc]
