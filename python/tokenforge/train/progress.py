"""Progress of long runs, phase by phase (read+count, train, ...), with rates and ETA.

Three outputs: human text on stderr (one updating line on a terminal, a line every few seconds
otherwise), JSON lines for machines, or a callable that receives each event as a dict. Events are
rate-limited, so reporting costs nothing measurable.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["Progress", "ProgressArg"]

ProgressArg = bool | str | Callable[[dict[str, Any]], None] | None

_UNITS = {"B": ("MB", 1e6), "merges": ("merges", 1.0), "pieces": ("pieces", 1.0)}


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """``mode``: None/False (silent), True or ``"text"``, ``"jsonl"``, or a callable."""

    def __init__(self, mode: ProgressArg = None, stream: TextIO | None = None, interval: float | None = None):
        if mode not in (None, False, True, "text", "jsonl", "none") and not callable(mode):
            raise ValueError(f"progress must be None, True, 'text', 'jsonl' or a callable, got {mode!r}")
        self._mode: Any = "text" if mode is True else (None if mode in (False, "none") else mode)
        self._stream = stream
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._interval = interval if interval is not None else (0.25 if self._tty else 5.0)
        self._phase = ""
        self._total: float | None = None
        self._unit = ""
        self._start = 0.0
        self._last = 0.0
        self._done = 0.0
        self._width = 0

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    @property
    def enabled(self) -> bool:
        return self._mode is not None

    def start(self, phase: str, total: float | None = None, unit: str = "B") -> None:
        self._phase, self._total, self._unit = phase, total, unit
        self._start = self._last = time.perf_counter()
        self._done = 0
        self._emit("start", 0, force=True)

    def update(self, done: float, **extra: Any) -> None:
        self._done = done
        now = time.perf_counter()
        if now - self._last >= self._interval:
            self._last = now
            self._emit("progress", done, **extra)

    def finish(self, done: float | None = None, **extra: Any) -> None:
        if done is not None:
            self._done = done
        self._emit("end", self._done, force=True, **extra)

    def note(self, message: str, **extra: Any) -> None:
        """A one-off message (e.g. where the output went)."""
        if self._mode is None:
            return
        event = {"event": "note", "message": message, **extra}
        if callable(self._mode):
            self._mode(event)
        elif self._mode == "jsonl":
            print(json.dumps(event, ensure_ascii=False), file=self.stream, flush=True)
        else:
            self._clear()
            print(message, file=self.stream, flush=True)

    def _event(self, kind: str, done: float, extra: dict[str, Any]) -> dict[str, Any]:
        elapsed = time.perf_counter() - self._start
        rate = done / elapsed if elapsed > 0 else None
        eta = None
        if self._total and rate and kind != "end":
            eta = max(0.0, (self._total - done) / rate)
        return {
            "event": kind,
            "phase": self._phase,
            "done": done,
            "total": self._total,
            "unit": self._unit,
            "elapsed_s": round(elapsed, 3),
            "rate": None if rate is None else round(rate, 3),
            "eta_s": None if eta is None else round(eta, 1),
            **extra,
        }

    def _emit(self, kind: str, done: float, force: bool = False, **extra: Any) -> None:
        if self._mode is None:
            return
        event = self._event(kind, done, extra)
        if callable(self._mode):
            self._mode(event)
        elif self._mode == "jsonl":
            print(json.dumps(event, ensure_ascii=False), file=self.stream, flush=True)
        else:
            self._text(event)

    def _clear(self) -> None:
        if self._tty and self._width:
            print("\r" + " " * self._width + "\r", end="", file=self.stream, flush=True)
            self._width = 0

    def _text(self, event: dict[str, Any]) -> None:
        label, scale = _UNITS.get(event["unit"], (event["unit"], 1.0))
        done = event["done"] / scale
        fmt = "{:,.1f}" if scale != 1.0 else "{:,.0f}"
        parts = [f"{event['phase']:<6}", fmt.format(done)]
        if event["total"]:
            parts.append("/ " + fmt.format(event["total"] / scale))
        parts.append(label)
        if event["rate"]:
            parts.append(f"({fmt.format(event['rate'] / scale)} {label}/s)")
        if event["eta_s"] is not None:
            parts.append(f"ETA {_clock(event['eta_s'])}")
        if event["event"] == "end":
            parts.append(f"done in {_clock(event['elapsed_s'])}")
        extras = [
            f"{k}={v}"
            for k, v in event.items()
            if k not in ("event", "phase", "done", "total", "unit", "elapsed_s", "rate", "eta_s")
        ]
        line = " ".join(parts + extras)
        if self._tty:
            end = "\n" if event["event"] == "end" else ""
            pad = " " * max(0, self._width - len(line))
            print("\r" + line + pad, end=end, file=self.stream, flush=True)
            self._width = 0 if end else len(line)
        elif event["event"] != "start":
            print(line, file=self.stream, flush=True)
