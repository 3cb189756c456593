"""Small text corpora shipped with tokenforge (origins and licences: ``LICENSES.md`` here).

* :func:`udhr` and friends: the Universal Declaration of Human Rights in several hundred
  languages and more than 30 scripts, one version per language and script.
* :func:`english_paragraphs`: Brown corpus paragraphs, evenly drawn from its 15 genres.
* :func:`code_documents`: source files (Python, C, shell, Rust) kept byte for byte.

The files are read with :mod:`importlib.resources`, so they work from an installed wheel or a
zip. Each loader parses once and caches; what callers get back are tuples and fresh dicts,
so changing a result cannot change what the next caller sees.
"""

from __future__ import annotations

import difflib
import gzip
import json
from functools import lru_cache
from importlib import resources
from typing import Any, TypedDict

from tokenforge.errors import CorpusError

__all__ = [
    "CodeDocument",
    "UdhrLanguage",
    "UdhrVersion",
    "code_documents",
    "english_paragraphs",
    "udhr",
    "udhr_articles",
    "udhr_languages",
    "udhr_text",
]

UDHR_FILE = "udhr.jsonl.gz"
ENGLISH_FILE = "english.txt.gz"
CODE_FILE = "code.jsonl.gz"


class UdhrVersion(TypedDict):
    """One UDHR version: the preamble's paragraphs and each article's paragraphs (1 to 30)."""

    code: str
    bcp47: str
    iso6393: str
    name: str
    script: str
    direction: str
    preamble: tuple[str, ...]
    articles: dict[int, tuple[str, ...]]


class UdhrLanguage(TypedDict):
    code: str
    name: str
    script: str
    bcp47: str


class CodeDocument(TypedDict):
    """A source file: ``path`` as in its project, ``lang`` (python, c, shell, rust), licence."""

    path: str
    lang: str
    source: str
    license: str
    text: str


# --- reading ----------------------------------------------------------------------------------


def _read_text(name: str) -> str:
    try:
        blob = resources.files(__name__).joinpath(name).read_bytes()
        return gzip.decompress(blob).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise CorpusError(f"tokenforge data file {name!r} is missing or unreadable: {exc}") from exc


def _lines(name: str) -> list[str]:
    # Split on "\n" only: str.splitlines() would also break at U+2028, U+0085 and friends,
    # which occur inside the texts.
    return [line for line in _read_text(name).split("\n") if line]


def _records(name: str) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in _lines(name)]
    except json.JSONDecodeError as exc:
        raise CorpusError(f"tokenforge data file {name!r} is not JSON lines: {exc}") from exc


# --- cached, immutable cores -------------------------------------------------------------------

# (code, bcp47, iso6393, name, script, direction, preamble, ((article number, paragraphs), ...))
_Version = tuple[str, str, str, str, str, str, tuple[str, ...], tuple[tuple[int, tuple[str, ...]], ...]]


@lru_cache(maxsize=1)
def _udhr_core() -> tuple[_Version, ...]:
    out: list[_Version] = []
    for rec in _records(UDHR_FILE):
        articles = tuple(
            sorted((int(number), tuple(paragraphs)) for number, paragraphs in rec["articles"].items())
        )
        out.append(
            (
                rec["code"],
                rec["bcp47"],
                rec["iso6393"],
                rec["name"],
                rec["script"],
                rec["direction"],
                tuple(rec["preamble"]),
                articles,
            )
        )
    if not out:
        raise CorpusError(f"tokenforge data file {UDHR_FILE!r} holds no versions")
    return tuple(out)


@lru_cache(maxsize=1)
def _udhr_index() -> dict[str, _Version]:
    # Private and never handed out, so a plain dict is safe here.
    return {version[0]: version for version in _udhr_core()}


@lru_cache(maxsize=1)
def _english_core() -> tuple[str, ...]:
    return tuple(_lines(ENGLISH_FILE))


@lru_cache(maxsize=1)
def _code_core() -> tuple[tuple[str, str, str, str, str], ...]:
    return tuple(
        (rec["path"], rec["lang"], rec["source"], rec["license"], rec["text"]) for rec in _records(CODE_FILE)
    )


def _lookup(code: str) -> _Version:
    index = _udhr_index()
    version = index.get(code)
    if version is not None:
        return version
    raise CorpusError(
        f"unknown UDHR code {code!r}; close matches: {', '.join(_close_matches(code)) or 'none'}"
        " (see tokenforge.data.udhr_languages())"
    )


def _close_matches(query: str, limit: int = 6) -> list[str]:
    # Users often pass a BCP 47 tag ("de", "zh-Hant"), an ISO 639-3 code ("deu") or a name.
    folded = query.casefold().replace("_", "-")
    exact = [
        v[0]
        for v in _udhr_core()
        if folded in (v[1].casefold(), v[1].split("-")[0].casefold(), v[2], v[3].casefold())
    ]
    named = [v[0] for v in _udhr_core() if len(folded) >= 3 and folded in v[3].casefold()]
    fuzzy = difflib.get_close_matches(query, list(_udhr_index()), n=limit, cutoff=0.6)
    seen: dict[str, None] = dict.fromkeys(exact + named + fuzzy)
    return list(seen)[:limit]


# --- public API -------------------------------------------------------------------------------


def udhr() -> tuple[UdhrVersion, ...]:
    """Every shipped UDHR version, sorted by code."""
    return tuple(
        UdhrVersion(code=c, bcp47=b, iso6393=i, name=n, script=s, direction=d, preamble=p, articles=dict(a))
        for c, b, i, n, s, d, p, a in _udhr_core()
    )


def udhr_text(code: str) -> str:
    """The whole declaration in one language: preamble then articles, paragraphs joined by "\\n"."""
    version = _lookup(code)
    paragraphs = list(version[6])
    for _number, article in version[7]:
        paragraphs.extend(article)
    return "\n".join(paragraphs)


def udhr_articles(code: str) -> dict[int, str]:
    """Article number (1 to 30) to its text, paragraphs joined by "\\n" (to align by article)."""
    return {number: "\n".join(paragraphs) for number, paragraphs in _lookup(code)[7]}


def udhr_languages() -> tuple[UdhrLanguage, ...]:
    """Code, name, script and BCP 47 tag of every shipped version, sorted by code."""
    return tuple(UdhrLanguage(code=v[0], name=v[3], script=v[4], bcp47=v[1]) for v in _udhr_core())


def english_paragraphs() -> tuple[str, ...]:
    """Brown corpus paragraphs in corpus order (genres a to r), one paragraph each."""
    return _english_core()


def code_documents() -> tuple[CodeDocument, ...]:
    """Source documents, text verbatim (CRLF line ends and a BOM kept where a file has them)."""
    return tuple(
        CodeDocument(path=p, lang=lang, source=s, license=lic, text=t) for p, lang, s, lic, t in _code_core()
    )
