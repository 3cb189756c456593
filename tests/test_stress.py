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

_MEMORY = """
import resource, sys, threading
import tokenforge as tf
enc = tf.load("cl100k_base")
words = [f"w{i:07d}x{i * 7919 % 100003:05d}" for i in range(200_000)]
texts = [" ".join(words[k::50]) for k in range(50)]
expected = [enc.encode_ordinary(t) for t in texts]
errors = []
def work(k):
    for t, e in zip(texts[k % 5 :], expected[k % 5 :]):
        if enc.encode_ordinary(t) != e:
            errors.append(k)
threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("peak rss MB", rss_mb)
sys.exit(1 if errors or rss_mb > 1500 else 0)
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
    done = _run(_MEMORY, timeout=300)
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
