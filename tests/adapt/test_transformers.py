"""`transformers` loads an adapted folder and generates with the new tokenizer (tiny random Llama).

Needs torch and transformers, which `make test` does not install (PyPI's torch pulls multi-GB CUDA
wheels): run `make test-adapt-full`."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tokenforge.cli import main

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None,
    reason="LOUD SKIP: torch/transformers are not installed; this test runs in `make test-adapt-full`",
)


@pytest.mark.parametrize("tied", [True, False])
def test_transformers_loads_and_generates(tmp_path, old_tok, new_tok, tied) -> None:
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=old_tok.n_vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=tied,
        eos_token_id=old_tok.special_tokens["<eos>"],
        bos_token_id=None,
        pad_token_id=None,
    )
    model = transformers.LlamaForCausalLM(config).eval()
    source = tmp_path / "source"
    model.save_pretrained(source, safe_serialization=True)
    old_tok.save(source / "tokenizer.json")
    out = tmp_path / "adapted"
    new_path = new_tok.save(tmp_path / "new.json")
    assert main(["adapt", "--model", str(source), "-t", str(new_path), "-o", str(out), "-q"]) == 0

    adapted = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    text = "ab cd the"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids == new_tok.encode(text)
    assert adapted.get_input_embeddings().weight.shape[0] == new_tok.n_vocab
    # The text uses only shared tokens: same strings in, same hidden states, so the logits of shared
    # tokens equal the original model's logits of the same tokens at their old ids.
    with torch.no_grad():
        new_logits = adapted(torch.tensor([ids])).logits[0, -1]
        old_logits = model(torch.tensor([old_tok.encode(text)])).logits[0, -1]
    for token in (b"ab", b"cd", b"the", b"a"):
        n, o = new_tok.token_to_id(token), old_tok.token_to_id(token)
        np.testing.assert_allclose(new_logits[n].item(), old_logits[o].item(), rtol=1e-4, atol=1e-5)
    generated = adapted.generate(torch.tensor([ids]), max_new_tokens=5, do_sample=False)
    assert generated.shape[1] == len(ids) + 5 or generated[0, -1].item() == new_tok.special_tokens["<eos>"]
    assert isinstance(tokenizer.decode(generated[0]), str)
