"""One error family for the whole library.

Every error tokenforge raises on purpose derives from :class:`TokenforgeError`, so callers can
catch the family or a precise subclass. Messages say what was wrong, where, and what to do.
"""

from __future__ import annotations

__all__ = [
    "ClusterError",
    "CorpusError",
    "DictionaryNotFoundError",
    "FileAccessError",
    "InvalidArgumentError",
    "InvalidTokenIdError",
    "InvalidVocabularyError",
    "MissingDependencyError",
    "ModelFormatError",
    "SpecialTokenError",
    "TokenforgeError",
    "UnsupportedModelError",
    "UnsupportedTokenizerError",
    "VocabularyNotFoundError",
]


class TokenforgeError(Exception):
    """Base class of every error raised by tokenforge."""


class UnsupportedTokenizerError(TokenforgeError):
    """A tokenizer file uses a component tokenforge does not implement (named in the message)."""


class InvalidVocabularyError(TokenforgeError, ValueError):
    """A vocabulary or tokenizer file is malformed or inconsistent."""


class SpecialTokenError(TokenforgeError, ValueError):
    """Text contains a special token that the call did not allow (or a special-token spec is invalid)."""


class VocabularyNotFoundError(TokenforgeError, FileNotFoundError):
    """A known encoding was requested but its vocabulary is not available offline."""


class DictionaryNotFoundError(TokenforgeError, FileNotFoundError):
    """A morphological dictionary (roots, affixes) was requested but is not available offline."""


class InvalidTokenIdError(TokenforgeError, ValueError, KeyError):
    """An id that is not in the vocabulary was given to decode (or a lookup).

    Also a ``KeyError``, which is what tiktoken raises for an unknown id or token."""

    # KeyError would print the message as a quoted repr.
    __str__ = Exception.__str__


class InvalidArgumentError(TokenforgeError, ValueError):
    """An argument is out of range or of the wrong kind (e.g. ``num_threads=0``)."""


class FileAccessError(TokenforgeError, OSError):
    """A file or folder cannot be read or written (missing, a directory, no permission, a path too
    long); the message names it."""


class CorpusError(TokenforgeError):
    """A corpus input is unreadable, empty or in the wrong format."""


class ModelFormatError(TokenforgeError, ValueError):
    """A model folder or weight file is missing, malformed, or does not match its tokenizer."""


class UnsupportedModelError(ModelFormatError):
    """A model folder is readable but its architecture is one ``adapt`` cannot transplant (the
    message names it and what is supported)."""


class MissingDependencyError(TokenforgeError, ImportError):
    """An optional feature needs a package that is not installed (the message names the extra)."""


class ClusterError(TokenforgeError):
    """A cluster run failed outside tokenforge's own code: the cluster cannot be reached, or a task
    kept failing (its worker or node died) after its retries."""
