"""Each transplant method's defining property on small synthetic tokenizers and matrices."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import tokenforge as tf
from tokenforge.adapt import METHODS, TokenAdaptParams, sparsemax, transplant
from tokenforge.adapt.embeddings import _Sampler


def _shared(old: tf.Tokenizer, new: tf.Tokenizer) -> dict[int, int]:
    out = {}
    for i in range(new.n_vocab):
        if i in new.special_tokens.values():
            continue
        old_id = old.token_to_id(new.decode_single_token_bytes(i))
        if old_id is not None:
            out[i] = old_id
    return out


@pytest.mark.parametrize("method", METHODS)
def test_shared_rows_are_copied_exactly(method, old_tok, new_tok, emb, out_emb) -> None:
    result = transplant(old_tok, new_tok, emb, method, output_embeddings=out_emb, seed=1)
    shared = _shared(old_tok, new_tok)
    assert len(shared) == 256 + 4  # bytes, cd, ab, th, the
    for new_id, old_id in shared.items():
        assert result.embeddings[new_id].tobytes() == emb[old_id].tobytes()
        assert result.output_embeddings[new_id].tobytes() == out_emb[old_id].tobytes()
    # Special tokens by text: <eos> is copied; <pad> (absent from the old vocabulary) gets the mean
    # of the old special rows (here just <eos>'s).
    assert result.embeddings[264].tobytes() == emb[261].tobytes()
    assert np.allclose(result.embeddings[265], emb[261])
    assert result.embeddings.shape == (new_tok.n_vocab, 16)
    assert result.embeddings.dtype == emb.dtype
    assert result.copied == len(shared) + 1


def test_mean_is_the_mean_of_the_old_pieces(old_tok, new_tok, emb, out_emb) -> None:
    result = transplant(old_tok, new_tok, emb, "mean", output_embeddings=out_emb)
    # "abcdxy" -> old pieces abcd, x, y;  "thecd" -> the, cd;  b"\xe2\x82" -> two single bytes.
    cases = {259: [258, 120, 121], 262: [260, 257], 263: [0xE2, 0x82], 258: [120, 121]}
    for new_id, pieces in cases.items():
        np.testing.assert_allclose(result.embeddings[new_id], emb[pieces].mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(result.output_embeddings[new_id], out_emb[pieces].mean(axis=0), rtol=1e-6)
    assert result.initialized == 4


def test_tokenadapt_local_estimate_matches_the_formula(old_tok, new_tok, emb) -> None:
    params = TokenAdaptParams(global_weight=0.0)
    result = transplant(old_tok, new_tok, emb, "tokenadapt", params=params)
    pieces = [258, 120, 121]  # "abcdxy" = abcd + x + y, lengths 4, 1, 1 of 6 bytes
    e = emb.astype(np.float64)
    query = e[pieces].mean(axis=0)  # aux=None: a string's vector is the mean of its pieces' rows
    c = np.array([query @ e[p] / np.linalg.norm(query) / np.linalg.norm(e[p]) for p in pieces])
    a = np.exp(c) / np.exp(c).sum()
    length = np.array([4, 1, 1]) / 6
    z = ((a + length) / 2) / (0.3 + 1e-5)
    w = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(result.embeddings[259], w @ e[pieces], rtol=1e-5)


def test_tokenadapt_blends_in_global_neighbours(old_tok, new_tok, emb) -> None:
    result = transplant(old_tok, new_tok, emb, "tokenadapt")
    ids, coef = result.weights[259]
    assert coef.sum() == pytest.approx(1.0)
    assert (coef > 0).all()
    assert len(set(ids.tolist()) - {258, 120, 121}) >= 1  # at least one non-piece neighbour (k = 3)
    np.testing.assert_allclose(result.embeddings[259], coef @ emb[ids].astype(np.float64), rtol=1e-5)


def test_tokenadapt_with_an_embedding_callable(old_tok, new_tok, emb) -> None:
    calls: list[int] = []

    def embed(strings: list[str]) -> np.ndarray:
        calls.append(len(strings))
        return np.array([[len(s), s.count("a") + 1.0, s.count("x")] for s in strings], dtype=float)

    result = transplant(old_tok, new_tok, emb, "tokenadapt", aux=embed)
    assert calls and result.weights[259][1].sum() == pytest.approx(1.0)


def test_focus_is_a_sparse_convex_combination_of_overlapping_tokens(old_tok, new_tok, emb) -> None:
    result = transplant(old_tok, new_tok, emb, "focus")
    shared_old = set(_shared(old_tok, new_tok).values())
    for new_id in (258, 259, 262, 263):
        ids, coef = result.weights[new_id]
        assert set(ids.tolist()) <= shared_old
        assert (coef > 0).all() and coef.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(result.embeddings[new_id], coef @ emb[ids].astype(np.float64), rtol=1e-5)


def test_focus_with_vectors_per_new_id(old_tok, new_tok, emb) -> None:
    aux = np.zeros((new_tok.n_vocab, 64))
    aux[:258] = np.random.default_rng(0).standard_normal((258, 64))
    aux[259] = aux[ord("a")] * 5  # parallel to "a": the largest sparsemax weight goes there
    result = transplant(old_tok, new_tok, emb, "focus", aux=aux, seed=4)
    ids, coef = result.weights[259]
    assert ids[np.argmax(coef)] == ord("a") and coef.sum() == pytest.approx(1.0)
    assert len(ids) < 258 / 4  # sparse: most overlapping tokens get weight 0
    # Rows with an all-zero vector ("no vector") fall back to the random distribution.
    assert 258 not in result.weights and result.fallback >= 1


def test_random_is_deterministic_and_seeded(old_tok, new_tok, emb) -> None:
    a = transplant(old_tok, new_tok, emb, "random", seed=5).embeddings
    b = transplant(old_tok, new_tok, emb, "random", seed=5).embeddings
    c = transplant(old_tok, new_tok, emb, "random", seed=6).embeddings
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a[259], c[259])
    assert np.array_equal(a[:258], c[:258])  # shared rows do not depend on the seed


@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_deterministic(method, old_tok, new_tok, emb, out_emb) -> None:
    runs = [transplant(old_tok, new_tok, emb, method, output_embeddings=out_emb, seed=2) for _ in range(2)]
    assert runs[0].embeddings.tobytes() == runs[1].embeddings.tobytes()
    assert runs[0].output_embeddings.tobytes() == runs[1].output_embeddings.tobytes()


def test_random_rows_match_mean_and_covariance() -> None:
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((4000, 3)) @ np.array([[2.0, 0, 0], [0.5, 1.0, 0], [0, 0.3, 0.2]]) + 1.5
    drawn = _Sampler(rows).draw(np.random.default_rng(1), 40000)
    np.testing.assert_allclose(drawn.mean(axis=0), rows.mean(axis=0), atol=0.05)
    np.testing.assert_allclose(np.cov(drawn, rowvar=False), np.cov(rows, rowvar=False), atol=0.08)


def test_padding_and_padded_source_rows(old_tok, new_tok, emb) -> None:
    padded = np.vstack([emb, np.zeros((6, 16), dtype=emb.dtype)])
    with pytest.raises(tf.InvalidArgumentError, match="allow_padded_rows"):
        transplant(old_tok, new_tok, padded, "mean")
    result = transplant(old_tok, new_tok, padded, "mean", allow_padded_rows=True, pad_to_multiple_of=64)
    assert result.embeddings.shape == (320, 16)
    np.testing.assert_allclose(result.embeddings[300], emb[:261].mean(axis=0), rtol=1e-5)  # regular rows


def test_sparsemax_projects_onto_the_simplex() -> None:
    p = sparsemax(np.array([[0.9, 0.1, 0.85, -1.0], [0.0, 0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[0, 1] == 0 and p[0, 3] == 0 and p[0, 0] > p[0, 2] > 0
    np.testing.assert_allclose(p[1], 0.25)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "fvt2"}, "unknown transplant method"),
        ({"embeddings": np.zeros((10, 4), np.float32)}, "10 rows"),
        ({"embeddings": np.zeros(262, np.float32)}, "2-D"),
        ({"embeddings": np.zeros((262, 4), np.int64)}, "floating"),
        ({"output_embeddings": np.zeros((262, 3), np.float32)}, "output_embeddings has shape"),
        ({"method": "mean", "aux": np.zeros((266, 2))}, "applies to method 'focus'"),
        ({"method": "focus", "aux": np.zeros((10, 2))}, "one vector per new id"),
        ({"params": TokenAdaptParams(top_k=0)}, "TokenAdapt parameters"),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, match, old_tok, new_tok, emb) -> None:
    args = {"embeddings": emb, "method": "tokenadapt"} | kwargs
    with pytest.raises(tf.InvalidArgumentError, match=match):
        transplant(old_tok, new_tok, **args)


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="LOUD SKIP: torch is not installed; the torch path runs in `make test-adapt-full`",
)
def test_torch_tensors_in_torch_tensors_out(old_tok, new_tok, emb) -> None:
    import torch

    tensor = torch.from_numpy(emb).to(torch.bfloat16)
    result = transplant(old_tok, new_tok, tensor, "mean")
    assert isinstance(result.embeddings, torch.Tensor) and result.embeddings.dtype == torch.bfloat16
    assert torch.equal(result.embeddings[256], tensor[257])  # "cd": new id 256, old id 257
