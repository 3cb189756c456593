"""Encode throughput of tokenforge against other BPE encoders, on the same vocabulary and the same text.

Methodology
-----------
* Vocabulary: every library encodes with the same ranks. tiktoken gets a ``tiktoken.Encoding`` built
  from the verified ``.tiktoken`` file that tokenforge loads (``tokenforge.vocab_sources.find``), with
  tokenforge's pattern and special tokens; HF ``tokenizers`` loads the ``tokenizer.json`` that
  tokenforge writes (``Tokenizer.save``); kitoken reads the same ``.tiktoken`` file
  (``Kitoken.from_tiktoken_file``); quicktok can only use its bundled copies of cl100k_base and
  o200k_base, which are compared token by token with the file before they are used.
* Text: English prose (the shipped Brown corpus paragraphs) and source code (the shipped code
  documents), each repeated cyclically to about ``--mb`` MB of UTF-8. Throughput is input bytes
  (10**6 per MB) divided by wall time.
* Modes: ``threads=1`` encodes the documents joined into one string with each library's
  single-text call (``encode_ordinary`` or its equivalent; HF with ``TOKENIZERS_PARALLELISM=false``).
  ``threads=N`` (``--threads``, default 2) encodes the list of documents with each library's batch
  call limited to N threads: tiktoken and tokenforge ``encode_ordinary_batch(num_threads=N)``,
  HF ``encode_batch`` with ``TOKENIZERS_PARALLELISM=true`` and ``RAYON_NUM_THREADS=N`` (set before
  ``tokenizers`` is imported), quicktok ``encode_batch(texts, N)``, and for kitoken, whose
  ``encode_all`` runs on one thread, its ``encode`` mapped over a pool of N Python threads (it
  releases the GIL), which is also how tiktoken's own batch call works.
* Decode: the ``decode`` rows turn the ids of the joined text back into its UTF-8 bytes
  (tiktoken, tokenforge and quicktok ``decode_bytes``, kitoken ``decode``, HF ``decode`` then
  ``.encode()``); throughput is bytes produced per second, and ``match`` says whether they equal
  the text.
* Output: every encode call is timed until it has returned its ids. All return Python lists of ints
  except tokenforge's and quicktok's batch calls, which return one flat ``uint32`` numpy array plus
  offsets (their native bulk APIs); that saves them building Python ints, which the table notes.
* Correctness: the untimed warm-up call's output is compared with tiktoken's ids for the same text
  (per document in batch mode). A library that disagrees is still timed, and its ``match`` column
  says ``no`` with the number of differing texts.
* Timing: one warm-up call per library and mode, then ``--repeat`` rounds in which every call of
  one text is timed once (``time.perf_counter``, garbage collector paused as in ``timeit``); taking turns
  spreads a burst of load elsewhere on the machine over all libraries. The table shows the best
  run (least disturbed by other load) and the median; the ratio compares best runs with tiktoken's.
  Results also go to a JSON file with the machine, Python and library versions and the arguments.

A library that is not installed or cannot load a vocabulary appears as ``unavailable: reason``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.metadata
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

# numpy's OpenBLAS starts one spinning thread per core when imported; in the 2-thread rows it would
# compete with the threads being measured (1.4% of a 2-thread tokenforge profile), for every library.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

LIBRARIES = ("tiktoken", "tokenforge", "tokenizers", "kitoken", "quicktok", "gigatoken", "toktok", "iree")
DEFAULT_VOCABS = ("cl100k_base", "o200k_base")
QUICK_MB = 0.5
RESULTS_DIR = Path(__file__).resolve().parent / "results"

Ids = list[int]
BatchIds = list[list[int]]


@dataclass
class Peer:
    """One library set up for one vocabulary: a single-text call, a batch call and how to read it."""

    library: str
    single: Callable[[str], Ids]
    batch: Callable[[list[str], int], Any]
    batch_ids: Callable[[Any], BatchIds] = lambda out: out
    #: ids -> the UTF-8 bytes they stand for (the ``decode`` rows).
    decode: Callable[[Ids], bytes] | None = None
    #: The library's fastest single-text call (ids as a numpy array where it has one), for the
    #: unseen-text rows; ``single`` when it has nothing faster.
    fast_single: Callable[[str], Any] | None = None
    before: Callable[[int], None] = lambda threads: None
    note: str = ""


@dataclass
class Row:
    vocab: str
    text: str
    threads: int
    library: str
    mode: str = "single"
    status: str = "ok"
    megabytes: float = 0.0
    n_texts: int = 0
    times_s: list[float] = field(default_factory=list)
    best_mb_s: float | None = None
    median_mb_s: float | None = None
    ratio_to_tiktoken: float | None = None
    match: str = "-"
    differing_texts: int | None = None
    note: str = ""


@dataclass
class Context:
    vocab: str
    tokenforge: Any
    tiktoken_path: Path
    workdir: Path
    #: Build a new instance (empty caches) instead of reusing one, for the unseen-text rows.
    fresh: bool = False


# ------------------------------------------------------------------------------------------ libraries


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


DISTRIBUTIONS = {
    "tiktoken": "tiktoken",
    "tokenforge": "tokenforge",
    "tokenizers": "tokenizers",
    "kitoken": "kitoken",
    "quicktok": "quicktok-v1",
    "gigatoken": "gigatoken",
    "toktok": "toktok-rs",
    "iree": "iree-tokenizer",
}


def _set_hf_parallelism(threads: int) -> None:
    # tokenizers reads this variable on every call, so it can change between rows.
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"


def _thread_pool_map(encode: Callable[[str], Ids]) -> Callable[[list[str], int], BatchIds]:
    def run(texts: list[str], threads: int) -> BatchIds:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(encode, texts))

    return run


def _flat_batch_ids(out: Any) -> BatchIds:
    """(flat ids, offsets) -> one list of ids per text."""
    tokens, offsets = out
    return [tokens[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


def make_tiktoken(ctx: Context) -> Peer:
    import tiktoken
    import tiktoken.load

    pattern = ctx.tokenforge.pattern
    if pattern is None:
        raise RuntimeError(f"{ctx.vocab} has no single pre-tokenization regex")
    enc = tiktoken.Encoding(
        name=f"{ctx.vocab}-file",
        pat_str=pattern,
        mergeable_ranks=tiktoken.load.load_tiktoken_bpe(str(ctx.tiktoken_path)),
        special_tokens=dict(ctx.tokenforge.special_tokens),
    )
    return Peer(
        "tiktoken",
        single=enc.encode_ordinary,
        batch=lambda texts, threads: enc.encode_ordinary_batch(texts, num_threads=threads),
        decode=enc.decode_bytes,
    )


def make_tokenforge(ctx: Context) -> Peer:
    import tokenforge

    tok = tokenforge.load(ctx.vocab) if ctx.fresh else ctx.tokenforge

    return Peer(
        "tokenforge",
        single=tok.encode_ordinary,
        batch=lambda texts, threads: tok.encode_batch_to_numpy(
            texts, num_threads=threads, disallowed_special=()
        ),
        batch_ids=_flat_batch_ids,
        decode=tok.decode_bytes,
        fast_single=lambda text: tok.encode_to_numpy(text, disallowed_special=()),
        note="batch: encode_batch_to_numpy (flat uint32 ids + offsets, like quicktok's encode_batch); "
        "unseen single: encode_to_numpy",
    )


def make_tokenizers(ctx: Context) -> Peer:
    from tokenizers import Tokenizer

    path = ctx.tokenforge.save(ctx.workdir / f"{ctx.vocab}.tokenizer.json")
    hf = Tokenizer.from_file(str(path))

    def single(text: str) -> Ids:
        return hf.encode(text, add_special_tokens=False).ids

    def batch(texts: list[str], threads: int) -> BatchIds:
        return [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]

    return Peer(
        "tokenizers",
        single=single,
        batch=batch,
        decode=lambda ids: hf.decode(ids).encode("utf-8"),
        before=_set_hf_parallelism,
        note="tokenizer.json written by tokenforge; batch threads from RAYON_NUM_THREADS",
    )


def make_kitoken(ctx: Context) -> Peer:
    from kitoken import Kitoken

    kit = Kitoken.from_tiktoken_file(str(ctx.tiktoken_path))

    def single(text: str) -> Ids:
        return kit.encode(text, False)

    return Peer(
        "kitoken",
        single=single,
        batch=_thread_pool_map(single),
        decode=kit.decode,
        note="batch: encode() over a Python thread pool (encode_all is single-threaded)",
    )


def make_quicktok(ctx: Context) -> Peer:
    import quicktok

    # get_encoding keeps one instance per name; the class builds a new one.
    enc = _bundled_encoding(ctx, quicktok.Tokenizer, quicktok.get_encoding)
    return Peer(
        "quicktok",
        single=enc.encode_ordinary,
        batch=lambda texts, threads: enc.encode_batch(texts, threads),
        batch_ids=_flat_batch_ids,
        decode=enc.decode_bytes,
        note="bundled vocabulary (checked identical); batch returns a flat uint32 numpy array",
    )


def _bundled_encoding(ctx: Context, fresh: Any, cached: Any) -> Any:
    """A peer's bundled vocabulary: a new instance (``fresh(name, "")``) for unseen-text runs, else
    its cached one (``cached(name)``), checked identical to the file tokenforge reads."""
    try:
        enc = fresh(ctx.vocab, "") if ctx.fresh else cached(ctx.vocab)
    except Exception as exc:
        raise RuntimeError(f"no bundled {ctx.vocab}: {exc}") from exc
    if not ctx.fresh:
        _check_same_vocabulary(ctx.tokenforge, enc)
    return enc


def _check_same_vocabulary(tok: Any, other: Any) -> None:
    """Raises unless ``other`` maps every ordinary id of ``tok`` to the same bytes."""
    if int(other.n_vocab) != tok.n_vocab:
        raise RuntimeError(f"bundled vocabulary has n_vocab {other.n_vocab}, the file {tok.n_vocab}")
    specials = set(tok.special_tokens.values())
    for token_id in range(tok.n_vocab):
        if token_id in specials:
            continue
        try:
            expected = tok.decode_single_token_bytes(token_id)
        except Exception:
            continue  # an unused id
        if other.decode_single_token_bytes(token_id) != expected:
            raise RuntimeError(f"bundled vocabulary differs from the file at id {token_id}")


#: gigatoken's name for the pre-tokenization scheme of each tiktoken vocabulary.
GIGATOKEN_SCHEMES = {"cl100k_base": "gpt4", "o200k_base": "o200k", "r50k_base": "gpt2"}


def make_gigatoken(ctx: Context) -> Peer:
    import awkward as ak
    import gigatoken

    scheme = GIGATOKEN_SCHEMES.get(ctx.vocab)
    if scheme is None:
        raise RuntimeError(f"no gigatoken pre-tokenizer known for {ctx.vocab}")
    giga = gigatoken.Tokenizer.from_tiktoken(
        str(ctx.tiktoken_path), pretokenizer=scheme, special_tokens=dict(ctx.tokenforge.special_tokens)
    )
    return Peer(
        "gigatoken",
        single=lambda text: giga.encode(text).tolist(),
        # Its process-wide thread pool has one thread per core (2 here, = --threads by default).
        batch=lambda texts, threads: giga.encode_batch(texts),
        batch_ids=ak.to_list,
        decode=giga.decode,
        fast_single=giga.encode,
        note="Tokenizer.from_tiktoken on the same file; single: encode (numpy); batch: encode_batch "
        "(awkward array, process-wide pool of one thread per core)",
    )


def make_toktok(ctx: Context) -> Peer:
    import toktok

    # toktok._encoding caches one instance per name; the class builds a new one.
    enc = _bundled_encoding(ctx, toktok._Tokenizer, toktok._encoding)
    return Peer(
        "toktok",
        single=enc.encode_ordinary,
        batch=lambda texts, threads: enc.encode_batch_to_numpy(texts, threads),
        batch_ids=_flat_batch_ids,
        decode=enc.decode_bytes,
        fast_single=enc.encode_to_numpy,
        note="toktok._encoding (bundled vocabulary, checked identical); single: encode_to_numpy; "
        "batch: encode_batch_to_numpy",
    )


def make_iree(ctx: Context) -> Peer:
    import iree.tokenizer

    enc = iree.tokenizer.Tokenizer.from_tiktoken(str(ctx.tiktoken_path), ctx.vocab)

    def batch_ids(out: Any) -> BatchIds:
        flat, lengths = out
        ends = list(itertools.accumulate(int(n) for n in lengths))
        return [flat[end - n : end].tolist() for end, n in zip(ends, lengths, strict=True)]

    return Peer(
        "iree",
        single=enc.encode,
        batch=lambda texts, threads: enc.encode_batch_to_array(texts),
        batch_ids=batch_ids,
        decode=lambda ids: enc.decode(ids).encode("utf-8"),
        fast_single=enc.encode_to_array,
        note="Tokenizer.from_tiktoken on the same file; batch: encode_batch_to_array (its own threads)",
    )


FACTORIES: dict[str, Callable[[Context], Peer]] = {
    "tiktoken": make_tiktoken,
    "tokenforge": make_tokenforge,
    "tokenizers": make_tokenizers,
    "kitoken": make_kitoken,
    "quicktok": make_quicktok,
    "gigatoken": make_gigatoken,
    "toktok": make_toktok,
    "iree": make_iree,
}


# ------------------------------------------------------------------------------------------ texts


def _cycle_to(items: Sequence[str], megabytes: float) -> list[str]:
    """Items repeated in order until their UTF-8 size reaches ``megabytes``."""
    if not items:
        raise RuntimeError("empty text collection")
    target = int(megabytes * 1e6)
    out: list[str] = []
    size = 0
    for item in itertools.cycle(items):
        out.append(item)
        size += len(item.encode("utf-8"))
        if size >= target:
            return out
    raise AssertionError("unreachable")


def build_texts(megabytes: float) -> dict[str, tuple[list[str], str]]:
    """Text name -> (documents for batch mode, the same documents joined for single-text mode)."""
    from tokenforge import data

    english = _cycle_to(data.english_paragraphs(), megabytes)
    code = _cycle_to([doc["text"] for doc in data.code_documents()], megabytes)
    return {"english": (english, "\n\n".join(english)), "code": (code, "\n".join(code))}


# ------------------------------------------------------------------------------------------ timing


def time_once(fn: Callable[[], Any]) -> float:
    """Wall time of one call until it has returned, garbage collector paused (as in ``timeit``)."""
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - start
        del out
    finally:
        if gc_was_enabled:
            gc.enable()
    return elapsed


def _compare(ids: BatchIds, reference: BatchIds) -> int:
    if len(ids) != len(reference):
        return max(len(ids), len(reference))
    return sum(1 for a, b in zip(ids, reference, strict=True) if list(a) != list(b))


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
    return text if len(text) <= 120 else text[:117] + "..."


def run_vocab(
    vocab: str,
    libraries: Sequence[str],
    texts: dict[str, tuple[list[str], str]],
    threads: int,
    repeat: int,
    workdir: Path,
    log: Callable[[str], None],
    unseen: dict[str, tuple[list[str], list[str]]] | None = None,
    unseen_repeat: int = 0,
) -> list[Row]:
    import tokenforge
    from tokenforge import vocab_sources

    tok = tokenforge.load(vocab)
    path = vocab_sources.find(vocab)
    if path is None:
        raise RuntimeError(f"no verified .tiktoken file for {vocab}")
    ctx = Context(vocab, tok, path, workdir)

    peers: dict[str, Peer | str] = {}
    for library in libraries:
        try:
            peers[library] = FACTORIES[library](ctx)
        except Exception as exc:
            peers[library] = f"unavailable: {_short(exc)}"
        log(f"  {vocab}: {library} {'ready' if isinstance(peers[library], Peer) else peers[library]}")
    reference_peer = peers.get("tiktoken")
    normalizers = tuple(getattr(tok.spec, "normalizers", ()))
    if isinstance(reference_peer, Peer) and normalizers:
        # tiktoken has no normalization step, so it is a different tokenizer for such vocabularies.
        reference_peer.note = (
            f"{vocab} applies {'+'.join(map(str, normalizers))} first and tiktoken does not, so text that "
            "changes under it differs"
        )

    rows: list[Row] = []
    for text_name, (documents, joined) in texts.items():
        # Every (mode, library) of one text is timed in the same rounds, so a burst of load
        # elsewhere on the machine slows one round of every row rather than all runs of one row,
        # and the 1-thread and N-thread rows of a library are compared under the same conditions.
        group: list[tuple[Row, Peer, Callable[[], Any]]] = []
        # Decode rows turn the ids of the joined text back into its bytes (MB/s of bytes produced).
        joined_ids = ctx.tokenforge.encode_ordinary(joined)
        joined_bytes = joined.encode("utf-8")
        for mode, mode_threads in (("single", 1), ("batch", 1), ("batch", threads), ("decode", 1)):
            inputs: list[str] = documents if mode == "batch" else [joined]
            megabytes = sum(len(t.encode("utf-8")) for t in inputs) / 1e6
            reference: BatchIds | None = None
            # Warm-up call of each library, whose output is checked against tiktoken's.
            for library in libraries:
                peer = peers[library]
                row = Row(
                    vocab,
                    text_name,
                    mode_threads,
                    library,
                    mode=mode,
                    megabytes=megabytes,
                    n_texts=len(inputs),
                )
                rows.append(row)
                if not isinstance(peer, Peer):
                    row.status = peer
                    continue
                row.note = peer.note
                log(f"  {vocab} {text_name} {mode} threads={mode_threads} {library}")
                if mode == "decode":
                    if peer.decode is None:
                        row.status = "no decode call"
                        continue
                    call: Callable[[], Any] = partial(peer.decode, joined_ids)
                    try:
                        same = bytes(call()) == joined_bytes
                    except Exception as exc:
                        row.status = f"failed: {_short(exc)}"
                        continue
                    row.match = "yes" if same else "no"
                    group.append((row, peer, call))
                    continue
                call = (
                    partial(peer.single, joined)
                    if mode == "single"
                    else partial(peer.batch, documents, mode_threads)
                )
                try:
                    peer.before(mode_threads)
                    first = call()
                    ids: BatchIds = [first] if mode == "single" else peer.batch_ids(first)
                except Exception as exc:
                    row.status = f"failed: {_short(exc)}"
                    continue
                del first
                if library == "tiktoken":
                    reference = ids
                    row.match = "ref"
                elif reference is not None:
                    differing = _compare(ids, reference)
                    row.differing_texts = differing
                    row.match = "yes" if differing == 0 else f"no ({differing}/{len(inputs)})"
                del ids
                group.append((row, peer, call))
            reference = None
        for _ in range(repeat):
            for row, peer, call in group:
                if row.status != "ok":
                    continue
                try:
                    peer.before(row.threads)
                    row.times_s.append(round(time_once(call), 6))
                except Exception as exc:
                    row.status = f"failed: {_short(exc)}"
        timed = [row for row, _, _ in group if row.status == "ok" and row.times_s]
        for row in timed:
            row.best_mb_s = row.megabytes / min(row.times_s)
            row.median_mb_s = row.megabytes / statistics.median(row.times_s)
        for row in timed:
            base = next(
                (
                    r.best_mb_s
                    for r in timed
                    if r.library == "tiktoken" and (r.mode, r.threads) == (row.mode, row.threads)
                ),
                None,
            )
            if base and row.best_mb_s is not None:
                row.ratio_to_tiktoken = row.best_mb_s / base
    if unseen and unseen_repeat > 0:
        unavailable = {lib: peer for lib, peer in peers.items() if not isinstance(peer, Peer)}
        rows.extend(run_unseen(ctx, libraries, unavailable, unseen, threads, unseen_repeat, log))
    return rows


# ------------------------------------------------------------------------------------------ unseen text

#: Size of the documents of the unseen-text rows.
UNSEEN_DOC_BYTES = 8192
#: UDHR scripts of the CJK corpus (Chinese varieties, Japanese, Korean).
CJK_SCRIPTS = ("Cjk", "Hiragana", "Hangul")


def _split_lines(text: str, limit: int) -> list[str]:
    """``text`` cut into documents of at most ``limit`` UTF-8 bytes at line ends (a longer line is
    cut between characters)."""
    docs: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        n = len(line.encode("utf-8"))
        while n > limit:  # a line longer than a document
            cut = len(line.encode("utf-8")[:limit].decode("utf-8", "ignore"))
            docs.append(line[:cut])
            line = line[cut:]
            n = len(line.encode("utf-8"))
        if size + n > limit and current:
            docs.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += n
    if current:
        docs.append("".join(current))
    return [d for d in docs if d]


def _halves(sources: Sequence[str]) -> tuple[list[str], list[str]]:
    """Each source cut at the line end nearest its middle: (documents of the first halves,
    documents of the second halves), each at most ``UNSEEN_DOC_BYTES``."""
    first: list[str] = []
    second: list[str] = []
    for text in sources:
        middle = text.find("\n", len(text) // 2)
        middle = len(text) // 2 if middle < 0 else middle + 1
        first.extend(_split_lines(text[:middle], UNSEEN_DOC_BYTES))
        second.extend(_split_lines(text[middle:], UNSEEN_DOC_BYTES))
    return first, second


def build_unseen_corpora() -> dict[str, tuple[list[str], list[str]]]:
    """Corpus name -> (warm-up documents, timed documents): the first and second half of every
    source text (the English corpus as one text, each code file, each UDHR language)."""
    from tokenforge import data

    udhr = data.udhr()
    return {
        "english": _halves(["\n\n".join(data.english_paragraphs())]),
        "code": _halves([doc["text"] for doc in data.code_documents()]),
        "udhr": _halves([data.udhr_text(v["code"]) for v in udhr]),
        "udhr-cjk": _halves([data.udhr_text(v["code"]) for v in udhr if v["script"] in CJK_SCRIPTS]),
    }


def _ids_digest(per_text: Sequence[Any]) -> str:
    """Hash of an id stream, one sequence of ids per text (lists and numpy arrays alike)."""
    import numpy as np

    digest = hashlib.blake2b(digest_size=16)
    for ids in per_text:
        raw = np.asarray(ids, dtype=np.uint32).tobytes()
        digest.update(len(raw).to_bytes(8, "little"))
        digest.update(raw)
    return digest.hexdigest()


def _unseen_call(peer: Peer, threads: int) -> tuple[Callable[[list[str]], Any], Callable[[Any], Any]]:
    """(documents -> output, output -> ids per document) for an unseen-text row."""
    peer.before(threads)
    if threads == 1:
        single = peer.fast_single or peer.single
        return (lambda docs: [single(d) for d in docs]), (lambda out: out)
    return (lambda docs: peer.batch(docs, threads)), peer.batch_ids


def run_unseen(
    ctx: Context,
    libraries: Sequence[str],
    unavailable: dict[str, str],
    corpora: dict[str, tuple[list[str], list[str]]],
    threads: int,
    repeat: int,
    log: Callable[[str], None],
) -> list[Row]:
    """Unseen-text rows: in every round each library is built anew (empty caches; not timed),
    warmed with the same call on the first half of the corpus, then timed on the second half,
    which it has not seen. ``unseen x1`` loops the fastest single-text call over the documents;
    ``unseen xN`` is one batch call on N threads. The ids of every library are hashed per row and
    compared with tiktoken's."""
    shared: dict[str, Peer] = {}

    def build(library: str) -> Peer:
        # tiktoken keeps no state between calls, so its (slow to build) encoder is reused.
        if library == "tiktoken":
            if library not in shared:
                shared[library] = FACTORIES[library](ctx)
            return shared[library]
        return FACTORIES[library](replace(ctx, fresh=True))

    rows: list[Row] = []
    for text_name, (warm, timed) in corpora.items():
        megabytes = sum(len(t.encode("utf-8")) for t in timed) / 1e6
        for mode_threads in (1, threads):
            group: dict[str, Row] = {}
            for library in libraries:
                row = Row(
                    ctx.vocab,
                    text_name,
                    mode_threads,
                    library,
                    mode="unseen",
                    megabytes=megabytes,
                    n_texts=len(timed),
                    status=unavailable.get(library, "ok"),
                )
                rows.append(row)
                group[library] = row
            digests: dict[str, str] = {}
            for round_index in range(repeat):
                # Libraries take turns in a rotating order, so none is always first after a reload.
                shift = round_index % len(libraries)
                for library in [*libraries[shift:], *libraries[:shift]]:
                    row = group[library]
                    if row.status != "ok":
                        continue
                    try:
                        peer = build(library)
                    except Exception as exc:
                        row.status = f"unavailable: {_short(exc)}"
                        continue
                    row.note = peer.note
                    log(f"  {ctx.vocab} {text_name} unseen x{mode_threads} {library} round {round_index}")
                    try:
                        if round_index == 0:
                            # The first instance gives the ids; it has then seen the timed half.
                            call, per_text = _unseen_call(peer, mode_threads)
                            call(warm)
                            digests[library] = _ids_digest(per_text(call(timed)))
                            peer = build(library)
                        call, _ = _unseen_call(peer, mode_threads)
                        call(warm)
                        row.times_s.append(round(time_once(partial(call, timed)), 6))
                    except Exception as exc:
                        row.status = f"failed: {_short(exc)}"
                    del peer
                    gc.collect()
            reference = digests.get("tiktoken")
            for library, row in group.items():
                if library == "tiktoken":
                    row.match = "ref" if reference else "-"
                elif library in digests and reference:
                    row.match = "yes" if digests[library] == reference else "no (ids differ)"
                if row.status == "ok" and row.times_s:
                    row.best_mb_s = row.megabytes / min(row.times_s)
                    row.median_mb_s = row.megabytes / statistics.median(row.times_s)
            base = group.get("tiktoken")
            for row in group.values():
                if base and base.best_mb_s and row.best_mb_s:
                    row.ratio_to_tiktoken = row.best_mb_s / base.best_mb_s
    return rows


# ------------------------------------------------------------------------------------------ worst cases

WORST_CASES = {
    "10 MB word": "import random; random.seed(0); "
    "TEXT = ''.join(random.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(10_000_000))",
    "1M x 'a'": "TEXT = 'a' * 1_000_000",
    "1M spaces": "TEXT = ' ' * 1_000_000",
}
WORST_SETUP = {
    "tiktoken": "import tiktoken, tiktoken.load, tokenforge; TF = tokenforge.load('{vocab}')\n"
    "ENC = tiktoken.Encoding('x', pat_str=TF.pattern, "
    "mergeable_ranks=tiktoken.load.load_tiktoken_bpe(str(tokenforge.vocab_sources.find('{vocab}'))), "
    "special_tokens=dict(TF.special_tokens))\nRUN = ENC.encode_ordinary",
    "tokenforge": "import tokenforge; RUN = tokenforge.load('{vocab}').encode_ordinary",
    "quicktok": "import quicktok; RUN = quicktok.get_encoding('{vocab}').encode_ordinary",
}


def run_worst_cases(vocab: str, libraries: Sequence[str], timeout_s: float) -> list[dict[str, Any]]:
    """Each library on each pathological input in its own process, with a time limit (a quadratic
    encoder would otherwise never finish)."""
    rows = []
    for case, make_text in WORST_CASES.items():
        for library in libraries:
            setup = WORST_SETUP.get(library)
            if setup is None:
                continue
            script = (
                f"{setup.format(vocab=vocab)}\n{make_text}\nimport time\nt = time.perf_counter()\n"
                "n = len(RUN(TEXT))\nprint(time.perf_counter() - t, n)"
            )
            try:
                done = subprocess.run(
                    [sys.executable, "-c", script],
                    capture_output=True,
                    text=True,
                    timeout=timeout_s,
                    check=False,
                )
                if done.returncode != 0:
                    last = (
                        done.stderr.strip().splitlines()[-1][:80] if done.stderr.strip() else done.returncode
                    )
                    result = f"failed: {last}"
                else:
                    seconds, tokens = done.stdout.split()
                    result = f"{float(seconds):.2f} s ({int(tokens):,} tokens)"
            except subprocess.TimeoutExpired:
                result = f"> {timeout_s:.0f} s (stopped)"
            rows.append({"vocab": vocab, "case": case, "library": library, "result": result})
    return rows


def run_corpus(vocab: str, megabytes: float, threads: int, workdir: Path) -> dict[str, Any]:
    """``encode_corpus`` on a generated directory of .txt and .jsonl files (English and code)."""
    import tokenforge
    from tokenforge.corpus import encode_corpus

    texts = build_texts(megabytes / 2)
    root = workdir / "corpus"
    root.mkdir(exist_ok=True)
    english, _ = texts["english"]
    code, _ = texts["code"]
    (root / "english.txt").write_text("\n".join(english) + "\n", encoding="utf-8")
    with open(root / "code.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": t}) + "\n" for t in code)
    size = sum(p.stat().st_size for p in root.iterdir()) / 1e6
    tok = tokenforge.load(vocab)
    stats = encode_corpus(
        tok, [root], workdir / "shards", num_threads=threads, progress=False, overwrite=True
    )
    return {
        "vocab": vocab,
        "input_mb": round(size, 1),
        "threads": threads,
        "documents": stats.documents,
        "tokens": stats.tokens,
        "seconds": round(stats.seconds, 3),
        "mb_s": round(stats.mb_per_s, 2),
    }


# ------------------------------------------------------------------------------------------ report


def format_table(rows: Sequence[Row]) -> str:
    header = ("vocab", "text", "mode", "library", "MB/s", "median", "vs tiktoken", "match")
    numeric = {4, 5, 6}
    # A row without timings shows its status across the number columns (which it does not widen).
    body: list[tuple[tuple[str, ...], bool]] = []
    for r in rows:
        if r.best_mb_s is None or r.median_mb_s is None:
            status = r.status if len(r.status) <= 70 else r.status[:67] + "..."
            threads = f"{r.mode} x{r.threads}" if r.threads else "-"
            body.append(((r.vocab, r.text, threads, r.library, status), True))
            continue
        ratio = "-" if r.ratio_to_tiktoken is None else f"{r.ratio_to_tiktoken:.2f}x"
        mode = f"{r.mode} x{r.threads}"
        cells = (r.vocab, r.text, mode, r.library, f"{r.best_mb_s:.2f}", f"{r.median_mb_s:.2f}")
        body.append(((*cells, ratio, r.match), False))
    widths = [len(h) for h in header]
    for cells, is_status in body:
        for i, cell in enumerate(cells[:4] if is_status else cells):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells: tuple[str, ...], is_status: bool = False) -> str:
        out = [c.rjust(widths[i]) if i in numeric else c.ljust(widths[i]) for i, c in enumerate(cells[:4])]
        if is_status:
            out.append(cells[4])
        else:
            out.extend(
                c.rjust(widths[i]) if i in numeric else c.ljust(widths[i])
                for i, c in enumerate(cells)
                if i >= 4
            )
        return "  ".join(out).rstrip()

    lines = [fmt(header), "  ".join("-" * w for w in widths)]
    previous: tuple[str, str, str, int] | None = None
    for r, (cells, is_status) in zip(rows, body, strict=True):
        key = (r.vocab, r.text, r.mode, r.threads)
        if previous is not None and key != previous:
            lines.append("")
        previous = key
        lines.append(fmt(cells, is_status))
    return "\n".join(lines)


def summarize(rows: Sequence[Row], threads: int) -> list[dict[str, Any]]:
    """Per vocabulary and text: tokenforge over the fastest other library in each mode, among the
    libraries whose ids equal tiktoken's there (tiktoken included), and each library's N-thread
    batch speed over its 1-thread batch speed (both from the same rounds)."""
    exact = {"yes", "ref"}
    best = {
        (r.vocab, r.text, r.mode, r.threads, r.library): r.best_mb_s
        for r in rows
        if r.best_mb_s and (r.match in exact or r.library == "tokenforge")
    }
    modes = list(dict.fromkeys((r.mode, r.threads) for r in rows if r.best_mb_s))
    out: list[dict[str, Any]] = []
    for vocab, text in dict.fromkeys((r.vocab, r.text) for r in rows if r.best_mb_s):
        entry: dict[str, Any] = {"vocab": vocab, "text": text}
        entry["tokenforge_over_fastest_peer"], entry["scaling"] = {}, {}
        for mode, n in modes:
            ours = best.get((vocab, text, mode, n, "tokenforge"))
            peers = {
                lib: v for (vv, t, m, k, lib), v in best.items() if (vv, t, m, k) == (vocab, text, mode, n)
            }
            peers.pop("tokenforge", None)
            if ours and peers:
                fastest = max(peers, key=lambda lib: peers[lib])
                entry["tokenforge_over_fastest_peer"][f"{mode} x{n}"] = {
                    "peer": fastest,
                    "ratio": round(ours / peers[fastest], 3),
                }
        for lib in dict.fromkeys(r.library for r in rows):
            for mode in ("batch", "unseen"):
                one = best.get((vocab, text, mode, 1, lib))
                many = best.get((vocab, text, mode, threads, lib))
                if one and many and threads > 1:
                    entry["scaling"][f"{lib} {mode}"] = round(many / one, 3)
        out.append(entry)
    return out


def format_summary(summary: Sequence[dict[str, Any]], threads: int) -> str:
    lines = []
    for e in summary:
        vs = ", ".join(
            f"{mode} {v['ratio']:.2f}x {v['peer']}" for mode, v in e["tokenforge_over_fastest_peer"].items()
        )
        scaling = ", ".join(f"{lib} {v:.2f}x" for lib, v in e["scaling"].items())
        lines.append(f"  {e['vocab']:<12} {e['text']:<8} tokenforge vs fastest exact peer: {vs}")
        if scaling:
            lines.append(f"  {'':<12} {'':<8} x{threads} over x1: {scaling}")
    return "\n".join(lines)


def format_notes(rows: Sequence[Row]) -> str:
    notes = dict.fromkeys((r.library, r.note) for r in rows if r.note)
    return "\n".join(f"  {library}: {note}" for library, note in notes)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def machine_info(libraries: Sequence[str]) -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "machine": platform.machine(),
        "processor": _cpu_model() or platform.processor(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "versions": {lib: _version(DISTRIBUTIONS[lib]) for lib in libraries},
        "env": {k: os.environ.get(k) for k in ("RAYON_NUM_THREADS", "RAYON_RS_NUM_CPUS")},
        "tokenizers_parallelism": "false in threads=1 rows, true in batch rows",
    }


# ------------------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Encode throughput of tokenforge vs tiktoken, HF tokenizers, kitoken and quicktok "
        "on the same vocabulary and text."
    )
    parser.add_argument(
        "--vocab",
        action="append",
        metavar="NAME",
        help=f"vocabulary to use (repeatable; default: {', '.join(DEFAULT_VOCABS)})",
    )
    parser.add_argument(
        "--mb", type=float, default=4.0, help="MB of each repeated text (default 4; 0: skip those rows)"
    )
    parser.add_argument(
        "--unseen-repeat",
        type=int,
        default=3,
        help="timed rounds of the unseen-text rows, each with new instances (default 3; 0: skip them)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="threads for the batch rows (default 2)")
    parser.add_argument(
        "--libraries",
        default=",".join(LIBRARIES),
        help=f"comma-separated subset of {','.join(LIBRARIES)} (tiktoken is the reference)",
    )
    parser.add_argument("--quick", action="store_true", help=f"~{QUICK_MB} MB of text and 1 timed run")
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="where to write results (default bench/results/encode.json, encode-quick.json with --quick)",
    )
    parser.add_argument("--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument(
        "--worst-case-timeout", type=float, default=60.0, help="seconds per pathological input (0: skip them)"
    )
    parser.add_argument(
        "--corpus-mb", type=float, default=50.0, help="MB for the corpus-encoding row (0: skip)"
    )
    args = parser.parse_args(argv)
    args.vocab = args.vocab or list(DEFAULT_VOCABS)
    libraries = [name.strip() for name in args.libraries.split(",") if name.strip()]
    unknown = [name for name in libraries if name not in LIBRARIES]
    if unknown or not libraries:
        parser.error(
            f"--libraries: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(LIBRARIES)}"
        )
    args.libraries = sorted(set(libraries), key=LIBRARIES.index)
    if args.quick:
        args.mb = QUICK_MB
        args.repeat = 1
        args.unseen_repeat = 1
        args.worst_case_timeout = 0
        args.corpus_mb = 0
    if args.mb < 0 or args.repeat < 1 or args.unseen_repeat < 0 or args.threads < 2:
        parser.error(
            "--mb must not be negative, --repeat must be at least 1, --unseen-repeat at least 0 "
            "and --threads at least 2"
        )
    if args.json is None:
        args.json = RESULTS_DIR / ("encode-quick.json" if args.quick else "encode.json")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Must precede the first import of tokenizers: its rayon pool reads the size once.
    if "tokenizers" in sys.modules:
        print("note: tokenizers was imported before the benchmark set RAYON_NUM_THREADS", file=sys.stderr)
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    os.environ["RAYON_RS_NUM_CPUS"] = str(args.threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"

    def log(message: str) -> None:
        if args.verbose:
            print(message, file=sys.stderr, flush=True)

    texts = build_texts(args.mb) if args.mb > 0 else {}
    unseen = build_unseen_corpora() if args.unseen_repeat > 0 else {}
    machine = machine_info(args.libraries)
    started = time.time()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tokenforge-bench-") as tmp:
        for vocab in args.vocab:
            try:
                rows.extend(
                    run_vocab(
                        vocab,
                        args.libraries,
                        texts,
                        args.threads,
                        args.repeat,
                        Path(tmp),
                        log,
                        unseen,
                        args.unseen_repeat,
                    )
                )
            except Exception as exc:
                rows.append(Row(vocab, "all", 0, "all", status=f"unavailable: {_short(exc)}"))

        worst: list[dict[str, Any]] = []
        corpus: list[dict[str, Any]] = []
        if args.worst_case_timeout > 0:
            for vocab in args.vocab:
                worst.extend(run_worst_cases(vocab, args.libraries, args.worst_case_timeout))
        if args.corpus_mb > 0:
            for vocab in args.vocab:
                corpus.append(run_corpus(vocab, args.corpus_mb, args.threads, Path(tmp)))

    sizes = ", ".join(f"{name} {len(docs)} docs" for name, (docs, _) in texts.items())
    unseen_sizes = ", ".join(
        f"{name} {len(warm)}+{len(timed)} docs, {sum(len(t.encode()) for t in timed) / 1e6:.2f} MB timed"
        for name, (warm, timed) in unseen.items()
    )
    print(
        f"encode throughput, MB/s of UTF-8 input (best of {args.repeat} repeated / {args.unseen_repeat} "
        f"unseen rounds; median beside it); repeated: ~{args.mb:g} MB per text ({sizes}); "
        f"unseen (warm on the first half, time the second, {UNSEEN_DOC_BYTES // 1024} KB documents): "
        f"{unseen_sizes}"
    )
    print(format_table(rows))
    summary = summarize(rows, args.threads)
    if summary:
        print("\nsummary (ratios of best MB/s):\n" + format_summary(summary, args.threads))
    notes = format_notes(rows)
    if notes:
        print("notes:\n" + notes)
    if worst:
        print("\nworst cases (one process each, wall time of one encode_ordinary call):")
        for w in worst:
            print(f"  {w['vocab']:<12} {w['case']:<11} {w['library']:<11} {w['result']}")
    if corpus:
        print("\ncorpus encoding (tokenforge encode_corpus: read, encode, write Megatron shards):")
        for c in corpus:
            print(
                f"  {c['vocab']:<12} {c['input_mb']} MB, {c['documents']:,} docs, {c['tokens']:,} tokens, "
                f"{c['threads']} threads: {c['seconds']} s = {c['mb_s']} MB/s"
            )

    report = {
        "benchmark": "encode",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(time.time() - started, 1),
        "args": {
            "vocab": args.vocab,
            "mb": args.mb,
            "repeat": args.repeat,
            "unseen_repeat": args.unseen_repeat,
            "threads": args.threads,
            "libraries": args.libraries,
            "quick": args.quick,
        },
        "machine": machine,
        "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "texts": {
            name: {"documents": len(docs), "joined_bytes": len(joined.encode())}
            for name, (docs, joined) in texts.items()
        },
        "unseen_texts": {
            name: {
                "warm_documents": len(warm),
                "timed_documents": len(timed),
                "timed_bytes": sum(len(t.encode()) for t in timed),
            }
            for name, (warm, timed) in unseen.items()
        },
        "rows": [asdict(r) for r in rows],
        "summary": summary,
        "worst_cases": worst,
        "corpus": corpus,
    }
    try:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    except OSError as exc:
        print(f"could not write {args.json}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
