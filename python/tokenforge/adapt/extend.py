"""Extending a model's vocabulary: new tokens get new ids, every old id and old row stays identical.

The use case is K-Tokeniser / Taiyi-style domain adaptation (METHODS §7): add domain concepts or a new
script's frequent characters to a model and initialise only the new embedding rows.

Three ways to say what to add (``new_tokens_or_corpus``):

- an already-extended :class:`~tokenforge.Tokenizer` whose first ``n_vocab`` ids are the old ones
  (checked: same bytes, same special tokens);
- a list of token strings: :func:`extend_tokenizer` appends each as a BPE merge chain;
- a corpus path: continued BPE training from the old merges on that corpus
  (:func:`tokenforge.train.extend`), adding ``n_new_tokens`` tokens.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, ModelFormatError, TokenforgeError
from ..formats.bytelevel import bytes_to_token_str
from ..tokenizer import Tokenizer
from .embeddings import AuxSpace, TokenAdaptParams, TransplantResult, transplant
from .model_io import read_model, write_model

__all__ = ["ExtendResult", "check_extends", "extend", "extend_tokenizer"]


@dataclass
class ExtendResult:
    """The extended tokenizer, the ids it added and how their rows were made."""

    tokenizer: Tokenizer
    new_ids: list[int]
    transplant: TransplantResult
    output_dir: Path


def check_extends(old: Tokenizer, new: Tokenizer) -> None:
    """Raises :class:`InvalidArgumentError` unless every id of ``old`` means the same in ``new``."""
    if new.n_vocab < old.n_vocab:
        raise InvalidArgumentError(
            f"{new.name!r} (n_vocab {new.n_vocab}) is smaller than {old.name!r} ({old.n_vocab}): "
            "not an extension"
        )
    for text, token_id in old.special_tokens.items():
        if new.special_tokens.get(text) != token_id:
            raise InvalidArgumentError(
                f"special token {text!r} has id {token_id} in {old.name!r} but "
                f"{new.special_tokens.get(text)} in {new.name!r}: old ids must be kept"
            )
    specials = set(old.special_tokens.values())
    for token_id in range(old.n_vocab):
        if token_id in specials:
            continue
        try:
            before = old.decode_single_token_bytes(token_id)
        except TokenforgeError:
            continue
        try:
            after = new.decode_single_token_bytes(token_id)
        except TokenforgeError:
            after = None
        if before != after:
            raise InvalidArgumentError(
                f"id {token_id} is {before!r} in {old.name!r} but {after!r} in {new.name!r}: "
                "old ids must be kept"
            )


def extend_tokenizer(tokenizer: Tokenizer, new_tokens: Sequence[str | bytes]) -> Tokenizer:
    """``tokenizer`` plus ``new_tokens`` at ids ``n_vocab, n_vocab + 1, ...`` (old ids unchanged).

    Each token is encoded with the current tokenizer into pieces ``p_1..p_m`` and added as the merge
    chain ``(p_1, p_2) → p_1p_2, (p_1p_2, p_3) → ...`` after every existing merge (intermediate
    strings become tokens too, as BPE training would make them). The new merges rank last, so text
    without the new tokens encodes as before. A token the pre-tokenizer splits (e.g. one with an
    inner space under a GPT-style pattern) can never be produced by BPE: that raises
    :class:`InvalidArgumentError` naming it.
    """
    doc: dict[str, Any] = tokenizer.to_hf_json()
    model = doc["model"]
    vocab: dict[str, int] = model["vocab"]
    merges: list[list[str]] = model["merges"]
    seen_merges = {(a, b) for a, b in merges}
    next_id = tokenizer.n_vocab
    added: list[int] = []
    for token in dict.fromkeys(new_tokens):
        data = token.encode("utf-8") if isinstance(token, str) else bytes(token)
        if not data:
            raise InvalidArgumentError("cannot add an empty token")
        if tokenizer.token_to_id(data) is not None:
            continue
        pieces = [
            tokenizer.decode_single_token_bytes(i)
            for i in tokenizer.encode_ordinary(data.decode("utf-8", "replace"))
        ]
        if b"".join(pieces) != data:
            raise InvalidArgumentError(f"token {token!r} is not valid UTF-8 text for this tokenizer")
        acc = pieces[0]
        for piece in pieces[1:]:
            left, right, merged = bytes_to_token_str(acc), bytes_to_token_str(piece), acc + piece
            if (left, right) not in seen_merges:
                merges.append([left, right])
                seen_merges.add((left, right))
            name = bytes_to_token_str(merged)
            if name not in vocab:
                vocab[name] = next_id
                added.append(next_id)
                next_id += 1
            acc = merged
    # Special tokens keep their ids; new tokens start after the last one (HF lists them in the vocab).
    extended = _from_doc(doc, f"{tokenizer.name}+{len(added)}")
    unreachable = [
        t
        for t in dict.fromkeys(new_tokens)
        if len(extended.encode_ordinary(t if isinstance(t, str) else t.decode("utf-8", "replace"))) != 1
    ]
    if unreachable:
        raise InvalidArgumentError(
            f"{len(unreachable)} token(s) cannot be produced by this tokenizer's BPE because its "
            f"pre-tokenizer splits them or an earlier merge takes their pieces: {unreachable[:5]!r}"
        )
    return extended


def _from_doc(doc: dict[str, Any], name: str) -> Tokenizer:
    from ..loader import load

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        return load(path)


def _train_extension(tokenizer: Tokenizer, corpus: str | os.PathLike[str], n_new_tokens: int) -> Tokenizer:
    """Continues BPE training from the tokenizer's own merges on ``corpus`` (see
    :func:`tokenforge.train.extend`): old ids are kept, up to ``n_new_tokens`` tokens are added."""
    from ..train.continuation import extend as train_extend

    return train_extend(tokenizer, corpus, tokenizer.n_vocab + n_new_tokens)


def extend(
    model_dir: str | os.PathLike[str],
    tokenizer: Tokenizer | str | os.PathLike[str] | None,
    new_tokens_or_corpus: Tokenizer | Sequence[str] | str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    method: str = "mean",
    n_new_tokens: int | None = None,
    aux: AuxSpace = None,
    seed: int = 0,
    params: TokenAdaptParams | None = None,
) -> ExtendResult:
    """Adds tokens to the model in ``model_dir`` and writes it to ``output_dir``.

    ``tokenizer`` is the model's tokenizer (``None``: the folder's ``tokenizer.json``). Every old id
    keeps its meaning and every old row of the input and output embeddings is written back
    bit-identical (and padding rows that no new id takes); only the new ids' rows are initialised,
    with ``method`` (see :func:`~tokenforge.adapt.transplant`).
    """
    from ..loader import load

    model = read_model(model_dir)
    if tokenizer is None:
        if not (model.directory / "tokenizer.json").is_file():
            raise ModelFormatError(f"{model.directory}: no tokenizer.json; pass the model's tokenizer")
        tokenizer = model.directory / "tokenizer.json"
    old = tokenizer if isinstance(tokenizer, Tokenizer) else load(tokenizer)
    if isinstance(new_tokens_or_corpus, Tokenizer):
        extended = new_tokens_or_corpus
    elif isinstance(new_tokens_or_corpus, (str, os.PathLike)):
        if n_new_tokens is None or n_new_tokens < 1:
            raise InvalidArgumentError("extending from a corpus needs n_new_tokens (a positive count)")
        extended = _train_extension(old, new_tokens_or_corpus, n_new_tokens)
    else:
        extended = extend_tokenizer(old, list(new_tokens_or_corpus))
    check_extends(old, extended)
    rows, dim = model.embeddings.shape
    if rows < old.n_vocab:
        raise ModelFormatError(
            f"{model.directory}: {rows} embedding rows for a tokenizer of n_vocab {old.n_vocab}"
        )
    result = transplant(
        old,
        extended,
        model.embeddings,
        method,
        output_embeddings=model.output_embeddings,
        aux=aux,
        seed=seed,
        params=params,
        allow_padded_rows=rows > old.n_vocab,
    )
    specials = set(extended.special_tokens.values())
    new_ids = [i for i in range(old.n_vocab, extended.n_vocab) if i not in specials]
    total = max(rows, extended.n_vocab)
    matrices = []
    for source, made in (
        (model.embeddings, result.embeddings),
        (model.output_embeddings, result.output_embeddings),
    ):
        if source is None:
            matrices.append(None)
            continue
        out = np.empty((total, dim), dtype=source.dtype)
        out[:rows] = source
        tail = np.arange(old.n_vocab, extended.n_vocab)
        out[tail] = made[tail]
        matrices.append(out)
    written = write_model(
        model,
        output_dir,
        extended,
        matrices[0],
        matrices[1],
        old_tokenizer=old,
        copied_from={i: i for i in range(rows)},
    )
    return ExtendResult(extended, new_ids, result, written)
