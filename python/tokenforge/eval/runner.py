"""``tokenforge.evaluate``: every metric, for every tokenizer, on every corpus, in one pass.

Each tokenizer encodes each corpus once, in one ``encode_ordinary_batch`` call (parallel in
Rust for tokenforge tokenizers); all metrics are computed from those ids with numpy. A tokenizer
that cannot be loaded, or raises on a segment, is recorded in ``EvalResult.failures`` and the
rest of the evaluation goes on (a failing batch is retried segment by segment to find the
culprits).
"""

from __future__ import annotations

import itertools
import operator
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, TokenforgeError
from . import metrics as m
from .adapters import EvalTokenizer, VocabTable, resolve_tokenizer, vocab_table
from .categories import categorize, language_shares
from .corpora import Corpus, CorpusPart, resolve_corpus
from .premium import premiums, spread
from .result import (
    CorpusInfo,
    CorpusResult,
    EvalResult,
    Failure,
    LanguageResult,
    Sample,
    TokenizerResult,
)

__all__ = ["ALL_METRICS", "DEFAULT_METRICS", "evaluate"]

ALL_METRICS = (
    "compression",
    "words",
    "premium",
    "vocabulary",
    "fallback",
    "categories",
    "throughput",
    "comparison",
    "morphology",
)
# Morphology loads per-language lexicons (seconds each), so it is asked for explicitly.
DEFAULT_METRICS = tuple(x for x in ALL_METRICS if x != "morphology")

DEFINITIONS = {
    "tokens": "tokens from encode_ordinary (no BOS/EOS or other special tokens)",
    "bytes_per_token": "UTF-8 bytes / tokens (SuperBPE's unit)",
    "chars_per_token": "Unicode code points / tokens",
    "fertility": "tokens overlapping a word / words (Rust et al. 2021); words = whitespace chunks with edge "
    "punctuation stripped; per character for scripts without spaces",
    "continued": "words covered by 2+ tokens / words (proportion of continued words, Rust et al. 2021)",
    "retention": "1 - continued (single-token retention rate)",
    "utilization": "distinct ids seen / non-special vocabulary size",
    "renyi_efficiency": "H_alpha(p) / log2 |V|, p = unigram token frequencies, |V| = non-special vocabulary "
    "(Zouhar et al. 2023)",
    "byte_fallback_rate": "tokens that are raw bytes or parts of a UTF-8 character / tokens",
    "unk_rate": "unknown tokens / tokens",
    "premium": "tokens(language) / tokens(reference) over aligned segments, corpus totals "
    "(Petrov et al. 2023)",
    "byte_premium": "UTF-8 bytes(language) / bytes(reference) over the same segments (Arnett et al. 2024)",
    "premium_gini": "sum_ij |p_i - p_j| / (2 n^2 mean) over languages' premiums (TokEval's fairness Gini)",
    "throughput_mb_s": "UTF-8 MB encoded per wall-clock second in one batch call",
    "categories": "Qtok-style type categories of the whole vocabulary (Chelombitko et al. 2024)",
    "valid_word": "unique alphabetic tokens (leading space stripped, lower-cased) found in the language's "
    "lexicon / unique alphabetic tokens (Turkish-benchmark %TR, generalised)",
    "pure": "unique alphabetic tokens that are a single morpheme (a root lemma or an affix) / unique "
    "alphabetic tokens (%Pure)",
    "morphscore": "words (tokenized alone) with a token boundary at the gold stem|affix boundary / words "
    "split into 2+ tokens (MorphScore v1, Arnett & Bergen)",
    "boundary_precision": "predicted word-internal boundaries that are gold morpheme boundaries / predicted",
    "boundary_recall": "gold morpheme boundaries that are token boundaries / gold",
    "jaccard": "vocabulary comparison: |A ∩ B| / |A ∪ B| of two vocabularies' token strings as running "
    "text (specials, unknown and byte pieces left out)",
    "token_length": "vocabulary comparison: characters of a token string, one leading and one trailing "
    "space (word-boundary markers) not counted",
}

# Parts shown in the side-by-side token view, when present.
SAMPLE_PARTS = ("eng", "deu_1996", "rus", "arb", "hin", "cmn_hans", "jpn", "tha", "tir", "tam", "kor", "tur")
SAMPLE_CHARS = 280


def _parse_metrics(metrics: str | Iterable[str] | None) -> tuple[str, ...]:
    if metrics is None:
        return DEFAULT_METRICS
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    out: list[str] = []
    for name in names:
        for piece in str(name).split(","):
            piece = piece.strip()
            if not piece:
                continue
            if piece == "all":
                out += ALL_METRICS
            elif piece == "default":
                out += DEFAULT_METRICS
            elif piece in ALL_METRICS:
                out.append(piece)
            else:
                raise InvalidArgumentError(
                    f"unknown metric group {piece!r}; choose from {', '.join(ALL_METRICS)}, "
                    "'default' or 'all'"
                )
    return tuple(dict.fromkeys(out))


class _PreparedPart:
    """A corpus part with its counting units found once for all tokenizers.

    Units are found on the present segments joined by "\n" (a space, so no unit crosses a
    segment) and stored in the byte coordinates of the segments concatenated *without*
    separator, which is what the tokens of separately encoded segments spell.
    """

    def __init__(self, part: CorpusPart, with_units: bool) -> None:
        self.part = part
        self.present = [i for i, t in enumerate(part.texts) if t is not None]
        texts = [part.texts[i] or "" for i in self.present]
        joined = "\n".join(texts)
        cps = m._code_points(joined)
        if part.unspaced is not None:
            self.unspaced = part.unspaced
        else:
            ws, we = m._unit_arrays(cps, False)
            self.unspaced = bool(ws.size) and float((we - ws).mean()) > m.UNSPACED_CHUNK_CHARS
        self.with_units = with_units
        self.text_bytes = b"".join(t.encode("utf-8", "surrogatepass") for t in texts)
        if not with_units:
            self.starts = self.ends = np.zeros(0, dtype=np.int64)
            return
        starts, ends = m._unit_arrays(cps, self.unspaced)
        offsets = m.byte_offsets(joined)
        # Separator k (one byte) precedes segment k+1: shift each unit left by its segment index.
        sep_chars = np.cumsum([len(t) + 1 for t in texts])[:-1] - 1  # char index of each separator
        seg = np.searchsorted(sep_chars, starts, side="right")
        self.starts = offsets[starts] - seg
        self.ends = offsets[ends] - seg

    def units_of(self, ok: list[int]) -> tuple[bytes, np.ndarray, np.ndarray]:
        """(spelled bytes, unit starts, unit ends) of the segments ``ok`` concatenated."""
        if ok == self.present:
            return self.text_bytes, self.starts, self.ends
        units = [m.segment_units(self.part.texts[i] or "", self.unspaced) for i in ok]
        offsets = np.cumsum([0] + [len(u.text_bytes) for u in units])
        starts = np.concatenate([u.starts + off for u, off in zip(units, offsets, strict=False)])
        ends = np.concatenate([u.ends + off for u, off in zip(units, offsets, strict=False)])
        return b"".join(u.text_bytes for u in units), starts, ends


def _kind(tok: Any) -> str:
    return type(tok).__module__.split(".")[0] + "." + type(tok).__name__


def _encode_corpus(
    tok: EvalTokenizer, texts: list[str], threads: int | None
) -> tuple[list[list[int] | None], list[tuple[int, str]], float]:
    """Encodes all texts in one batch; on an exception, segment by segment to find the failures."""
    started = time.perf_counter()
    try:
        out: list[list[int] | None] = list(tok.encode_ordinary_batch(texts, num_threads=threads))
        if len(out) != len(texts):
            raise TokenforgeError(f"encode_ordinary_batch returned {len(out)} results for {len(texts)} texts")
        return out, [], time.perf_counter() - started
    except Exception:  # a third-party tokenizer may raise anything; find which text
        pass
    out = []
    failures: list[tuple[int, str]] = []
    for i, text in enumerate(texts):
        try:
            out.append(list(tok.encode_ordinary_batch([text], num_threads=1)[0]))
        except Exception as exc:
            out.append(None)
            failures.append((i, f"{type(exc).__name__}: {exc}"))
    return out, failures, time.perf_counter() - started


def _check_ids(ids: list[int], table: VocabTable) -> str | None:
    if not ids:
        return None
    arr = np.asarray(ids, dtype=np.int64)
    bad = (arr < 0) | (arr >= len(table.lengths))
    if not bad.any():
        bad = table.lengths[arr] < 0
    if bad.any():
        return f"returned id {int(arr[int(np.argmax(bad))])}, which has no bytes in the vocabulary"
    return None


def _measure_part(
    prep: _PreparedPart, encodings: list[list[int] | None], table: VocabTable, with_units: bool
) -> m.PartStats:
    """Sums of one part. Word alignment runs once over the concatenated segments (units never
    cross segments, and segments are encoded separately); parts whose tokens do not spell the
    text exactly fall back to segment by segment."""
    stats = m.PartStats(unit="char" if prep.unspaced else "word")
    ok = [
        i
        for i, (t, e) in enumerate(zip(prep.part.texts, encodings, strict=True))
        if t is not None and e is not None
    ]
    stats.failed = sum(
        1 for t, e in zip(prep.part.texts, encodings, strict=True) if t is not None and e is None
    )
    if not ok:
        return stats
    texts = [prep.part.texts[i] or "" for i in ok]
    all_ids = np.fromiter(itertools.chain.from_iterable(encodings[i] or () for i in ok), dtype=np.int64)
    stats.segments = len(ok)
    stats.n_bytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    stats.n_chars = sum(len(t) for t in texts)
    stats.n_tokens = int(all_ids.size)
    if all_ids.size:
        stats.partial_tokens = int(np.count_nonzero(table.partial[all_ids]))
        if table.unk_id is not None:
            stats.unk_tokens = int(np.count_nonzero(all_ids == table.unk_id))
    if not with_units:
        return stats
    joined, starts, ends = prep.units_of(ok)
    tok_lengths = table.surface_lengths[all_ids] if all_ids.size else np.zeros(0, dtype=np.int64)
    if int(tok_lengths.sum()) == len(joined) and _spell(table, all_ids) == joined:
        per_unit, in_units = m.tokens_per_unit(tok_lengths, starts, ends)
        stats.n_units = len(per_unit)
        stats.tokens_in_units = in_units
        stats.continued_units = int(np.count_nonzero(per_unit >= 2))
        return stats
    for i in ok:
        seg = m.measure_segment(
            prep.part.texts[i] or "",
            encodings[i] or [],
            m.segment_units(prep.part.texts[i] or "", prep.unspaced),
            table.surfaces,
            table.surface_lengths,
            table.partial,
            table.unk_id,
            prep.unspaced,
        )
        stats.n_units += seg.n_units
        stats.tokens_in_units += seg.tokens_in_units
        stats.continued_units += seg.continued_units
        stats.lossy_segments += seg.lossy_segments
    return stats


def _spell(table: VocabTable, ids: np.ndarray) -> bytes:
    """The text the tokens spell, from their surfaces (ids were checked to exist)."""
    if ids.size == 0:
        return b""
    if ids.size == 1:
        return table.surfaces[int(ids[0])] or b""
    return b"".join(operator.itemgetter(*ids.tolist())(table.surfaces))


def _pieces(ids: Sequence[int], table: VocabTable) -> list[list[Any]]:
    """Display pieces for the token view: tokens that carry parts of a character are grouped
    until the group decodes."""
    out: list[list[Any]] = []
    pending: list[int] = []
    buf = b""
    for i in ids:
        data = table.token_bytes[i] or b""
        if not pending:
            try:
                out.append([data.decode("utf-8"), [i], "token"])
                continue
            except UnicodeDecodeError:
                pass
        pending.append(i)
        buf += data
        try:
            text = buf.decode("utf-8")
        except UnicodeDecodeError:
            if len(pending) < 8:
                continue
            text = buf.decode("utf-8", "replace")
        out.append([text, pending, "split"])
        pending, buf = [], b""
    if pending:
        out.append([buf.decode("utf-8", "replace"), pending, "split"])
    return out


def _sample_specs(corpus: Corpus) -> list[tuple[CorpusPart, int]]:
    if corpus.kind == "code":
        return [(p, 0) for p in corpus.parts[:2]]
    keys = {p.key: p for p in corpus.parts}
    chosen = [keys[k] for k in SAMPLE_PARTS if k in keys]
    if not chosen:
        chosen = list(corpus.parts[:4])
    index = 1 if corpus.parallel and len(chosen[0].texts) > 1 else 0
    return [(p, index) for p in chosen]


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit]


def evaluate(
    tokenizers: Any | Sequence[Any],
    corpora: str | Corpus | os.PathLike[str] | Sequence[str | Corpus | os.PathLike[str]] = ("udhr",),
    metrics: str | Iterable[str] | None = None,
    *,
    alpha: float = 2.5,
    reference: str | None = None,
    num_threads: int | None = None,
    morphology_languages: Sequence[str] | None = None,
    morphology_items: int = 2000,
    lexicons: Mapping[str, Any] | None = None,
    segmentations: Mapping[str, Any] | None = None,
    samples: bool = True,
    progress: Callable[[str], None] | None = None,
) -> EvalResult:
    """Evaluates ``tokenizers`` on ``corpora``.

    ``tokenizers``: one or several of a :class:`tokenforge.Tokenizer`, a known name
    (``cl100k_base``...), a ``tokenizer.json``/``.tiktoken``/SentencePiece ``.model`` path, or any
    object with ``encode_ordinary_batch``/``decode_single_token_bytes``/``n_vocab``.
    ``corpora``: names (``udhr``, ``udhr:eng,fra``, ``english``, ``code``), files, or
    :class:`~tokenforge.eval.corpora.Corpus` objects. ``metrics``: metric groups from
    :data:`ALL_METRICS` (default: all but ``morphology``), ``"all"`` for everything; with two or
    more tokenizers, ``comparison`` (a default group) compares their vocabularies
    (:attr:`EvalResult.comparison`, :mod:`tokenforge.eval.compare`). ``alpha`` is
    the Rényi order; ``reference`` the premium reference part (default ``eng``/``en``);
    ``morphology_languages`` limits the morphology metrics to these part keys or language tags;
    ``lexicons`` and ``segmentations`` (language tag → :class:`~tokenforge.eval.morphology.Lexicon` /
    :class:`~tokenforge.eval.morphology.Segmentation`) supply morphology resources of your own,
    used before the installed packages.
    """
    wall = time.perf_counter()
    say = progress or (lambda _msg: None)
    groups = _parse_metrics(metrics)
    if alpha < 0:
        raise InvalidArgumentError(f"alpha must be >= 0, got {alpha}")
    specs = list(tokenizers) if isinstance(tokenizers, (list, tuple)) else [tokenizers]
    if not specs:
        raise InvalidArgumentError("evaluate needs at least one tokenizer")
    corpus_specs = [corpora] if isinstance(corpora, (str, Corpus, os.PathLike)) else list(corpora)
    if not corpus_specs:
        raise InvalidArgumentError("evaluate needs at least one corpus")
    resolved = [resolve_corpus(c, reference=reference) for c in corpus_specs]
    if reference is not None:
        resolved = [
            c
            if not c.parallel or c.reference == reference or reference not in {p.key for p in c.parts}
            else Corpus(c.name, c.parts, True, reference, c.description, c.kind)
            for c in resolved
        ]
    with_units = "words" in groups or "morphology" in groups
    started = time.perf_counter()
    prepared = {c.name: [_PreparedPart(p, with_units) for p in c.parts] for c in resolved}
    prep_seconds = time.perf_counter() - started

    morph = None
    if "morphology" in groups:
        from .morphology import MorphologyContext

        morph = MorphologyContext(
            languages=morphology_languages,
            max_items=morphology_items,
            lexicons=lexicons,
            segmentations=segmentations,
        )

    tok_results: list[TokenizerResult] = []
    results: list[CorpusResult] = []
    failures: list[Failure] = []
    sample_records: dict[tuple[str, str], Sample] = {}
    # Kept for the vocabulary comparison: each loaded tokenizer's table and its token counts
    # summed over the corpora.
    tables: dict[str, VocabTable] = {}
    usage: dict[str, np.ndarray] = {}
    timing: dict[str, float] = {"prepare_corpora_s": prep_seconds}

    for spec in specs:
        label = spec if isinstance(spec, str) else str(getattr(spec, "name", type(spec).__name__))
        t0 = time.perf_counter()
        try:
            label, tok = resolve_tokenizer(spec)
        except Exception as exc:  # reported, the other tokenizers go on
            failures.append(
                Failure(tokenizer=str(label), error=f"could not load: {type(exc).__name__}: {exc}")
            )
            tok_results.append(
                TokenizerResult(label=str(label), name=str(label), kind="unloaded", error=str(exc))
            )
            say(f"{label}: could not load ({exc})")
            continue
        load_s = time.perf_counter() - t0
        base = label
        n = 2
        while any(t.label == label for t in tok_results):
            label = f"{base} ({n})"
            n += 1
        t0 = time.perf_counter()
        table = vocab_table(tok)
        table_s = time.perf_counter() - t0
        info = TokenizerResult(
            label=label,
            name=str(getattr(tok, "name", label)),
            kind=_kind(tok),
            n_vocab=int(tok.n_vocab),
            vocab_size=table.ordinary_size,
            special_tokens=len(dict(getattr(tok, "special_tokens", {}) or {})),
            load_seconds=load_s,
            table_seconds=table_s,
        )
        cats = None
        if "categories" in groups:
            cats = categorize(table.token_bytes, table.special)
            info.categories = cats.to_json()
        tok_results.append(info)
        if "comparison" in groups:
            tables[label] = table
            usage[label] = np.zeros(len(table.lengths), dtype=np.int64)

        for corpus in resolved:
            preps = prepared[corpus.name]
            flat: list[tuple[int, int, str]] = [
                (pi, si, t)
                for pi, p in enumerate(corpus.parts)
                for si, t in enumerate(p.texts)
                if t is not None
            ]
            say(f"{label}: encoding {corpus.name} ({len(flat):,} segments)")
            encoded, errs, seconds = _encode_corpus(tok, [t for _pi, _si, t in flat], num_threads)
            per_part: list[list[list[int] | None]] = [[None] * len(p.texts) for p in corpus.parts]
            everything = [ids for ids in encoded if ids]
            all_ok = (
                not everything or _check_ids(list(itertools.chain.from_iterable(everything)), table) is None
            )
            for index, ((pi, si, _t), ids) in enumerate(zip(flat, encoded, strict=True)):
                if ids is not None and not all_ok:
                    problem = _check_ids(ids, table)
                    if problem is not None:
                        errs.append((index, problem))
                        ids = None
                per_part[pi][si] = ids
            for index, error in errs:
                pi, si, _t = flat[index]
                failures.append(Failure(label, error, corpus.name, corpus.parts[pi].key, si))
            total = m.PartStats()
            word_total = m.PartStats()
            char_total = m.PartStats()
            lang_rows: list[LanguageResult] = []
            used: dict[str, np.ndarray] = {}
            all_ids: list[np.ndarray] = []
            for prep, encs in zip(preps, per_part, strict=True):
                st = _measure_part(prep, encs, table, "words" in groups)
                total.add(st)
                (char_total if prep.unspaced else word_total).add(st)
                ids_arr = np.fromiter(itertools.chain.from_iterable(e for e in encs if e), dtype=np.int64)
                all_ids.append(ids_arr)
                used[prep.part.key] = ids_arr
                row = LanguageResult(
                    key=prep.part.key,
                    name=prep.part.label,
                    script=prep.part.script,
                    lang=prep.part.lang,
                    unit=st.unit,
                    segments=st.segments,
                    failed=st.failed,
                    bytes=st.n_bytes,
                    chars=st.n_chars,
                    tokens=st.n_tokens,
                    bytes_per_token=st.bytes_per_token,
                    chars_per_token=st.chars_per_token,
                    fertility=st.fertility if "words" in groups else None,
                    continued=st.continued if "words" in groups else None,
                    retention=st.retention if "words" in groups else None,
                    byte_fallback_rate=st.byte_fallback_rate,
                    unk_rate=st.unk_rate,
                    lossy_segments=st.lossy_segments,
                )
                if st.failed:
                    row.notes["failed"] = (
                        f"{st.failed} of {st.failed + st.segments} segments failed to encode"
                    )
                if st.lossy_segments:
                    row.notes["lossy"] = (
                        f"{st.lossy_segments} segments are not spelled exactly by their tokens "
                        "(normalisation or unknown tokens); words were counted in the spelled text"
                    )
                lang_rows.append(row)
            counts = (
                np.bincount(np.concatenate(all_ids), minlength=len(table.lengths))
                if any(a.size for a in all_ids)
                else np.zeros(len(table.lengths), dtype=np.int64)
            )
            if label in usage:
                usage[label] += counts
            fert_stats = word_total if word_total.n_units else char_total
            result = CorpusResult(
                tokenizer=label,
                corpus=corpus.name,
                segments=total.segments,
                failed=total.failed,
                bytes=total.n_bytes,
                chars=total.n_chars,
                tokens=total.n_tokens,
                bytes_per_token=total.bytes_per_token,
                chars_per_token=total.chars_per_token,
                fertility=fert_stats.fertility if "words" in groups else None,
                fertility_unit=fert_stats.unit if word_total.n_units or not char_total.n_units else "char",
                continued=fert_stats.continued if "words" in groups else None,
                retention=fert_stats.retention if "words" in groups else None,
                types=int(np.count_nonzero(counts)),
                utilization=m.vocabulary_utilization(counts, table.ordinary_size)
                if "vocabulary" in groups
                else None,
                renyi_efficiency=m.renyi_efficiency(counts, alpha, table.ordinary_size)
                if "vocabulary" in groups
                else None,
                renyi_alpha=alpha,
                byte_fallback_rate=total.byte_fallback_rate if "fallback" in groups else None,
                unk_rate=total.unk_rate if "fallback" in groups else None,
                encode_seconds=seconds,
                throughput_mb_s=m.throughput(total.n_bytes, seconds) if "throughput" in groups else None,
                threads=num_threads,
                languages=lang_rows,
            )
            if word_total.n_units and char_total.n_units:
                result.notes["fertility"] = (
                    f"pooled over the {sum(1 for p in preps if not p.unspaced)} word-segmented parts; "
                    f"{sum(1 for p in preps if p.unspaced)} unspaced parts are counted per character "
                    f"(pooled: {char_total.fertility:.3f} tokens/char)"
                )
            if "premium" in groups and corpus.parallel:
                _add_premiums(result, corpus, per_part)
            if cats is not None and corpus.parallel and len(corpus.parts) > 1:
                result.language_shares = language_shares(used, cats, table.token_bytes)
            if morph is not None:
                morph.apply(result, corpus, tok, table, used)
            results.append(result)
            if samples:
                for part, index in _sample_specs(corpus):
                    text = part.texts[index] if index < len(part.texts) else None
                    if not text:
                        continue
                    text = _clip(text, SAMPLE_CHARS if corpus.kind != "code" else 600)
                    key = (corpus.name, part.key)
                    if key not in sample_records:
                        sample_records[key] = Sample(
                            corpus=corpus.name,
                            part=part.key,
                            label=part.label,
                            text=text,
                            direction="rtl"
                            if part.script in ("Arabic", "Hebrew", "Syriac", "Thaana", "Adlam")
                            else "ltr",
                            pieces={},
                        )
                    try:
                        ids = list(tok.encode_ordinary_batch([text], num_threads=1)[0])
                        sample_records[key].pieces[label] = _pieces(ids, table)
                    except Exception as exc:
                        sample_records[key].pieces[label] = [[f"(failed: {exc})", [], "error"]]
        timing[f"{label}_s"] = time.perf_counter() - t0 + load_s

    if not results and failures:
        raise TokenforgeError(
            "no tokenizer could be evaluated: " + "; ".join(f"{f.tokenizer}: {f.error}" for f in failures)
        )
    comparison = None
    if len(tables) >= 2:
        from .compare import compare_vocabularies

        started = time.perf_counter()
        comparison = compare_vocabularies(tables, results, usage)
        timing["comparison_s"] = time.perf_counter() - started
    timing["total_s"] = time.perf_counter() - wall
    corpora_info = [
        CorpusInfo(
            name=c.name,
            description=c.description,
            parallel=c.parallel,
            reference=c.reference,
            parts=len(c.parts),
            segments=sum(1 for p in c.parts for t in p.texts if t is not None),
            bytes=c.n_bytes,
            kind=c.kind,
        )
        for c in resolved
    ]
    from .. import __version__

    config = {
        "metrics": list(groups),
        "alpha": alpha,
        "num_threads": num_threads,
        "tokenforge": __version__,
        "morphology_languages": list(morphology_languages) if morphology_languages else None,
    }
    return EvalResult(
        tokenizers=tok_results,
        corpora=corpora_info,
        results=results,
        failures=failures,
        samples=list(sample_records.values()),
        config=config,
        timing=timing,
        definitions=dict(DEFINITIONS),
        comparison=comparison,
    )


def _add_premiums(result: CorpusResult, corpus: Corpus, per_part: list[list[list[int] | None]]) -> None:
    ref = corpus.reference
    if ref is None:
        result.notes["premium"] = "the parallel corpus has no reference part (pass reference=...)"
        return
    counts = {
        p.key: [None if e is None else len(e) for e in encs]
        for p, encs in zip(corpus.parts, per_part, strict=True)
    }
    byte_counts = {
        p.key: [
            None if (t is None or e is None) else len(t.encode("utf-8", "surrogatepass"))
            for t, e in zip(p.texts, encs, strict=True)
        ]
        for p, encs in zip(corpus.parts, per_part, strict=True)
    }
    unk = {row.key: row.unk_rate for row in result.languages}
    values = premiums(counts, ref, unk)
    bytes_p = premiums(byte_counts, ref)
    for row in result.languages:
        row.premium = values.get(row.key)
        row.byte_premium = bytes_p.get(row.key)
        if row.premium is None:
            rate = unk.get(row.key)
            row.notes["premium"] = (
                f"left out: {100 * rate:.0f}% unknown tokens (> 10%)"
                if rate is not None and rate > 0.10
                else "no segment shared with the reference was encoded"
            )
    result.premium_reference = ref
    result.premium = spread(values)
