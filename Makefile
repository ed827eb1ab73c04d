# Two commands do all the set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
BENCH_DIR ?= bench/data

.PHONY: run test lint build telegram bench bench-quality bench-speed bench-rebuild bench-telegram \
	bench-coldstart clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

run: $(STAMP)
	$(PY) -m bot console

test: $(STAMP) lint
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy bot

build: $(STAMP)
	$(PY) -m bot build

telegram: $(STAMP)
	$(PY) -m bot telegram

bench: bench-quality bench-speed bench-rebuild bench-telegram bench-coldstart

bench-quality: $(BENCH_STAMP)
	$(PY) bench/quality.py $(BENCH_DIR)/cisi $(BENCH_DIR)/cran $(BENCH_DIR)/med $(BENCH_DIR)/npl

bench-speed: $(BENCH_STAMP)
	$(PY) bench/speed.py

bench-rebuild: $(BENCH_STAMP)
	$(PY) bench/rebuild.py

bench-telegram: $(BENCH_STAMP)
	$(PY) bench/telegram_load.py

bench-coldstart: $(BENCH_STAMP)
	$(PY) bench/coldstart.py

clean:
	rm -rf $(VENV) index/CURRENT index/build-* index/.tmp-* index/.lock
