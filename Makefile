# One command runs the daemon (`make run`), one runs the tests (`make test`).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-run
DEV    := $(VENV)/.installed-dev

.PHONY: help run test lint fmt init seed stream reset counts check db-stop bench clean config-docs lock

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

$(DEV): requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP) $(DEV)

run: $(STAMP)  ## run the daemon (with a local PostgreSQL for its lifetime when PG_HOST is not set)
	$(PY) -m daemon dev run

test: $(DEV)  ## run the test suite (starts its own PostgreSQL)
	$(PY) -m pytest

lint: $(DEV)  ## ruff lint + format check, mypy type check, generated config docs up to date
	$(PY) -m ruff check daemon tests bench
	$(PY) -m ruff format --check daemon tests bench
	$(PY) -m mypy
	$(PY) -m daemon.configdocs --check

fmt: $(DEV)  ## format the code
	$(PY) -m ruff format daemon tests bench
	$(PY) -m ruff check --fix daemon tests bench

config-docs: $(STAMP)  ## regenerate README's config table, .env.example, docker/simulator.env.example, k8s/configmap.yaml
	$(PY) -m daemon.configdocs --write

# The image installs requirements.lock (pins + hashes of every runtime dependency) with --require-hashes.
# After editing requirements.txt: `make lock` (keeps the current pins where they still fit);
# to move every pin to the newest release: `make lock LOCK_FLAGS=--upgrade`. Needs PyPI.
LOCK_FLAGS ?=
lock: $(DEV)  ## refresh requirements.lock (hash-pinned runtime deps of the image) from requirements.txt
	$(VENV)/bin/uv pip compile requirements.txt --generate-hashes --python-version 3.11 --python-platform linux \
	  --custom-compile-command "make lock" --quiet $(LOCK_FLAGS) -o requirements.lock

init seed stream counts check: $(STAMP)  ## operator subcommands (local PostgreSQL unless PG_HOST is set)
	$(PY) -m daemon dev $@

reset: $(STAMP)  ## drop, rebuild and reseed (asks first)
	$(PY) -m daemon dev reset

db-stop: $(STAMP)  ## stop a local PostgreSQL left running (a crashed `make run`)
	$(PY) -m daemon dev --stop

bench: $(DEV)  ## benchmarks (about 20 minutes; see bench/README.md)
	$(PY) bench/seed_bench.py
	$(PY) bench/stream_bench.py

clean:  ## remove the venv and caches (keeps .localdb)
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
