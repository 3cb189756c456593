"""Loading files: .tiktoken and tokenizer.json, good and bad."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import tokenizers

import tokenforge as tf
from tokenforge import vocab_sources
from tokenforge.formats.regex_dialect import engine_to_hf, hf_to_engine

from conftest import load_vocab


def _write_tiktoken(path: Path, tokens: list[bytes]) -> Path:
    path.write_bytes(b"".join(base64.b64encode(t) + b" %d\n" % i for i, t in enumerate(tokens)))
    return path


def _byte_tokens() -> list[bytes]:
    return [bytes([b]) for b in range(256)]


def test_known_tiktoken_file_is_recognised_by_sha256(tmp_path: Path) -> None:
    source = vocab_sources.find("cl100k_base")
    assert source is not None
    copy = tmp_path / "renamed.tiktoken"
    copy.write_bytes(source.read_bytes())
    tok = tf.load(copy)
    assert tok.name == "cl100k_base"
    assert tok.special_tokens["<|endoftext|>"] == 100257


def test_unknown_tiktoken_needs_a_pattern(tmp_path: Path) -> None:
    path = _write_tiktoken(tmp_path / "mine.tiktoken", [*_byte_tokens(), b"ab"])
    with pytest.raises(tf.InvalidArgumentError, match="pattern="):
        tf.load(path)
    tok = tf.load(path, pattern=r"\w+|\W", special_tokens={"<|end|>": 300})
    assert tok.encode("ab a") == [256, 32, 97]
    assert tok.encode("<|end|>", allowed_special="all") == [300]
    with pytest.raises(tf.InvalidVocabularyError, match="already a token"):
        tf.load(path, pattern=r"\w+", special_tokens={"<|end|>": 256})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no tokens"),
        (b"YQ== 0\nYg==\n", "line 2"),
        (b"!!!! 0\n", "invalid base64"),
        (b"YQ== zero\n", "not an integer"),
        (b"YQ== 0\nYQ== 1\n", "already has rank"),
        (b"YQ== 0\nYg== 0\n", "rank 0 already used"),
        (b"YQ== -5\n", "out of range"),
        (b"YQ== 0\nYg== 4000000000\n", "ids must be \\(nearly\\) contiguous"),
    ],
)
def test_corrupt_tiktoken_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.tiktoken"
    path.write_bytes(content)
    with pytest.raises(tf.InvalidVocabularyError, match=message):
        tf.load(path, pattern=r"\S+")


def test_tiktoken_missing_bytes_is_rejected(tmp_path: Path) -> None:
    path = _write_tiktoken(tmp_path / "partial.tiktoken", _byte_tokens()[:200])
    with pytest.raises(tf.InvalidVocabularyError, match="all 256"):
        tf.load(path, pattern=r"\S+")


def _minimal_hf(**overrides: object) -> dict:
    from tokenforge.formats.bytelevel import bytes_to_token_str

    vocab = {bytes_to_token_str(bytes([b])): b for b in range(256)}
    vocab["ab"] = 256
    doc = {
        "version": "1.0",
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "vocab": vocab, "merges": ["a b"]},
    }
    doc.update(overrides)
    return doc


def _write_json(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc))
    return path


def test_minimal_tokenizer_json_matches_hf(tmp_path: Path) -> None:
    path = _write_json(tmp_path, _minimal_hf())
    tok = tf.load(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    for text in ("ab abab", "  b a\n\tab", "ñandú ab"):
        assert tok.encode(text) == hf.encode(text).ids
    assert tf.load(tmp_path).encode("ab") == [256]  # a directory holding tokenizer.json


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"model": {"type": "Mystery", "vocab": {}}}, tf.UnsupportedTokenizerError, "Mystery"),
        ({"pre_tokenizer": {"type": "UnicodeWords"}}, tf.UnsupportedTokenizerError, "UnicodeWords"),
        (
            {
                "pre_tokenizer": {
                    "type": "Sequence",
                    "pretokenizers": [{"type": "FixedLength"}, {"type": "ByteLevel"}],
                }
            },
            tf.UnsupportedTokenizerError,
            r"pre_tokenizer\.pretokenizers\[0\]: pre-tokenizer 'FixedLength'",
        ),
        ({"normalizer": {"type": "Precompiled"}}, tf.InvalidVocabularyError, "precompiled_charsmap"),
        ({"decoder": {"type": "Nope"}}, tf.UnsupportedTokenizerError, "decoder"),
        ({"model": None}, tf.InvalidVocabularyError, "'model'"),
    ],
)
def test_unsupported_or_malformed_tokenizer_json(
    tmp_path: Path, change: dict, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        tf.load(_write_json(tmp_path, _minimal_hf(**change)))


def test_bad_model_tables(tmp_path: Path) -> None:
    doc = _minimal_hf()
    doc["model"]["merges"] = ["a zz"]
    with pytest.raises(tf.InvalidVocabularyError, match="'zz'"):
        tf.load(_write_json(tmp_path, doc))
    doc = _minimal_hf()
    doc["model"]["merges"] = ["a b c"]
    with pytest.raises(tf.InvalidVocabularyError, match="not a pair"):
        tf.load(_write_json(tmp_path, doc))
    doc = _minimal_hf()
    doc["model"]["dropout"] = 0.1
    with pytest.raises(tf.UnsupportedTokenizerError, match="dropout"):
        tf.load(_write_json(tmp_path, doc))
    doc = _minimal_hf(added_tokens=[{"id": 257, "content": "<m>", "special": True, "lstrip": "yes"}])
    with pytest.raises(tf.InvalidVocabularyError, match="lstrip must be a boolean"):
        tf.load(_write_json(tmp_path, doc))


def test_not_json_and_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_bytes(b'{"model": \xff\xfe')
    with pytest.raises(tf.InvalidVocabularyError, match="not valid JSON"):
        tf.load(path)
    path.write_text("{ truncated")
    with pytest.raises(tf.InvalidVocabularyError, match="not valid JSON"):
        tf.load(path)


def test_missing_known_vocabulary_says_how_to_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vocab_sources, "find", lambda name: None)
    with pytest.raises(tf.VocabularyNotFoundError, match="tokenforge fetch"):
        tf.load("o200k_base")


def test_regex_dialects() -> None:
    assert engine_to_hf(r"\p{N}{1,3}+|a") == r"(?>\p{N}{1,3})|a"
    assert hf_to_engine(r"[a-z]{2}+x") == r"(?:[a-z]{2})+x"
    assert engine_to_hf(r"(ab){1,2}+") == r"(?>(ab){1,2})"
    assert engine_to_hf(r"a{2}|[{]{1}") == r"a{2}|[{]{1}"
    assert engine_to_hf(tf.PATTERNS["o200k"]) == tf.PATTERNS["o200k"]


def test_save_to_directory_and_hf_loads_it(tmp_path: Path) -> None:
    tok = load_vocab("llama3")
    path = tok.save(tmp_path)
    assert path == tmp_path / "tokenizer.json"
    hf = tokenizers.Tokenizer.from_file(str(path))
    text = "<|begin_of_text|>Hi there 123456 <|eot_id|>"
    assert hf.encode(text, add_special_tokens=False).ids == tok.encode(text, allowed_special="all")
    assert hf.id_to_token(128009) == "<|eot_id|>"


@pytest.mark.parametrize(
    "behavior", ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]
)
@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("prefix_space", [False, True])
def test_pre_tokenizer_sequence_matches_hf(
    tmp_path: Path, behavior: str, invert: bool, prefix_space: bool
) -> None:
    pre = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"String": "-"}, "behavior": behavior, "invert": invert},
            {"type": "Digits", "individual_digits": invert},
            {"type": "ByteLevel", "add_prefix_space": prefix_space, "trim_offsets": True, "use_regex": True},
        ],
    }
    doc = _minimal_hf(pre_tokenizer=pre, normalizer={"type": "Sequence", "normalizers": [{"type": "NFKC"}]})
    path = _write_json(tmp_path, doc)
    tok = tf.load(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    for text in ("the-final--countdown", "-a-b-", "x12-345 y--6", "ab--ab ab", "ﬁ ab①-", "", "---"):
        assert tok.encode(text) == hf.encode(text).ids, text


def test_saved_preset_pattern_loads_back_as_the_preset(tmp_path: Path) -> None:
    tok = load_vocab("cl100k_base")
    again = tf.load(tok.save(tmp_path))
    assert again.spec.pre_tokenizer[0] == tok.spec.pre_tokenizer[0]  # the scanner is used again
    assert again.encode("x 123456 y") == tok.encode("x 123456 y")
