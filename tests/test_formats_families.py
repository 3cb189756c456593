"""The SentencePiece ``.model`` reader/writer, the ``vocab.txt`` and ``vocab.json + merges.txt``
readers and ``load``'s dispatch: real files (``make test-tokenizers``) and malformed ones."""

from __future__ import annotations

import json
import random
import shutil
import struct
import sys
from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge.formats import sentencepiece as spm_format
from tokenforge.formats import vocab_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import fetch_test_tokenizers as real_files

MODELS = [e for e in real_files.FILES if e.filename == "tokenizer.model" and e.reference == "sentencepiece"]


def _path(name: str, filename: str) -> Path:
    entry = next(e for e in real_files.FILES if e.name == name and e.filename == filename)
    if not entry.path.is_file():
        pytest.fail(f"{entry.path} missing: run `make test-tokenizers`")
    return entry.path


@pytest.mark.parametrize("entry", MODELS, ids=lambda e: e.name)
def test_real_models_parse_and_serialize_bit_for_bit(entry: real_files.TestFile) -> None:
    data = _path(entry.name, entry.filename).read_bytes()
    model = spm_format.parse_model(data, source=entry.name)
    assert model.model_type in ("bpe", "unigram")
    assert spm_format.serialize_model(model) == data
    # ... also through the tokenizer.json document (what Tokenizer.save("x.model") uses).
    doc = json.loads(json.dumps(spm_format.to_hf_doc(model)))
    assert spm_format.serialize_model(spm_format.from_hf_doc(doc)) == data


def test_model_fields_are_read() -> None:
    model = spm_format.read_model(_path("mistral-v1", "tokenizer.model"))
    assert len(model.pieces) == 32000
    assert model.trainer["byte_fallback"] is True
    assert model.trainer["split_digits"] is True
    assert (model.trainer["unk_id"], model.trainer["bos_id"], model.trainer["eos_id"]) == (0, 1, 2)
    assert model.normalizer["name"] == "identity"
    assert model.normalizer["add_dummy_prefix"] is True
    assert model.normalizer["remove_extra_whitespaces"] is False
    assert model.pieces[3][0] == "<0x00>" and model.pieces[3][2] == spm_format.PieceType.BYTE
    botchan = spm_format.read_model(_path("spm-botchan-unigram", "tokenizer.model"))
    assert botchan.normalizer["name"] == "nfkc" and len(botchan.normalizer["precompiled_charsmap"]) > 1000
    doc = spm_format.to_hf_doc(botchan)
    assert doc["model"]["type"] == "Unigram" and doc["normalizer"]["normalizers"][0]["type"] == "Precompiled"


def test_models_are_recognised_by_content_not_by_name(tmp_path: Path) -> None:
    assert spm_format.is_sentencepiece_model(_path("mistral-v1", "tokenizer.model"))
    # Meta's Llama 3 tokenizer.model is a .tiktoken text file.
    llama3 = _path("llama-3.2", "tokenizer.model")
    assert not spm_format.is_sentencepiece_model(llama3)
    tok = tf.load(llama3)
    assert tok.encode("hello world") == tf.load("llama3").encode("hello world")
    renamed = tmp_path / "vocabulary.bin"
    shutil.copy(_path("mistral-v1", "tokenizer.model"), renamed)
    assert spm_format.is_sentencepiece_model(renamed)
    assert not spm_format.is_sentencepiece_model(tmp_path / "missing.model")


@pytest.mark.parametrize(
    ("cut", "message"),
    [(1, "truncated varint"), (3, "claims"), (40, "claims")],
)
def test_truncated_models_name_the_offset(cut: int, message: str) -> None:
    data = _path("spm-botchan-bpe", "tokenizer.model").read_bytes()
    with pytest.raises(tf.InvalidVocabularyError, match=message):
        spm_format.parse_model(data[:cut], source="cut.model")


def test_every_truncation_is_an_error_or_a_shorter_valid_model() -> None:
    data = _path("spm-botchan-bpe", "tokenizer.model").read_bytes()
    rng = random.Random(7)
    for cut in sorted(rng.sample(range(1, len(data)), 300)):
        try:
            spm_format.parse_model(data[:cut], source="cut.model")
        except tf.InvalidVocabularyError as exc:
            assert "cut.model" in str(exc)


def test_random_corruption_gives_typed_errors() -> None:
    data = bytearray(_path("spm-botchan-unigram", "tokenizer.model").read_bytes())
    rng = random.Random(11)
    errors = 0
    for _ in range(300):
        broken = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            broken[rng.randrange(len(broken))] = rng.randrange(256)
        try:
            model = spm_format.parse_model(bytes(broken), source="x.model")
        except tf.InvalidVocabularyError:
            errors += 1
            continue
        try:
            spm_format.to_hf_doc(model)
        except (tf.InvalidVocabularyError, tf.UnsupportedTokenizerError):
            errors += 1
    assert errors > 0


def _piece(text: bytes, extra: bytes = b"") -> bytes:
    body = b"\x0a" + bytes([len(text)]) + text + extra
    return b"\x0a" + bytes([len(body)]) + body


SPECS = b"\x12\x00\x1a\x00"  # empty trainer and normalizer specs: a complete (not truncated) file


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"\x08\x01", "top-level field 1 .* wire type 0"),
        (_piece(b"\xff\xfe"), "not valid UTF-8"),
        (_piece(b"a", b"\x10\x01"), "score has wire type 0"),
        (_piece(b"a", b"\x18\x09"), "unknown piece type 9"),
        (_piece(b"a") + _piece(b"a"), "appears twice"),
        (_piece(b"a") + SPECS, "exactly one unknown piece"),
        (_piece(b"<unk>", b"\x18\x02") + b"\x12\x03\xc0\x02\x05\x1a\x00", "unk_id=5 is outside"),
        (
            _piece(b"<unk>", b"\x18\x02") + _piece(b"<0xZZ>", b"\x18\x06") + _piece(b"c") + SPECS,
            "expected <0xNN>",
        ),
        (b"\x0b", "wire type 3"),
    ],
)
def test_malformed_models(data: bytes, message: str) -> None:
    with pytest.raises(tf.InvalidVocabularyError, match=message):
        spm_format.parse_model(data, source="bad.model")


def test_unsupported_model_types_are_named() -> None:
    base = _piece(b"<unk>", b"\x18\x02") + _piece(b"a", b"\x15" + struct.pack("<f", -1.0)) + _piece(b"b")
    for model_type, name in ((3, "word"), (4, "char")):
        model = spm_format.parse_model(base + b"\x12\x02\x18" + bytes([model_type]) + b"\x1a\x00")
        with pytest.raises(tf.UnsupportedTokenizerError, match=name):
            spm_format.to_hf_doc(model)
    suffix = spm_format.parse_model(base + b"\x12\x03\xc0\x01\x01\x1a\x00")
    with pytest.raises(tf.UnsupportedTokenizerError, match="treat_whitespace_as_suffix"):
        spm_format.to_hf_doc(suffix)
    unused = spm_format.parse_model(base + _piece(b"ab", b"\x18\x05") + b"\x12\x02\x18\x02\x1a\x00")
    with pytest.raises(tf.UnsupportedTokenizerError, match=r"unused piece.*'ab'"):
        spm_format.to_hf_doc(unused)


def test_corrupt_model_file_through_load(tmp_path: Path) -> None:
    data = _path("mistral-v1", "tokenizer.model").read_bytes()
    bad = tmp_path / "tokenizer.model"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(tf.InvalidVocabularyError, match=r"tokenizer\.model"):
        tf.load(bad)


def test_byte_level_tokenizers_cannot_be_saved_as_model(tmp_path: Path) -> None:
    with pytest.raises(tf.UnsupportedTokenizerError, match="pre-tokenizer"):
        tf.load("cl100k_base").save(tmp_path / "x.model")


# ------------------------------------------------------------------ vocab.txt, vocab.json + merges.txt


def test_vocab_txt_options(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##s\n")
    doc = vocab_files.read_vocab_txt(vocab)
    assert doc["normalizer"]["lowercase"] is True and doc["model"]["vocab"]["##s"] == 5
    assert vocab_files.read_vocab_txt(vocab, lowercase=False)["normalizer"]["lowercase"] is False
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false, "strip_accents": true}')
    doc = vocab_files.read_vocab_txt(vocab)
    assert doc["normalizer"]["lowercase"] is False and doc["normalizer"]["strip_accents"] is True
    with pytest.raises(tf.InvalidArgumentError, match=r"vocab\.txt"):
        tf.load(vocab, pattern="x")
    with pytest.raises(tf.InvalidArgumentError, match=r"vocab\.txt files only"):
        tf.load("cl100k_base", lowercase=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"a\nb\n", r"no \[UNK\]"), (b"\xff\n", "not UTF-8")],
)
def test_bad_vocab_txt(tmp_path: Path, content: bytes, message: str) -> None:
    vocab = tmp_path / "vocab.txt"
    vocab.write_bytes(content)
    with pytest.raises(tf.InvalidVocabularyError, match=message):
        vocab_files.read_vocab_txt(vocab)


def test_an_empty_vocab_txt_line_is_the_empty_token(tmp_path: Path) -> None:
    # As HF's WordPiece reader and transformers' BertTokenizer: the line keeps its id and never matches.
    vocab = tmp_path / "vocab.txt"
    vocab.write_bytes(b"[UNK]\na\n\nb\n")
    assert vocab_files.read_vocab_txt(vocab)["model"]["vocab"] == {"[UNK]": 0, "a": 1, "": 2, "b": 3}


@pytest.mark.parametrize(
    ("vocab", "merges", "message"),
    [
        ("[1]", "", "non-empty JSON object"),
        ('{"a": -1}', "", "non-negative"),
        ("{", "", "not valid JSON"),
        ('{"a": 0, "b": 1}', "#version: 0.2\na b c\n", "line 2 .* not two tokens"),
        ('{"a": 0, "b": 1}', "a x\n", "uses 'x'"),
    ],
)
def test_bad_gpt2_folder(tmp_path: Path, vocab: str, merges: str, message: str) -> None:
    (tmp_path / "vocab.json").write_text(vocab)
    (tmp_path / "merges.txt").write_text(merges)
    with pytest.raises(tf.InvalidVocabularyError, match=message):
        vocab_files.read_gpt2_folder(tmp_path / "vocab.json", tmp_path / "merges.txt")


def test_folder_search_order_and_message(tmp_path: Path) -> None:
    with pytest.raises(tf.VocabularyNotFoundError, match=r"tokenizer.json, \*.model .*vocab.txt"):
        tf.load(tmp_path)
    shutil.copy(_path("qwen3", "vocab.json"), tmp_path / "vocab.json")
    shutil.copy(_path("qwen3", "merges.txt"), tmp_path / "merges.txt")
    gpt2_style = tf.load(tmp_path)
    assert gpt2_style.n_vocab == 151643
    shutil.copy(_path("qwen3", "tokenizer.json"), tmp_path / "tokenizer.json")
    assert tf.load(tmp_path).n_vocab > gpt2_style.n_vocab  # tokenizer.json (with its added tokens) wins


def test_convert_command_writes_tokenizer_json_and_model(tmp_path: Path) -> None:
    from tokenforge.cli import main

    source = _path("mistral-v1", "tokenizer.model")
    try:
        tf.load(source)
    except tf.UnsupportedTokenizerError as exc:
        pytest.skip(f"tokenforge does not load this family yet: {exc}")
    assert main(["convert", str(source), "-o", str(tmp_path / "m.json")]) == 0
    assert main(["convert", str(tmp_path / "m.json"), "-o", str(tmp_path / "again.model")]) == 0
    assert (tmp_path / "again.model").read_bytes() == source.read_bytes()
    assert main(["convert", str(_path("minilm-l6-v2", "vocab.txt")), "-o", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "tokenizer.json").read_text())["model"]["type"] == "WordPiece"


def _boundaries(data: bytes) -> list[int]:
    """The offsets of the top-level fields after the first one: where a cut leaves valid protobuf."""
    return [offset for *_, offset in spm_format._fields(data, 0, len(data), "x")][1:]


@pytest.mark.parametrize("entry", MODELS, ids=lambda e: e.name)
def test_models_cut_at_a_field_boundary_are_refused(entry: real_files.TestFile, tmp_path: Path) -> None:
    data = _path(entry.name, entry.filename).read_bytes()
    bounds = _boundaries(data)
    # after the last piece (no specs), after the trainer spec (no normalizer spec), and at 30% / 0.1%
    # of the file (the cuts that used to load as a smaller model: mistral-v1, botchan).
    cuts = {bounds[-2], bounds[-1]}
    for share in (0.3, 0.001):
        cuts.add(max((b for b in bounds if b <= len(data) * share), default=bounds[0]))
    for cut in sorted(cuts):
        bad = tmp_path / "tokenizer.model"
        bad.write_bytes(data[:cut])
        with pytest.raises(tf.InvalidVocabularyError, match=r"tokenizer\.model: .*truncated"):
            tf.load(bad)


def test_fewer_pieces_than_a_hard_vocab_size_is_refused() -> None:
    base = _piece(b"<unk>", b"\x18\x02") + _piece(b"a") + _piece(b"b")
    normalizer = b"\x1a\x00"
    for trainer, refused in (
        (b"\x12\x02\x20\x03", False),  # vocab_size=3
        (b"\x12\x02\x20\x05", True),  # vocab_size=5, hard_vocab_limit defaults to true
        (b"\x12\x05\x20\x05\x88\x02\x00", False),  # vocab_size=5, hard_vocab_limit=false
        (b"\x12\x00", False),  # vocab_size not written
    ):
        if refused:
            with pytest.raises(tf.InvalidVocabularyError, match=r"3 pieces, but trainer_spec\.vocab_size=5"):
                spm_format.parse_model(base + trainer + normalizer, source="x.model")
        else:
            assert len(spm_format.parse_model(base + trainer + normalizer).pieces) == 3


def test_word_memo_of_character_bpe_counts_in_memo_bytes() -> None:
    # spm-botchan-bpe is character BPE whose words encode independently (no token has "▁" after
    # its first character): it memoizes whole words, and those entries are part of the
    # tokenizer's reported (and capped) memo.
    tok = tf.load(_path("spm-botchan-bpe", "tokenizer.model"))
    assert tok.memo_bytes == 0
    tok.encode_ordinary(" ".join(f"word{i}" for i in range(2000)))
    assert 0 < tok.memo_bytes <= 64 << 20
