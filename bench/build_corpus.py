"""Builds the English training benchmark corpus (~100 MB) from Debian documentation packages.

The packages are technical English prose (manuals, references, guides, FAQ) plus fortunes; they are
fetched with ``apt-get download`` (no root needed, nothing installed), unpacked in Python (a .deb
is an ``ar`` archive holding ``data.tar.*``), and turned into text: reStructuredText, POD, plain
text and info files as they are, HTML with tags stripped (scripts and styles dropped).

Every file is one document. Documents are ordered by the SHA-256 of their path (so any prefix of
the corpus mixes all packages), one in 20 is held out for evaluation, and the rest is written to
``train.txt`` until it reaches ``--mb``. The output directory also gets ``manifest.json`` with
the package versions and the sha256 of both files.

    .venv/bin/python bench/build_corpus.py            # ~/.cache/tokenforge/bench/english
    .venv/bin/python bench/build_corpus.py --mb 120 --out DIR

Licences: each package's own (Debian main: DFSG-free); the corpus stays in the cache, it is not
shipped with tokenforge.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html.parser
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

# Pinned to Debian 12 (bookworm) versions; when a pinned version has left the mirror the current
# candidate is used and the manifest records which one it was.
PACKAGES: dict[str, str] = {
    "linux-doc-6.1": "6.1.192-3",
    "python3.11-doc": "3.11.2-6+deb12u9",
    "perl-doc": "5.36.0-7+deb12u4",
    "postgresql-doc-15": "15.20-0+deb12u1",
    "python-django-doc": "3:3.2.25-0+deb12u7",
    "git-doc": "1:2.39.5-0+deb12u3",
    "debian-handbook": "11.20220922",
    "debian-reference-en": "2.100",
    "debian-policy": "4.6.2.0",
    "developers-reference": "12.18",
    "debian-faq": "11.1",
    "maint-guide": "1.2.53",
    "gnu-standards": "2022.03.23-0.1",
    "bash-doc": "5.2.15-2",
    "fortunes": "1:1.99.1-7.3",
    "sqlite3-doc": "3.40.1-2+deb12u2",
    "sphinx-doc": "5.3.0-4",
    "nodejs-doc": "18.20.4+dfsg-1~deb12u3",
    "cmake-doc": "3.25.1-1",
    "r-doc-info": "4.2.2.20221110-2",
    "guile-3.0-doc": "3.0.8-2",
}

_TEXT_SUFFIXES = {".txt", ".rst", ".pod", ".md", ".info", ".text"}
_SKIP_DIRS = ("/_static/", "/_images/", "/images/", "/css/", "/js/", "/lintian/")


class _HtmlText(html.parser.HTMLParser):
    """Visible text of an HTML page, with a newline at block boundaries."""

    _BLOCK: ClassVar[set[str]] = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "dt",
        "dd",
        "table",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "nav"):
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "nav"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _HtmlText()
    parser.feed(markup)
    text = "".join(parser.parts)
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def download(packages: dict[str, str], into: Path) -> dict[str, str]:
    """``apt-get download`` each package (pinned version first); returns package -> version used."""
    used: dict[str, str] = {}
    for name, version in packages.items():
        existing = sorted(into.glob(f"{name}_*.deb"))
        if existing:
            used[name] = existing[0].name.split("_")[1].replace("%3a", ":")
            continue
        for spec in (f"{name}={version}", name):
            result = subprocess.run(["apt-get", "download", spec], cwd=into, capture_output=True, text=True)
            if result.returncode == 0:
                break
            print(f"apt-get download {spec} failed: {result.stderr.strip()[:200]}", file=sys.stderr)
        else:
            raise SystemExit(f"cannot download {name}; run `apt-get update` (Debian/Ubuntu needed)")
        deb = sorted(into.glob(f"{name}_*.deb"))[0]
        used[name] = deb.name.split("_")[1].replace("%3a", ":")
    return used


def deb_members(deb: Path) -> Iterator[tuple[str, bytes]]:
    """``(path, bytes)`` of the regular files in a .deb's data archive."""
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise SystemExit(f"{deb}: not an ar archive")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)
        if not name.startswith("data.tar"):
            continue
        if name.endswith(".xz"):
            body = lzma.decompress(body)
        elif name.endswith(".gz"):
            body = gzip.decompress(body)
        elif name.endswith(".zst"):
            raise SystemExit(f"{deb}: zstd data archives are not supported")
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            for member in tar:
                if member.isfile():
                    f = tar.extractfile(member)
                    if f is not None:
                        yield member.name.lstrip("."), f.read()


def document_text(path: str, raw: bytes) -> tuple[str, str] | None:
    """``(format, text)`` of one packaged file (format ``text``, ``html`` or ``info``), or None when
    it is not a prose document."""
    name = path.rsplit("/", 1)[-1]
    if any(d in path for d in _SKIP_DIRS) or name.startswith(
        ("changelog", "copyright", "NEWS", "README.Debian")
    ):
        return None
    if name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except OSError:
            return None
        name = name[:-3]
    suffix = ("." + name.rsplit(".", 1)[-1]) if "." in name else ""
    if "/debian-handbook/" in path and "/en-US/" not in path:
        return None  # the handbook ships translations; keep English
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if suffix in (".html", ".htm"):
        return "html", html_to_text(text)
    if suffix in _TEXT_SUFFIXES:
        return "text", text
    if suffix.startswith(".info"):
        return "info", text.replace("\x1f", "")
    if "/games/fortunes/" in path and suffix == "":
        return "text", text
    return None


def build(out: Path, mb: float, cache: Path) -> dict[str, object]:
    cache.mkdir(parents=True, exist_ok=True)
    versions = download(PACKAGES, cache)
    docs: list[tuple[str, str]] = []
    seen: set[bytes] = set()
    for name in PACKAGES:
        deb = sorted(cache.glob(f"{name}_*.deb"))[0]
        by_format: dict[str, list[tuple[str, str]]] = {"text": [], "html": [], "info": []}
        for path, raw in deb_members(deb):
            found = document_text(path, raw)
            if found and len(found[1]) >= 200:
                by_format[found[0]].append((path, found[1]))
        # Packages often ship one manual in several formats (reST sources, HTML, info): take the
        # sources when there are any, else HTML, else info, so nothing is counted twice.
        chosen = next((by_format[f] for f in ("text", "html", "info") if by_format[f]), [])
        for path, text in chosen:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            digest = hashlib.sha256(text.encode()).digest()
            if digest in seen:
                continue  # the same file under two names (e.g. .rst and _sources/.rst.txt)
            seen.add(digest)
            docs.append((f"{name}:{path}", text))
    docs.sort(key=lambda d: hashlib.sha256(d[0].encode()).digest())
    out.mkdir(parents=True, exist_ok=True)
    limit = int(mb * 1e6)
    train_bytes = held_bytes = 0
    with (
        tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=out, delete=False) as train,
        tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=out, delete=False) as held,
    ):
        for key, text in docs:
            data = text if text.endswith("\n") else text + "\n"
            size = len(data.encode())
            if hashlib.sha256(key.encode()).digest()[0] % 20 == 0:
                if held_bytes + size <= limit // 20:
                    held.write(data)
                    held_bytes += size
            elif train_bytes + size <= limit:
                train.write(data)
                train_bytes += size
    for tmp, final in ((train.name, "train.txt"), (held.name, "heldout.txt")):
        os.chmod(tmp, 0o644)
        os.replace(tmp, out / final)
    manifest = {
        "packages": versions,
        "documents": len(docs),
        "train_bytes": train_bytes,
        "heldout_bytes": held_bytes,
        "train_sha256": hashlib.sha256((out / "train.txt").read_bytes()).hexdigest(),
        "heldout_sha256": hashlib.sha256((out / "heldout.txt").read_bytes()).hexdigest(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def default_dir() -> Path:
    home = Path(os.environ.get("TOKENFORGE_HOME", Path.home() / ".cache" / "tokenforge"))
    return home / "bench" / "english"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=default_dir(), help="output directory")
    parser.add_argument("--mb", type=float, default=100.0, help="size of train.txt in MB (default 100)")
    parser.add_argument("--debs", type=Path, default=None, help="where the .deb files are kept")
    args = parser.parse_args()
    if shutil.which("apt-get") is None:
        print("apt-get is needed to fetch the Debian documentation packages", file=sys.stderr)
        return 2
    manifest = build(args.out, args.mb, args.debs or args.out.parent / "debs")
    print(json.dumps(manifest, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
