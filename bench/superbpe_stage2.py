"""Wall time and peak RSS of SuperBPE's second stage alone, old build vs new, side by side.

Stage 2 is measured from a counts file (``tokenforge count --algorithm superbpe``), so counting
and stage 1 are outside the measurement: the peak RSS is reset (``/proc/self/clear_refs``) right
before the stage-2 trainer is built and read when it finishes. Each interpreter (``--python``, e.g.
the ``.venv`` of two checkouts) runs in its own child process, alternating for ``--rounds`` rounds
so machine load hits both alike; the table reports medians and ratios against the first.

    .venv/bin/tokenforge count ~/.cache/tokenforge/bench/english/train-100MB.txt \\
        --algorithm superbpe -o /tmp/c100.tfc
    .venv/bin/python bench/superbpe_stage2.py /tmp/c100.tfc \\
        --python ../main/.venv/bin/python .venv/bin/python --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _hwm_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1])
    return 0


def _child(counts_path: str, vocab: int, transition: int | None, threads: int) -> dict[str, Any]:
    import tokenforge
    from tokenforge.train import superbpe

    real = superbpe.run_merges
    measured: dict[str, Any] = {}

    def timed(*args: Any, **kwargs: Any) -> Any:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        base = _hwm_kib()
        t0 = time.perf_counter()
        stage = real(*args, **kwargs)
        measured["seconds"] = round(time.perf_counter() - t0, 3)
        measured["peak_rss_mb"] = round(_hwm_kib() / 1024, 1)
        measured["rss_before_mb"] = round(base / 1024, 1)
        return stage

    superbpe.run_merges = timed
    tok = tokenforge.train(
        from_counts=counts_path,
        vocab_size=vocab,
        algorithm="superbpe",
        transition=transition,
        num_threads=threads,
    )
    spec = tok._full_spec()
    measured["fingerprint"] = tok.fingerprint()
    measured["stages"] = spec.metadata["training"]["stages"]
    measured["tokenforge"] = tokenforge.__file__
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("counts", help="a .tfc file counted with --algorithm superbpe")
    parser.add_argument("--python", nargs="+", default=[sys.executable], help="interpreters to compare")
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--transition", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "superbpe-stage2.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.counts, args.vocab, args.transition, args.threads)))
        return 0
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in args.python}
    for _ in range(args.rounds):
        for py in args.python:
            cmd = [
                py,
                __file__,
                args.counts,
                "--child",
                "--vocab",
                str(args.vocab),
                "--threads",
                str(args.threads),
            ]
            if args.transition is not None:
                cmd += ["--transition", str(args.transition)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            runs[py].append(json.loads(out.strip().splitlines()[-1]))
    rows = []
    for py, results in runs.items():
        rows.append(
            {
                "python": py,
                "tokenforge": results[0]["tokenforge"],
                "seconds": statistics.median(r["seconds"] for r in results),
                "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in results),
                "rss_before_mb": statistics.median(r["rss_before_mb"] for r in results),
                "fingerprint": results[0]["fingerprint"],
                "stages": results[0]["stages"],
                "all": results,
            }
        )
    first = rows[0]
    print(f"{'python':<40} {'stage-2 s':>10} {'peak MB':>9} {'before MB':>10} {'time x':>7} {'rss x':>6}")
    for row in rows:
        row["time_ratio"] = round(row["seconds"] / first["seconds"], 3)
        row["rss_ratio"] = round(row["peak_rss_mb"] / first["peak_rss_mb"], 3)
        print(
            f"{row['python']:<40} {row['seconds']:>10.2f} {row['peak_rss_mb']:>9.1f} "
            f"{row['rss_before_mb']:>10.1f} {row['time_ratio']:>7.3f} {row['rss_ratio']:>6.3f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "superbpe-stage2",
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "load_average": os.getloadavg(),
                "args": vars(args) | {"json": str(args.json)},
                "rows": rows,
            },
            indent=1,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
