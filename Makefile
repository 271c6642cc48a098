# Every target installs what it needs into .venv first; a fresh clone needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := schema resolvers engine db auth server
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format schema bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## start the server on embedded defaults (data under ./data)
	$(BIN)/consciousness serve --host $(HOST) --port $(PORT)

test: $(STAMP) lint  ## lint, type-check, then the whole test suite
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(PACKAGES)

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: $(STAMP)  ## regenerate schema.graphql from the code
	$(BIN)/consciousness export-schema > schema.graphql

bench: $(STAMP)  ## benchmarks with their in-run baselines; never part of `make test`
	@for script in bench/*_bench.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
