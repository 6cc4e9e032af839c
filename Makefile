# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEMO   ?= demo

.PHONY: demo test lint bench clean

$(BIN)/exportctl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## Install, create the demo proxy-rotation system in ./demo, and run every spec in specs/ on it.
demo: $(BIN)/exportctl
	$(BIN)/exportctl demo init $(DEMO) --force
	# proxywhirl's environment: the keys that `credentials: reveal` decrypts with.
	set -a && . $(DEMO)/config/.env && set +a && $(BIN)/exportctl apply specs/

## Install, then lint, type-check and run the whole test suite.
test: lint
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(BIN)/exportctl
	$(BIN)/ruff check exportctl tests bench
	$(BIN)/ruff format --check exportctl tests bench
	$(BIN)/mypy exportctl

## Benchmarks; results go to docs/benchmarks.md.
bench: $(BIN)/exportctl
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run.py
	$(BIN)/python bench/daemon_lateness.py

clean:
	rm -rf $(VENV) $(DEMO) exports *.egg-info
