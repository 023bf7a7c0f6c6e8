# `make run` and `make test` create .venv on first use and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CATALOGUES := $(wildcard console/locale/*/LC_MESSAGES/*.po)
COMPILED := $(CATALOGUES:.po=.mo)

.PHONY: run run-headless test lint typecheck catalogues extract-messages bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy --statistics -i $< -o $@

catalogues: $(COMPILED)

run: $(STAMP) catalogues
	$(BIN)/cron-console demo

run-headless: $(STAMP) catalogues
	$(BIN)/cron-console demo --no-ui

lint: $(STAMP)
	$(BIN)/ruff check console jobs storage tests bench

typecheck: $(STAMP)
	$(BIN)/mypy jobs storage console

test: $(STAMP) catalogues lint typecheck
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider

extract-messages: $(STAMP)
	$(BIN)/pybabel extract --no-location --sort-output -k _ -k N_ -k ngettext:1,2 -o console/locale/cron_console.pot console jobs storage
	$(BIN)/pybabel update --no-fuzzy-matching -i console/locale/cron_console.pot -d console/locale -D cron_console

bench: $(STAMP)
	$(BIN)/python bench/cleanup.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
