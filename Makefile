# `make run` (the demo) and `make test` bootstrap everything they need on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint unit integration venv clean soak

run: $(STAMP) ## The demo: a warehouse with gaps of every kind, the full cycle twice, a report.
	$(VENV)/bin/backfill demo --dir demo-out

test: lint unit integration tf-check ## Lint, types, every test tier, the Terraform checks.

lint: $(STAMP)
	$(VENV)/bin/ruff check shared functions tests $(wildcard bench)
	$(VENV)/bin/mypy

# Its DuckDB files on tmpfs where there is one: commits there cost a third of what they do on disk.
UNIT_TEMP := $(if $(wildcard /dev/shm),--basetemp=/dev/shm/backfill-unit)

# Bytecode kept even where the environment turns it off: pytest then rewrites the test modules'
# assertions once, not on every run (about a second and a half).
unit: $(STAMP) ## The fast tier alone: in-process, no server (tests/unit).
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q tests/unit $(UNIT_TEMP)

integration: $(STAMP) ## Real servers (emulators, functions-framework, Chromium), the CLI end to end, Terraform.
	$(PY) -m pytest -q tests/integration tests/e2e tests/terraform

venv: $(STAMP)

soak: $(STAMP) ## A whole season under chaos: faults, duplicates, workers killed mid-write; prints figures.
	$(PY) -m tests.chaos --start-date 2024-10-22 --end-date 2025-04-13 --workers 3

# Reinstalled only when pyproject.toml or the lock changes. The runtime dependencies are held
# at the versions the functions deploy (terraform/requirements.lock), so the tests run on them.
CONSTRAINTS := $(VENV)/constraints.txt
$(STAMP): pyproject.toml terraform/requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	sed -E -n 's/^([A-Za-z0-9._-]+==[^ ]+).*/\1/p' terraform/requirements.lock > $(CONSTRAINTS)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	touch $@

# Benchmarks (bench/): every row of the table, medians of BENCH_RUNS, written to bench/RESULTS.md;
# BENCH_LATENCY_SECONDS sets the latency-bound warehouse's delay per call (default 0.25).
BENCH_RUNS ?= 3
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: bench bench-smoke
bench: $(BENCH_STAMP)
	$(PY) -m bench --runs $(BENCH_RUNS) --write

bench-smoke: $(STAMP) ## Seconds: the harness end to end at tiny sizes, no timings asserted.
	$(PY) -m bench --smoke

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

clean:
	rm -rf $(VENV) .venv-* build demo-out .pytest_cache .mypy_cache .ruff_cache

include terraform/terraform.mk
include tests/bigquery_emulator/emulator.mk

# Headless Chromium renders `backfill status --html` in the tests; installed only when missing.
.PHONY: browser
integration: browser
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

# `make package` / `make deploy` (terraform/terraform.mk) run the project's Python.
package schemas: $(STAMP)
