# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEMO   ?= demo

.PHONY: demo test test-latest lint docs bench lock clean

# Installs come from the lock file (exact versions, hashed), so a fresh machine gets what CI
# tested; the ranges in pyproject.toml are for people who install exportctl as a library.
$(BIN)/exportctl: pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

## Install, create the demo proxy-rotation system in ./demo, and run every spec in specs/ on it.
demo: $(BIN)/exportctl
	$(BIN)/exportctl demo init $(DEMO) --force
	# This checkout's own ledger (.exportctl/), found from specs/ as git finds .git.
	mkdir -p .exportctl
	# proxywhirl's environment: the keys that `credentials: reveal` decrypts with.
	set -a && . $(DEMO)/config/.env && set +a && $(BIN)/exportctl apply specs/

## Install, then lint, type-check, build the docs (--strict: a broken link fails) and run the
## whole test suite.
test: lint docs
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(BIN)/exportctl
	$(BIN)/ruff check exportctl tests bench
	$(BIN)/ruff format --check exportctl tests bench
	$(BIN)/mypy exportctl
	$(BIN)/lint-imports

## The documentation site (mkdocs.yml, docs/) into build/site.
docs: $(BIN)/exportctl
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

## Resolve every dependency afresh (newest releases the ranges allow) and run the suite:
## drift in a dependency is found here, by us, before a user installs it.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/pip install --quiet --upgrade -e '.[dev]'
	$(MAKE) test VENV=.venv-latest BIN=.venv-latest/bin

## Refresh the lock files from pyproject.toml's ranges (uv, in a venv of its own).
lock:
	$(PYTHON) -m venv .venv-uv && .venv-uv/bin/pip install --quiet uv
	for extras in "dev" "dev bench"; do \
	  out=requirements/$$(echo $$extras | awk '{print $$NF}').lock; \
	  .venv-uv/bin/uv pip compile pyproject.toml $$(printf -- '--extra %s ' $$extras) \
	    --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	    --upgrade --quiet -o $$out; \
	done
	# DuckDB 1.5.5 and its packaged sqlite scanner, for bench/run.py's venv of its own.
	.venv-uv/bin/uv pip compile requirements/bench-duckdb-sqlite.in --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet \
	  -o requirements/bench-duckdb-sqlite.lock

## Benchmarks; results go to docs/benchmarks.md, their charts to docs/img/. bench/run.py
## makes DuckDB 1.5.5's venv (bench/.venv-duckdb-sqlite) from its lock on first use.
bench: $(BIN)/exportctl
	$(BIN)/pip install --quiet --require-hashes -r requirements/bench.lock
	$(BIN)/python bench/run.py
	$(BIN)/python bench/daemon_lateness.py
	$(BIN)/python bench/charts.py

clean:
	rm -rf $(VENV) .venv-latest .venv-uv .cache $(DEMO) exports build *.egg-info
