"""LiB vs BPE vs Unigram at equal vocabulary size on one corpus, compared by ``tokenforge eval``'s
vocabulary-comparison section: overlap (pairwise Jaccard of token strings), token length
distribution, bytes/token and fertility on held-out text, and %TR/%Pure when the morphology
metrics have a lexicon for the language.

    .venv/bin/python bench/compare_vocab.py                      # shipped Brown paragraphs, 4k
    .venv/bin/python bench/compare_vocab.py --vocab-size 8000 --morphology   # + %TR/%Pure (simplemma)
    .venv/bin/python bench/compare_vocab.py --corpus tr.txt --lang tr --morphology

The corpus (default: the shipped Brown paragraphs, ``tokenforge.data.english_paragraphs()``; or a
text file, one document per line) is split in order: the first ``1 - --held-out`` share trains,
the rest is the evaluation text. LiB's lexicon size is emergent (``vocab_size`` only caps it), so
LiB is trained first and BPE and Unigram are trained to its final ``n_vocab``. The three are saved
under ``--out`` (``lib/``, ``bpe/``, ``unigram/``: ``tokenizer.json`` each) and the held-out text as
``LANG.txt`` (its stem is the language tag the morphology metrics look up), so the same comparison
can be rerun from the shell:

    tokenforge eval -t OUT/lib -t OUT/bpe -t OUT/unigram --corpus OUT/en.txt -m default,morphology \\
        --report compare.html --json compare.json

The Markdown comparison is printed; the HTML report and the JSON go to ``--report``/``--json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import tokenforge
from tokenforge.data import english_paragraphs

HERE = Path(__file__).resolve().parent


def split(texts: list[str], held_out: float) -> tuple[list[str], list[str]]:
    cut = max(1, min(len(texts) - 1, round(len(texts) * (1.0 - held_out))))
    return texts[:cut], texts[cut:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab-size", type=int, default=4000, help="LiB's cap; the others get its size")
    parser.add_argument("--corpus", help="a text file, one document per line (default: shipped Brown)")
    parser.add_argument("--lang", default="en", help="language tag of the corpus (default en)")
    parser.add_argument("--held-out", type=float, default=0.1, help="share kept for evaluation (0.1)")
    parser.add_argument("--morphology", action="store_true", help="also %%TR/%%Pure (needs tokenforge[eval])")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results" / "compare-vocab"), help="tokenizers go here")
    parser.add_argument("--report", default=str(HERE / "results" / "compare-vocab.html"))
    parser.add_argument("--json", default=str(HERE / "results" / "compare-vocab.json"))
    args = parser.parse_args(argv)
    if args.corpus:
        texts = [line for line in Path(args.corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        texts = english_paragraphs()
    train, held_out = split(texts, args.held_out)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    tokenizers: dict[str, tokenforge.Tokenizer] = {}
    start = time.perf_counter()
    tokenizers["lib"] = tokenforge.train(
        train, algorithm="lib", vocab_size=args.vocab_size, num_threads=args.threads, name="lib"
    )
    seconds["lib"] = time.perf_counter() - start
    size = tokenizers["lib"].n_vocab
    for algorithm in ("bpe", "unigram"):
        start = time.perf_counter()
        tokenizers[algorithm] = tokenforge.train(
            train, algorithm=algorithm, vocab_size=size, num_threads=args.threads, name=algorithm
        )
        seconds[algorithm] = time.perf_counter() - start
    paths = []
    for name, tok in tokenizers.items():
        (out / name).mkdir(exist_ok=True)
        paths.append(str(tok.save(out / name / "tokenizer.json").parent))
    corpus = out / f"{args.lang}.txt"
    corpus.write_text("\n".join(held_out) + "\n", encoding="utf-8")
    metrics = ["default", "morphology"] if args.morphology else ["default"]
    result = tokenforge.evaluate(paths, str(corpus), metrics=metrics, num_threads=args.threads)
    Path(args.report).write_text(result.to_html(), encoding="utf-8")
    Path(args.json).write_text(result.to_json(), encoding="utf-8")
    sizes = ", ".join(f"{k} {v.n_vocab}" for k, v in tokenizers.items())
    print(
        f"train: {len(train):,} documents, {sum(len(t) for t in train):,} chars; held out: "
        f"{len(held_out):,} documents; n_vocab {sizes}; "
        f"training {', '.join(f'{k} {v:.1f} s' for k, v in seconds.items())}"
    )
    assert result.comparison is not None
    print("\n".join(result.comparison.to_markdown()))
    print(f"\nwrote {args.report}, {args.json}; tokenizers and {corpus.name} in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
