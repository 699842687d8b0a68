# feedserver — `make run` serves the demo site, `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
JOBS   ?= 2

.PHONY: run test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall only when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/feedserver db upgrade
	$(BIN)/feedserver demo
	FEEDSERVER_RUN_POLLER=$${FEEDSERVER_RUN_POLLER:-1} exec $(BIN)/feedserver serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-test lint typecheck pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check feeds feedserver tests bench wsgi.py
	$(BIN)/ruff format --check feeds feedserver tests bench wsgi.py

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/pytest -q -n $(JOBS) $(PYTEST_ARGS)

# Benchmarks → bench/results/<date>.md. Needs wrk and nginx (installed here when
# root); knobs: BENCH_SIZES, BENCH_PG, BENCH_DURATION, BENCH_SERVERS (bench/run.py).
bench: $(VENV)/.installed-test
	@command -v wrk >/dev/null && command -v nginx >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq wrk nginx-light)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
