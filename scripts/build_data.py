#!/usr/bin/env python3
"""Rebuild the text data shipped in ``python/tokenforge/data/``.

Usage::

    python scripts/build_data.py --shared PATH/TO/shared/data [--out DIR] [--check]

Inputs:

* ``udhr.jsonl.gz`` and ``brown.jsonl.gz`` from the shared data directory given by ``--shared``;
* source files of the running CPython (3.11.7 was used: its ``Lib/``, ``Include/`` and
  ``Modules/makesetup`` as installed);
* four Rust files from crates in the local cargo registry (``--cargo-src``, by default the
  first ``~/.cargo/registry/src/*`` directory that holds them).

Outputs ``udhr.jsonl.gz``, ``english.txt.gz`` and ``code.jsonl.gz``. Every choice below is a
fixed rule or a hash order, never wall-clock or ``random`` state, and gzip is written with
mtime 0 and no file name, so the same inputs and the same zlib give the same bytes.
``--check`` rebuilds in memory and compares with the files already in ``--out``.

This script is a maintenance tool: neither the library nor its tests run it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import sysconfig
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "python" / "tokenforge" / "data"

# --- UDHR -----------------------------------------------------------------------------------

# Modern orthographies win over older or regional versions of the same language and script.
# Both Chinese scripts are kept: they tokenize very differently.
UDHR_PREFERRED = frozenset({"deu_1996", "ron_2006", "por_BR", "cmn_hans", "cmn_hant", "ell_monotonic", "eng"})
UDHR_FIELDS = ("code", "bcp47", "iso6393", "name", "script", "direction", "preamble", "articles")
# Compressed-size budget for udhr.jsonl.gz; versions are added in priority order up to it.
UDHR_BUDGET = 1_450_000

# --- Brown ----------------------------------------------------------------------------------

BROWN_CATEGORIES = {
    "a": "Press: reportage",
    "b": "Press: editorial",
    "c": "Press: reviews",
    "d": "Religion",
    "e": "Skill and hobbies",
    "f": "Popular lore",
    "g": "Belles-lettres",
    "h": "Miscellaneous: government and house organs",
    "j": "Learned",
    "k": "Fiction: general",
    "l": "Fiction: mystery and detective",
    "m": "Fiction: science",
    "n": "Fiction: adventure and western",
    "p": "Fiction: romance and love story",
    "r": "Humor",
}
# UTF-8 bytes of paragraph text per category (15 x 33,000 is about 495 KB in total).
BROWN_PER_CATEGORY = 33_000

# --- Code -----------------------------------------------------------------------------------

PSF = "PSF-2.0"
# (path inside the installed stdlib, language). Picked for variety: generated tables, long
# string literals, non-ASCII strings and identifiers, Python 2 syntax, f-string edge cases,
# CRLF line ends, a UTF-8 BOM, email fixtures full of odd whitespace.
CPYTHON_LIB = (
    ("re/_casefix.py", "python"),
    ("shlex.py", "python"),
    ("textwrap.py", "python"),
    ("colorsys.py", "python"),
    ("this.py", "python"),
    ("keyword.py", "python"),
    ("json/encoder.py", "python"),
    ("encodings/cp1252.py", "python"),
    ("encodings/idna.py", "python"),
    ("heapq.py", "python"),
    ("tokenize.py", "python"),
    ("string.py", "python"),
    ("test/test_email/test_contentmanager.py", "python"),
    ("test/test_fstring.py", "python"),
    ("test/test_ttk_textonly.py", "python"),
    ("test/test_unicode_identifiers.py", "python"),
    ("test/test_string_literals.py", "python"),
    ("test/test_utf8source.py", "python"),
    ("test/tokenizedata/coding20731.py", "python"),
    ("test/tokenizedata/badsyntax_3131.py", "python"),
    ("test/tokenizedata/tokenize_tests.txt", "python"),
    ("lib2to3/tests/data/different_encoding.py", "python"),
    ("lib2to3/tests/data/crlf.py", "python"),
    ("lib2to3/tests/data/bom.py", "python"),
    ("lib2to3/tests/data/py2_test_grammar.py", "python"),
)
CPYTHON_INCLUDE = (("object.h", "c"), ("pymacro.h", "c"))
# makesetup is the only tab-indented CPython file installed with the interpreter.
CPYTHON_LIBPL = (("makesetup", "shell"),)
# (crate directory, path in crate, licence expression from its Cargo.toml)
RUST_FILES = (
    ("aho-corasick-1.1.5", "src/lib.rs", "Unlicense OR MIT"),
    ("fancy-regex-0.20.2", "src/expand.rs", "MIT"),
    ("unicode-normalization-0.1.26", "src/normalize.rs", "(MIT OR Apache-2.0) AND Unicode-3.0"),
    ("rayon-1.12.0", "src/str.rs", "MIT OR Apache-2.0"),
)


def gzip_bytes(data: bytes) -> bytes:
    # mtime=0 and no file name in the header: the archive depends on the content only.
    return gzip.compress(data, compresslevel=9, mtime=0)


def json_line(obj: Any) -> bytes:
    # ensure_ascii=False keeps the text readable and small; U+2028/U+0085 stay raw, so
    # readers must split on b"\n" only.
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rb") as fh:
        return [json.loads(line) for line in fh.read().split(b"\n") if line.strip()]


def hash_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- UDHR -----------------------------------------------------------------------------------


def udhr_rank(row: dict[str, Any]) -> tuple[bool, bool, int, str]:
    # The version named after its ISO 639-3 code is the main one; numbered codes ("053") are
    # the collection's later additions of an already covered language.
    code: str = row["code"]
    return (code != row["iso6393"], code[0].isdigit(), len(code), code)


# The source marks an untranslated paragraph with a bare "&1"; such paragraphs are removed.
PLACEHOLDER = re.compile(r"\s*&\d+\s*")
# An article that is only its own heading ("IGELE LYA 3", "(4) TAWA KAQ") has no text.
HEADING_ONLY = re.compile(r"\D{0,16}\d{1,2}\D{0,16}")


def udhr_clean(row: dict[str, Any]) -> dict[str, Any]:
    def keep(paragraphs: list[str]) -> list[str]:
        return [p for p in paragraphs if not PLACEHOLDER.fullmatch(p)]

    articles = {number: keep(paragraphs) for number, paragraphs in row["articles"].items()}
    return {**row, "preamble": keep(row["preamble"]), "articles": articles}


def udhr_complete(row: dict[str, Any]) -> bool:
    # Stricter than the source's own "complete" flag, which also accepts versions without a
    # preamble (Amharic, Even...) or with untranslated articles: whole-text comparisons
    # across languages need every part.
    articles = row["articles"]
    return bool(
        row.get("complete")
        and row["preamble"]
        and sorted(articles, key=int) == [str(n) for n in range(1, 31)]
        and all(articles.values())
        and not any(HEADING_ONLY.fullmatch(" ".join(ps)) for ps in articles.values())
    )


def udhr_candidates(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One version per (language, script): complete ones only, preferred orthographies first."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for raw in rows:
        row = udhr_clean(raw)
        # 'und' versions have no language identity, so they cannot be compared by language.
        if udhr_complete(row) and row["iso6393"] != "und":
            groups[(row["iso6393"], row["script"])].append(row)
    chosen: list[dict[str, Any]] = []
    for members in groups.values():
        preferred = [r for r in members if r["code"] in UDHR_PREFERRED]
        chosen.extend(preferred if preferred else [min(members, key=udhr_rank)])
    return chosen


def udhr_priority(row: dict[str, Any]) -> tuple[int, str]:
    primary = row["bcp47"].split("-")[0]
    if row["code"] in UDHR_PREFERRED:
        tier = 0
    elif row["script"] != "Latin":
        tier = 1  # every script must survive the size budget
    elif len(primary) == 2:
        tier = 2  # an ISO 639-1 code marks a widely used language
    else:
        tier = 3
    # Hash order inside a tier: a stable sample that is not biased to the start of the alphabet.
    return (tier, hash_key(row["code"]))


def udhr_payload(rows: Sequence[dict[str, Any]]) -> bytes:
    ordered = sorted(rows, key=lambda r: r["code"])
    return b"".join(json_line({k: r[k] for k in UDHR_FIELDS}) for r in ordered)


def build_udhr(shared: Path) -> tuple[bytes, list[dict[str, Any]]]:
    rows = read_jsonl_gz(shared / "udhr.jsonl.gz")
    candidates = sorted(udhr_candidates(rows), key=udhr_priority)
    # Largest prefix of the priority order that fits the budget (size grows with the prefix).
    lo, hi = 0, len(candidates)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(gzip_bytes(udhr_payload(candidates[:mid]))) <= UDHR_BUDGET:
            lo = mid
        else:
            hi = mid - 1
    kept = sorted(candidates[:lo], key=lambda r: r["code"])
    return gzip_bytes(udhr_payload(kept)), kept


# --- Brown ----------------------------------------------------------------------------------


def build_english(shared: Path) -> tuple[bytes, dict[str, int]]:
    rows = read_jsonl_gz(shared / "brown.jsonl.gz")
    by_category: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    seen_in_doc: dict[str, int] = defaultdict(int)
    for position, row in enumerate(rows):
        doc = row["doc"]
        index = seen_in_doc[doc]
        seen_in_doc[doc] += 1
        text = " ".join(row["text"].split("\n")).strip()
        if text:
            by_category[row["category"]].append((position, f"{doc}/{index}", text))
    if sorted(by_category) != sorted(BROWN_CATEGORIES):
        raise SystemExit(f"unexpected Brown categories: {sorted(by_category)}")
    picked: list[tuple[int, str]] = []
    counts: dict[str, int] = {}
    for category in sorted(by_category):
        # Hash order spreads the picks over all documents of the category.
        order = sorted(by_category[category], key=lambda item: hash_key(item[1]))
        total = 0
        taken = 0
        for position, _key, text in order:
            if total >= BROWN_PER_CATEGORY:
                break
            picked.append((position, text))
            total += len(text.encode())
            taken += 1
        counts[category] = taken
    picked.sort()  # back to corpus order: paragraphs of a document stay in reading order
    data = "".join(text + "\n" for _pos, text in picked).encode()
    return gzip_bytes(data), counts


# --- Code -----------------------------------------------------------------------------------


def find_cargo_src(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    for candidate in sorted((Path.home() / ".cargo" / "registry" / "src").glob("*")):
        if all((candidate / crate / rel).is_file() for crate, rel, _lic in RUST_FILES):
            return candidate
    raise SystemExit("no cargo registry directory holds the pinned crates; pass --cargo-src")


def read_source(path: Path) -> str:
    # Bytes decoded strictly and kept verbatim: CRLF line ends and the BOM are the point.
    return path.read_bytes().decode("utf-8")


def build_code(cargo_src: Path) -> tuple[bytes, list[dict[str, str]]]:
    if sys.version_info[:3] != (3, 11, 7):
        print(f"warning: CPython {sys.version.split()[0]} differs from 3.11.7", file=sys.stderr)
    version = ".".join(map(str, sys.version_info[:3]))
    cpython = f"CPython {version}"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    include = Path(sysconfig.get_paths()["include"])
    libpl = Path(str(sysconfig.get_config_var("LIBPL")))
    docs: list[dict[str, str]] = []

    def add(path: str, lang: str, source: str, licence: str, file: Path) -> None:
        docs.append(
            {
                "path": path,
                "lang": lang,
                "source": source,
                "license": licence,
                "text": read_source(file),
            }
        )

    # Paths are given as in the CPython source tree so that they can be looked up there.
    for rel, lang in CPYTHON_LIB:
        add(f"Lib/{rel}", lang, cpython, PSF, stdlib / rel)
    for rel, lang in CPYTHON_INCLUDE:
        add(f"Include/{rel}", lang, cpython, PSF, include / rel)
    for rel, lang in CPYTHON_LIBPL:
        add(f"Modules/{rel}", lang, cpython, PSF, libpl / rel)
    for crate, rel, licence in RUST_FILES:
        name, _, crate_version = crate.rpartition("-")
        add(
            f"{crate}/{rel}",
            "rust",
            f"crate {name} {crate_version}",
            licence,
            cargo_src / crate / rel,
        )
    return gzip_bytes(b"".join(json_line(d) for d in docs)), docs


# --- main -----------------------------------------------------------------------------------


def describe(name: str, blob: bytes, extra: str) -> str:
    raw = len(gzip.decompress(blob))
    digest = hashlib.sha256(blob).hexdigest()
    return f"{name}: {len(blob):,} B gzip, {raw:,} B raw, sha256 {digest}; {extra}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shared", type=Path, required=True, help="directory with udhr.jsonl.gz, brown.jsonl.gz"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument(
        "--cargo-src", type=Path, default=None, help="a ~/.cargo/registry/src/<index> directory"
    )
    parser.add_argument("--check", action="store_true", help="compare with the existing files, write nothing")
    args = parser.parse_args(argv)

    udhr_blob, kept = build_udhr(args.shared)
    english_blob, per_category = build_english(args.shared)
    code_blob, docs = build_code(find_cargo_src(args.cargo_src))

    scripts = sorted({r["script"] for r in kept})
    outputs: list[tuple[str, bytes, str]] = [
        (
            "udhr.jsonl.gz",
            udhr_blob,
            f"{len(kept)} versions, {len({r['iso6393'] for r in kept})} languages, {len(scripts)} scripts",
        ),
        (
            "english.txt.gz",
            english_blob,
            f"{sum(per_category.values())} paragraphs, per category {per_category}",
        ),
        (
            "code.jsonl.gz",
            code_blob,
            f"{len(docs)} documents, by language {dict(sorted(_count(docs, lambda d: d['lang']).items()))}",
        ),
    ]
    mismatched = 0
    for name, blob, extra in outputs:
        target = args.out / name
        if args.check:
            same = target.is_file() and target.read_bytes() == blob
            mismatched += not same
            print(("same     " if same else "DIFFERENT ") + name)
        else:
            target.write_bytes(blob)
        print(describe(name, blob, extra))
    return 1 if mismatched else 0


def _count(items: Iterable[dict[str, str]], key: Callable[[dict[str, str]], str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[key(item)] += 1
    return dict(counts)


if __name__ == "__main__":
    raise SystemExit(main())
