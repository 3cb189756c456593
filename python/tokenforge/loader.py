"""``tokenforge.load``: a tokenizer from a file path or the name of a known encoding."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from . import vocab_sources
from .errors import (
    FileAccessError,
    InvalidArgumentError,
    InvalidVocabularyError,
    TokenforgeError,
    VocabularyNotFoundError,
)
from .formats import presets, sentencepiece, vocab_files
from .formats.hf_json import parse_hf_json, read_hf_json
from .formats.tiktoken_file import read_tiktoken
from .hybrid import HYBRID_MODEL_TYPE, HybridTokenizer, is_hybrid_doc
from .spec import AddedToken, SplitStep, TokenizerSpec
from .tokenizer import Tokenizer

__all__ = ["load", "load_tiktoken"]

T = TypeVar("T")


def load_tiktoken(
    path: str | os.PathLike[str],
    *,
    pattern: str | None = None,
    special_tokens: Mapping[str, int] | None = None,
    name: str | None = None,
) -> Tokenizer:
    """A tokenizer from a ``.tiktoken`` file.

    A known file (recognised by its sha256) gets its encoding's pattern, special tokens and
    normalization; arguments given here override them. An unknown file needs ``pattern``.
    """
    if special_tokens is not None and not isinstance(special_tokens, Mapping):
        raise InvalidArgumentError(
            f"special_tokens must be a mapping of token text to id, got {type(special_tokens).__name__}"
        )
    ranks, digest = _read_file(path, read_tiktoken)
    known = presets.by_sha256(digest)
    if pattern is None:
        if known is None:
            raise InvalidArgumentError(
                f"{path} is not a known vocabulary (sha256 {digest[:16]}...), so its pre-tokenization "
                "pattern is unknown: pass pattern=... (e.g. tokenforge.PATTERNS['cl100k']) and, if it "
                "has any, special_tokens={...}"
            )
        pattern = known.pattern
    if special_tokens is None:
        special_tokens = known.special_tokens if known is not None else {}
    taken = set(ranks.values())
    for content, token_id in special_tokens.items():
        if token_id in taken:
            raise InvalidVocabularyError(
                f"special token {content!r} has id {token_id}, which is already a token's rank"
            )
    spec = TokenizerSpec(
        name=name or (known.name if known is not None else Path(path).stem),
        vocab=ranks,
        pre_tokenizer=(SplitStep(pattern),),
        normalizers=known.normalizers if known is not None else (),
        added_tokens=tuple(AddedToken(c, i) for c, i in special_tokens.items()),
    )
    return Tokenizer(spec)


def _hybrid_doc(path: Path) -> dict[str, object] | None:
    """The document of a hybrid tokenizer file (its ``model.type`` is tokenforge's, which HF's
    reader rejects), else None. The type sits in the first bytes of files tokenforge writes, so
    other files are not parsed twice."""
    with path.open("rb") as f:
        head = f.read(1 << 12)
    if HYBRID_MODEL_TYPE.encode() not in head:
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and is_hybrid_doc(doc) else None


def _read_file(path: str | os.PathLike[str], read: Callable[[Path], T]) -> T:
    """``read(path)``, with an unreadable file (permissions, a path too long, a loop of links...)
    as FileAccessError and a malformed one as InvalidVocabularyError, both naming the file."""
    try:
        return read(Path(path))
    except TokenforgeError:
        raise
    except OSError as exc:
        raise FileAccessError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        # A field of an unexpected type that a reader's own checks miss (found by tests/test_fuzz.py)
        # is still a typed error naming the file, never a bare TypeError.
        raise InvalidVocabularyError(
            f"{path}: malformed tokenizer file ({type(exc).__name__}: {exc})"
        ) from None


def _looks_like_json(path: Path) -> bool:
    if path.suffix.lower() == ".json":
        return True
    with path.open("rb") as f:
        return f.read(64).lstrip().startswith(b"{")


# What a folder is searched for, in this order (the first found is loaded).
_FOLDER_FILES = ("tokenizer.json", "*.model (SentencePiece)", "vocab.json + merges.txt", "vocab.txt")


def _resolve_folder(folder: Path) -> Path | tuple[Path, Path] | None:
    if (folder / "tokenizer.json").is_file():
        return folder / "tokenizer.json"
    models = sorted(p for p in folder.glob("*.model") if sentencepiece.is_sentencepiece_model(p))
    if models:
        # tokenizer.model (Llama/Mistral) or spiece.model (T5) first when several are present.
        preferred = [p for p in models if p.name in ("tokenizer.model", "spiece.model")]
        return (preferred or models)[0]
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return folder / "vocab.json", folder / "merges.txt"
    if (folder / "vocab.txt").is_file():
        return folder / "vocab.txt"
    return None


def _from_doc(path: Path, read_doc: Callable[[Path], dict[str, object]], name: str) -> Tokenizer:
    """The tokenizer of the HF document ``read_doc(path)`` builds from a non-JSON file."""
    return Tokenizer(_read_file(path, lambda p: parse_hf_json(read_doc(p), source=str(p), name=name)))


def load(
    name_or_path: str | os.PathLike[str],
    *,
    pattern: str | None = None,
    special_tokens: Mapping[str, int] | None = None,
    lowercase: bool | None = None,
    strip_accents: bool | None = None,
) -> Tokenizer | HybridTokenizer:
    """Loads a tokenizer.

    ``name_or_path`` is one of

    * a ``tokenizer.json`` (HF);
    * a hybrid morphological tokenizer file (:class:`~tokenforge.hybrid.HybridTokenizer`);
    * a SentencePiece ``.model`` (recognised by its content: Llama 3's ``tokenizer.model``, a
      ``.tiktoken`` text, is read as ``.tiktoken``);
    * a WordPiece ``vocab.txt`` (BERT conventions; ``lowercase=`` and ``strip_accents=`` override
      the ``tokenizer_config.json`` beside it, whose absence means uncased BERT);
    * a GPT-2-style ``vocab.json`` (with ``merges.txt`` beside it);
    * a directory holding one of those, searched in the order tokenizer.json, ``*.model``,
      vocab.json + merges.txt, vocab.txt;
    * a ``.tiktoken`` file (``pattern=`` and ``special_tokens=`` apply to it);
    * the name of a known encoding (``cl100k_base``, ``o200k_base``, ``gpt2``/``r50k_base``,
      ``p50k_base``, ``llama3``, ``qwen2``). Names resolve offline, from ``$TOKENFORGE_HOME``
      (default ``~/.cache/tokenforge``) or an installed package that bundles the file; when neither
      has it, :class:`VocabularyNotFoundError` says how to get it (``tokenforge fetch NAME``).

    An unreadable path raises :class:`FileAccessError`, a malformed file
    :class:`InvalidVocabularyError`; both name the file.
    """
    path = Path(name_or_path)
    try:
        is_dir = path.is_dir()
        found = _resolve_folder(path) if is_dir else None
        is_file = not is_dir and path.is_file()
    except OSError as exc:  # a path too long, a loop of links, a folder that cannot be listed...
        raise FileAccessError(f"{name_or_path}: cannot be read ({exc.strerror or exc})") from None
    if is_dir:
        if found is None:
            raise VocabularyNotFoundError(
                f"{str(name_or_path)!r} is a directory without a tokenizer.json or another tokenizer "
                f"file (looked for {', '.join(_FOLDER_FILES)}); pass the tokenizer file itself"
            )
        if isinstance(found, tuple):
            _reject_options("vocab.json + merges.txt", pattern, special_tokens, lowercase, strip_accents)
            vocab_json, merges_txt = found
            return _from_doc(
                vocab_json, lambda p: vocab_files.read_gpt2_folder(p, merges_txt), path.name or "tokenizer"
            )
        path, is_file = found, True
    if not is_file:
        if lowercase is not None or strip_accents is not None:
            raise InvalidArgumentError(
                "lowercase= and strip_accents= apply to WordPiece vocab.txt files only"
            )
        return _load_known(name_or_path, pattern, special_tokens)
    folder_name = path.parent.name or path.stem
    if path.name == "vocab.txt":
        _reject_options("vocab.txt", pattern, special_tokens, None, None)
        return _from_doc(
            path,
            lambda p: vocab_files.read_vocab_txt(p, lowercase=lowercase, strip_accents=strip_accents),
            folder_name,
        )
    if lowercase is not None or strip_accents is not None:
        raise InvalidArgumentError("lowercase= and strip_accents= apply to WordPiece vocab.txt files only")
    merges_beside = path.parent / "merges.txt"
    if path.name == "vocab.json" and _read_file(merges_beside, Path.is_file):
        _reject_options("vocab.json + merges.txt", pattern, special_tokens, None, None)
        return _from_doc(path, lambda p: vocab_files.read_gpt2_folder(p, merges_beside), folder_name)
    if _read_file(path, sentencepiece.is_sentencepiece_model):
        _reject_options("SentencePiece .model", pattern, special_tokens, None, None)
        name = folder_name if path.stem in ("tokenizer", "spiece") else path.stem
        return _from_doc(path, lambda p: sentencepiece.to_hf_doc(sentencepiece.read_model(p)), name)
    if _read_file(path, _looks_like_json):
        _reject_options("tokenizer.json", pattern, special_tokens, None, None)
        hybrid = _read_file(path, _hybrid_doc)
        if hybrid is not None:
            return HybridTokenizer.from_json(hybrid, source=str(path))
        return Tokenizer(_read_file(path, read_hf_json))
    return load_tiktoken(path, pattern=pattern, special_tokens=special_tokens)


def _reject_options(
    kind: str,
    pattern: str | None,
    special_tokens: Mapping[str, int] | None,
    lowercase: bool | None,
    strip_accents: bool | None,
) -> None:
    if pattern is not None or special_tokens is not None:
        raise InvalidArgumentError(f"pattern= and special_tokens= apply to .tiktoken files, not {kind}")
    if lowercase is not None or strip_accents is not None:
        raise InvalidArgumentError(f"lowercase= and strip_accents= apply to vocab.txt files, not {kind}")


def _load_known(
    name_or_path: str | os.PathLike[str],
    pattern: str | None,
    special_tokens: Mapping[str, int] | None,
) -> Tokenizer:
    known = presets.by_name(str(name_or_path))
    if known is None:
        raise VocabularyNotFoundError(
            f"{str(name_or_path)!r} is neither an existing file nor a known encoding "
            f"(known: {', '.join(presets.names())})"
        )
    found = vocab_sources.find(known.name)
    if found is None:
        raise VocabularyNotFoundError(vocab_sources.missing_message(known.name))
    return load_tiktoken(found, pattern=pattern, special_tokens=special_tokens, name=known.name)
