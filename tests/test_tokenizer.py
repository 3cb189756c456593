"""The public Tokenizer API: golden ids, special-token policy, errors, immutability, threads."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pickle

import numpy as np
import pytest

import tokenforge as tf

from conftest import load_vocab

# Golden ids, pinned (checked against tiktoken when pinned).
GOLDEN = {
    "cl100k_base": ("hello world", [15339, 1917]),
    "o200k_base": ("hello world", [24912, 2375]),
    "llama3": ("Hello, world! 1234", [9906, 11, 1917, 0, 220, 4513, 19]),
    "qwen2": ("Hello, world! 1234", [9707, 11, 1879, 0, 220, 16, 17, 18, 19]),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_ids(name: str) -> None:
    text, ids = GOLDEN[name]
    assert load_vocab(name).encode(text) == ids


def test_known_encoding_properties(cl100k: tf.Tokenizer) -> None:
    assert cl100k.name == "cl100k_base"
    assert cl100k.n_vocab == 100277
    assert cl100k.special_tokens["<|endoftext|>"] == 100257
    assert "<|fim_prefix|>" in cl100k.special_tokens_set
    assert cl100k.pattern == tf.PATTERNS["cl100k"]
    assert load_vocab("llama3").special_tokens["<|eot_id|>"] == 128009
    assert load_vocab("qwen2").special_tokens["<|im_start|>"] == 151644


def test_special_token_policy(cl100k: tf.Tokenizer) -> None:
    text = "hi <|endoftext|>"
    with pytest.raises(tf.SpecialTokenError, match="disallowed special token"):
        cl100k.encode(text)
    assert cl100k.encode(text, allowed_special="all")[-1] == 100257
    assert cl100k.encode(text, allowed_special={"<|endoftext|>"})[-1] == 100257
    as_text = cl100k.encode(text, disallowed_special=())
    assert 100257 not in as_text and cl100k.decode(as_text) == text
    assert cl100k.encode_ordinary(text) == as_text
    # Allowing one special still rejects another, and disallowing only one lets the others be text.
    with pytest.raises(tf.SpecialTokenError, match="fim_prefix"):
        cl100k.encode("<|endoftext|><|fim_prefix|>", allowed_special={"<|endoftext|>"})
    assert cl100k.encode("<|fim_prefix|>", disallowed_special={"<|endoftext|>"}) == cl100k.encode_ordinary(
        "<|fim_prefix|>"
    )
    assert cl100k.count(text, allowed_special="all") == len(cl100k.encode(text, allowed_special="all"))


def test_special_token_argument_errors(cl100k: tf.Tokenizer) -> None:
    with pytest.raises(tf.SpecialTokenError, match="not a special token"):
        cl100k.encode("x", allowed_special={"<|nope|>"})
    with pytest.raises(tf.InvalidArgumentError, match="collection"):
        cl100k.encode("x", allowed_special="<|endoftext|>")  # type: ignore[arg-type]


def test_decode_errors_and_partial_characters(cl100k: tf.Tokenizer) -> None:
    ids = cl100k.encode("é")
    assert cl100k.decode(ids) == "é"
    emoji = cl100k.encode("😀")
    assert len(emoji) > 1
    assert cl100k.decode(emoji[:1]) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        cl100k.decode(emoji[:1], errors="strict")
    for bad in ([100256], [10**6], [-1], [2**40], [1.5], ["a"], [None]):
        with pytest.raises(tf.InvalidTokenIdError):
            cl100k.decode(bad)  # type: ignore[list-item]
    assert cl100k.decode(np.array(ids, dtype=np.uint32)) == cl100k.decode(iter(ids)) == "é"
    with pytest.raises(tf.InvalidTokenIdError):
        cl100k.decode_single_token_bytes(100256)
    assert cl100k.decode_single_token_bytes(100257) == b"<|endoftext|>"


def test_vocabulary_lookups(cl100k: tf.Tokenizer) -> None:
    assert cl100k.token_to_id(b" world") == 1917
    assert cl100k.token_to_id("Ġworld") == 1917  # tokenizer.json spelling
    assert cl100k.token_to_id("<|endoftext|>") == 100257
    assert cl100k.token_to_id(b"\xff\xfe\xfd not a token") is None
    assert cl100k.id_to_token(1917) == "Ġworld"
    assert cl100k.id_to_token(100257) == "<|endoftext|>"
    assert cl100k.id_to_token(100256) is None


def test_tokenizer_is_immutable(cl100k: tf.Tokenizer) -> None:
    with pytest.raises(AttributeError):
        cl100k.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cl100k.special_tokens["<|new|>"] = 1  # type: ignore[index]


def test_pickle_roundtrip(cl100k: tf.Tokenizer) -> None:
    again = pickle.loads(pickle.dumps(cl100k))
    text = "Pickled tokenizers keep their ids: <|endoftext|> 12345"
    assert again.encode(text, allowed_special="all") == cl100k.encode(text, allowed_special="all")
    assert again.special_tokens == cl100k.special_tokens


def test_shared_across_threads(cl100k: tf.Tokenizer) -> None:
    texts = [f"thread-safe text number {i} " * (i % 13 + 1) for i in range(300)]
    expected = [cl100k.encode(t) for t in texts]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(cl100k.encode, texts)) == expected


def _child_batch(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    tok = load_vocab("cl100k_base")
    queue.put(tok.encode_ordinary_batch(["after fork", "still works"], num_threads=2))


def test_batch_after_fork(cl100k: tf.Tokenizer) -> None:
    # The parent's thread pool exists before the fork; the child must build its own.
    cl100k.encode_ordinary_batch(["warm up the pool", "x"], num_threads=2)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_batch, args=(queue,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    assert queue.get(timeout=5) == cl100k.encode_ordinary_batch(["after fork", "still works"])


def test_batch_argument_errors(cl100k: tf.Tokenizer) -> None:
    with pytest.raises(tf.InvalidArgumentError, match="num_threads"):
        cl100k.encode_ordinary_batch(["x"], num_threads=0)
    with pytest.raises(tf.InvalidArgumentError, match="not one string"):
        cl100k.encode_batch("a string")
    with pytest.raises(tf.InvalidArgumentError, match=r"texts\[1\]"):
        cl100k.encode_ordinary_batch(["ok", b"bytes"])  # type: ignore[list-item]
    for method in (cl100k.encode_batch_to_numpy, cl100k.count_batch, cl100k.encode_batch):
        with pytest.raises(tf.InvalidArgumentError, match=r"texts\[2\] is NoneType, expected str"):
            method(iter(["ok", "fine", None]))  # type: ignore[list-item]

    class Text(str):
        pass

    assert cl100k.count_batch([Text("hello world")]) == [2]
    with pytest.raises(tf.SpecialTokenError):
        cl100k.encode_batch(["fine", "<|endoftext|>"])
    assert cl100k.encode_batch([]) == []


def test_truncate(cl100k: tf.Tokenizer) -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 3
    assert cl100k.truncate(text, 1000) == text
    assert cl100k.truncate(text, 0) == ""
    cut = cl100k.truncate(text, 5)
    assert cut == "The quick brown fox jumps"
    assert cl100k.encode(cut) == cl100k.encode(text)[:5]
    # Never cuts inside a character: "😀" is several tokens.
    assert cl100k.truncate("😀😀", 1) == ""
    with pytest.raises(tf.InvalidArgumentError):
        cl100k.truncate(text, -1)


def test_empty_and_huge_inputs(cl100k: tf.Tokenizer) -> None:
    assert cl100k.encode("") == []
    assert cl100k.count("") == 0
    assert cl100k.decode([]) == ""
    assert cl100k.encode_to_numpy("").tolist() == []
    for text in ("a" * 1_000_000, " " * 1_000_000, "\n" * 300_000, "x" * 5_000_000):
        ids = cl100k.encode(text)
        assert cl100k.decode(ids) == text
        assert cl100k.count(text) == len(ids)


def test_from_ranks_custom_tokenizer() -> None:
    ranks = {bytes([b]): b for b in range(256)}
    ranks.update({b"ab": 256, b"abc": 257})
    tok = tf.Tokenizer.from_ranks(ranks, r"\S+|\s+", {"<eos>": 300}, name="toy")
    assert tok.encode("abc ab") == [257, 32, 256]
    assert tok.encode("<eos>", allowed_special="all") == [300]
    assert tok.n_vocab == 301
    with pytest.raises(tf.InvalidVocabularyError, match="pattern"):
        tf.Tokenizer.from_ranks(ranks, r"(unclosed")
    with pytest.raises(tf.InvalidVocabularyError, match="byte 0x"):
        tf.Tokenizer.from_ranks({b"a": 0}, r"\S+")


def test_batch_to_numpy_and_count_batch(cl100k: tf.Tokenizer) -> None:
    texts = ["first doc", "", "third <|endoftext|> doc", "😀" * 5]
    ids, offsets = cl100k.encode_batch_to_numpy(texts, num_threads=2, disallowed_special=())
    assert ids.dtype == "uint32" and offsets.dtype == "uint64" and len(offsets) == len(texts) + 1
    for i, text in enumerate(texts):
        assert ids[offsets[i] : offsets[i + 1]].tolist() == cl100k.encode_ordinary(text)
    eos = cl100k.special_tokens["<|endoftext|>"]
    ids, offsets = cl100k.encode_batch_to_numpy(texts, separator=eos, disallowed_special=())
    assert [ids[offsets[i + 1] - 1] for i in range(len(texts))] == [eos] * len(texts)
    with pytest.raises(tf.InvalidTokenIdError):
        cl100k.encode_batch_to_numpy(texts, separator=100256)
    assert cl100k.count_batch(texts, disallowed_special=()) == [len(cl100k.encode_ordinary(t)) for t in texts]
    empty_ids, empty_offsets = cl100k.encode_batch_to_numpy([])
    assert empty_ids.size == 0 and empty_offsets.tolist() == [0]


def test_truncate_normalizing_tokenizer() -> None:
    qwen = load_vocab("qwen2")
    decomposed = "cafe\u0301 " * 20
    cut = qwen.truncate(decomposed, 5)
    assert cut.startswith("café")  # a prefix of the NFC text
    assert qwen.encode(cut) == qwen.encode(decomposed)[: len(qwen.encode(cut))]
