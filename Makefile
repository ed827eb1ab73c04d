# Two commands do all the set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
BENCH_DIR ?= bench/data

.PHONY: run test lint build telegram clean
.PHONY: bench bench-quality bench-speed bench-rebuild bench-telegram bench-answers
.PHONY: bench-robustness
.PHONY: bench-restart
.PHONY: bench-coldstart
.PHONY: model

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

bench: bench-quality bench-speed bench-rebuild bench-telegram bench-answers bench-robustness
bench: bench-restart
bench: bench-coldstart

bench-quality: $(BENCH_STAMP)
	$(PY) bench/quality.py $(BENCH_DIR)/cisi $(BENCH_DIR)/cran $(BENCH_DIR)/med $(BENCH_DIR)/npl

bench-speed: $(BENCH_STAMP)
	$(PY) bench/speed.py

bench-rebuild: $(BENCH_STAMP)
	$(PY) bench/rebuild.py

# WIKIQA=path/to/wikiqa-dev adds WikiQA's dev split (read from there, never copied).
bench-answers: $(BENCH_STAMP)
	$(PY) bench/answers.py $(if $(WIKIQA),--wikiqa $(WIKIQA))

# Refits the shipped answer model, bot/answerability.json, on every set in eval/ but the
# held-out ones; WIKIQA=path/to/wikiqa-dev adds WikiQA's dev split (as the shipped one).
model: $(BENCH_STAMP)
	$(PY) bench/fit_model.py $(if $(WIKIQA),--wikiqa $(WIKIQA))

bench-telegram: $(BENCH_STAMP)
	$(PY) bench/telegram_load.py

# Corpus readers on adversarial input doubled from 10 KB to 1.3 MB; fails on a ratio > 2.5.
# Needs only the dev install.
bench-robustness: $(STAMP)
	$(PY) bench/robustness.py

bench-restart: $(BENCH_STAMP)
	$(PY) bench/restart.py

bench-coldstart: $(BENCH_STAMP)
	$(PY) bench/coldstart.py

clean:
	rm -rf $(VENV) index/CURRENT index/build-* index/.tmp-* index/.lock
