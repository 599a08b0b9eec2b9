# TinyTorch: the executable book.
#   make html     build and verify the book (creates .venv from the pinned requirements first)
#   make strict   fresh environment, every chapter re-executed, non-zero exit on any missed criterion
#   make test     run the test suite, what CI runs (the browser check of a fresh strict build included);
#                 TINYTORCH_SRC=DIR make test runs the module tests against your tinytorch
#   make browser-test  build, then load every page of _build/html in headless Chromium; screenshots in _build/screenshots
#   make binder   print the Dockerfile Binder (repo2docker) would build from binder/, without Docker
#   make bench    speed benchmarks against hand-written NumPy and PyTorch (after `make torch`)
#   make torch    install the optional PyTorch CPU build (torch==2.13.0) for parity tests and bench

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
BOOK_STAMP := $(VENV)/.book-installed
DEV_STAMP := $(VENV)/.dev-installed
BUILD := _build
STRICT ?= 0
STRICT_FLAGS := $(if $(filter 1 true yes,$(STRICT)),-E,)
SPHINXOPTS ?=

.PHONY: html strict test test-data test-sandbox browser-test binder bench torch clean venv download-mnist download-fashion-mnist download-cifar10

html: $(BOOK_STAMP)
	@$(BIN)/python -m milestones.book
	STRICT=$(STRICT) $(BIN)/sphinx-build -b html $(if $(filter 1 true yes,$(VERBOSE)),,-q) $(STRICT_FLAGS) $(SPHINXOPTS) . $(BUILD)/html

strict:
	$(MAKE) html STRICT=1

# With TINYTORCH_SRC set, `make test` tests the reader's tinytorch: every module's tests (as `tito test all`).
test: $(DEV_STAMP) test-data test-sandbox
ifdef TINYTORCH_SRC
	$(BIN)/tito test all
else
	$(BIN)/python -m pytest -n 2
endif

browser-test: html
	$(BIN)/python -m milestones.tools.browser $(BUILD)/html --screenshots $(BUILD)/screenshots

binder: $(DEV_STAMP)
	$(BIN)/repo2docker --no-build --debug .

# The strict book build in the tests runs the Fashion-MNIST extra for real when its data is installed.
# As root with apt-get (CI's machines), install Debian's package once (31 MB, about 10 s); anywhere else,
# or if that fails, the extra shows "no data" and the tests still pass.
FASHION_MNIST_SYSTEM := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
test-data:
	@if [ ! -f $(FASHION_MNIST_SYSTEM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's dataset-fashion-mnist for the Fashion-MNIST extra"; \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist \
	    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; }; } >/dev/null 2>&1 \
	  || echo "note: could not install dataset-fashion-mnist; the Fashion-MNIST extra will show 'no data'"; \
	fi

# `tito grade` sandboxes each student's run with bubblewrap, and its test needs it. As root with apt-get,
# install Debian's bubblewrap once (quietly); anywhere else, or if that fails, the sandbox test says how.
test-sandbox:
	@if ! command -v bwrap >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's bubblewrap for tito grade's sandbox"; \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap \
	    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; }; } >/dev/null 2>&1 \
	  || echo "note: could not install bubblewrap; tito grade's sandbox test will fail until it is installed"; \
	fi

bench: $(DEV_STAMP)
	$(BIN)/python -m milestones.tools.bench

torch: $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0

download-mnist: $(BOOK_STAMP)
	$(BIN)/python -m milestones.datasets download mnist

# Fashion-MNIST: as root with apt-get, Debian's package (into /usr/share/datasets/fashion-mnist/);
# otherwise the authors' files into data/fashion-mnist/, each checked against its pinned SHA-256.
download-fashion-mnist: $(BOOK_STAMP)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist \
	  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist; }; \
	else \
	  $(BIN)/python -m milestones.datasets download fashion-mnist; \
	fi

download-cifar10: $(BOOK_STAMP)
	$(BIN)/python -m milestones.datasets download cifar10

venv: $(BOOK_STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "TinyTorch needs Python 3.11 or newer; found " + sys.version.split()[0] + ". Run: make PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)

$(BOOK_STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(DEV_STAMP): requirements-dev.txt $(BOOK_STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The chapters' .ipynb twins are committed (Colab and Binder open them from GitHub): clean keeps them.
clean:
	rm -rf $(BUILD)
