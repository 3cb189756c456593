"""A short tour of tokenforge (``make demo``): load two OpenAI vocabularies, encode, count, truncate,
decode, handle special tokens, run the quick encode benchmark against other libraries, and end with
an evaluation of four vocabularies on the shipped UDHR written as ``eval-report.html``.

Run it with the project's Python after ``make vocab`` (the vocabularies are read offline from the
cache, ``$TOKENFORGE_HOME`` or ``~/.cache/tokenforge``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import tokenforge
from tokenforge import data

SAMPLE = "Tokenizers turn text into integers: naïve café, 1234567, and 🦀 emoji."
WITH_SPECIAL = "Hello<|endoftext|>world"
BENCHMARK = Path(__file__).resolve().parent.parent / "bench" / "encode.py"
REPORT = Path(__file__).resolve().parent.parent / "eval-report.html"


def heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 72 - len(title)))


def show_piece(data: bytes) -> str:
    try:
        return repr(data.decode("utf-8"))
    except UnicodeDecodeError:  # part of a multi-byte character
        return repr(data)


def tour(name: str) -> None:
    started = time.perf_counter()
    tok = tokenforge.load(name)
    heading(f"{name}  ({tok.n_vocab} ids, loaded in {time.perf_counter() - started:.2f} s)")

    ids = tok.encode(SAMPLE)
    print(f"text      {SAMPLE!r}")
    print(f"ids       {ids}")
    pieces = [show_piece(tok.decode_single_token_bytes(i)) for i in ids]
    print(f"pieces    {' '.join(pieces)}")
    print(f"count     {tok.count(SAMPLE)} tokens for {len(SAMPLE.encode('utf-8'))} bytes")

    short = tok.truncate(SAMPLE, 8)
    print(f"truncate  {short!r}  ({tok.count(short)} tokens, at most 8)")

    back = tok.decode(ids)
    print(f"decode    {back!r}  (round trip {'ok' if back == SAMPLE else 'FAILED'})")

    print(f"special   {WITH_SPECIAL!r}")
    try:
        tok.encode(WITH_SPECIAL)
    except tokenforge.SpecialTokenError as exc:
        print(f"  default          -> SpecialTokenError: {str(exc).splitlines()[0]}")
    print(f"  allowed='all'    -> {tok.encode(WITH_SPECIAL, allowed_special='all')}")
    print(f"  encode_ordinary  -> {tok.encode_ordinary(WITH_SPECIAL)}")


def main() -> int:
    print(f"tokenforge {tokenforge.__version__}")
    for name in ("cl100k_base", "o200k_base"):
        try:
            tour(name)
        except tokenforge.VocabularyNotFoundError as exc:
            print(f"{name}: {str(exc).splitlines()[0]}")
            print("  (run `make vocab` or `python -m tokenforge fetch cl100k_base o200k_base`)")
            return 1

    heading("encode throughput: bench/encode.py --quick")
    print(
        "same vocabulary file and text for every library; bench/README.md explains the columns\n", flush=True
    )
    result = subprocess.run([sys.executable, str(BENCHMARK), "--quick"], check=False)
    if result.returncode:
        return result.returncode
    return evaluation()


def evaluation() -> int:
    """Trains a small tokenizer on the shipped multilingual text, then evaluates it beside the four
    real vocabularies on the UDHR and writes the HTML report."""
    heading("training: 16k byte-level BPE on the shipped UDHR + English (bundled data)")
    print("(it is then evaluated on the text it was trained on, so its row is optimistic)")
    started = time.perf_counter()
    texts = [data.udhr_text(v["code"]) for v in data.udhr_languages()] + list(data.english_paragraphs())
    trained = tokenforge.train(texts, vocab_size=16_000, name="demo-16k", progress=False)
    print(
        f"trained {trained.n_vocab} ids on {len(texts):,} texts in {time.perf_counter() - started:.1f} s; "
        f"'{SAMPLE[:26]}...' -> {trained.count(SAMPLE)} tokens"
    )

    heading("evaluation: five tokenizers on the UDHR (343 languages)")
    started = time.perf_counter()
    evaluated = tokenforge.evaluate([trained, "cl100k_base", "o200k_base", "llama3", "qwen2"], "udhr")
    print(evaluated.to_markdown(languages=False).split("\n\nColumns:")[0])
    REPORT.write_text(evaluated.to_html(), encoding="utf-8")
    print(f"\nreport: {REPORT}  ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
