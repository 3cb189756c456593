"""Scaling out on Ray: per-core MB/s of counting and corpus encoding with 1 and 2 Ray workers
against the local engine on the same data, Ray's overhead, and peak memory per worker.

    .venv/bin/python bench/scale.py                 # 64 MB corpus, cl100k pre-tokenizer / vocabulary
    .venv/bin/python bench/scale.py --mb 256 --repeat 2

The corpus is bench/corpus.py's mix (English .txt, code .jsonl, UDHR .jsonl.gz). Every measurement
runs in a fresh child process (a Ray run starts its own local cluster there: ``num_cpus`` = workers,
no dashboard), so peak memory is per run: the child's high-water mark (``VmHWM``) for the local
engine, each Ray worker process's for Ray (``ru_maxrss`` is not used: it survives fork + exec and
can report the launcher's peak). Rows:

- ``local``: the local engine on 1 thread (the per-core reference) and on as many threads as workers;
- ``ray N``: N workers, one task per worker; ``tasks`` is the number of byte-range tasks.

``per-core MB/s`` = MB of document text / wall seconds / cores used; ``MB/CPU-s`` = MB of text per
CPU-second of the run's processes (the engine, and for Ray the GCS, raylet and workers), which a
busy shared machine does not distort. ``overhead`` compares a run's CPU-seconds with the local
1-thread run's; ``fixed`` is the extra wall time (and CPU time) on
a 0.5 MB corpus, i.e. what every call pays
(tasks scheduled, tokenizer shipped, shards merged). Cluster start-up is reported apart. The
artifacts are checked: Ray's counts and shards must equal the local engine's.
Results go to ``bench/results/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from corpus import build

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"
VOCAB = "cl100k_base"


def _descendants_cpu_s() -> float:
    """CPU seconds (user + system) of this process and every live descendant (a Ray cluster
    started here: GCS, raylet, workers). On a shared machine this, not wall time, is what a run
    costs: per-core rates are MB per CPU-second."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    me = os.getpid()
    total = 0.0
    for pid in times:
        p = pid
        while p not in (0, 1, me) and p in parents:
            p = parents[p]
        if p == me:
            total += times[pid]
    return total


def _peak_mb(pid: int | str = "self") -> float | None:
    """VmHWM of one process image, in MB (None when the process is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next(
        (int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), None
    )


def _worker_peaks_mb() -> list[float]:
    """VmHWM of this machine's Ray task workers (they stay alive, idle, until the cluster stops)."""
    peaks = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            title = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"ray::") and not title.startswith(b"ray::Board"):
            peak = _peak_mb(entry)
            if peak is not None:
                peaks.append(peak)
    return peaks


def child(work: str, engine: str, cores: int, root: Path, out: Path) -> dict[str, Any]:
    """One measurement (runs in a fresh process)."""
    import tokenforge

    started = time.perf_counter()
    ray_engine: Any = None
    if engine == "ray":
        import ray

        from tokenforge.scale import RayEngine

        ray.init(
            num_cpus=cores, include_dashboard=False, object_store_memory=256 << 20, logging_level="error"
        )
        ray_engine = RayEngine(tasks=cores)
    startup = time.perf_counter() - started
    tok = tokenforge.load(VOCAB) if work == "encode" else None
    events: list[dict[str, Any]] = []
    cpu = _descendants_cpu_s()
    t = time.perf_counter()
    if work == "count":
        counts = tokenforge.count(
            [root], engine=ray_engine or "local", num_threads=cores, progress=events.append
        )
        artifact = counts.fingerprint()
    else:
        from tokenforge.corpus import encode_corpus, read_corpus

        if ray_engine is None:
            encode_corpus(tok, [root], out, num_threads=cores, eos="<|endoftext|>", progress=False)
        else:
            from tokenforge.scale import encode_on_ray

            encode_on_ray(ray_engine, tok, [root], out, eos="<|endoftext|>", progress=events.append)
        import hashlib

        digest = hashlib.sha256()
        for doc in read_corpus(out):
            digest.update(doc.tobytes())
        artifact = digest.hexdigest()
    seconds = time.perf_counter() - t
    cpu = _descendants_cpu_s() - cpu
    tasks = next((e["tasks"] for e in events if e.get("event") == "note" and "tasks" in e), None)
    result: dict[str, Any] = {
        "seconds": seconds,
        "cpu_s": cpu,
        "startup_s": startup,
        "artifact": artifact,
        "tasks": tasks,
    }
    if engine == "ray":
        result["worker_peak_mb"] = max(_worker_peaks_mb(), default=None)
        import ray

        ray.shutdown()
    else:
        result["worker_peak_mb"] = _peak_mb()
    return result


def merge_cost() -> dict[str, Any]:
    """What the counts tree costs, on unique text (the shipped English paragraphs, code and UDHR in
    every language, shuffled; the bench mix repeats documents, so its tables barely grow): both
    halves counted into .tfc shards, then one merge as a merge task does it (load both, add, save),
    in CPU time. Also what shard sizes are extrapolated from: distinct pieces at growing prefixes
    (Heaps' exponent), .tfc bytes per distinct piece, and the share of pieces seen at most twice."""
    import random

    from tokenforge import data
    from tokenforge.scale.count import _from_bytes, _to_bytes
    from tokenforge.train.config import resolve_pretokenizer
    from tokenforge.train.counts import count_corpus

    docs = [*data.english_paragraphs(), *(d["text"] for d in data.code_documents())]
    docs += [data.udhr_text(v["code"]) for v in data.udhr_languages()]
    random.Random(0).shuffle(docs)
    tables = {"subword": resolve_pretokenizer("cl100k")}
    half = len(docs) // 2
    shards = [_to_bytes(count_corpus(part, tables)[0]) for part in (docs[:half], docs[half:])]
    t = time.process_time()  # CPU time: the merge runs on this thread (the engine's part too)
    merged = _to_bytes(_from_bytes(shards[0]).merge(_from_bytes(shards[1])))
    seconds = time.process_time() - t
    whole = _from_bytes(merged)
    distinct = [_from_bytes(b).summary()["subword"]["distinct_pieces"] for b in (*shards, merged)]
    quarter = count_corpus(docs[: len(docs) // 4], tables)[0].summary()["subword"]["distinct_pieces"]
    table = whole.table("subword")
    rare = sum(1 for _piece, n in table.most_common(distinct[2]) if n <= 2)
    text_mb = sum(len(d.encode()) for d in docs) / 1e6
    return {
        "text_mb": round(text_mb, 2),
        "shard_mb": [round(len(b) / 1e6, 2) for b in shards],
        "merged_mb": round(len(merged) / 1e6, 2),
        "tfc_bytes_per_distinct_piece": round(len(merged) / distinct[2], 1),
        "distinct_pieces": distinct[2],
        "distinct_pieces_first_quarter": quarter,
        "heaps_exponent": round(math.log(distinct[2] / quarter) / math.log(4), 3),
        "share_seen_at_most_twice": round(rare / distinct[2], 3),
        "merge_cpu_s": round(seconds, 3),
        "merge_mb_per_cpu_s": round((len(shards[0]) + len(shards[1])) / 1e6 / seconds, 1),
        "merge_pieces_per_cpu_s": round((distinct[0] + distinct[1]) / seconds),
    }


def table_memory() -> float:
    """Bytes of peak RSS per distinct piece of a counter table (1.9 M distinct random words of
    5-11 bytes; run in a fresh process so nothing else is in the peak)."""
    import random
    import string

    from tokenforge.train.config import resolve_pretokenizer
    from tokenforge.train.counts import count_corpus

    rng = random.Random(1)
    words = [
        " " + "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 10)))
        for _ in range(2_000_000)
    ]
    texts = ["".join(words[i : i + 1000]) + "\n" for i in range(0, len(words), 1000)]
    before = _peak_mb() or 0.0
    counts, _ = count_corpus(texts, {"subword": resolve_pretokenizer("cl100k")})
    grown = ((_peak_mb() or 0.0) - before) * (1 << 20)
    return grown / counts.summary()["subword"]["distinct_pieces"]


def measure(work: str, engine: str, cores: int, root: Path, tmp: Path) -> dict[str, Any]:
    out = tmp / f"shards-{work}-{engine}-{cores}-{time.monotonic_ns()}"
    command = [sys.executable, __file__, "--child", work, engine, str(cores), str(root), str(out)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=64.0, help="corpus size (MB of document text)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row (the fastest is kept)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="corpus file or folder to use instead of the built mix (e.g. build_corpus.py's train.txt)",
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--table-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table_memory:
        print(json.dumps(table_memory()))
        return 0
    if args.child:
        work, engine, cores, root, out = args.child
        print(json.dumps(child(work, engine, int(cores), Path(root), Path(out))))
        return 0

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tokenforge-scale-", dir=args.workdir) as name:
        tmp = Path(name)
        root, tiny = tmp / "corpus", tmp / "tiny"
        root.mkdir()
        tiny.mkdir()
        if args.corpus is None:
            nbytes, ndocs = build(root, args.mb / 1000)
            first = sorted(root.glob("english-*.txt"))[0].read_bytes()
        else:
            files = [args.corpus] if args.corpus.is_file() else sorted(p for p in args.corpus.iterdir())
            for f in files:
                (root / f.name).symlink_to(f.resolve())
            nbytes = sum(f.stat().st_size for f in files)  # uncompressed text files
            ndocs = sum(f.read_bytes().count(b"\n") for f in files)
            first = files[0].read_bytes()[: 1 << 19]
            first = first[: first.rfind(b"\n") + 1]
        file_bytes = sum(p.stat().st_size for p in root.iterdir())
        (tiny / "tiny.txt").write_bytes(first)
        tiny_bytes = len(first)
        print(
            f"corpus: {nbytes / 1e6:.1f} MB of text in {file_bytes / 1e6:.1f} MB of files, "
            f"{ndocs:,} documents"
        )
        for work in ("count", "encode"):
            reference: dict[str, Any] = {}
            fixed_local = min(
                (measure(work, "local", 1, tiny, tmp) for _ in range(args.repeat)), key=lambda r: r["cpu_s"]
            )
            for engine, cores in (("local", 1), ("local", 2), ("ray", 1), ("ray", 2)):
                runs = [measure(work, engine, cores, root, tmp) for _ in range(args.repeat)]
                best = min(runs, key=lambda r: r["seconds"])
                best["worker_peak_mb"] = max(r["worker_peak_mb"] or 0 for r in runs)
                if engine == "local" and cores == 1:
                    reference = best
                row = {
                    "work": work,
                    "engine": engine if engine == "local" else f"ray {cores}",
                    "cores": cores,
                    "tasks": best["tasks"],
                    "seconds": round(best["seconds"], 2),
                    "mb_s": round(nbytes / 1e6 / best["seconds"], 2),
                    "per_core_mb_s": round(nbytes / 1e6 / best["seconds"] / cores, 2),
                    "cpu_s": round(best["cpu_s"], 2),
                    "mb_per_cpu_s": round(nbytes / 1e6 / best["cpu_s"], 2),
                    "overhead": round(best["cpu_s"] / reference["cpu_s"] - 1, 3),
                    "startup_s": round(best["startup_s"], 2) if engine == "ray" else None,
                    "peak_mb_per_worker": round(best["worker_peak_mb"]),
                    "same_artifact": best["artifact"] == reference["artifact"],
                }
                if engine == "ray":
                    fixed = min(
                        (measure(work, engine, cores, tiny, tmp) for _ in range(args.repeat)),
                        key=lambda r: r["cpu_s"],
                    )
                    row["fixed_overhead_s"] = round(fixed["seconds"] - fixed_local["seconds"], 2)
                    row["fixed_overhead_cpu_s"] = round(fixed["cpu_s"] - fixed_local["cpu_s"], 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
        merging = merge_cost()
        command = [sys.executable, __file__, "--table-memory"]
        merging["table_bytes_per_distinct_piece"] = round(
            json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout), 1
        )
        print(json.dumps({"merge": merging}), flush=True)

    header = (
        f"{'work':<7} {'engine':<7} {'cores':>5} {'tasks':>5} {'s':>7} {'MB/s':>7} {'MB/s/core':>9} "
        f"{'CPU s':>6} {'MB/CPU-s':>8} {'overhead':>8} {'fixed s':>7} {'start s':>7} {'peak MB':>7} same"
    )
    print(header)
    for r in rows:
        print(
            f"{r['work']:<7} {r['engine']:<7} {r['cores']:>5} {r['tasks'] or '-':>5} {r['seconds']:>7.2f} "
            f"{r['mb_s']:>7.2f} {r['per_core_mb_s']:>9.2f} {r['cpu_s']:>6.2f} {r['mb_per_cpu_s']:>8.2f} "
            f"{r['overhead']:>+8.1%} "
            f"{r.get('fixed_overhead_s', '-'):>7} {r['startup_s'] or '-':>7} {r['peak_mb_per_worker']:>7} "
            f"{'yes' if r['same_artifact'] else 'NO'}"
        )
    result = {
        "benchmark": "scale",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "vocab": VOCAB,
        "corpus_text_bytes": nbytes,
        "corpus_file_bytes": file_bytes,
        "documents": ndocs,
        "tiny_corpus_file_bytes": tiny_bytes,
        "cpus_on_machine": os.cpu_count(),
        "load_average_at_end": os.getloadavg()[0],
        "rows": rows,
        "merge": merging,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(r["same_artifact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
