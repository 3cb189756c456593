"""Stress: fork while batch calls run, many thread counts, exit with busy daemon threads, many
threads on one tokenizer. Every scenario runs in a subprocess with a timeout, so a hang fails the
test instead of blocking the run. Longer runs: `python tests/test_stress.py forks|threads|exit N`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

_FORKS = """
import os, sys, threading, time, warnings
import tokenforge as tf
warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads is the point here
enc = tf.load("cl100k_base")
texts = ["fork while encoding, " * 40] * 64
stop = threading.Event()
def busy(k):
    n = 0
    while not stop.is_set():
        n += 1
        enc.encode_ordinary_batch(texts, num_threads=2 + (n + k) % 3)  # pools being built and used
workers = [threading.Thread(target=busy, args=(k,), daemon=True) for k in range(3)]
for w in workers:
    w.start()
hangs = 0
for i in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        ok = enc.encode_ordinary_batch(texts[:8], num_threads=2) == [enc.encode_ordinary(texts[0])] * 8
        os._exit(0 if ok else 3)
    deadline = time.time() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0, status
            break
        if time.time() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            hangs += 1
            break
        time.sleep(0.002)
stop.set()
print("hangs", hangs)
sys.exit(1 if hangs else 0)
"""

_THREADS = """
import os, sys
import tokenforge as tf
from tokenforge import _core
enc = tf.load("cl100k_base")
texts = ["many thread counts " * 10] * 32
expected = enc.encode_ordinary_batch(texts, num_threads=1)
peak = 0
for n in range(2, 2 + int(sys.argv[1])):
    assert enc.encode_ordinary_batch(texts, num_threads=n) == expected
    peak = max(peak, len(os.listdir("/proc/self/task")))
print("peak threads", peak)
# Kept pools hold at most 256 threads (plus the one in use and threads of dropped pools exiting).
sys.exit(0 if peak <= 2 * 256 + int(sys.argv[1]) else 1)
"""

_EXIT = """
import sys, threading
import tokenforge as tf
enc = tf.load("cl100k_base")
text = "a daemon thread busy at exit " * 20000
def work():
    while True:
        enc.encode_ordinary(text)
        enc.count_batch([text[:4000]] * 16, num_threads=2)
for _ in range(4):
    threading.Thread(target=work, daemon=True).start()
import time; time.sleep(float(sys.argv[1]))
"""

# Peak RSS is read from /proc/self/status (VmHWM, this process image only): getrusage's ru_maxrss
# survives fork + exec, so it reported the RSS of the pytest process that started the script (2.5 GB
# late in a full run) instead of this one's (~115 MB).
_MEMORY = """
import os, sys, threading
os.environ["TOKENFORGE_MEMO_MB"] = sys.argv[1]
import tokenforge as tf
def status_mb(field):
    with open("/proc/self/status") as f:
        line = next(l for l in f if l.startswith(field + ":"))
    return int(line.split()[1]) / 1024
enc = tf.load("cl100k_base")
# 80,000 distinct words of 20-60 letters (pieces the BPE must merge, so each is a memo entry):
# ~17 MB of entries per cache, so the 8 caller caches would hold ~140 MB without the byte budget.
def word(i):
    n, out = i * 2654435761 % 2**32, []
    for _ in range(20 + i % 41):
        n = n * 6364136223846793005 + 1442695040888963407 & 2**64 - 1
        out.append(chr(97 + (n >> 59) % 26))
    return "".join(out)
words = [word(i) for i in range(80_000)]
texts = [" ".join(words[k::16]) for k in range(16)]
expected = [enc.encode_ordinary(t) for t in texts]
before_mb = status_mb("VmRSS")
errors = []
def work(k):
    for t, e in zip(texts[k:] + texts[:k], expected[k:] + expected[:k]):
        if enc.encode_ordinary(t) != e:
            errors.append(k)
threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
grown_mb = status_mb("VmHWM") - before_mb
print(f"peak rss grew {grown_mb:.0f} MB over {before_mb:.0f} MB; memo {enc.memo_bytes >> 20} MiB")
# The ceiling: the memo budget (all caches of the tokenizer together), 16 front tables of 128 KiB,
# and 40 MB for thread stacks, allocator arenas and the ids being built. Measured with a 16 MiB
# budget: 32 MB growth (memo 16 MiB); without a cap (TOKENFORGE_MEMO_MB=1000): 159 MB (memo 139 MiB).
sys.exit(1 if errors or grown_mb > int(sys.argv[1]) + 2 + 40 else 0)
"""


def _run(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_forks_during_batch_calls_never_hang() -> None:
    """100 forks while three threads run batch calls (and build pools): the child used to block
    forever on the pool registry lock (up to 3 of 10 forks)."""
    done = _run(_FORKS, "100", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_distinct_thread_counts_keep_threads_bounded() -> None:
    """num_threads 2..61: a pool per value was never freed (3,570 threads by 84, then failures)."""
    done = _run(_THREADS, "60", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_exit_with_busy_daemon_threads_is_clean() -> None:
    """Daemon threads inside encode at interpreter exit aborted the process ("FATAL: exception
    not rethrown", 15 of 15 runs)."""
    for delay in ("0.05", "0.2", "0.5"):
        done = _run(_EXIT, delay, timeout=60)
        assert done.returncode == 0, (delay, done.returncode, done.stderr[-500:])


def test_sixteen_threads_on_one_tokenizer_agree_within_a_memory_ceiling() -> None:
    """16 threads of distinct words on one tokenizer with a 16 MiB memo budget: RSS grows by the
    budget plus a fixed allowance (per-slot counts let 24 threads reach ~720 MB)."""
    done = _run(_MEMORY, "16", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


if __name__ == "__main__":
    # Longer runs for measurements: forks N, threads N, exit N (N runs).
    kind, count = sys.argv[1], sys.argv[2]
    if kind == "exit":
        crashes = sum(
            _run(_EXIT, str(0.02 + (i % 10) * 0.05), timeout=60).returncode != 0 for i in range(int(count))
        )
        print(f"exit with busy daemon threads: {crashes} crashes in {count} runs")
    else:
        result = _run(_FORKS if kind == "forks" else _THREADS, count, timeout=3600)
        print(result.stdout.strip(), "exit code", result.returncode)
