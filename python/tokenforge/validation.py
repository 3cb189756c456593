"""Argument checks shared by the public entry points: each failure is a
:class:`~tokenforge.errors.TokenforgeError` that names the argument."""

from __future__ import annotations

import operator
from collections.abc import Iterable

from .errors import InvalidArgumentError, InvalidTokenIdError

__all__ = ["as_id", "as_size", "as_tokens"]

#: Ids are 32-bit throughout (engine, shards, numpy output).
MAX_ID = 2**32 - 1


def as_tokens(value: object, argument: str) -> tuple[str, ...]:
    """A collection of token strings. A bare string is refused (``special_tokens="<s>"`` would
    otherwise be the three tokens ``<``, ``s``, ``>``)."""
    if value is None:
        return ()
    if isinstance(value, str | bytes):
        raise InvalidArgumentError(
            f"{argument} must be a collection of tokens, not one string: write [{value!r}] for a single token"
        )
    if not isinstance(value, Iterable):
        raise InvalidArgumentError(f"{argument} must be a collection of tokens, got {type(value).__name__}")
    tokens = tuple(value)
    for token in tokens:
        if not isinstance(token, str):
            raise InvalidArgumentError(f"{argument}: {token!r} is {type(token).__name__}, not a string")
    return tokens


def _integer(value: object, argument: str, error: type[Exception], shown: str) -> int:
    """``value`` as an int (any integer type, numpy's too; not bool), else ``error`` showing ``shown``."""
    if isinstance(value, bool):
        raise error(f"{argument} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise error(f"{argument} must be an integer, got {shown}") from None


def as_id(value: object, argument: str = "token id") -> int:
    """A token id: any integer type (numpy's too), from 0 to 2^32 - 1."""
    number = _integer(value, argument, InvalidTokenIdError, type(value).__name__)
    if not 0 <= number <= MAX_ID:
        raise InvalidTokenIdError(f"{argument} {number} is out of range (ids are 0 to 2^32 - 1)")
    return number


def as_size(value: object, argument: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """A count or budget: any integer type (numpy's too), at least ``minimum``, at most ``maximum``."""
    number = _integer(value, argument, InvalidArgumentError, repr(value))
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise InvalidArgumentError(f"{argument} must be {bound}, got {number}")
    return number
