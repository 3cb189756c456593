"""Plain vocabulary files turned into ``tokenizer.json`` documents.

* ``vocab.txt`` (WordPiece, one token per line, the line number is the id) with BERT's conventions:
  ``BertNormalizer`` (clean text, CJK characters isolated, optional lowercasing and accent
  stripping), ``BertPreTokenizer``, ``WordPiece`` with the ``##`` prefix, ``[UNK]`` and 100 characters
  per word at most, the ``WordPiece`` decoder, and ``[CLS] … [SEP]`` added by the post-processor when
  the vocabulary has both. Lowercasing and accent stripping come from the arguments, else from a
  ``tokenizer_config.json`` beside the file (``do_lower_case``, ``strip_accents``), else the
  uncased-BERT default (lowercase, strip accents as lowercasing implies).
* ``vocab.json`` + ``merges.txt`` (GPT-2-style byte-level BPE): ``ByteLevel`` pre-tokenizer with
  the GPT-2 regex and no prefix space, ``ByteLevel`` decoder and post-processor, and
  ``<|endoftext|>`` as a special token when the vocabulary has it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import InvalidVocabularyError

__all__ = ["read_gpt2_folder", "read_vocab_txt"]

_BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _added(content: str, token_id: int, *, special: bool = True) -> dict[str, Any]:
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": special,
    }


def _config_beside(path: Path) -> dict[str, Any]:
    config = path.parent / "tokenizer_config.json"
    if not config.is_file():
        return {}
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


# Unicode White_Space (Rust's `char::is_whitespace`, HF's `trim_end`); Python's `str.isspace` also
# counts U+001C..U+001F, which are not.
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)


def read_vocab_txt(
    path: str | os.PathLike[str],
    *,
    lowercase: bool | None = None,
    strip_accents: bool | None = None,
) -> dict[str, Any]:
    """The ``tokenizer.json`` document of a WordPiece ``vocab.txt`` (see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidVocabularyError(f"{path}: not UTF-8 (byte {exc.start})") from None
    vocab: dict[str, int] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    for index, line in enumerate(lines):
        # As HF's WordPiece reader (which transformers' BertTokenizer uses): trailing Unicode
        # White_Space is not part of the token, so a line of only U+2028 (bert-base-chinese has
        # one) is the empty token, which never matches; a repeated token keeps its last line's id.
        vocab[line.rstrip(_WHITE_SPACE)] = index
    if not vocab:
        raise InvalidVocabularyError(f"{path}: the vocabulary is empty")
    if "[UNK]" not in vocab:
        raise InvalidVocabularyError(f"{path}: no [UNK] token (a WordPiece vocabulary needs one)")
    config = _config_beside(path)
    if lowercase is None:
        lowercase = bool(config.get("do_lower_case", True))
    if strip_accents is None and isinstance(config.get("strip_accents"), bool):
        strip_accents = config["strip_accents"]
    post = None
    if "[CLS]" in vocab and "[SEP]" in vocab:
        cls, sep = vocab["[CLS]"], vocab["[SEP]"]
        post = {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 1}},
            ],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [cls], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]},
            },
        }
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [_added(t, vocab[t]) for t in _BERT_SPECIALS if t in vocab],
        "normalizer": {
            "type": "BertNormalizer",
            "clean_text": True,
            "handle_chinese_chars": True,
            "strip_accents": strip_accents,
            "lowercase": lowercase,
        },
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": post,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {
            "type": "WordPiece",
            "unk_token": "[UNK]",
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": vocab,
        },
    }


def read_gpt2_folder(
    vocab_json: str | os.PathLike[str], merges_txt: str | os.PathLike[str]
) -> dict[str, Any]:
    """The ``tokenizer.json`` document of a GPT-2-style ``vocab.json`` + ``merges.txt`` pair."""
    vocab_path, merges_path = Path(vocab_json), Path(merges_txt)
    try:
        vocab = json.loads(vocab_path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidVocabularyError(f"{vocab_path}: not valid JSON ({exc})") from None
    if not isinstance(vocab, dict) or not vocab:
        raise InvalidVocabularyError(f"{vocab_path}: expected a non-empty JSON object token -> id")
    for token, token_id in vocab.items():
        if not isinstance(token_id, int) or isinstance(token_id, bool) or token_id < 0:
            raise InvalidVocabularyError(f"{vocab_path}: id of {token!r} must be a non-negative integer")
    try:
        lines = merges_path.read_bytes().decode("utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise InvalidVocabularyError(f"{merges_path}: not UTF-8 (byte {exc.start})") from None
    merges: list[list[str]] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        if not line or (number == 1 and line.startswith("#version")):
            continue
        pair = line.split(" ")
        if len(pair) != 2 or not all(pair):
            raise InvalidVocabularyError(f"{merges_path}: line {number} {line!r} is not two tokens")
        for part in pair:
            if part not in vocab:
                raise InvalidVocabularyError(
                    f"{merges_path}: line {number} uses {part!r}, which is not in {vocab_path.name}"
                )
        merges.append(pair)
    added = [_added(t, vocab[t]) for t in ("<|endoftext|>",) if t in vocab]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }
