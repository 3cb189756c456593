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
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import FileAccessError, InvalidVocabularyError, UnsupportedTokenizerError
from ..spec import AddedToken, ByteLevelStep, DigitsStep, PreTokenizerStep, SplitStep, TokenizerSpec
from .bytelevel import bytes_to_token_str, token_str_to_bytes
from .presets import PATTERNS
from .regex_dialect import engine_to_hf, hf_to_engine

__all__ = ["parse_hf_json", "read_hf_json", "spec_to_hf_json", "write_hf_json"]

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


def _expect(obj: Any, kind: type, what: str, source: str) -> Any:
    if not isinstance(obj, kind):
        raise InvalidVocabularyError(f"{source}: {what} must be a {kind.__name__}, got {type(obj).__name__}")
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


def parse_hf_json(
    doc: Mapping[str, Any], *, source: str = "<tokenizer.json>", name: str | None = None
) -> TokenizerSpec:
    """Turns a parsed ``tokenizer.json`` document into a spec (validating everything it uses)."""
    _expect(doc, dict, "the document", source)
    model = _expect(doc.get("model"), dict, "'model'", source)
    kind = model.get("type", "BPE" if "merges" in model else None)
    if kind != "BPE":
        raise UnsupportedTokenizerError(
            f"{source}: model type {kind!r} is not supported (only byte-level BPE)"
        )
    if not _is_byte_level(doc):
        raise UnsupportedTokenizerError(
            f"{source}: this BPE model is not byte-level (no ByteLevel pre-tokenizer or decoder); "
            "SentencePiece-style models (Metaspace, byte_fallback) are not supported"
        )
    for option in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(option):
            raise UnsupportedTokenizerError(
                f"{source}: BPE option {option}={model[option]!r} is not supported"
            )
    if model.get("dropout") not in (None, 0, 0.0):
        raise UnsupportedTokenizerError(
            f"{source}: BPE dropout is random, so it cannot be reproduced exactly"
        )
    if model.get("byte_fallback"):
        raise UnsupportedTokenizerError(f"{source}: byte_fallback is not supported for byte-level models")
    decoder = doc.get("decoder")
    if decoder is not None:
        _expect(decoder, dict, "decoder", source)
        if decoder.get("type") != "ByteLevel":
            raise UnsupportedTokenizerError(
                f"{source}: decoder {decoder.get('type')!r} is not supported (only ByteLevel)"
            )

    raw_vocab = _expect(model.get("vocab"), dict, "model.vocab", source)
    added_raw = _expect(doc.get("added_tokens") or [], list, "added_tokens", source)
    added: list[AddedToken] = []
    for entry in added_raw:
        _expect(entry, dict, "an added_tokens entry", source)
        try:
            token = AddedToken(
                content=str(entry["content"]),
                id=int(entry["id"]),
                special=bool(entry.get("special", False)),
                single_word=bool(entry.get("single_word", False)),
                lstrip=bool(entry.get("lstrip", False)),
                rstrip=bool(entry.get("rstrip", False)),
                normalized=bool(entry.get("normalized", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidVocabularyError(f"{source}: malformed added token {entry!r}") from exc
        for flag in ("single_word", "lstrip", "rstrip"):
            if getattr(token, flag):
                raise UnsupportedTokenizerError(
                    f"{source}: added token {token.content!r} sets {flag}=true, which is not supported"
                )
        added.append(token)
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
        if not isinstance(token_id, int) or isinstance(token_id, bool) or token_id < 0:
            raise InvalidVocabularyError(
                f"{source}: vocabulary id of {token!r} must be a non-negative integer"
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

    extra = {
        k: doc[k] for k in ("truncation", "padding", "post_processor", "decoder") if doc.get(k) is not None
    }
    return TokenizerSpec(
        name=name or "tokenizer",
        vocab=vocab,
        merges=tuple(merges),
        pre_tokenizer=_pre_tokenizer(doc.get("pre_tokenizer"), source),
        normalizers=_normalizers(doc.get("normalizer"), source),
        added_tokens=tuple(added),
        ignore_merges=bool(model.get("ignore_merges", False)),
        unk_token=unk,
        hf_extra=extra,
        metadata=model.get("tokenforge", doc.get("tokenforge")),
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
        "added_tokens": [
            {
                "id": t.id,
                "content": t.content,
                "single_word": t.single_word,
                "lstrip": t.lstrip,
                "rstrip": t.rstrip,
                "normalized": t.normalized,
                "special": t.special,
            }
            for t in sorted(spec.added_tokens, key=lambda t: t.id)
        ],
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
    if spec.metadata is not None:
        # Inside "model", not at the top level: HF `tokenizers` (0.23) rejects unknown top-level
        # keys ("expected `,` or `}`") but ignores unknown keys of the BPE model.
        doc["model"]["tokenforge"] = dict(spec.metadata)
    return doc


def _vocab_with_specials(vocab: Mapping[bytes, int], added: tuple[AddedToken, ...]) -> dict[str, int]:
    """The model vocabulary plus the special tokens: HF gives an added token that is missing from the
    vocabulary the next free id, so without this cl100k's <|endoftext|> (100257, after a hole at
    100256) would load as 100256."""
    out = {bytes_to_token_str(b): i for b, i in sorted(vocab.items(), key=lambda kv: kv[1])}
    for token in sorted(added, key=lambda t: t.id):
        out.setdefault(token.content, token.id)
    return out


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
