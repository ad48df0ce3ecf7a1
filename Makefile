# The integrator's commands. On a fresh Debian machine, `make run` and `make test` are enough:
# they create .venv, install the pinned dependencies, and install redis-server and PostgreSQL with apt
# if missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install run test lint format redis-server postgresql browser poppler constraints clean bench chaos

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	PYTHON=$(PYTHON) bin/ensure-venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install the pinned dependencies (constraints.txt)

redis-server:  ## install redis-server with apt-get if it is missing
	@bin/ensure-redis

postgresql:  ## install PostgreSQL's binaries (Debian's postgresql) with apt-get if they are missing
	@bin/ensure-postgres

run: install postgresql  ## run PostgreSQL, Redis, the DIGIT sandbox, the web app and a worker locally (Ctrl-C stops all)
	$(BIN)/python bin/run-local

lint: install  ## ruff (lint and format check) and mypy (strict on integrator/), in one command
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install  ## reformat with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

browser:  ## install Debian's chromium and chromium-driver (the ops console's browser tests)
	@bin/ensure-browser

poppler:  ## install Debian's poppler-utils (pdftoppm, pdftotext: the receipt PDF tests)
	@bin/ensure-poppler

test: install redis-server postgresql browser poppler lint  ## lint, then the whole test suite (starts its own PostgreSQL, Redis and sandbox)
	$(BIN)/python -m pytest

bench: install redis-server postgresql  ## load test: integrator vs DIGIT sandbox vs bare proxy (bench/results/latest.json)
	bench/ensure-tools
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/report.py

CHAOS_PAYMENTS ?= 2000
chaos: install redis-server postgresql  ## chaos run, checked against DIGIT's records (CI: make chaos CHAOS_PAYMENTS=300)
	$(BIN)/python -m chaos --payments $(CHAOS_PAYMENTS)

constraints: install  ## re-pin constraints.txt from .venv after changing dependencies
	{ sed -n '1,2p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^integrator=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:  ## remove caches (keeps .venv and var/)
	rm -rf .mypy_cache .ruff_cache .pytest_cache build *.egg-info
