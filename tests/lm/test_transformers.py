"""The transformers adapter and logits processor on a tiny random Llama (needs torch: runs in the
opt-in ``.venv-full``, e.g. ``make test-lm-full``; skipped otherwise)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tokenforge.lm import ByteLM, TransformersScorer, heal, healing_logits_processor  # noqa: E402
from tokenforge.lm.scorer import score_and_next, sequence_logprobs  # noqa: E402

from .toys import BruteForce, toy_tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def tiny() -> object:
    torch.manual_seed(0)
    tok = toy_tokenizer()
    config = transformers.LlamaConfig(
        vocab_size=tok.n_vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        bos_token_id=tok.special_tokens["<|endoftext|>"],
    )  # fmt: skip
    return transformers.LlamaForCausalLM(config).eval()


def direct(model: object, seq: tuple[int, ...]) -> np.ndarray:
    ids = torch.tensor([[model.config.bos_token_id, *seq]])  # type: ignore[attr-defined]
    with torch.no_grad():
        return torch.log_softmax(model(input_ids=ids).logits[0].float(), -1).numpy()  # type: ignore[operator]


def test_scorer_matches_a_direct_forward(tiny: object) -> None:
    scorer = TransformersScorer(tiny, batch_size=2)
    seqs = [(97, 98), (97,), (), (99, 100, 101), (97, 98, 99)]
    rows = scorer(seqs)
    for seq, row in zip(seqs, rows, strict=True):
        np.testing.assert_allclose(row, direct(tiny, seq)[len(seq)], atol=1e-5)
    scored = sequence_logprobs(scorer, seqs)
    both, next_rows = score_and_next(scorer, seqs)
    for seq, lp, lp2, row in zip(seqs, scored, both, next_rows, strict=True):
        full = direct(tiny, seq)
        expected = full[np.arange(len(seq)), list(seq)]
        np.testing.assert_allclose(lp, expected, atol=1e-5)
        np.testing.assert_allclose(lp2, expected, atol=1e-5)
        np.testing.assert_allclose(row, full[len(seq)], atol=1e-5)


def test_byte_probabilities_with_a_transformer_equal_brute_force(tiny: object) -> None:
    tok = toy_tokenizer()
    scorer = TransformersScorer(tiny)
    ours, brute = ByteLM(scorer, tok), BruteForce(tok, scorer)
    for x in (b"ab", b"a \xc3", b"12a"):
        np.testing.assert_allclose(np.exp(ours.next_byte_logprobs(x)), brute.next_byte_probs(x), atol=1e-6)


def test_logits_processor_in_generate(tiny: object) -> None:
    tok = toy_tokenizer()
    healed = heal(tok, "ca")
    bos = tiny.config.bos_token_id  # type: ignore[attr-defined]
    prompt = torch.tensor([[bos, *healed.ids]])
    out = tiny.generate(  # type: ignore[attr-defined]
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=3,
        do_sample=False,
        logits_processor=transformers.LogitsProcessorList(
            [healing_logits_processor(healed, prompt.shape[1])]
        ),
        pad_token_id=bos,
    )
    new = out[0, prompt.shape[1] :].tolist()
    assert tok.decode_bytes(healed.ids + new).startswith(b"ca")
