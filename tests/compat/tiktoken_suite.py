"""tiktoken 0.14.0's own test suite, from its sdist on PyPI (sha256-pinned, cached in .cache/).

Run as a script (``make tiktoken-suite``) to fetch it ahead of the tests; the tests call
:func:`suite_dir`, which fetches on first use. Only ``tests/`` is extracted: the sdist's
``tiktoken/`` package must not shadow the stand-in.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.14.0"
SDIST = f"tiktoken-{VERSION}.tar.gz"
SHA256 = "231dec90efcdccf1b565a1416107736f1e09b1a08fe736ef9d6363e626d03874"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / f"tiktoken-{VERSION}-suite"


def _download(workdir: Path) -> bytes:
    # pip is the registry's ordinary client; --no-binary picks the sdist, which holds tests/.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         f"tiktoken=={VERSION}", "-d", str(workdir)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"pip download tiktoken=={VERSION} failed:\n{result.stderr[-2000:]}")
    return (workdir / SDIST).read_bytes()


def suite_dir() -> Path:
    """The directory holding tiktoken's ``tests/`` package (fetched and verified once)."""
    tests = CACHE / "tests"
    if (CACHE / "sha256").is_file() and (CACHE / "sha256").read_text() == SHA256:
        return tests
    with tempfile.TemporaryDirectory() as tmp:
        data = _download(Path(tmp))
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise RuntimeError(f"{SDIST} from PyPI has sha256 {digest}, expected {SHA256}")
    shutil.rmtree(CACHE, ignore_errors=True)
    tests.mkdir(parents=True)
    prefix = f"tiktoken-{VERSION}/tests/"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith(prefix) and "/" not in member.name[len(prefix) :]:
                source = tar.extractfile(member)
                assert source is not None
                (tests / member.name[len(prefix) :]).write_bytes(source.read())
    (CACHE / "sha256").write_text(SHA256)
    return tests


if __name__ == "__main__":
    print(suite_dir())
