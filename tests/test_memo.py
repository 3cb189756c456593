"""The piece memo is capped in bytes per tokenizer, whatever the number of threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import tokenforge

PROBE = textwrap.dedent(
    """
    import json, random, string, sys, threading
    import tokenforge

    def rss_mb():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) / 1024 for l in f if l.startswith("VmRSS:"))

    tok = tokenforge.load("cl100k_base")
    rng = random.Random(0)
    # Distinct 20-60-letter words: nearly every piece is merged and memoized.
    texts = [
        " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(20, 60))) for _ in range(40_000))
        for _ in range(8)
    ]
    tok.encode_ordinary("warm up")
    before = rss_mb()
    peak = []

    def work(text):
        for i in range(0, len(text), 100_000):
            ids = tok.encode_ordinary(text[i : i + 100_000])
            assert tok.decode(ids) == text[i : i + 100_000]
            peak.append(tok.memo_bytes)

    threads = [threading.Thread(target=work, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"growth_mb": rss_mb() - before, "peak_memo": max(peak), "memo": tok.memo_bytes}))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmRSS from /proc")
def test_memo_of_eight_threads_stays_under_its_byte_cap(cl100k: tokenforge.Tokenizer) -> None:
    env = {**os.environ, "TOKENFORGE_MEMO_MB": "4"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0 < result["peak_memo"] <= 4 << 20
    # Without the cap the 8 memos grew by ~120 MB here; with it, allocator slack remains.
    assert result["growth_mb"] < 60, result


def test_memo_bytes_is_reported(cl100k: tokenforge.Tokenizer) -> None:
    tok = tokenforge.load("cl100k_base")  # its own, empty memo
    assert tok.memo_bytes == 0
    tok.encode_ordinary("an unusualish wordy sentence, qwertyuiopasdf")
    assert 0 < tok.memo_bytes <= 64 << 20
