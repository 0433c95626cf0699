# modelstage: the two commands of the README, and the steps they are made of.
#   make demo   train, package, serve the bundle locally (in the container when an engine runs), send requests
#   make test   everything CI runs: lint, types, the whole test suite against a real Docker engine
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo engine tools test lint typecheck pytest bench plans clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[train,infra,build,dev]'
	touch $(STAMP)

setup: $(STAMP)

# A private Docker engine, the local base image and a registry (needs root: `make test` fails without one;
# `make demo` goes on without it, serving in a local process).
engine:
	bash scripts/engine.sh

# Chromium (the HTML reports are opened in it) and Azurite (the Azure Blob emulator), installed when missing.
tools:
	bash scripts/test-tools.sh

demo: setup
	-bash scripts/engine.sh || echo "notice: no Docker engine could be started; the demo serves in a local process"
	$(BIN)/modelstage demo --out out

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/pyright

pytest: setup
	$(BIN)/python -m pytest -q

test: setup engine tools lint typecheck pytest

# Figures, not tests: the serving path (wrk drives the load; installed when missing) and the image.
bench: setup
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) \
	  || echo "notice: wrk could not be installed; the Python load generator is used (a lower bound)"
	$(BIN)/python benchmarks/serving.py
	bash scripts/engine.sh && $(BIN)/python benchmarks/image.py

plans: setup
	UPDATE_PLANS=1 $(BIN)/python -m pytest -q tests/infra -k plan

clean:
	rm -rf out .pytest_cache .ruff_cache
