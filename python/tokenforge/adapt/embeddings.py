"""Embedding transplant: rows of a model's embedding matrices for a new tokenizer's vocabulary.

Every method first **copies** the rows of tokens the two vocabularies share (matched by token bytes;
special tokens by their text), bit-identical. The other new tokens are initialised by ``method``:

``mean``
    FVT (Gee et al. 2022; the ZeTT "FVT" baseline, METHODS §7.5): the new token's bytes are encoded with
    the **old** tokenizer into pieces ``o_1..o_m`` and ``e = (1/m) · Σ_i E_old[o_i]``.
``tokenadapt``
    TokenAdapt hybrid (Sharthak et al. 2025, arXiv 2505.09738; METHODS §7.1) with the paper's defaults
    ``T = 0.3``, ``k = 3``, ``λ = 0.3``, ``θ = 0``:
    local ``c_i = cos(A(s), A(s_i))``, ``a = softmax(c)``, ``ℓ_i = |s_i| / |s|`` (byte lengths),
    ``w = softmax(((a + ℓ) / 2) / (T + 1e-5))``, ``e_local = Σ_i w_i E_old[o_i]``;
    global: the top-k old tokens ``n_j`` by ``σ_j = cos(A(s), A(n_j))``, weights ``softmax(σ / (T + 1e-5))``
    over those with ``σ_j ≥ θ``, renormalised, ``e_global = Σ_j u_j E_old[n_j]``;
    ``e = (1 − λ) e_local + λ e_global`` (only the local estimate when no neighbour passes ``θ``).
``focus``
    FOCUS-style (Dobler & de Melo 2023; METHODS §7.3): ``e = Σ_s p_s E_old[s]`` over the overlapping
    (shared) tokens ``s`` with ``p = sparsemax(cos(A(t), A(s)))``.
``random``
    Baseline: ``e ~ N(μ, Σ)`` with the per-dimension mean ``μ`` and full covariance ``Σ`` of the old rows.

``A`` is the auxiliary embedding space (``aux``): ``None`` uses the model's own input rows (an old
token's vector is its row; any other string's vector is the mean of its old pieces' rows), a callable
maps a list of strings to an ``(n, k)`` array (e.g. a sentence-embedding model, as in TokenAdapt), and
for ``focus`` an ``(new_tokenizer.n_vocab, k)`` array gives one vector per **new** id (e.g. static
vectors trained on target text tokenized with the new tokenizer, see :func:`tokenforge.adapt.
cooccurrence_vectors`; all-zero rows mean "no vector"). The paper versions use external embedders
(TokenAdapt: nomic-embed-text; FOCUS: fastText); ``aux=None`` is the self-contained variant.

Rows that a method cannot initialise (no old pieces, no auxiliary vector, unused ids) are drawn from
the ``random`` distribution; special tokens missing from the old vocabulary get the mean of the old
special-token rows. All randomness comes from ``numpy.random.default_rng(seed)``: the same inputs and
seed give bit-identical outputs.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidArgumentError, InvalidTokenIdError

if TYPE_CHECKING:
    from ..tokenizer import Tokenizer

__all__ = ["METHODS", "TokenAdaptParams", "TransplantResult", "sparsemax", "token_surfaces", "transplant"]

METHODS = ("mean", "tokenadapt", "focus", "random")

AuxSpace = None | Callable[[list[str]], Any] | np.ndarray

# Rows of the query × keys similarity matrix computed at once (bounds memory at ~chunk × keys floats).
_CHUNK = 256


@dataclass(frozen=True)
class TokenAdaptParams:
    """TokenAdapt's hyper-parameters; the defaults are the paper's (METHODS §7.1)."""

    temperature: float = 0.3
    top_k: int = 3
    global_weight: float = 0.3
    threshold: float = 0.0


@dataclass
class TransplantResult:
    """New matrices (same array type and dtype as the inputs) and how each row was made.

    ``weights[new_id] = (old_ids, coefficients)`` for every row built as a combination of old rows
    (copied rows have one coefficient ``1.0``); rows absent from ``weights`` were sampled (``random``
    method and fallbacks) or are padding.
    """

    embeddings: Any
    output_embeddings: Any | None
    method: str
    copied: int
    initialized: int
    fallback: int
    weights: dict[int, tuple[np.ndarray, np.ndarray]] = field(repr=False, default_factory=dict)


# ---------------------------------------------------------------------------------------------- helpers


def sparsemax(z: np.ndarray) -> np.ndarray:
    """Row-wise sparsemax (Martins & Astudillo 2016): the Euclidean projection of each row of ``z`` onto
    the probability simplex, ``p = max(z − τ, 0)`` with ``τ`` such that ``Σ p = 1``."""
    z = np.atleast_2d(np.asarray(z, dtype=np.float64))
    srt = -np.sort(-z, axis=1)
    cum = np.cumsum(srt, axis=1)
    ks = np.arange(1, z.shape[1] + 1)
    support = 1.0 + ks * srt > cum
    k = support.sum(axis=1)
    tau = (cum[np.arange(z.shape[0]), k - 1] - 1.0) / k
    return np.maximum(z - tau[:, None], 0.0)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)


def _to_numpy(matrix: Any, name: str) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """A 2-D float numpy view of ``matrix`` and a function turning a result back into its type."""
    if type(matrix).__module__.split(".")[0] == "torch":
        import torch

        tensor = matrix.detach().to("cpu")
        dtype, device = matrix.dtype, matrix.device
        # bf16/f16 widen to float32 exactly, so copied rows come back bit-identical.
        array = (tensor.float() if tensor.dtype in (torch.bfloat16, torch.float16) else tensor).numpy()

        def back(out: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(out)).to(dtype=dtype, device=device)

    else:
        array = np.asarray(matrix)

        def back(out: np.ndarray) -> Any:
            return out

    if array.ndim != 2:
        raise InvalidArgumentError(f"{name} must be a 2-D matrix (vocabulary × dimension), got {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidArgumentError(f"{name} must hold floating-point values, got dtype {array.dtype}")
    return array, back


@dataclass
class _Vocab:
    """A tokenizer's ids split into regular tokens (by surface, see :func:`token_surfaces`) and
    special tokens (by text)."""

    n_vocab: int
    by_bytes: dict[bytes, int]
    bytes_of: dict[int, bytes]
    specials: dict[str, int]
    #: WordPiece's continuing-subword prefix (``##``), None for other models.
    continuation: str | None = None


def _wordpiece_prefix(tokenizer: Tokenizer) -> str | None:
    model = tokenizer.spec.model
    if model is None or model.kind != "WordPiece":
        return None
    return str(model.node.get("continuing_subword_prefix") or "##")


_METASPACE = "\u2581".encode()


def token_surfaces(tokenizer: Tokenizer) -> dict[int, bytes]:
    """The bytes each regular (non-special) token stands for in text, in one convention across
    model families, so that vocabularies of different families can be matched: a token that
    **starts a word** carries the leading space, a token that continues a word has none.

    Byte-level vocabularies already spell tokens that way (``b" the"``, ``b"ing"``); WordPiece
    ``"the"`` becomes ``b" the"`` and ``"##ing"`` ``b"ing"``; SentencePiece-style ``"\u2581the"``
    becomes ``b" the"`` and a byte-fallback piece ``<0x0A>`` its byte. Unused ids are left out.
    """
    specials = set(tokenizer.special_tokens.values())
    prefix = _wordpiece_prefix(tokenizer)
    prefix_bytes = prefix.encode() if prefix else b""
    string_vocab = tokenizer.spec.model is not None
    out: dict[int, bytes] = {}
    for i in range(tokenizer.n_vocab):
        if i in specials:
            continue
        try:
            data = tokenizer.decode_single_token_bytes(i)
        except InvalidTokenIdError:
            continue  # an unused id below n_vocab
        if prefix is not None:
            if data.startswith(prefix_bytes) and len(data) > len(prefix_bytes):
                data = data[len(prefix_bytes) :]
            else:
                data = b" " + data
        elif string_vocab:
            if len(data) == 6 and data.startswith(b"<0x") and data.endswith(b">"):
                try:
                    data = bytes([int(data[3:5], 16)])
                except ValueError:
                    pass
            else:
                data = data.replace(_METASPACE, b" ")
        out[i] = data
    return out


def _vocab(tokenizer: Tokenizer) -> _Vocab:
    bytes_of = token_surfaces(tokenizer)
    by_bytes: dict[bytes, int] = {}
    for i, data in bytes_of.items():
        by_bytes.setdefault(data, i)
    return _Vocab(
        tokenizer.n_vocab, by_bytes, bytes_of, dict(tokenizer.special_tokens), _wordpiece_prefix(tokenizer)
    )


def _starts_pre_token(ch: str) -> bool:
    """BERT's pre-tokenizer splits before whitespace, punctuation (ASCII symbols included) and CJK
    ideographs, so a surface starting with one begins a word whatever precedes it."""
    if ch.isspace() or unicodedata.category(ch).startswith("P"):
        return True
    cp = ord(ch)
    return (33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126) or (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x2FA1F
    )


def _word_start(old_vocab: _Vocab, data: bytes) -> bool:
    """Whether a surface without a leading space is read as starting a word by a WordPiece old
    tokenizer: its first character starts a pre-token anyway (punctuation), or it is a capital
    letter. Byte-level vocabularies spell a text's first word and a word after punctuation without
    the space, so ``"The"`` is a sentence start far more often than the inside of a word."""
    if old_vocab.continuation is None or not data or data.startswith(b" "):
        return False
    first = data[:4].decode("utf-8", "ignore")[:1]
    return bool(first) and (_starts_pre_token(first) or first.isupper())


def _old_key(old_vocab: _Vocab, data: bytes) -> bytes:
    """The surface of a new token as the old vocabulary spells it (see :func:`_word_start`)."""
    return b" " + data if _word_start(old_vocab, data) else data


def _as_continuation(old: Tokenizer, old_vocab: _Vocab, ids: list[int]) -> list[int]:
    """WordPiece ids of a text re-spelled so that its first word continues a word: the first word's
    pieces (already normalized by the old tokenizer) matched greedily, longest first, against the
    ``##`` vocabulary, as WordPiece does after a word's first piece. Unchanged when that fails."""
    assert old_vocab.continuation is not None
    end = 1
    while (
        end < len(ids)
        and ids[end] in old_vocab.bytes_of
        and not old_vocab.bytes_of[ids[end]].startswith(b" ")
    ):
        end += 1
    if ids[0] not in old_vocab.bytes_of:  # [UNK]
        return ids
    word = b"".join(old_vocab.bytes_of[i] for i in ids[:end]).lstrip(b" ").decode("utf-8", "replace")
    pieces: list[int] = []
    pos = 0
    while pos < len(word):
        for stop in range(len(word), pos, -1):
            found = old.token_to_id(old_vocab.continuation + word[pos:stop])
            if found is not None and found in old_vocab.bytes_of:
                pieces.append(found)
                pos = stop
                break
        else:
            return ids
    return pieces + ids[end:]


def _pieces(old: Tokenizer, old_vocab: _Vocab, data: bytes) -> list[int] | None:
    """Old-tokenizer ids whose surfaces concatenate to ``data`` (a surface, see
    :func:`token_surfaces`): valid UTF-8 runs are encoded as ordinary text; bytes outside valid
    UTF-8 (byte-level fragments) map to the old single-byte tokens. For a WordPiece old tokenizer a
    surface without a leading space continues a word, so its first word gets ``##`` pieces."""
    out: list[int] = []
    text = data.decode("utf-8", "surrogateescape")
    run: list[str] = []

    def flush() -> None:
        if run:
            ids = old.encode_ordinary("".join(run))
            continues = not out and old_vocab.continuation is not None and not _word_start(old_vocab, data)
            out.extend(_as_continuation(old, old_vocab, ids) if ids and continues else ids)
            run.clear()

    for ch in text:
        if "\udc80" <= ch <= "\udcff":
            flush()
            single = old_vocab.by_bytes.get(bytes([ord(ch) - 0xDC00]))
            if single is None:
                return None
            out.append(single)
        else:
            run.append(ch)
    flush()
    return out or None


class _Sampler:
    """Draws rows from N(μ, Σ) of a matrix's rows (the ``random`` method and every fallback)."""

    def __init__(self, rows: np.ndarray) -> None:
        rows = rows.astype(np.float64)
        self.mean = rows.mean(axis=0)
        if rows.shape[0] > 1:
            cov = np.atleast_2d(np.cov(rows, rowvar=False))
            values, vectors = np.linalg.eigh(cov)
            self.factor = vectors * np.sqrt(np.clip(values, 0.0, None))
        else:
            self.factor = np.zeros((rows.shape[1], rows.shape[1]))

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        z = rng.standard_normal((n, self.mean.shape[0]))
        return self.mean + z @ self.factor.T


class _AuxSpace:
    """Vectors for strings and tokens in the auxiliary space ``A`` (see the module docstring)."""

    def __init__(self, aux: AuxSpace, emb64: np.ndarray, old: _Vocab, new: _Vocab) -> None:
        self.aux, self.emb, self.old, self.new = aux, emb64, old, new
        self._old_matrix: tuple[np.ndarray, np.ndarray] | None = None

    @staticmethod
    def text(data: bytes) -> str:
        return data.decode("utf-8", "replace")

    def _call(self, strings: list[str]) -> np.ndarray:
        assert callable(self.aux)
        out = np.asarray(self.aux(strings), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != len(strings):
            raise InvalidArgumentError(
                f"aux callable returned shape {out.shape} for {len(strings)} strings; expected (n, k)"
            )
        return out

    def of_new(self, ids: Sequence[int], pieces: Mapping[int, list[int]]) -> np.ndarray:
        """Vectors of new tokens (rows of zeros where none exists)."""
        if self.aux is None:
            return np.stack([self.emb[pieces[i]].mean(axis=0) for i in ids])
        if callable(self.aux):
            return self._call([self.text(self.new.bytes_of[i]) for i in ids])
        return np.asarray(self.aux, dtype=np.float64)[list(ids)]

    def of_old(self, old_ids: Sequence[int]) -> np.ndarray:
        """Vectors of old tokens given by old id."""
        if self.aux is None:
            return self.emb[list(old_ids)]
        return self._call([self.text(self.old.bytes_of[i]) for i in old_ids])

    def old_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(old ids, unit vectors) of every regular old token: the global neighbour index."""
        if self._old_matrix is None:
            ids = np.array(sorted(self.old.bytes_of), dtype=np.int64)
            # float32 for the large similarity products (2x faster; rankings agree to ~1e-7).
            self._old_matrix = (ids, _unit(self.of_old(ids.tolist())).astype(np.float32))
        return self._old_matrix


# ---------------------------------------------------------------------------------------------- methods


def _mean_weights(todo: list[int], pieces: Mapping[int, list[int]]) -> dict[int, tuple[np.ndarray, ...]]:
    out = {}
    for i in todo:
        ids = np.array(pieces[i], dtype=np.int64)
        uniq, counts = np.unique(ids, return_counts=True)
        out[i] = (uniq, counts / counts.sum())
    return out


def _tokenadapt_weights(
    todo: list[int],
    pieces: Mapping[int, list[int]],
    space: _AuxSpace,
    new: _Vocab,
    old: _Vocab,
    params: TokenAdaptParams,
) -> dict[int, tuple[np.ndarray, ...]]:
    temperature = params.temperature + 1e-5
    queries = space.of_new(todo, pieces)
    unit_q = _unit(queries)
    index_ids, index_vectors = space.old_index()
    k = min(params.top_k, len(index_ids))
    out: dict[int, tuple[np.ndarray, ...]] = {}
    for start in range(0, len(todo), _CHUNK):
        block = unit_q[start : start + _CHUNK]
        sims = (block.astype(np.float32) @ index_vectors.T).astype(np.float64)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k else np.zeros((len(block), 0), int)
        for row, new_id in enumerate(todo[start : start + _CHUNK]):
            # Local: the new token's own old pieces.
            piece_ids = pieces[new_id]
            piece_vecs = (
                _unit(space.of_old(piece_ids)) if space.aux is not None else _unit(space.emb[piece_ids])
            )
            c = piece_vecs @ block[row]
            a = _softmax(c)
            total = len(new.bytes_of[new_id])
            lengths = np.array([len(old.bytes_of[p]) for p in piece_ids], dtype=np.float64) / total
            w_local = _softmax(((a + lengths) / 2.0) / temperature)
            # Global: top-k neighbours over the whole old vocabulary, masked by the threshold.
            cand = top[row]
            sigma = sims[row, cand]
            keep = sigma >= params.threshold
            ids_local = np.asarray(piece_ids, dtype=np.int64)
            if keep.any() and np.linalg.norm(block[row]) > 0:
                w_global = _softmax(sigma[keep] / temperature)
                ids = np.concatenate([ids_local, index_ids[cand[keep]]])
                coef = np.concatenate([(1 - params.global_weight) * w_local, params.global_weight * w_global])
            else:
                ids, coef = ids_local, w_local
            uniq, inverse = np.unique(ids, return_inverse=True)
            out[new_id] = (uniq, np.bincount(inverse, weights=coef, minlength=len(uniq)))
    return out


def _focus_weights(
    todo: list[int],
    pieces: Mapping[int, list[int]],
    space: _AuxSpace,
    shared: Mapping[int, int],
) -> tuple[dict[int, tuple[np.ndarray, ...]], list[int]]:
    """Sparsemax weights over the overlapping tokens; also the ids that have no auxiliary vector."""
    shared_new = sorted(shared)
    if not shared_new:
        return {}, list(todo)
    shared_old = np.array([shared[i] for i in shared_new], dtype=np.int64)
    if space.aux is None:
        keys = _unit(space.emb[shared_old])
    elif callable(space.aux):
        keys = _unit(space.of_old(shared_old.tolist()))
    else:
        keys = _unit(np.asarray(space.aux, dtype=np.float64)[shared_new])
    keys = keys.astype(np.float32)
    out: dict[int, tuple[np.ndarray, ...]] = {}
    missing: list[int] = []
    for start in range(0, len(todo), _CHUNK):
        ids = todo[start : start + _CHUNK]
        queries = _unit(space.of_new(ids, pieces))
        has = np.linalg.norm(queries, axis=1) > 0
        probs = sparsemax((queries.astype(np.float32) @ keys.T).astype(np.float64))
        for row, new_id in enumerate(ids):
            if not has[row]:
                missing.append(new_id)
                continue
            nz = np.flatnonzero(probs[row])
            out[new_id] = (shared_old[nz], probs[row, nz])
    return out, missing


# ---------------------------------------------------------------------------------------------- entry


def transplant(
    old_tokenizer: Tokenizer,
    new_tokenizer: Tokenizer,
    embeddings: Any,
    method: str = "mean",
    output_embeddings: Any | None = None,
    aux: AuxSpace = None,
    seed: int = 0,
    *,
    params: TokenAdaptParams | None = None,
    special_map: Mapping[str, str] | None = None,
    allow_padded_rows: bool = False,
    pad_to_multiple_of: int | None = None,
) -> TransplantResult:
    """Embedding matrices for ``new_tokenizer`` made from a model's matrices for ``old_tokenizer``.

    ``embeddings`` (and the untied ``output_embeddings``, e.g. ``lm_head.weight``) have one row per old
    id; numpy arrays or torch tensors (the result has the same type, dtype and device). Shared tokens
    are copied exactly; the rest are initialised with ``method`` (one of :data:`METHODS`, formulas in
    the module docstring); the same per-row weights are applied to the output matrix. ``seed`` fixes
    every random draw.

    ``special_map`` maps a new special token's text to an old one's (e.g. ``{"<|im_end|>":
    "<|endoftext|>"}``) to copy its row. Models often pad their matrices beyond the vocabulary: with
    ``allow_padded_rows`` the rows past ``old_tokenizer.n_vocab`` are ignored instead of being an error,
    and ``pad_to_multiple_of`` pads the new matrices with mean rows (TokenAdapt pads to 128).
    """
    if method not in METHODS:
        raise InvalidArgumentError(
            f"unknown transplant method {method!r}; choose one of {', '.join(METHODS)}"
        )
    params = params or TokenAdaptParams()
    if params.top_k < 1 or params.temperature <= 0 or not 0 <= params.global_weight <= 1:
        raise InvalidArgumentError(f"invalid TokenAdapt parameters {params}")
    if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
        raise InvalidArgumentError(f"pad_to_multiple_of must be positive, got {pad_to_multiple_of}")
    emb, back = _to_numpy(embeddings, "embeddings")
    matrices = [emb]
    backs = [back]
    if output_embeddings is not None:
        out_emb, out_back = _to_numpy(output_embeddings, "output_embeddings")
        if out_emb.shape != emb.shape:
            raise InvalidArgumentError(
                f"output_embeddings has shape {out_emb.shape} but embeddings has {emb.shape}; "
                "they must match (one row per old id, same dimension)"
            )
        matrices.append(out_emb)
        backs.append(out_back)
    old, new = _vocab(old_tokenizer), _vocab(new_tokenizer)
    rows = emb.shape[0]
    if rows < old.n_vocab or (rows > old.n_vocab and not allow_padded_rows):
        raise InvalidArgumentError(
            f"embeddings has {rows} rows but the old tokenizer {old_tokenizer.name!r} has n_vocab "
            f"{old.n_vocab}: the matrix does not belong to this tokenizer"
            + (" (pass allow_padded_rows=True if the model pads its matrix)" if rows > old.n_vocab else "")
        )
    if isinstance(aux, np.ndarray) or (aux is not None and not callable(aux)):
        aux = np.asarray(aux)
        if method != "focus":
            raise InvalidArgumentError(
                f"an aux array (vectors per new id) applies to method 'focus'; {method!r} takes None "
                "or a callable mapping strings to vectors"
            )
        if aux.ndim != 2 or aux.shape[0] != new.n_vocab:
            raise InvalidArgumentError(
                f"aux array has shape {aux.shape}; expected ({new.n_vocab}, k): one vector per new id"
            )

    n_out = new.n_vocab
    if pad_to_multiple_of:
        n_out = -(-n_out // pad_to_multiple_of) * pad_to_multiple_of
    rng = np.random.default_rng(seed)
    regular_old = np.array(sorted(old.bytes_of), dtype=np.int64)
    special_old = np.array(sorted(old.specials.values()), dtype=np.int64)
    results = [np.empty((n_out, m.shape[1]), dtype=m.dtype) for m in matrices]
    samplers = [_Sampler(m[regular_old] if len(regular_old) else m[: old.n_vocab]) for m in matrices]
    weights: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    # 1. Shared tokens: exact copies. Special tokens by text (or special_map), regular ones by bytes.
    shared: dict[int, int] = {}
    special_copies: dict[int, int] = {}
    special_missing: list[int] = []
    for text, new_id in new.specials.items():
        source = (special_map or {}).get(text, text)
        old_id = old.specials.get(source)
        if old_id is None:
            old_id = old.by_bytes.get(source.encode("utf-8"))
        if old_id is None:
            special_missing.append(new_id)
        else:
            special_copies[new_id] = old_id
    for new_id, data in new.bytes_of.items():
        old_id = old.by_bytes.get(_old_key(old, data))
        if old_id is not None:
            shared[new_id] = old_id
    for copies in (shared, special_copies):
        if copies:
            src = np.array(list(copies.values()), dtype=np.int64)
            dst = np.array(list(copies), dtype=np.int64)
            for result, matrix in zip(results, matrices, strict=True):
                result[dst] = matrix[src]
            one = np.ones(1)
            weights.update({d: (np.array([s]), one) for d, s in copies.items()})

    # 2. New regular tokens: old pieces, then the method's weights over old rows.
    todo: list[int] = []
    pieces: dict[int, list[int]] = {}
    fallback: list[int] = []
    for new_id in sorted(set(new.bytes_of) - set(shared)):
        found = _pieces(old_tokenizer, old, new.bytes_of[new_id])
        if found is None or any(p not in old.bytes_of for p in found):
            fallback.append(new_id)
        else:
            pieces[new_id] = found
            todo.append(new_id)
    space = _AuxSpace(aux, emb.astype(np.float64), old, new)
    made: dict[int, tuple[np.ndarray, ...]] = {}
    if not todo:
        pass
    elif method == "mean":
        made = _mean_weights(todo, pieces)
    elif method == "tokenadapt":
        made = _tokenadapt_weights(todo, pieces, space, new, old, params)
    elif method == "focus":
        made, missing = _focus_weights(todo, pieces, space, shared)
        fallback.extend(missing)
    else:
        made = {}
        fallback.extend(todo)
    for new_id, (ids, coef) in made.items():
        for result, matrix in zip(results, matrices, strict=True):
            result[new_id] = coef @ matrix[ids].astype(np.float64)
        weights[new_id] = (ids, coef)

    # 3. Fallbacks (sorted, so the draws do not depend on dict order), specials, unused ids, padding.
    fallback.sort()
    filled = set(new.bytes_of) | set(new.specials.values())
    unused = [i for i in range(n_out) if i not in filled]
    for result, matrix, sampler in zip(results, matrices, samplers, strict=True):
        if fallback:
            result[fallback] = sampler.draw(rng, len(fallback))
        if special_missing:
            specials_mean = matrix[special_old].astype(np.float64).mean(axis=0) if len(special_old) else None
            result[special_missing] = sampler.mean if specials_mean is None else specials_mean
        if unused:
            result[unused] = sampler.mean
    return TransplantResult(
        embeddings=backs[0](results[0]),
        output_embeddings=backs[1](results[1]) if len(results) > 1 else None,
        method=method,
        copied=len(shared) + len(special_copies),
        initialized=len(made),
        fallback=len(fallback) + len(special_missing),
        weights=weights,
    )
