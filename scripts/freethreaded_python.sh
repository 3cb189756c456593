#!/usr/bin/env bash
# A free-threaded CPython (--disable-gil) for `make test-freethreaded`, built once from Debian's
# copy of the upstream source tarball (sha256-pinned) and cached. Prints the interpreter's path.
#
#   scripts/freethreaded_python.sh            # build if missing, print .../bin/python3.13t
#
# The cache is $TOKENFORGE_HOME/cpython-<version>t (default ~/.cache/tokenforge/...). The build has
# no PGO/LTO and skips CPython's own tests: it only has to run tokenforge's test suite. It runs
# under `nice` with at most 2 jobs (set FREETHREADED_JOBS to change).
set -euo pipefail

# Debian's python3.x source packages (Sources index: dists/<suite>/main/source/Sources.xz); the
# .orig tarball is python.org's Python-<version>.tar.xz, unmodified. 3.13 is the default because
# it is the one deb.debian.org serves here: the 3.14.10 file listed in sid's index answers 404.
# FREETHREADED_SERIES=3.14 selects it where the mirror has it.
SERIES=${FREETHREADED_SERIES:-3.13}
case $SERIES in
    3.13) VERSION=3.13.15 SHA256=1e66a7945a48390ee4c2a4268a0e4185884059a13c4aab6d148aa208deea4a76 ;;
    3.14) VERSION=3.14.10 SHA256=de414a57119abef52784d8993e341d53aed635fc2b05c2607d9f98a2c5b72032 ;;
    *) echo "freethreaded_python: FREETHREADED_SERIES must be 3.13 or 3.14" >&2; exit 2 ;;
esac
TARBALL=python${SERIES}_${VERSION}.orig.tar.xz
URL=http://deb.debian.org/debian/pool/main/p/python${SERIES}/${TARBALL}
JOBS=${FREETHREADED_JOBS:-2}

HOME_DIR=${TOKENFORGE_HOME:-$HOME/.cache/tokenforge}
PREFIX=$HOME_DIR/cpython-${VERSION}t
PYTHON=$PREFIX/bin/python${SERIES}t

log() { echo "freethreaded_python: $*" >&2; }

if [ -x "$PYTHON" ] && [ -f "$PREFIX/.complete" ]; then
    echo "$PYTHON"
    exit 0
fi

# pip needs ssl (PyPI over https) and zlib (wheels); the rest of the stdlib modules the tests use
# (bz2, lzma, sqlite3, ctypes) need their headers too. Say which package is missing rather than
# building an interpreter that fails later.
missing=()
for pair in openssl/ssl.h:libssl-dev zlib.h:zlib1g-dev ffi.h:libffi-dev bzlib.h:libbz2-dev \
    lzma.h:liblzma-dev sqlite3.h:libsqlite3-dev; do
    header=${pair%%:*}
    if ! echo "#include <$header>" | ${CC:-cc} -E -x c - >/dev/null 2>&1; then
        missing+=("${pair##*:}")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    log "missing C headers to build CPython; install: apt-get install ${missing[*]}"
    exit 1
fi

download=$HOME_DIR/downloads/$TARBALL
mkdir -p "$(dirname "$download")"
if ! echo "$SHA256  $download" | sha256sum --check --status 2>/dev/null; then
    log "downloading $URL"
    curl --fail --silent --show-error --location --retry 3 -o "$download.part" "$URL"
    if ! echo "$SHA256  $download.part" | sha256sum --check --status; then
        log "sha256 mismatch for $URL (expected $SHA256)"
        rm -f "$download.part"
        exit 1
    fi
    mv "$download.part" "$download"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cpython-ft.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xJf "$download" -C "$work"
cd "$work/Python-$VERSION"

log "building CPython $VERSION (free-threaded) into $PREFIX; output in $work/build.log"
rm -rf "$PREFIX"
started=$SECONDS
{
    nice -n 10 ./configure --disable-gil --prefix="$PREFIX" --disable-test-modules
    nice -n 10 make -j"$JOBS"
    nice -n 10 make install
} >"$work/build.log" 2>&1 || {
    tail -n 40 "$work/build.log" >&2
    log "CPython build failed"
    exit 1
}
"$PYTHON" -c 'import sys, ssl, zlib; assert not sys._is_gil_enabled()' || {
    log "the built interpreter is not free-threaded or lacks ssl/zlib"
    exit 1
}
touch "$PREFIX/.complete"
log "built in $((SECONDS - started)) s"
echo "$PYTHON"
