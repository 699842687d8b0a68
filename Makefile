# feedserver — `make run` serves the demo site, `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
JOBS   ?= 2

.PHONY: run bytecode test lint typecheck pytest fuzz bench clean

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

# Every feedserver command imports the app: compiled once here, not at each
# start where PYTHONDONTWRITEBYTECODE is set (a short `poll --once` 0.87 → 0.7 s).
bytecode: $(VENV)/.installed
	$(BIN)/python -m compileall -q feeds feedserver >/dev/null

run: $(VENV)/.installed bytecode
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

# Property-based tests with many examples (minutes; FUZZ_EXAMPLES to change).
fuzz: $(VENV)/.installed-test
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -n $(JOBS) -m fuzz -p no:cacheprovider $(PYTEST_ARGS)

# Benchmarks → bench/results/<date>.md. Needs wrk and nginx (installed here when
# root); knobs: BENCH_SIZES, BENCH_PG, BENCH_DURATION, BENCH_SERVERS (bench/run.py).
bench: $(VENV)/.installed-test
	@command -v wrk >/dev/null && command -v nginx >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq wrk nginx-light)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find feeds feedserver -name __pycache__ -type d -prune -exec rm -rf {} +
