"""Training under a memory cap: a generated corpus larger than the cap (almost every word unique,
the worst case for a count table) is trained in a fresh process whose peak RSS growth stays under
the cap. Without the cap the same kind of corpus needs over 15x more (60 MB: +976 MiB peak)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CAP_MB = 64
CORPUS_MB = 70

SCRIPT = textwrap.dedent(
    f"""
    import json
    import numpy as np
    import tokenforge as tf

    MB = 1 << 20

    def status(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) * 1024

    def corpus():
        # Lines of 12 random 8-letter words: ~7 million distinct pieces in 70 MB.
        rng = np.random.default_rng(7)
        letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
        made = 0
        while made < {CORPUS_MB} * MB:
            words = letters[rng.integers(0, 26, size=(100_000, 9), dtype=np.uint8)]
            words[:, 0] = ord(" ")
            words[::12, 0] = ord("\\n")
            text = words.tobytes().decode("ascii")
            made += len(text)
            yield text

    tf.train(["warm up the engine"], vocab_size=260, min_frequency=1)
    base = status("VmRSS")
    tok = tf.train(corpus(), vocab_size=1000, max_memory={CAP_MB} * MB, num_threads=2)
    meta = tok.spec.metadata
    print(json.dumps({{
        "growth": status("VmHWM") - base,
        "bytes": meta["corpus"]["bytes"],
        "pruning": meta["corpus"].get("pruning"),
        "learned": meta["training"]["learned_tokens"],
    }}))
    """
)


def test_training_stays_under_the_memory_cap() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=300
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["bytes"] > CAP_MB << 20  # the corpus is larger than the cap
    assert result["pruning"]["passes"] > 0 and result["pruning"]["pieces"] > 1_000_000
    assert result["learned"] == 1000 - 256
    assert result["growth"] < CAP_MB << 20, f"peak RSS grew by {result['growth'] / (1 << 20):.1f} MiB"
