"""HF ``tokenizer.json`` for byte-level BPE models: reading into a spec and writing one back.

Supported: model ``BPE`` (merges as ``"a b"`` strings or ``["a", "b"]`` pairs, ``ignore_merges``,
``unk_token``; tokenforge's metadata block lives under ``model.tokenforge``), pre-tokenizers
``ByteLevel``, ``Split``, ``Digits`` and ``Sequence`` of them, normalizers
``NFC``/``NFD``/``NFKC``/``NFKD``/``Lowercase`` and ``Sequence`` of them, added tokens,
and the ``ByteLevel`` decoder. Anything else raises :class:`UnsupportedTokenizerError` naming the
component, because an approximate tokenizer would silently give wrong ids.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import FileAccessError, InvalidArgumentError, InvalidVocabularyError, UnsupportedTokenizerError
from ..spec import (
    AddedToken,
    ByteLevelStep,
    DigitsStep,
    ModelSpec,
    PipelineSpec,
    PreTokenizerStep,
    SplitStep,
    TokenizerSpec,
)
from .bytelevel import bytes_to_token_str, token_str_to_bytes
from .presets import PATTERNS
from .regex_dialect import engine_to_hf, hf_to_engine

__all__ = [
    "TemplatePiece",
    "engine_pipeline",
    "model_spec_to_hf_json",
    "parse_hf_json",
    "post_processor_ids",
    "post_processor_layout",
    "read_hf_json",
    "spec_to_hf_json",
    "write_hf_json",
]

_BEHAVIORS = {
    "Removed": "removed",
    "Isolated": "isolated",
    "MergedWithPrevious": "merged_with_previous",
    "MergedWithNext": "merged_with_next",
    "Contiguous": "contiguous",
}
_BEHAVIOR_NAMES = {v: k for k, v in _BEHAVIORS.items()}
_NORMALIZERS = {"NFC", "NFD", "NFKC", "NFKD", "Lowercase"}
_PRESET_BY_HF_SPELLING = {engine_to_hf(p): p for p in PATTERNS.values()}
# HF's ByteLevel defaults, written out so saved files do not depend on a library version's defaults.
_BYTE_LEVEL_DECODER = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}


# Messages name JSON types, the user's terms for a tokenizer.json, not Python's.
_JSON_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _expect(obj: Any, kind: type, what: str, source: str) -> Any:
    if not isinstance(obj, kind):
        raise InvalidVocabularyError(
            f"{source}: {what} must be {_JSON_TYPE_NAMES[kind]}, got {_json_type(obj)}"
        )
    return obj


def _normalizers(node: Any, source: str) -> tuple[str, ...]:
    if node is None:
        return ()
    _expect(node, dict, "normalizer", source)
    kind = node.get("type")
    if kind == "Sequence":
        out: list[str] = []
        for child in _expect(node.get("normalizers"), list, "normalizer.normalizers", source):
            out.extend(_normalizers(child, source))
        return tuple(out)
    if kind in _NORMALIZERS:
        return (kind,)
    raise UnsupportedTokenizerError(
        f"{source}: normalizer {kind!r} is not supported "
        f"(supported: {', '.join(sorted(_NORMALIZERS))}, Sequence)"
    )


def _pre_tokenizer(node: Any, source: str) -> tuple[PreTokenizerStep, ...]:
    if node is None:
        return ()
    _expect(node, dict, "pre_tokenizer", source)
    kind = node.get("type")
    if kind == "Sequence":
        steps: list[PreTokenizerStep] = []
        for child in _expect(node.get("pretokenizers"), list, "pre_tokenizer.pretokenizers", source):
            steps.extend(_pre_tokenizer(child, source))
        return tuple(steps)
    if kind == "ByteLevel":
        return (ByteLevelStep(bool(node.get("add_prefix_space", True)), bool(node.get("use_regex", True))),)
    if kind == "Digits":
        return (DigitsStep(bool(node.get("individual_digits", False))),)
    if kind == "Split":
        pattern = _expect(node.get("pattern"), dict, "Split.pattern", source)
        if "Regex" in pattern:
            hf_regex = _expect(pattern["Regex"], str, "Split.pattern.Regex", source)
            # A preset written by `engine_to_hf` (cl100k's `\p{N}{1,3}+` becomes an atomic group) is
            # read back as the preset's own spelling, so the engine recognises it and uses the
            # hand-written pre-tokenizer instead of the regex (measured 5x faster encoding).
            regex = _PRESET_BY_HF_SPELLING.get(hf_regex) or hf_to_engine(hf_regex)
        elif "String" in pattern:
            regex = re.escape(_expect(pattern["String"], str, "Split.pattern.String", source))
        else:
            raise InvalidVocabularyError(
                f"{source}: Split.pattern needs 'Regex' or 'String', got {sorted(pattern)}"
            )
        behavior = node.get("behavior", "Isolated")
        if behavior not in _BEHAVIORS:
            raise InvalidVocabularyError(f"{source}: unknown Split behavior {behavior!r}")
        return (SplitStep(regex, _BEHAVIORS[behavior], bool(node.get("invert", False))),)  # type: ignore[arg-type]
    raise UnsupportedTokenizerError(
        f"{source}: pre-tokenizer {kind!r} is not supported (supported: ByteLevel, Split, Digits, Sequence)"
    )


def _is_byte_level(doc: Mapping[str, Any]) -> bool:
    def has_byte_level(node: Any) -> bool:
        if not isinstance(node, dict):
            return False
        if node.get("type") == "ByteLevel":
            return True
        children = node.get("pretokenizers") or node.get("decoders") or node.get("processors") or []
        return any(has_byte_level(c) for c in children)

    return has_byte_level(doc.get("pre_tokenizer")) or has_byte_level(doc.get("decoder"))


# ---------------------------------------------------------------------------------- validation
# Field types of every component HF ships, checked strictly (HF rejects an id of 300.7 or a
# "false" string, so must we), with the JSON path of a bad field in the message.
_B, _S, _I, _N, _L, _D = "bool", "str", "int", "number", "list", "dict"
_PRE_BYTE_LEVEL = {"add_prefix_space": _B, "trim_offsets": _B, "use_regex": _B}
_METASPACE = {
    "replacement": "char",
    "add_prefix_space": _B,
    "prepend_scheme": "scheme",
    "split": _B,
    "str_rep": _S,
}
_COMPONENTS: dict[str, dict[str, dict[str, str]]] = {
    "normalizer": {
        **{k: {} for k in ("NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Nmt", "StripAccents", "ByteLevel")},
        "Strip": {"strip_left": _B, "strip_right": _B},
        "Replace": {"pattern": "pattern", "content": _S},
        "Prepend": {"prepend": _S},
        "BertNormalizer": {
            "clean_text": _B,
            "handle_chinese_chars": _B,
            "strip_accents": "bool?",
            "lowercase": _B,
        },
        "Precompiled": {"precompiled_charsmap": "str?"},
        "Sequence": {"normalizers": _L},
    },
    "pre_tokenizer": {
        "ByteLevel": _PRE_BYTE_LEVEL,
        "Split": {"pattern": "pattern", "behavior": "behavior", "invert": _B},
        "Digits": {"individual_digits": _B},
        "Metaspace": _METASPACE,
        "Whitespace": {},
        "WhitespaceSplit": {},
        "BertPreTokenizer": {},
        "Punctuation": {"behavior": "behavior"},
        "CharDelimiterSplit": {"delimiter": "char"},
        "UnicodeScripts": {},
        "Sequence": {"pretokenizers": _L},
    },
    "decoder": {
        "ByteLevel": _PRE_BYTE_LEVEL,
        "Metaspace": _METASPACE,
        "WordPiece": {"prefix": _S, "cleanup": _B},
        "ByteFallback": {},
        "Fuse": {},
        "Strip": {"content": "char", "start": _I, "stop": _I},
        "Replace": {"pattern": "pattern", "content": _S},
        "BPEDecoder": {"suffix": _S},
        "CTC": {"pad_token": _S, "word_delimiter_token": _S, "cleanup": _B},
        "Sequence": {"decoders": _L},
    },
    "post_processor": {
        "TemplateProcessing": {"single": _L, "pair": _L, "special_tokens": _D},
        "BertProcessing": {"sep": "token_pair", "cls": "token_pair"},
        "RobertaProcessing": {
            "sep": "token_pair",
            "cls": "token_pair",
            "trim_offsets": _B,
            "add_prefix_space": _B,
        },
        "ByteLevel": _PRE_BYTE_LEVEL,
        "Sequence": {"processors": _L},
    },
    "model": {
        "BPE": {
            "dropout": "number?",
            "unk_token": "str?",
            "continuing_subword_prefix": "str?",
            "end_of_word_suffix": "str?",
            "fuse_unk": _B,
            "byte_fallback": _B,
            "ignore_merges": _B,
            "vocab": _D,
            "merges": _L,
        },
        "Unigram": {"unk_id": "int?", "vocab": _L, "byte_fallback": _B},
        "WordPiece": {
            "unk_token": _S,
            "continuing_subword_prefix": _S,
            "max_input_chars_per_word": _I,
            "vocab": _D,
        },
        "WordLevel": {"vocab": _D, "unk_token": _S},
    },
}
_CHILDREN = {"normalizer": "normalizers", "pre_tokenizer": "pretokenizers", "decoder": "decoders"}
_CHILDREN["post_processor"] = "processors"
_MAX_DEPTH = 64


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _type_ok(value: Any, kind: str) -> bool:
    if kind.endswith("?"):
        return value is None or _type_ok(value, kind[:-1])
    if kind == _B:
        return isinstance(value, bool)
    if kind == _S:
        return isinstance(value, str)
    if kind == _I:
        return _is_int(value) and value >= 0
    if kind == _N:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == _L:
        return isinstance(value, list)
    if kind == _D:
        return isinstance(value, dict)
    if kind == "char":
        return isinstance(value, str) and len(value) == 1
    if kind == "scheme":
        return value in ("always", "first", "never")
    if kind == "behavior":
        return value in _BEHAVIORS
    if kind == "pattern":
        return (
            isinstance(value, dict)
            and len(value) == 1
            and ("String" in value or "Regex" in value)
            and isinstance(next(iter(value.values())), str)
        )
    if kind == "token_pair":
        return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and _is_int(value[1])
    raise AssertionError(kind)


def _validate(node: Any, stage: str, path: str, source: str, depth: int = 0) -> None:
    """Checks one component node (and its children) against its HF schema."""
    if depth > _MAX_DEPTH:
        raise InvalidVocabularyError(f"{source}: {path}: Sequences nested more than {_MAX_DEPTH} deep")
    if not isinstance(node, dict):
        raise InvalidVocabularyError(f"{source}: {path} must be an object, got {_json_type(node)}")
    kind = node.get("type")
    known = _COMPONENTS[stage]
    if not isinstance(kind, str):
        raise InvalidVocabularyError(f"{source}: {path}.type must be a string, got {_json_type(kind)}")
    if kind not in known:
        what = stage.replace("_", "-")
        raise UnsupportedTokenizerError(
            f"{source}: {path}: {what} {kind!r} is not supported (supported: {', '.join(sorted(known))})"
        )
    for field, expected in known[kind].items():
        if field in node and not _type_ok(node[field], expected):
            raise InvalidVocabularyError(
                f"{source}: {path}.{field} must be {_describe(expected)}, got {node[field]!r:.80}"
            )
    if kind == "Sequence" and stage in _CHILDREN:
        key = _CHILDREN[stage]
        if not isinstance(node.get(key), list):
            raise InvalidVocabularyError(f"{source}: {path}.{key} must be an array")
        for i, child in enumerate(node[key]):
            _validate(child, stage, f"{path}.{key}[{i}]", source, depth + 1)


def _describe(kind: str) -> str:
    names = {
        _B: "a boolean",
        _S: "a string",
        _I: "a non-negative integer",
        _N: "a number",
        _L: "an array",
        _D: "an object",
        "char": "one character",
        "scheme": "'always', 'first' or 'never'",
        "behavior": f"one of {', '.join(_BEHAVIORS)}",
        "pattern": 'an object {"String": ...} or {"Regex": ...}',
        "token_pair": "a [token, id] pair",
    }
    if kind.endswith("?"):
        return f"{names[kind[:-1]]} or null"
    return names[kind]


def _model_kind(model: Mapping[str, Any]) -> str | None:
    kind = model.get("type")
    if kind is not None:
        return kind if isinstance(kind, str) else None
    # HF reads an untagged model by its fields.
    if "merges" in model:
        return "BPE"
    if isinstance(model.get("vocab"), list):
        return "Unigram"
    if "max_input_chars_per_word" in model or "continuing_subword_prefix" in model:
        return "WordPiece"
    return "WordLevel" if "vocab" in model else None


def _added_tokens(doc: Mapping[str, Any], source: str) -> list[tuple[AddedToken, int]]:
    """Added tokens with the id each file states."""
    raw = doc.get("added_tokens")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidVocabularyError(f"{source}: added_tokens must be an array, got {_json_type(raw)}")
    out = []
    for i, entry in enumerate(raw):
        path = f"added_tokens[{i}]"
        if not isinstance(entry, dict):
            raise InvalidVocabularyError(f"{source}: {path} must be an object")
        if not _is_int(entry.get("id")) or entry["id"] < 0 or entry["id"] >= 2**32:
            raise InvalidVocabularyError(
                f"{source}: {path}.id must be a non-negative 32-bit integer, got {entry.get('id')!r}"
            )
        if not isinstance(entry.get("content"), str):
            raise InvalidVocabularyError(
                f"{source}: {path}.content must be a string, got {entry.get('content')!r}"
            )
        flags = {}
        for flag in ("special", "single_word", "lstrip", "rstrip", "normalized"):
            value = entry.get(flag, False)
            if not isinstance(value, bool):
                raise InvalidVocabularyError(f"{source}: {path}.{flag} must be a boolean, got {value!r}")
            flags[flag] = value
        out.append((AddedToken(content=entry["content"], id=entry["id"], **flags), entry["id"]))
    return out


def _hf_added_ids(
    added: list[tuple[AddedToken, int]], model_ids: Mapping[str, int], model_size: int
) -> tuple[AddedToken, ...]:
    """The ids HF gives added tokens when it loads a file: the model's id when the text is a model
    token, else the next fresh id from the model's size; the id the file states is not used
    (``tokenizers`` 0.23 only warns), so a colliding id gets a fresh one, as there."""
    out: dict[str, AddedToken] = {}
    next_id = model_size
    for token, _stated in added:
        if not token.content:
            continue
        if token.content in out:
            out[token.content] = replace(token, id=out[token.content].id)
            continue
        token_id = model_ids.get(token.content)
        if token_id is None:
            token_id, next_id = next_id, next_id + 1
        out[token.content] = replace(token, id=token_id)
    return tuple(out.values())


def parse_hf_json(
    doc: Mapping[str, Any], *, source: str = "<tokenizer.json>", name: str | None = None
) -> TokenizerSpec:
    """Turns a parsed ``tokenizer.json`` document into a spec (validating everything it uses)."""
    _expect(doc, dict, "the document", source)
    model = _expect(doc.get("model"), dict, "'model'", source)
    kind = _model_kind(model)
    if kind not in _COMPONENTS["model"]:
        raise UnsupportedTokenizerError(
            f"{source}: model type {kind!r} is not supported (supported: BPE, Unigram, WordPiece, WordLevel)"
        )
    _validate({**model, "type": kind}, "model", "model", source)
    for stage in ("normalizer", "pre_tokenizer", "decoder", "post_processor"):
        if doc.get(stage) is not None:
            _validate(doc[stage], stage, stage, source)
    if model.get("dropout") not in (None, 0, 0.0):
        raise UnsupportedTokenizerError(
            f"{source}: BPE dropout is random, so it cannot be reproduced exactly"
        )
    added = _added_tokens(doc, source)
    pipeline = PipelineSpec(
        normalizer=doc.get("normalizer"),
        pre_tokenizer=doc.get("pre_tokenizer"),
        decoder=doc.get("decoder"),
        post_processor=doc.get("post_processor"),
    )
    extra = {
        k: doc[k] for k in ("truncation", "padding", "post_processor", "decoder") if doc.get(k) is not None
    }
    metadata = model.get("tokenforge", doc.get("tokenforge"))
    # A ByteLevel *normalizer* already spells the text in the byte-level alphabet, so the model
    # works on those chars (the byte-level engine would map the bytes a second time).
    byte_level = (
        kind == "BPE"
        and _is_byte_level(doc)
        and not model.get("byte_fallback")
        and "ByteLevel" not in pipeline.components()["normalizer"]
    )
    if byte_level:
        for option in ("continuing_subword_prefix", "end_of_word_suffix"):
            if model.get(option):
                raise UnsupportedTokenizerError(
                    f"{source}: BPE option {option}={model[option]!r} is not supported"
                )
        return _byte_level_spec(doc, model, added, pipeline, extra, metadata, source, name)
    node = _model_node(model, kind, source)
    spec_model = ModelSpec(kind, node)  # type: ignore[arg-type]
    model_ids = spec_model.vocab_ids()
    size = len(node["vocab"]) if kind == "Unigram" else len(model_ids)
    return TokenizerSpec(
        name=name or "tokenizer",
        vocab={},
        pre_tokenizer=(),
        added_tokens=_hf_added_ids(added, model_ids, size),
        ignore_merges=bool(node.get("ignore_merges", False)),
        unk_token=_unk_token(node, kind),
        hf_extra=extra,
        metadata=metadata,
        model=spec_model,
        pipeline=pipeline,
    )


def _unk_token(node: Mapping[str, Any], kind: str) -> str | None:
    if kind == "Unigram":
        unk = node.get("unk_id")
        return None if unk is None else str(node["vocab"][unk][0])
    return node.get("unk_token")


def _model_node(model: Mapping[str, Any], kind: str, source: str) -> dict[str, Any]:
    """The model node with every entry checked and merges as pairs."""
    node = {k: v for k, v in model.items() if k != "tokenforge"}
    node["type"] = kind
    vocab = node.get("vocab")
    if kind == "Unigram":
        if not isinstance(vocab, list) or not vocab:
            raise InvalidVocabularyError(f"{source}: model.vocab must be a non-empty array of [piece, score]")
        for i, entry in enumerate(vocab):
            ok = (
                isinstance(entry, list)
                and len(entry) == 2
                and isinstance(entry[0], str)
                and isinstance(entry[1], int | float)
                and not isinstance(entry[1], bool)
                and math.isfinite(entry[1])
            )
            if not ok:
                raise InvalidVocabularyError(
                    f"{source}: model.vocab[{i}] must be [piece, finite score], got {entry!r:.80}"
                )
        unk = node.get("unk_id")
        if unk is not None and unk >= len(vocab):
            raise InvalidVocabularyError(f"{source}: model.unk_id {unk} is beyond the {len(vocab)} pieces")
        return node
    if not isinstance(vocab, dict):
        raise InvalidVocabularyError(f"{source}: model.vocab must be an object")
    for token, token_id in vocab.items():
        if not _is_int(token_id) or not 0 <= token_id < 2**32:
            raise InvalidVocabularyError(
                f"{source}: model.vocab[{token!r}] must be a non-negative 32-bit integer, got {token_id!r}"
            )
    if kind == "BPE":
        merges = []
        for i, merge in enumerate(node.get("merges", [])):
            pair = merge.split(" ") if isinstance(merge, str) else merge
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                raise InvalidVocabularyError(f"{source}: model.merges[{i}] {merge!r} is not a pair of tokens")
            for part in pair:
                if part not in vocab:
                    raise InvalidVocabularyError(
                        f"{source}: model.merges[{i}] {merge!r} uses {part!r}, which is not in the vocabulary"
                    )
            merges.append(pair)
        node["merges"] = merges
    unk = node.get("unk_token")
    if kind == "BPE" and unk is not None and unk not in vocab:
        raise InvalidVocabularyError(f"{source}: model.unk_token {unk!r} is not in the vocabulary")
    return node


def _byte_level_spec(
    doc: Mapping[str, Any],
    model: Mapping[str, Any],
    added_stated: list[tuple[AddedToken, int]],
    pipeline: PipelineSpec,
    extra: dict[str, Any],
    metadata: Any,
    source: str,
    name: str | None,
) -> TokenizerSpec:
    raw_vocab = _expect(model.get("vocab"), dict, "model.vocab", source)
    added = list(_hf_added_ids(added_stated, raw_vocab, len(raw_vocab)))
    added_contents = {t.content for t in added}

    merges: list[tuple[int, int]] = []
    for index, merge in enumerate(_expect(model.get("merges", []), list, "model.merges", source)):
        if isinstance(merge, str):
            pair = merge.split(" ")
        elif isinstance(merge, list):
            pair = merge
        else:
            pair = []
        if len(pair) != 2 or not all(isinstance(p, str) for p in pair):
            raise InvalidVocabularyError(f"{source}: merge #{index} {merge!r} is not a pair of tokens")
        try:
            merges.append((raw_vocab[pair[0]], raw_vocab[pair[1]]))
        except KeyError as exc:
            raise InvalidVocabularyError(
                f"{source}: merge #{index} {merge!r} uses {exc.args[0]!r}, which is not in the vocabulary"
            ) from exc

    # Special tokens are often also listed in the model vocabulary (HF needs that to keep their ids
    # when ids have holes). They are matched as specials; kept out of the BPE model so that
    # special-looking text encoded as ordinary text never becomes the special id.
    in_merges = {i for pair in merges for i in pair}
    special_entries = {(t.content, t.id) for t in added if t.special}
    vocab: dict[bytes, int] = {}
    for token, token_id in raw_vocab.items():
        if not _is_int(token_id) or token_id < 0:
            raise InvalidVocabularyError(
                f"{source}: model.vocab[{token!r}] must be a non-negative integer, got {token_id!r}"
            )
        if (token, token_id) in special_entries and token_id not in in_merges:
            continue
        data = token_str_to_bytes(token)
        if data is None:
            if token in added_contents:
                continue  # an added token also listed in the model vocabulary; matched as added token
            raise InvalidVocabularyError(
                f"{source}: vocabulary entry {token!r} has characters outside the byte-level alphabet"
            )
        vocab[data] = token_id
    if not vocab:
        raise InvalidVocabularyError(f"{source}: the model vocabulary is empty")

    unk = model.get("unk_token")
    if unk is not None and unk not in raw_vocab:
        raise InvalidVocabularyError(f"{source}: unk_token {unk!r} is not in the vocabulary")
    try:
        typed = _pre_tokenizer(doc.get("pre_tokenizer"), source), _normalizers(doc.get("normalizer"), source)
        decoder = doc.get("decoder")
        if decoder is not None and decoder.get("type") != "ByteLevel":
            raise UnsupportedTokenizerError("decoder")
    except UnsupportedTokenizerError:
        # Components beyond the typed steps: the engine builds them from the HF nodes.
        typed = None
    return TokenizerSpec(
        name=name or "tokenizer",
        vocab=vocab,
        merges=tuple(merges),
        pre_tokenizer=typed[0] if typed else (),
        normalizers=typed[1] if typed else (),
        added_tokens=tuple(added),
        ignore_merges=bool(model.get("ignore_merges", False)),
        unk_token=unk,
        hf_extra=extra,
        metadata=metadata,
        pipeline=None if typed else pipeline,
    )


def read_hf_json(path: str | os.PathLike[str]) -> TokenizerSpec:
    """Reads a ``tokenizer.json`` file."""
    path = Path(path)
    name = path.parent.name if path.name == "tokenizer.json" else path.stem
    try:
        doc = json.loads(path.read_bytes())
        return parse_hf_json(doc, source=str(path), name=name or "tokenizer")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidVocabularyError(f"{path}: not valid JSON ({exc})") from exc
    except RecursionError:
        raise InvalidVocabularyError(
            f"{path}: nested too deeply (a Sequence inside thousands of others?)"
        ) from None


def _step_to_json(step: PreTokenizerStep) -> dict[str, Any]:
    if isinstance(step, SplitStep):
        return {
            "type": "Split",
            "pattern": {"Regex": engine_to_hf(step.pattern)},
            "behavior": _BEHAVIOR_NAMES[step.behavior],
            "invert": step.invert,
        }
    if isinstance(step, ByteLevelStep):
        return {
            "type": "ByteLevel",
            "add_prefix_space": step.add_prefix_space,
            "trim_offsets": True,
            "use_regex": step.use_regex,
        }
    return {"type": "Digits", "individual_digits": step.individual}


def spec_to_hf_json(
    spec: TokenizerSpec,
    vocab: Mapping[bytes, int],
    merges: list[tuple[int, int]],
    id_to_bytes: Mapping[int, bytes],
) -> dict[str, Any]:
    """The ``tokenizer.json`` document of a tokenizer (model tables passed in from the engine)."""
    steps = list(spec.pre_tokenizer)
    # A byte-level model needs a ByteLevel step so HF maps bytes to vocabulary characters; without a
    # regex of its own and without a prefix space it does not change the pieces.
    if not any(isinstance(s, ByteLevelStep) for s in steps):
        steps.append(ByteLevelStep(add_prefix_space=False, use_regex=False))
    pre = (
        _step_to_json(steps[0])
        if len(steps) == 1
        else {"type": "Sequence", "pretokenizers": [_step_to_json(s) for s in steps]}
    )
    if not spec.normalizers:
        normalizer = None
    elif len(spec.normalizers) == 1:
        normalizer = {"type": spec.normalizers[0]}
    else:
        normalizer = {"type": "Sequence", "normalizers": [{"type": n} for n in spec.normalizers]}
    str_of = {i: bytes_to_token_str(b) for i, b in id_to_bytes.items()}
    doc: dict[str, Any] = {
        "version": "1.0",
        "truncation": spec.hf_extra.get("truncation"),
        "padding": spec.hf_extra.get("padding"),
        "added_tokens": _added_json(spec.added_tokens),
        "normalizer": normalizer,
        "pre_tokenizer": pre,
        "post_processor": spec.hf_extra.get("post_processor"),
        "decoder": spec.hf_extra.get("decoder", _BYTE_LEVEL_DECODER),
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": spec.unk_token,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": spec.ignore_merges,
            "vocab": _vocab_with_specials(vocab, spec.added_tokens),
            "merges": [[str_of[a], str_of[b]] for a, b in merges],
        },
    }
    if spec.pipeline is not None:
        for stage in ("normalizer", "pre_tokenizer", "decoder", "post_processor"):
            doc[stage] = getattr(spec.pipeline, stage)
    if spec.metadata is not None:
        # Inside "model", not at the top level: HF `tokenizers` (0.23) rejects unknown top-level
        # keys ("expected `,` or `}`") but ignores unknown keys of the BPE model.
        doc["model"]["tokenforge"] = dict(spec.metadata)
    return doc


def _added_json(added: tuple[AddedToken, ...]) -> list[dict[str, Any]]:
    return [
        {
            "id": t.id,
            "content": t.content,
            "single_word": t.single_word,
            "lstrip": t.lstrip,
            "rstrip": t.rstrip,
            "normalized": t.normalized,
            "special": t.special,
        }
        for t in sorted(added, key=lambda t: t.id)
    ]


def model_spec_to_hf_json(spec: TokenizerSpec) -> dict[str, Any]:
    """The ``tokenizer.json`` document of a string-vocabulary model (its nodes written back)."""
    assert spec.model is not None
    pipeline = spec.pipeline or PipelineSpec()
    model = dict(spec.model.node)
    if spec.metadata is not None:
        model["tokenforge"] = dict(spec.metadata)
    return {
        "version": "1.0",
        "truncation": spec.hf_extra.get("truncation"),
        "padding": spec.hf_extra.get("padding"),
        "added_tokens": _added_json(spec.added_tokens),
        "normalizer": pipeline.normalizer,
        "pre_tokenizer": pipeline.pre_tokenizer,
        "post_processor": pipeline.post_processor,
        "decoder": pipeline.decoder,
        "model": model,
    }


def _vocab_with_specials(vocab: Mapping[bytes, int], added: tuple[AddedToken, ...]) -> dict[str, int]:
    """The model vocabulary plus the special tokens: HF gives an added token that is missing from the
    vocabulary the next free id, so without this cl100k's <|endoftext|> (100257, after a hole at
    100256) would load as 100256."""
    out = {bytes_to_token_str(b): i for b, i in sorted(vocab.items(), key=lambda kv: kv[1])}
    for token in sorted(added, key=lambda t: t.id):
        out.setdefault(token.content, token.id)
    return out


def _engine_node(node: Any) -> Any:
    """A copy of a component node with every ``Regex`` pattern in the engine's dialect."""
    if isinstance(node, list):
        return [_engine_node(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _engine_node(v) for k, v in node.items()}
    pattern = node.get("pattern")
    if isinstance(pattern, dict) and isinstance(pattern.get("Regex"), str):
        regex = pattern["Regex"]
        out["pattern"] = {"Regex": _PRESET_BY_HF_SPELLING.get(regex) or hf_to_engine(regex)}
    return out


def engine_pipeline(spec: TokenizerSpec) -> str | None:
    """The JSON the engine builds an HF pipeline from (None for the typed byte-level path)."""
    if spec.pipeline is None and spec.model is None:
        return None
    pipeline = spec.pipeline or PipelineSpec()
    doc = {
        "model": None if spec.model is None else spec.model.node,
        "normalizer": _engine_node(pipeline.normalizer),
        "pre_tokenizer": _engine_node(pipeline.pre_tokenizer),
        "decoder": _engine_node(pipeline.decoder),
    }
    # The piece types and scores of a SentencePiece .model: its exact encoding rules (see
    # formats/sentencepiece.py).
    sentencepiece = (spec.metadata or {}).get("sentencepiece") if spec.model is not None else None
    if sentencepiece:
        keys = ("piece_types", "scores", "normalizer", "unk_surface")
        doc["sentencepiece"] = {k: sentencepiece[k] for k in keys if k in sentencepiece}
    return json.dumps(doc, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class TemplatePiece:
    """One piece of what a post-processor makes of its input: a whole sequence (``sequence`` 0 for
    the first, 1 for the pair) or fixed special ids (``sequence`` None), each token typed
    ``type_id``."""

    sequence: int | None
    ids: tuple[int, ...]
    type_id: int


def _default_layout(pair: bool, type_b: int = 1) -> tuple[TemplatePiece, ...]:
    # HF's default: the sequences joined, the second with type id 1.
    first = (TemplatePiece(0, (), 0),)
    return (*first, TemplatePiece(1, (), type_b)) if pair else first


def _has(node: Mapping[str, Any], kind: str) -> bool:
    if node["type"] == "Sequence":
        return any(_has(child, kind) for child in node["processors"])
    return node["type"] == kind


def _adds_tokens(node: Mapping[str, Any]) -> bool:
    if node["type"] == "Sequence":
        return any(_adds_tokens(child) for child in node["processors"])
    return node["type"] != "ByteLevel"


def post_processor_layout(
    node: Mapping[str, Any] | None,
    pair: bool,
    add_special_tokens: bool,
    source: str = "post_processor",
) -> tuple[TemplatePiece, ...]:
    """The pieces, in order, HF's post-processor makes of one encoded sequence or a pair of them
    (``encode(text, pair, add_special_tokens=...)``): its ``ids``, ``type_ids`` and
    ``sequence_ids`` are the pieces' ids, type ids and sequence indexes (None for special ids).

    Without ``add_special_tokens`` HF drops the special pieces but keeps the rest of the rule: a
    ``TemplateProcessing`` still orders and types the sequences, ``RobertaProcessing`` still types
    every token 0."""
    if node is None or node["type"] == "ByteLevel":
        return _default_layout(pair)
    kind = node["type"]
    if kind == "Sequence":
        adders = [child for child in node["processors"] if _adds_tokens(child)]
        if len(adders) <= 1:
            return post_processor_layout(adders[0] if adders else None, pair, add_special_tokens, source)
        if pair and add_special_tokens:
            raise UnsupportedTokenizerError(f"{source}: a Sequence of several processors that add tokens")
        if not add_special_tokens:
            return _default_layout(pair)
        # One sequence: each processor wraps what the ones before it made.
        pieces = _default_layout(False)
        for child in adders:
            wrapper = post_processor_layout(child, False, True, source)
            pieces = tuple(p for w in wrapper for p in (pieces if w.sequence == 0 else (w,)))
        return pieces
    if kind in ("BertProcessing", "RobertaProcessing"):
        roberta = kind == "RobertaProcessing"
        # RobertaProcessing gives every token type id 0, special or not (as HF).
        type_b = 0 if roberta else 1
        if not add_special_tokens:
            return _default_layout(pair, type_b)
        cls, sep = (int(node["cls"][1]),), (int(node["sep"][1]),)
        single = (TemplatePiece(None, cls, 0), TemplatePiece(0, (), 0), TemplatePiece(None, sep, 0))
        if not pair:
            return single
        # Roberta puts two separators between the sequences.
        between = (TemplatePiece(None, sep, 0),) if roberta else ()
        return (*single, *between, TemplatePiece(1, (), type_b), TemplatePiece(None, sep, type_b))
    # TemplateProcessing
    which = "pair" if pair else "single"
    template = node.get(which)
    if not template:
        if not add_special_tokens:
            return _default_layout(pair)
        raise InvalidArgumentError(
            f"{source} has no {which} template: this tokenizer cannot encode a {which}"
        )
    specials = node.get("special_tokens", {})
    pieces: list[TemplatePiece] = []
    seen: set[int] = set()
    for i, piece in enumerate(template):
        if not isinstance(piece, dict) or len(piece) != 1:
            raise InvalidVocabularyError(f"{source}: {which}[{i}] must be a Sequence or SpecialToken object")
        ((what, body),) = piece.items()
        type_id = body.get("type_id", 0) if isinstance(body, dict) else None
        if not _is_int(type_id):
            raise InvalidVocabularyError(f"{source}: {which}[{i}].type_id must be an integer")
        if what == "Sequence" and body.get("id") in (("A", "B") if pair else ("A",)):
            index = 0 if body["id"] == "A" else 1
            if index in seen:
                raise UnsupportedTokenizerError(
                    f"{source}: the {which} template repeats sequence {body['id']}"
                )
            seen.add(index)
            pieces.append(TemplatePiece(index, (), type_id))
        elif what == "SpecialToken":
            entry = specials.get(body.get("id"))
            ids = entry.get("ids") if isinstance(entry, dict) else None
            if not isinstance(ids, list) or not all(_is_int(x) for x in ids):
                raise InvalidVocabularyError(
                    f"{source}: {which}[{i}] names special token {body.get('id')!r}, "
                    "which special_tokens does not define"
                )
            if add_special_tokens:
                pieces.append(TemplatePiece(None, tuple(int(x) for x in ids), type_id))
        else:
            expected = "Sequence A or B" if pair else "Sequence A"
            raise InvalidVocabularyError(f"{source}: {which}[{i}] must be {expected}, or a SpecialToken")
    if len(seen) != (2 if pair else 1):
        raise InvalidVocabularyError(f"{source}: the {which} template must hold every sequence once")
    return tuple(pieces)


def post_processor_ids(
    node: Mapping[str, Any] | None, source: str = "post_processor"
) -> tuple[list[int], list[int]]:
    """The ids HF's post-processor puts before and after a single sequence
    (``encode(text, add_special_tokens=True)``)."""
    pieces = post_processor_layout(node, False, True, source)
    at = next(i for i, p in enumerate(pieces) if p.sequence == 0)
    before = [x for p in pieces[:at] for x in p.ids]
    return before, [x for p in pieces[at + 1 :] for x in p.ids]


def write_hf_json(path: str | os.PathLike[str], doc: Mapping[str, Any]) -> None:
    """Writes a document atomically (temp file + rename), UTF-8, no ASCII escaping."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise FileAccessError(f"cannot write {path}: {exc.strerror or exc}") from None
