# The two commands of the README:  `make book`  and  `make test`.
# Both create .venv from requirements.txt (the one source of versions) when it is missing or stale.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.maqamgen-installed
# unit-test processes (pytest-xdist): the 2-core machine's cores, each test process on one torch
# thread (tests/conftest.py); 7.6 min on one process, 4.2 to 5.1 min on two (2026-12-06, cold cache)
UNIT_WORKERS ?= 2
# smoke pages and nbval processes at once: each smoke page runs on one torch thread, so two use
# both cores (tests/nbval_jobs.py; maqamgen book --jobs)
SMOKE_JOBS ?= 2

export PYTHONHASHSEED := 0
export NUMBA_CACHE_DIR := $(CURDIR)/data/cache/numba
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export TQDM_DISABLE := 1

.PHONY: book test env lab unit notebooks nbval html browser bench sync clean

## make book: create the environment, execute every chapter at the `book` profile, render _build/html
book: $(STAMP)
	$(PY) -m maqamgen.cli book --profile book

## make test: unit tests, smoke-profile notebooks through papermill, nbval, strict book build, browser check
test: $(STAMP)
	@bash tests/ensure_chromium.sh || true
	$(MAKE) --no-print-directory unit notebooks nbval html browser

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(PY) -m pip install -q --no-deps -e . 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@touch $@

unit: $(STAMP)
	$(PY) -m pytest -q -n $(UNIT_WORKERS) tests lib --doctest-modules -m "not browser"

notebooks: $(STAMP)
	$(PY) -m maqamgen.cli book --profile smoke --no-html --jobs $(SMOKE_JOBS)

nbval: $(STAMP)
	$(PY) tests/nbval_jobs.py --jobs $(SMOKE_JOBS) _build/executed/smoke
	MAQAMGEN_REQUIRE_RECORDS=1 $(PY) -m pytest -q -p no:cacheprovider tests/test_schema_records.py

html: $(STAMP)
	$(PY) -m maqamgen.cli book --profile smoke --strict

browser: $(STAMP)
	$(PY) -m pytest -q -m browser tests/test_rendered_book.py

## make lab: JupyterLab with jupytext (a chapter's .md opens as a notebook) and working widgets
lab: $(STAMP)
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}}}' > $(VENV)/share/jupyter/lab/settings/overrides.json
	$(VENV)/bin/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root,) book/intro.md

## make sync: rewrite each paired .ipynb from its .md source
sync: $(STAMP)
	$(PY) -m maqamgen.cli sync

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

clean:
	rm -rf _build
