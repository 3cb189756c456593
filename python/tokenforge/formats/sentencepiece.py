"""SentencePiece ``.model`` files: a native protobuf reader and writer, and the mapping to the
``tokenizer.json`` schema.

The reader decodes the protobuf wire format by hand (no ``sentencepiece`` or ``protobuf`` package at
run time) into a :class:`SentencePieceModel`: the pieces (text, score, type), the trainer spec, the
normalizer spec and the denormalizer spec. Malformed, truncated or wrongly typed data raises
:class:`~tokenforge.InvalidVocabularyError` naming the field and the byte offset.

:func:`to_hf_doc` turns the model into an HF ``tokenizer.json`` document that
:func:`~tokenforge.formats.hf_json.parse_hf_json` reads. SentencePiece's encoding is expressed with
HF's own components:

* normalizer, in SentencePiece's order: ``Precompiled`` (the ``precompiled_charsmap``, when the rule
  is not ``identity``); with ``remove_extra_whitespaces``: ``Replace`` of ``\\A +`` by nothing and
  of `` {2,}`` by one space; with ``escape_whitespaces``: ``Replace`` of ``" "`` by ``"▁"``; with
  ``add_dummy_prefix``: ``Prepend("▁")`` (HF's Prepend, like SentencePiece, adds nothing to an empty
  string); with ``remove_extra_whitespaces``: ``Replace`` of ``▁+\\z`` by nothing (SentencePiece
  strips trailing ``▁`` after escaping, including a literal ``▁`` of the input);
* no pre-tokenizer (SentencePiece segments the whole normalized text);
* model ``Unigram`` (scores, ``unk_id``, ``byte_fallback``) or ``BPE`` (``byte_fallback``,
  ``fuse_unk``, merges derived from the piece scores: every split of a normal piece into two
  normal pieces, highest merged-piece score first, as SentencePiece merges the best-scoring pair);
* added tokens: control pieces and the unknown piece are special; user-defined pieces are
  non-special, non-normalized added tokens (SentencePiece never splits or merges them);
* decoder ``Sequence[Replace(unk piece → unk_surface), Replace("▁" → " "), ByteFallback, Fuse,
  Strip(one leading space, when add_dummy_prefix)]``.

One extension block, ignored by HF (it skips unknown keys of the model), lives at
``model.tokenforge.sentencepiece``:

* ``piece_types``: the SentencePiece type of every id (1 normal, 2 unknown, 3 control,
  4 user-defined, 5 unused, 6 byte). ``SentencePieceProcessor.encode`` never produces a control,
  unknown, unused or byte piece by matching text: control pieces are not matched in text at all,
  the unknown piece stands only for unknown characters, byte pieces come only from byte fallback.
  HF's Unigram and BPE models have every vocabulary entry in their matching tables, which is
  invisible in HF because HF always splits special tokens out of the text first, but not for
  ``encode_ordinary`` on text such as ``"<s>"`` or ``"<0x41>"``. tokenforge's engine honours
  ``piece_types`` and follows ``SentencePieceProcessor.encode`` (sentencepiece 0.2.3) exactly:
  only normal and user-defined pieces are matched; user-defined pieces are found by the model in
  the normalized text (never split out as added tokens); BPE merges the pair of highest piece
  score, leftmost first; Unigram sums its lattice in float, as SentencePiece does.
* ``scores``: the score of every id (BPE models, whose HF vocabulary has no scores): the BPE
  merge order, and what a ``.model`` is written back with.
* ``normalizer``: ``add_dummy_prefix``, ``remove_extra_whitespaces`` and ``escape_whitespaces``:
  the engine runs SentencePiece's own normalizer (longest charsmap match at each position, the
  whitespace rules in the same pass, user-defined pieces kept verbatim) instead of the HF chain.
* ``piece_flags`` and ``tail``: what is needed to re-emit the file bit for bit (which pieces
  carried an explicit score/type field, and the serialized trainer spec, normalizer spec,
  self-test data and denormalizer spec exactly as read).

Known limits of the HF expression (for HF ``tokenizers`` reading the converted document; the
tokenforge engine has neither): with ``add_dummy_prefix`` and user-defined pieces (Mistral v3/v7:
``[REF]``, ``[REFERENCE_DOC_n]``), HF normalizes each stretch of text between added tokens
separately, so the text after a user-defined piece gets a dummy ``▁`` that SentencePiece does not
add; HF's Precompiled normalizer looks whole graphemes up first, and its Unigram sums in double.

``treat_whitespace_as_suffix`` models put the dummy ``▁`` at the end with ``Replace(\\z → ▁)`` (HF has no
appending normalizer; SentencePiece keeps that ``▁`` when decoding). ``treat_whitespace_as_suffix``
together with ``remove_extra_whitespaces``, BPE models with unused pieces (SentencePiece merges into
them, then splits them again) and the ``word``/``char`` model types raise
:class:`~tokenforge.UnsupportedTokenizerError`.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidVocabularyError, UnsupportedTokenizerError

__all__ = [
    "PieceType",
    "SentencePieceModel",
    "from_hf_doc",
    "is_sentencepiece_model",
    "parse_model",
    "read_model",
    "serialize_model",
    "to_hf_doc",
    "write_model",
]

SPACE = "\u2581"


class PieceType:
    """``ModelProto.SentencePiece.Type`` values."""

    NORMAL = 1
    UNKNOWN = 2
    CONTROL = 3
    USER_DEFINED = 4
    UNUSED = 5
    BYTE = 6


_TYPE_NAMES = {1: "normal", 2: "unknown", 3: "control", 4: "user-defined", 5: "unused", 6: "byte"}
_MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}

# ---------------------------------------------------------------------------- wire format

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
Field = tuple[int, int, int | bytes]  # (field number, wire type, varint/fixed value or payload)


def _varint(data: bytes, pos: int, end: int, where: str) -> tuple[int, int]:
    value = shift = 0
    start = pos
    while True:
        if pos >= end:
            raise InvalidVocabularyError(f"{where}: truncated varint at byte {start}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise InvalidVocabularyError(f"{where}: varint longer than 10 bytes at byte {start}")


def _fields(data: bytes, start: int, end: int, where: str) -> list[tuple[int, int, int | bytes, int]]:
    """The fields of one message as ``(number, wire type, value, offset)``."""
    out: list[tuple[int, int, int | bytes, int]] = []
    pos = start
    while pos < end:
        offset = pos
        key, pos = _varint(data, pos, end, where)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise InvalidVocabularyError(f"{where}: field number 0 at byte {offset} (not a protobuf message)")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(data, pos, end, where)
        elif wire == _FIXED64 or wire == _FIXED32:
            size = 8 if wire == _FIXED64 else 4
            if pos + size > end:
                raise InvalidVocabularyError(f"{where}: field {number} truncated at byte {offset}")
            value = int.from_bytes(data[pos : pos + size], "little")
            pos += size
        elif wire == _BYTES:
            length, pos = _varint(data, pos, end, where)
            if pos + length > end:
                raise InvalidVocabularyError(
                    f"{where}: field {number} at byte {offset} claims {length} bytes, "
                    f"only {end - pos} remain (truncated file?)"
                )
            value = data[pos : pos + length]
            pos += length
        else:
            raise InvalidVocabularyError(
                f"{where}: field {number} at byte {offset} has wire type {wire}, which SentencePiece "
                "models never use (groups or garbage)"
            )
        out.append((number, wire, value, offset))
    return out


def _put_varint(out: bytearray, value: int) -> None:
    if value < 0:
        value += 1 << 64  # int32/int64 negatives are sign-extended to 10 bytes, as C++ writes them
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _put_field(out: bytearray, number: int, wire: int, value: int | bytes) -> None:
    _put_varint(out, (number << 3) | wire)
    if wire == _VARINT:
        assert isinstance(value, int)
        _put_varint(out, value)
    elif wire == _FIXED32:
        assert isinstance(value, int)
        out += value.to_bytes(4, "little")
    elif wire == _FIXED64:
        assert isinstance(value, int)
        out += value.to_bytes(8, "little")
    else:
        assert isinstance(value, bytes)
        _put_varint(out, len(value))
        out += value


# ---------------------------------------------------------------------------- typed messages

# (name, field number, kind) of the fields tokenforge reads; every other field is kept verbatim.
_TRAINER_FIELDS: dict[int, tuple[str, str]] = {
    2: ("model_prefix", "string"),
    3: ("model_type", "enum"),
    4: ("vocab_size", "int"),
    10: ("character_coverage", "float"),
    14: ("seed_sentencepiece_size", "int"),
    15: ("shrinking_factor", "float"),
    17: ("num_sub_iterations", "int"),
    20: ("max_sentencepiece_length", "int"),
    21: ("split_by_unicode_script", "bool"),
    22: ("split_by_whitespace", "bool"),
    23: ("split_by_number", "bool"),
    24: ("treat_whitespace_as_suffix", "bool"),
    25: ("split_digits", "bool"),
    26: ("allow_whitespace_only_pieces", "bool"),
    35: ("byte_fallback", "bool"),
    40: ("unk_id", "int"),
    41: ("bos_id", "int"),
    42: ("eos_id", "int"),
    43: ("pad_id", "int"),
    44: ("unk_surface", "string"),
    45: ("unk_piece", "string"),
    46: ("bos_piece", "string"),
    47: ("eos_piece", "string"),
    48: ("pad_piece", "string"),
}
_TRAINER_DEFAULTS: dict[str, Any] = {
    "model_prefix": "",
    "model_type": 1,
    "vocab_size": 8000,
    "character_coverage": 0.9995,
    "seed_sentencepiece_size": 1_000_000,
    "shrinking_factor": 0.75,
    "num_sub_iterations": 2,
    "max_sentencepiece_length": 16,
    "split_by_unicode_script": True,
    "split_by_whitespace": True,
    "split_by_number": True,
    "treat_whitespace_as_suffix": False,
    "split_digits": False,
    "allow_whitespace_only_pieces": False,
    "byte_fallback": False,
    "unk_id": 0,
    "bos_id": 1,
    "eos_id": 2,
    "pad_id": -1,
    "unk_surface": " \u2047 ",
    "unk_piece": "<unk>",
    "bos_piece": "<s>",
    "eos_piece": "</s>",
    "pad_piece": "<pad>",
}
# Read only to tell a truncated file from a complete one (see _refuse_truncation).
_VOCAB_SIZE, _HARD_VOCAB_LIMIT = 4, 33
_NORMALIZER_FIELDS: dict[int, tuple[str, str]] = {
    1: ("name", "string"),
    2: ("precompiled_charsmap", "bytes"),
    3: ("add_dummy_prefix", "bool"),
    4: ("remove_extra_whitespaces", "bool"),
    5: ("escape_whitespaces", "bool"),
    6: ("normalization_rule_tsv", "string"),
}
_NORMALIZER_DEFAULTS: dict[str, Any] = {
    "name": "",
    "precompiled_charsmap": b"",
    "add_dummy_prefix": True,
    "remove_extra_whitespaces": True,
    "escape_whitespaces": True,
    "normalization_rule_tsv": "",
}
_WIRE_OF_KIND = {
    "string": _BYTES,
    "bytes": _BYTES,
    "enum": _VARINT,
    "int": _VARINT,
    "bool": _VARINT,
    "float": _FIXED32,
}


def _typed(
    data: bytes,
    start: int,
    end: int,
    schema: Mapping[int, tuple[str, str]],
    defaults: Mapping[str, Any],
    where: str,
) -> dict[str, Any]:
    values = dict(defaults)
    for number, wire, value, offset in _fields(data, start, end, where):
        known = schema.get(number)
        if known is None:
            continue
        name, kind = known
        if wire != _WIRE_OF_KIND[kind]:
            raise InvalidVocabularyError(
                f"{where}.{name} (field {number}) at byte {offset} has wire type {wire}, expected "
                f"{_WIRE_OF_KIND[kind]}"
            )
        if kind == "string":
            assert isinstance(value, bytes)
            try:
                values[name] = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidVocabularyError(
                    f"{where}.{name} at byte {offset} is not valid UTF-8 ({exc.reason})"
                ) from None
        elif kind == "bytes":
            values[name] = value
        elif kind == "bool":
            values[name] = bool(value)
        elif kind == "float":
            assert isinstance(value, int)
            values[name] = struct.unpack("<f", value.to_bytes(4, "little"))[0]
        else:
            assert isinstance(value, int)
            signed = value - (1 << 64) if value >= 1 << 63 else value
            if not -(1 << 31) <= signed < 1 << 31:
                raise InvalidVocabularyError(f"{where}.{name} at byte {offset} is out of int32 range")
            values[name] = signed
    return values


@dataclass(frozen=True)
class SentencePieceModel:
    """A parsed ``ModelProto``. ``pieces`` is ``(text, score, type)`` by id."""

    pieces: tuple[tuple[str, float, int], ...]
    trainer: Mapping[str, Any]
    normalizer: Mapping[str, Any]
    denormalizer: Mapping[str, Any] | None
    #: Per piece: (score field present, type field present) — to write the file back bit for bit.
    piece_flags: tuple[tuple[bool, bool], ...] = ()
    #: Every top-level field after the pieces, serialized exactly as read.
    tail: bytes = b""
    source: str = field(default="<model>", compare=False)

    @property
    def model_type(self) -> str:
        return _MODEL_TYPES.get(self.trainer["model_type"], f"unknown ({self.trainer['model_type']})")

    @property
    def unk_id(self) -> int | None:
        for i, (_, _, kind) in enumerate(self.pieces):
            if kind == PieceType.UNKNOWN:
                return i
        return None


def _parse_piece(payload: bytes, index: int, offset: int, source: str) -> tuple[str, float, int, bool, bool]:
    where = f"{source}: pieces[{index}] (byte {offset})"
    text: str | None = None
    score, kind = 0.0, PieceType.NORMAL
    has_score = has_type = False
    for number, wire, value, _ in _fields(payload, 0, len(payload), where):
        if number == 1:
            if wire != _BYTES:
                raise InvalidVocabularyError(f"{where}: piece text has wire type {wire}, expected 2")
            assert isinstance(value, bytes)
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidVocabularyError(f"{where}: piece text is not valid UTF-8") from None
        elif number == 2:
            if wire != _FIXED32:
                raise InvalidVocabularyError(f"{where}: score has wire type {wire}, expected 5 (float)")
            assert isinstance(value, int)
            score = struct.unpack("<f", value.to_bytes(4, "little"))[0]
            has_score = True
        elif number == 3:
            if wire != _VARINT:
                raise InvalidVocabularyError(f"{where}: type has wire type {wire}, expected 0")
            assert isinstance(value, int)
            if value not in _TYPE_NAMES:
                raise InvalidVocabularyError(f"{where}: unknown piece type {value}")
            kind = value
            has_type = True
    if text is None:
        raise InvalidVocabularyError(f"{where}: piece has no text (field 1)")
    if not text:
        raise InvalidVocabularyError(f"{where}: piece text is empty")
    return text, score, kind, has_score, has_type


def parse_model(data: bytes, *, source: str = "<model>") -> SentencePieceModel:
    """Parses the bytes of a ``.model`` file."""
    if not data:
        raise InvalidVocabularyError(f"{source}: empty file, not a SentencePiece model")
    pieces: list[tuple[str, float, int]] = []
    flags: list[tuple[bool, bool]] = []
    tail = bytearray()
    trainer_at = normalizer_at = denormalizer_at = None
    seen_text: dict[str, int] = {}
    for number, wire, value, offset in _fields(data, 0, len(data), source):
        if number in (1, 2, 3, 5) and wire != _BYTES:
            raise InvalidVocabularyError(
                f"{source}: top-level field {number} at byte {offset} has wire type {wire}, expected "
                "a message (not a SentencePiece model?)"
            )
        if number == 1:
            assert isinstance(value, bytes)
            text, score, kind, has_score, has_type = _parse_piece(value, len(pieces), offset, source)
            if text in seen_text:
                raise InvalidVocabularyError(
                    f"{source}: piece {text!r} appears twice (ids {seen_text[text]} and {len(pieces)})"
                )
            seen_text[text] = len(pieces)
            pieces.append((text, score, kind))
            flags.append((has_score, has_type))
            continue
        assert isinstance(value, bytes) or isinstance(value, int)
        _put_field(tail, number, wire, value)
        if number == 2:
            trainer_at = value
        elif number == 3:
            normalizer_at = value
        elif number == 5:
            denormalizer_at = value
    if not pieces:
        raise InvalidVocabularyError(f"{source}: the model has no pieces (not a SentencePiece model?)")

    def message(payload: Any, schema: Any, defaults: Any, name: str) -> dict[str, Any]:
        if payload is None:
            return dict(defaults)
        return _typed(payload, 0, len(payload), schema, defaults, f"{source}: {name}")

    trainer = message(trainer_at, _TRAINER_FIELDS, _TRAINER_DEFAULTS, "trainer_spec")
    normalizer = message(normalizer_at, _NORMALIZER_FIELDS, _NORMALIZER_DEFAULTS, "normalizer_spec")
    denormalizer = (
        None
        if denormalizer_at is None
        else message(denormalizer_at, _NORMALIZER_FIELDS, _NORMALIZER_DEFAULTS, "denormalizer_spec")
    )
    model = SentencePieceModel(
        pieces=tuple(pieces),
        trainer=trainer,
        normalizer=normalizer,
        denormalizer=denormalizer,
        piece_flags=tuple(flags),
        tail=bytes(tail),
        source=source,
    )
    _refuse_truncation(model, trainer_at, normalizer_at)
    _validate(model)
    return model


def _refuse_truncation(model: SentencePieceModel, trainer_at: Any, normalizer_at: Any) -> None:
    """A ``.model`` cut exactly at a field boundary is valid protobuf that would load as a smaller
    model. The pieces (field 1) come first, then the trainer spec (2) and the normalizer spec (3);
    SentencePiece's trainer always writes both specs and sets ``vocab_size``, so a file without them,
    or with fewer pieces than a hard ``vocab_size``, is a cut one. (A cut after the normalizer spec,
    which drops only the optional self-test data or denormalizer spec, cannot be told apart.)"""
    source = model.source
    count = len(model.pieces)
    if trainer_at is None and normalizer_at is None:
        raise InvalidVocabularyError(
            f"{source}: the file ends after {count} pieces without the trainer_spec and normalizer_spec "
            "that every SentencePiece model carries (truncated file?)"
        )
    if trainer_at is not None and normalizer_at is None:
        raise InvalidVocabularyError(
            f"{source}: the file ends after the trainer_spec without the normalizer_spec that follows it "
            "in every SentencePiece model (truncated file?)"
        )
    if trainer_at is None:
        return
    explicit = {number: value for number, _, value, _ in _fields(trainer_at, 0, len(trainer_at), source)}
    hard_limit = explicit.get(_HARD_VOCAB_LIMIT, 1) != 0
    if _VOCAB_SIZE in explicit and hard_limit and count < model.trainer["vocab_size"]:
        raise InvalidVocabularyError(
            f"{source}: {count} pieces, but trainer_spec.vocab_size={model.trainer['vocab_size']} with "
            "hard_vocab_limit (truncated or edited file?)"
        )


def _validate(model: SentencePieceModel) -> None:
    source = model.source
    unknown = [i for i, p in enumerate(model.pieces) if p[2] == PieceType.UNKNOWN]
    if len(unknown) != 1:
        raise InvalidVocabularyError(
            f"{source}: a SentencePiece model has exactly one unknown piece, this one has {len(unknown)}"
        )
    for name in ("unk_id", "bos_id", "eos_id", "pad_id"):
        value = model.trainer[name]
        if value >= len(model.pieces) or value < -1:
            raise InvalidVocabularyError(
                f"{source}: trainer_spec.{name}={value} is outside the {len(model.pieces)} pieces"
            )
    for i, (text, _, kind) in enumerate(model.pieces):
        if kind == PieceType.BYTE and not (
            len(text) == 6 and text.startswith("<0x") and text.endswith(">") and _is_hex(text[3:5])
        ):
            raise InvalidVocabularyError(f"{source}: byte piece {i} is {text!r}, expected <0xNN>")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789ABCDEFabcdef" for c in text)


def read_model(path: str | os.PathLike[str]) -> SentencePieceModel:
    """Reads a ``.model`` file."""
    path = Path(path)
    return parse_model(path.read_bytes(), source=str(path))


def is_sentencepiece_model(path: str | os.PathLike[str]) -> bool:
    """Whether a file is a SentencePiece protobuf, by content (its first field is a piece message
    holding a UTF-8 text), whatever its name: Llama 3's ``tokenizer.model`` is a ``.tiktoken`` text."""
    try:
        with Path(path).open("rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    if not head or head[0] != 0x0A:  # field 1, length-delimited
        return False
    try:
        length, pos = _varint(head, 1, len(head), "head")
        payload = head[pos : pos + min(length, len(head) - pos)]
        first = _fields(payload, 0, len(payload), "head")
    except InvalidVocabularyError:
        return False
    if not first or first[0][0] != 1 or first[0][1] != _BYTES:
        return False
    text = first[0][2]
    assert isinstance(text, bytes)
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ---------------------------------------------------------------------------- writing


def serialize_model(model: SentencePieceModel) -> bytes:
    """The ``.model`` bytes (the pieces, then the kept trainer/normalizer/... fields)."""
    out = bytearray()
    flags = model.piece_flags or tuple((True, kind != PieceType.NORMAL) for _, _, kind in model.pieces)
    for (text, score, kind), (has_score, has_type) in zip(model.pieces, flags, strict=True):
        piece = bytearray()
        _put_field(piece, 1, _BYTES, text.encode("utf-8"))
        if has_score:
            _put_field(piece, 2, _FIXED32, int.from_bytes(struct.pack("<f", score), "little"))
        if has_type:
            _put_field(piece, 3, _VARINT, kind)
        _put_field(out, 1, _BYTES, bytes(piece))
    out += model.tail or _default_tail(model)
    return bytes(out)


def _encode_message(
    values: Mapping[str, Any], schema: Mapping[int, tuple[str, str]], defaults: Mapping[str, Any]
) -> bytes:
    out = bytearray()
    for number, (name, kind) in sorted(schema.items()):
        value = values.get(name, defaults[name])
        if value == defaults[name] and name not in ("model_type", "vocab_size"):
            continue
        if kind == "string":
            _put_field(out, number, _BYTES, str(value).encode("utf-8"))
        elif kind == "bytes":
            _put_field(out, number, _BYTES, bytes(value))
        elif kind == "float":
            _put_field(out, number, _FIXED32, int.from_bytes(struct.pack("<f", value), "little"))
        else:
            _put_field(out, number, _VARINT, int(value))
    return bytes(out)


def _default_tail(model: SentencePieceModel) -> bytes:
    out = bytearray()
    _put_field(out, 2, _BYTES, _encode_message(model.trainer, _TRAINER_FIELDS, _TRAINER_DEFAULTS))
    _put_field(out, 3, _BYTES, _encode_message(model.normalizer, _NORMALIZER_FIELDS, _NORMALIZER_DEFAULTS))
    if model.denormalizer is not None:
        _put_field(
            out, 5, _BYTES, _encode_message(model.denormalizer, _NORMALIZER_FIELDS, _NORMALIZER_DEFAULTS)
        )
    return bytes(out)


def write_model(path: str | os.PathLike[str], model: SentencePieceModel) -> Path:
    """Writes a ``.model`` file atomically; returns the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(serialize_model(model))
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------- tokenizer.json mapping


def _replace(pattern: str, content: str, *, regex: bool) -> dict[str, Any]:
    return {"type": "Replace", "pattern": {"Regex" if regex else "String": pattern}, "content": content}


def _normalizer(model: SentencePieceModel) -> dict[str, Any] | None:
    spec = model.normalizer
    steps: list[dict[str, Any]] = []
    charsmap = spec["precompiled_charsmap"]
    if charsmap:
        steps.append(
            {
                "type": "Precompiled",
                "precompiled_charsmap": base64.b64encode(charsmap).decode(),
                "longest_prefix_match": True,
            }
        )
    elif spec["name"] not in ("identity", ""):
        raise UnsupportedTokenizerError(
            f"{model.source}: normalizer {spec['name']!r} has no precompiled_charsmap "
            "(rule-based normalizers without a compiled map are not supported)"
        )
    rmws = spec["remove_extra_whitespaces"]
    if rmws:
        steps.append(_replace(r"\A +", "", regex=True))
        steps.append(_replace(" {2,}", " ", regex=True))
    if spec["escape_whitespaces"]:
        steps.append(_replace(" ", SPACE, regex=False))
    if spec["add_dummy_prefix"]:
        if model.trainer["treat_whitespace_as_suffix"]:
            # HF has no Append; an empty match at the end inserts the dummy suffix (and, like
            # SentencePiece, nothing into an empty text).
            steps.append(_replace(r"\z", SPACE, regex=True))
        else:
            steps.append({"type": "Prepend", "prepend": SPACE})
    if rmws and model.trainer["treat_whitespace_as_suffix"]:
        raise UnsupportedTokenizerError(
            f"{model.source}: treat_whitespace_as_suffix with remove_extra_whitespaces is not supported"
        )
    if rmws:
        space = SPACE if spec["escape_whitespaces"] else " "
        steps.append(_replace(f"{space}+\\z", "", regex=True))
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else {"type": "Sequence", "normalizers": steps}


def _decoder(model: SentencePieceModel) -> dict[str, Any]:
    unk_id = model.unk_id
    steps: list[dict[str, Any]] = []
    if unk_id is not None:
        steps.append(_replace(model.pieces[unk_id][0], model.trainer["unk_surface"], regex=False))
    steps.append(_replace(SPACE, " ", regex=False))
    steps += [{"type": "ByteFallback"}, {"type": "Fuse"}]
    # SentencePiece strips one leading space when decoding, also in treat_whitespace_as_suffix
    # models (whose dummy suffix it keeps).
    if model.normalizer["add_dummy_prefix"]:
        steps.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    return {"type": "Sequence", "decoders": steps}


def _bpe_merges(model: SentencePieceModel) -> list[list[str]]:
    """Every split of a normal piece into two normal pieces, by the merged piece's score (highest
    first, then lower id), then by the left piece's id: SentencePiece merges the adjacent pair whose
    concatenation has the best score."""
    normal = {t: i for i, (t, _, k) in enumerate(model.pieces) if k == PieceType.NORMAL}
    ranked: list[tuple[float, int, int, int, str, str]] = []
    for text, merged_id in normal.items():
        score = model.pieces[merged_id][1]
        for cut in range(1, len(text)):
            left, right = text[:cut], text[cut:]
            left_id, right_id = normal.get(left), normal.get(right)
            if left_id is not None and right_id is not None:
                ranked.append((-score, merged_id, left_id, right_id, left, right))
    ranked.sort()
    return [[left, right] for *_, left, right in ranked]


def to_hf_doc(model: SentencePieceModel) -> dict[str, Any]:
    """The ``tokenizer.json`` document of a SentencePiece model (see the module docstring)."""
    source = model.source
    trainer = model.trainer
    kind = model.model_type
    unk_id = model.unk_id
    assert unk_id is not None  # _validate
    byte_fallback = bool(trainer["byte_fallback"])
    if kind == "unigram":
        hf_model: dict[str, Any] = {
            "type": "Unigram",
            "unk_id": unk_id,
            "vocab": [[text, score] for text, score, _ in model.pieces],
            "byte_fallback": byte_fallback,
        }
    elif kind == "bpe":
        unused = [text for text, _, k in model.pieces if k == PieceType.UNUSED]
        if unused:
            raise UnsupportedTokenizerError(
                f"{source}: BPE model with {len(unused)} unused piece(s) (first {unused[0]!r}): "
                "SentencePiece merges into unused pieces and splits them again, which is not supported"
            )
        hf_model = {
            "type": "BPE",
            "dropout": None,
            "unk_token": model.pieces[unk_id][0],
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": byte_fallback,
            "ignore_merges": False,
            "vocab": {text: i for i, (text, _, _) in enumerate(model.pieces)},
            "merges": _bpe_merges(model),
        }
    else:
        raise UnsupportedTokenizerError(
            f"{source}: SentencePiece model type {kind!r} is not supported (only unigram and bpe)"
        )
    extension: dict[str, Any] = {
        "piece_types": [k for _, _, k in model.pieces],
        "piece_flags": [[int(s), int(t)] for s, t in model.piece_flags],
        "tail": base64.b64encode(model.tail).decode(),
    }
    if kind == "bpe":
        extension["scores"] = [s for _, s, _ in model.pieces]
    extension["unk_surface"] = model.trainer["unk_surface"]
    extension["normalizer"] = {
        k: bool(model.normalizer[k])
        for k in ("add_dummy_prefix", "remove_extra_whitespaces", "escape_whitespaces")
    }
    # A trainer option that changes normalization: the dummy "▁" goes at the end.
    extension["normalizer"]["treat_whitespace_as_suffix"] = bool(model.trainer["treat_whitespace_as_suffix"])
    hf_model["tokenforge"] = {"sentencepiece": extension}

    # SentencePiece matches user-defined pieces in the raw input (its normalizer leaves them alone)
    # and again in the normalized text, where spaces are "▁". Raw matching (HF's non-normalized
    # added tokens) is the same for pieces without "▁"; one with "▁" must be matched in the
    # normalized text, which a Prepend normalizer would break (it would prefix the pattern too).
    def normalized(text: str) -> bool:
        return SPACE in text and not model.normalizer["add_dummy_prefix"]

    added = []
    for i, (text, _, k) in enumerate(model.pieces):
        if k in (PieceType.CONTROL, PieceType.UNKNOWN, PieceType.USER_DEFINED):
            added.append(
                {
                    "id": i,
                    "content": text,
                    "single_word": False,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": k == PieceType.USER_DEFINED and normalized(text),
                    "special": k != PieceType.USER_DEFINED,
                }
            )
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": _normalizer(model),
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": _decoder(model),
        "model": hf_model,
    }


def from_hf_doc(doc: Mapping[str, Any], *, source: str = "<tokenizer.json>") -> SentencePieceModel:
    """The SentencePiece model of a document made by :func:`to_hf_doc` (bit for bit the file it came
    from), or of a SentencePiece-style HF Unigram/BPE document (pieces, scores and specs rebuilt)."""
    model = doc.get("model")
    if not isinstance(model, dict):
        raise InvalidVocabularyError(f"{source}: no 'model' object")
    extension = (model.get("tokenforge") or {}).get("sentencepiece")
    if extension is None and doc.get("pre_tokenizer") is not None:
        raise UnsupportedTokenizerError(
            f"{source}: pre-tokenizer {doc['pre_tokenizer'].get('type')!r} has no SentencePiece "
            "equivalent (only SentencePiece-style Unigram/BPE tokenizers can be written as .model)"
        )
    kind = model.get("type")
    if kind == "Unigram":
        vocab = model.get("vocab") or []
        texts = [str(entry[0]) for entry in vocab]
        scores = [float(entry[1]) for entry in vocab]
    elif kind == "BPE":
        raw = model.get("vocab") or {}
        texts = [t for t, _ in sorted(raw.items(), key=lambda kv: kv[1])]
        if [raw[t] for t in texts] != list(range(len(texts))):
            raise InvalidVocabularyError(f"{source}: a .model needs the ids 0..n-1 without holes")
        scores = list(extension["scores"]) if extension else [-float(i) for i in range(len(texts))]
    else:
        raise UnsupportedTokenizerError(
            f"{source}: only Unigram and BPE models can be written as a SentencePiece .model, not {kind!r}"
        )
    if extension is not None:
        types = [int(t) for t in extension["piece_types"]]
        flags = tuple((bool(s), bool(t)) for s, t in extension["piece_flags"])
        tail = base64.b64decode(extension["tail"])
        parsed = parse_model(
            serialize_model(
                SentencePieceModel(tuple(zip(texts, scores, types, strict=True)), {}, {}, None, flags, tail)
            ),
            source=source,
        )
        return parsed
    return _rebuild(doc, texts, scores, kind, source)


def _rebuild(
    doc: Mapping[str, Any], texts: Sequence[str], scores: Sequence[float], kind: str, source: str
) -> SentencePieceModel:
    model = doc["model"]
    added = {int(t["id"]): t for t in doc.get("added_tokens") or []}
    if kind == "Unigram":
        unk = model.get("unk_id")
    else:
        unk = texts.index(model["unk_token"]) if model.get("unk_token") in texts else None
    if unk is None:
        raise UnsupportedTokenizerError(f"{source}: a SentencePiece model needs an unknown piece (unk)")
    types: list[int] = []
    for i, text in enumerate(texts):
        if i == unk:
            types.append(PieceType.UNKNOWN)
        elif i in added:
            types.append(PieceType.CONTROL if added[i].get("special") else PieceType.USER_DEFINED)
        elif len(text) == 6 and text.startswith("<0x") and text.endswith(">") and model.get("byte_fallback"):
            types.append(PieceType.BYTE)
        else:
            types.append(PieceType.NORMAL)
    normalizer = _normalizer_from_doc(doc.get("normalizer"), source)
    trainer = {
        "model_type": 1 if kind == "Unigram" else 2,
        "vocab_size": len(texts),
        "byte_fallback": bool(model.get("byte_fallback")),
        "unk_id": unk,
        "unk_piece": texts[unk],
    }
    for name, piece in (("bos", "<s>"), ("eos", "</s>")):
        trainer[f"{name}_id"] = texts.index(piece) if piece in texts else -1
    return SentencePieceModel(
        pieces=tuple(zip(texts, scores, types, strict=True)),
        trainer={**_TRAINER_DEFAULTS, **trainer},
        normalizer={**_NORMALIZER_DEFAULTS, **normalizer},
        denormalizer=None,
        source=source,
    )


def _normalizer_from_doc(node: Any, source: str) -> dict[str, Any]:
    """The normalizer spec of an HF normalizer that SentencePiece can express."""
    if node is None:
        steps = []
    else:
        steps = node.get("normalizers", []) if node.get("type") == "Sequence" else [node]
    out: dict[str, Any] = {
        "name": "identity",
        "add_dummy_prefix": False,
        "remove_extra_whitespaces": False,
        "escape_whitespaces": False,
    }
    for step in steps:
        kind = step.get("type")
        pattern = step.get("pattern") or {}
        if kind == "Precompiled":
            out["name"] = "nmt_nfkc"
            out["precompiled_charsmap"] = base64.b64decode(step.get("precompiled_charsmap") or "")
        elif kind == "Prepend" and step.get("prepend") == SPACE:
            out["add_dummy_prefix"] = True
        elif kind == "Replace" and pattern.get("Regex") == r"\z" and step.get("content") == SPACE:
            out["add_dummy_prefix"] = True  # a dummy suffix (treat_whitespace_as_suffix)
        elif kind == "Replace" and pattern.get("String") == " " and step.get("content") == SPACE:
            out["escape_whitespaces"] = True
        elif kind == "Replace" and pattern.get("Regex") in (r"\A +", " {2,}", f"{SPACE}+\\z"):
            out["remove_extra_whitespaces"] = True
        else:
            raise UnsupportedTokenizerError(
                f"{source}: normalizer {kind!r} {step!r} has no SentencePiece equivalent"
            )
    return out
