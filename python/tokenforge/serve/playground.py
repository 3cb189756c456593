"""The playground's state and JSON API, independent of HTTP (the server only routes to it).

Tokenizers are known encodings available offline (loaded on first use), files the user loads, and
tokenizers trained in the page; all are addressed by a name. Everything is thread-safe: the HTTP
server answers each request in its own thread and training runs in the background.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .. import data, vocab_sources
from ..errors import InvalidArgumentError, TokenforgeError
from ..formats import presets
from ..loader import load
from ..tokenizer import Tokenizer
from ..train import Progress, train

__all__ = ["Playground"]

#: Tokens shown per tokenizer; counts and statistics always cover the whole text.
MAX_SHOWN_TOKENS = 20_000
#: Largest text, uploaded tokenizer file or training text accepted (bytes).
MAX_TEXT_BYTES = 16 << 20
MAX_FILE_BYTES = 64 << 20
#: Vocabulary sizes a page may train (the byte alphabet is 256 tokens).
MIN_TRAIN_VOCAB, MAX_TRAIN_VOCAB = 260, 65_536


def _canonical(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@cache
def _udhr_index() -> dict[str, tuple[str, int | None]]:
    """Whitespace-normalized UDHR text -> (language code, article number or None for all of it)."""
    index: dict[str, tuple[str, int | None]] = {}
    for version in data.udhr():
        code = version["code"]
        index.setdefault(_canonical(data.udhr_text(code)), (code, None))
        for number, text in data.udhr_articles(code).items():
            index.setdefault(_canonical(text), (code, number))
    return index


def _english(article: int | None) -> str:
    return data.udhr_text("eng") if article is None else data.udhr_articles("eng")[article]


def _segments(tokenizer: Tokenizer, ids: list[int]) -> list[dict[str, Any]]:
    """Token boundaries as displayable segments: tokens that split a UTF-8 character share a segment."""
    segments: list[dict[str, Any]] = []
    pending = b""
    pending_ids: list[int] = []
    for token_id in ids:
        pending += tokenizer.decode_single_token_bytes(token_id)
        pending_ids.append(token_id)
        try:
            text = pending.decode("utf-8")
        except UnicodeDecodeError:
            if len(pending) < 64:  # wait for the rest of the character
                continue
            text = pending.decode("utf-8", "replace")
        segments.append({"text": text, "ids": pending_ids})
        pending, pending_ids = b"", []
    if pending_ids:
        segments.append({"text": pending.decode("utf-8", "replace"), "ids": pending_ids})
    return segments


@dataclass
class TrainingJob:
    id: str
    vocab_size: int
    name: str
    done: float = 0.0
    total: float | None = None
    state: str = "running"  # running, finished, failed
    error: str | None = None
    started: float = field(default_factory=time.monotonic)

    def as_json(self) -> dict[str, Any]:
        fraction = (
            min(1.0, self.done / self.total) if self.total else (1.0 if self.state != "running" else 0.0)
        )
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "fraction": round(fraction, 4),
            "error": self.error,
            "seconds": round(time.monotonic() - self.started, 2),
        }


class Playground:
    """Named tokenizers plus the operations the page calls."""

    def __init__(self, extra: dict[str, Tokenizer] | None = None) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, Tokenizer] = dict(extra or {})
        self._origin: dict[str, str] = {name: "given" for name in self._loaded}
        self._jobs: dict[str, TrainingJob] = {}
        self._files = tempfile.TemporaryDirectory(prefix="tokenforge-serve-")

    def close(self) -> None:
        self._files.cleanup()

    # ------------------------------------------------------------------ tokenizers

    def tokenizers(self) -> list[dict[str, Any]]:
        """Every tokenizer the page can use: known encodings available offline, then the rest."""
        with self._lock:
            listed = [{"name": name, "origin": origin} for name, origin in self._origin.items()]
        known = [
            {"name": enc.name, "origin": "known"}
            for enc in presets.KNOWN_ENCODINGS
            if enc.name not in self._origin and vocab_sources.find(enc.name) is not None
        ]
        return known + listed

    def tokenizer(self, name: str) -> Tokenizer:
        with self._lock:
            found = self._loaded.get(name)
        if found is not None:
            return found
        if presets.by_name(name) is None:
            raise InvalidArgumentError(f"no tokenizer called {name!r} in this playground")
        tokenizer = load(name)  # outside the lock: loading o200k takes a while
        with self._lock:
            return self._loaded.setdefault(name, tokenizer)

    def _add(self, name: str, tokenizer: Tokenizer, origin: str) -> str:
        with self._lock:
            unique, n = name, 2
            while unique in self._loaded or presets.by_name(unique) is not None:
                unique, n = f"{name} ({n})", n + 1
            self._loaded[unique] = tokenizer
            self._origin[unique] = origin
        return unique

    def load_file(self, filename: str, content: bytes) -> str:
        """Loads an uploaded ``tokenizer.json`` or ``.tiktoken`` file; returns its name."""
        if len(content) > MAX_FILE_BYTES:
            raise InvalidArgumentError(f"tokenizer files are limited to {MAX_FILE_BYTES >> 20} MB")
        if not content.strip():
            raise InvalidArgumentError(f"{filename} is empty")
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename).name) or "tokenizer"
        path = Path(self._files.name) / f"{uuid.uuid4().hex[:8]}-{safe}"
        path.write_bytes(content)
        tokenizer = load(path)
        return self._add(Path(safe).stem if safe != "tokenizer.json" else "tokenizer.json", tokenizer, "file")

    # ------------------------------------------------------------------ tokenizing

    def tokenize(self, text: str, names: list[str]) -> dict[str, Any]:
        if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
            raise InvalidArgumentError(f"texts are limited to {MAX_TEXT_BYTES >> 20} MB")
        udhr = _udhr_index().get(_canonical(text)) if text.strip() else None
        results = []
        for name in names:
            try:
                results.append(self._tokenize_one(text, name, udhr))
            except TokenforgeError as exc:
                results.append({"name": name, "error": str(exc)})
        language = None
        if udhr is not None:
            code, article = udhr
            version = next(v for v in data.udhr() if v["code"] == code)
            language = {"code": code, "name": version["name"], "article": article}
        return {"bytes": len(text.encode("utf-8", "replace")), "udhr": language, "results": results}

    def _tokenize_one(self, text: str, name: str, udhr: tuple[str, int | None] | None) -> dict[str, Any]:
        tokenizer = self.tokenizer(name)
        ids = tokenizer.encode(text, allowed_special="all")
        size = len(text.encode("utf-8", "replace"))
        result: dict[str, Any] = {
            "name": name,
            "count": len(ids),
            "bytes_per_token": round(size / len(ids), 3) if ids else None,
            "segments": _segments(tokenizer, ids[:MAX_SHOWN_TOKENS]),
            "truncated": len(ids) > MAX_SHOWN_TOKENS,
            "premium": None,
        }
        if udhr is not None:
            english = tokenizer.count(_english(udhr[1]), allowed_special="all")
            result["premium"] = round(len(ids) / english, 3) if english else None
            result["english_count"] = english
        return result

    def udhr_languages(self) -> list[dict[str, str]]:
        return [{"code": lang["code"], "name": lang["name"]} for lang in data.udhr_languages()]

    def udhr_sample(self, code: str) -> str:
        """Article 1 of the declaration in one language (a text the premium is computed for)."""
        return data.udhr_articles(code)[1]

    # ------------------------------------------------------------------ training

    def start_training(self, text: str, vocab_size: int) -> dict[str, Any]:
        if not isinstance(vocab_size, int) or not MIN_TRAIN_VOCAB <= vocab_size <= MAX_TRAIN_VOCAB:
            raise InvalidArgumentError(
                f"vocab_size must be an integer from {MIN_TRAIN_VOCAB} to {MAX_TRAIN_VOCAB}, "
                f"got {vocab_size!r}"
            )
        if len(text.encode("utf-8", "replace")) > MAX_TEXT_BYTES:
            raise InvalidArgumentError(f"training texts are limited to {MAX_TEXT_BYTES >> 20} MB")
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise InvalidArgumentError("drop or paste some text to train on first")
        job = TrainingJob(id=uuid.uuid4().hex[:12], vocab_size=vocab_size, name=f"trained-{vocab_size}")
        with self._lock:
            self._jobs[job.id] = job

        def on_event(event: dict[str, Any]) -> None:
            if event.get("phase") == "train" or event.get("unit") == "merges":
                job.total = event.get("total") or job.total
                job.done = event.get("done") or 0.0

        def run() -> None:
            try:
                trained = train(lines, vocab_size=vocab_size, progress=Progress(on_event, interval=0.05))
                job.name = self._add(job.name, trained, "trained")
                job.done = job.total or 1.0
                job.state = "finished"
            except Exception as exc:  # reported to the page, which shows it
                job.error = str(exc) if isinstance(exc, TokenforgeError) else f"{type(exc).__name__}: {exc}"
                job.state = "failed"

        threading.Thread(target=run, name=f"train-{job.id}", daemon=True).start()
        return job.as_json()

    def training(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise InvalidArgumentError(f"no training job {job_id!r}")
        return job.as_json()
