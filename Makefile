# Every target installs what it needs into .venv first; a fresh clone needs only python3.
PYTHON ?= python3
# uv installs exactly what uv.lock names; the bootstrap venv holds only uv, at this version.
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := core schema resolvers engine db auth outbound server
HOST ?= 127.0.0.1
PORT ?= 8000
export UV_PROJECT_ENVIRONMENT := $(VENV)

# Targets that name no file (`schema` is also a directory: without this, make called it
# up to date whenever the directory was newer than the venv, and regenerated nothing).
.PHONY: install upgrade assets browser-deps deploy-deps run demo test lint format schema fuzz bench profile clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# --locked: refuse to run when pyproject.toml and uv.lock disagree, instead of re-resolving.
$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --extra dev --python $(PYTHON) --quiet
	touch $(STAMP)

install: $(STAMP)

upgrade: $(UV)  ## move uv.lock to the newest releases pyproject.toml allows, then run the suite
	$(UV) lock --upgrade --python $(PYTHON)
	$(MAKE) test

# The npm clients of the conformance tests (graphql-http audits, graphql-ws, Apollo Client).
CONFORMANCE := tests/conformance/node_modules/.installed
$(CONFORMANCE): tests/conformance/package-lock.json
	npm ci --prefix tests/conformance --no-audit --no-fund --loglevel=error
	touch $(CONFORMANCE)

# The browser assets (GraphiQL, the dashboard) are built from web/ with the npm packages
# pinned in package-lock.json; the result in server/static/ is committed, so only whoever
# changes web/ or package.json needs Node.
NODE_MODULES := node_modules/.installed
$(NODE_MODULES): package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_MODULES)

assets: $(NODE_MODULES)  ## rebuild server/static/ from web/ (commit the result)
	npm run --silent build

browser-deps:  ## node_modules (playwright-core) and chromium for the browser tests
	sh tests/browser/setup.sh

deploy-deps:  ## Debian's nginx (the scale-out test) and prometheus (promtool, the alert-rule tests)
	sh tests/deploy/setup.sh

run: $(STAMP)  ## start the server on embedded defaults (data under ./data)
	$(BIN)/consciousness serve --host $(HOST) --port $(PORT)

demo: $(STAMP)  ## like run, plus a demo user, agents and a stream of requests
	$(BIN)/consciousness serve --host $(HOST) --port $(PORT) --demo

test: $(STAMP) $(CONFORMANCE) browser-deps deploy-deps lint  ## lint, type-check, then the whole test suite
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(PACKAGES)
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: $(STAMP)  ## regenerate schema.graphql and openapi.json from the code
	$(BIN)/consciousness export-schema > schema.graphql
	$(BIN)/consciousness export-openapi > openapi.json

fuzz: $(STAMP)  ## a longer schemathesis run than the one in `make test`
	FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest tests/conformance/test_fuzz.py tests/conformance/test_rest_fuzz.py

# BENCH_ARGS: e.g. --quick, --only process,fanout, --skip observability (see bench/suite.py).
bench: $(STAMP)  ## every scenario, one table with in-run baselines (bench/LATEST.md); not in `make test`
	$(BIN)/python bench/suite.py $(BENCH_ARGS)

# OP: typename, me, agents or process; PROFILE_ARGS: e.g. --servers --concurrency 20.
OP ?= typename
profile: $(STAMP)  ## where one operation's server time goes, by package (bench/profile_operation.py)
	$(BIN)/python bench/profile_operation.py $(OP) $(PROFILE_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
