# The two commands: `make up` runs the stack, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STORE ?= dynamodb-local
export PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: up sandbox sandbox-reset sandbox-stack test lint deps deps-test unit integration browser deploy-check otp seed reset clean bench java chromium \
	lock requirements frontend

# Exactly what the lock says, every file checked against its hash (README, "Adding or
# upgrading a dependency").
$(VENV)/.deps: requirements-dev.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements-dev.lock
	touch $@

# package-lock.json, as it is (npm ci fails rather than resolve anew).
node_modules/.deps: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# `make lock` resolves requirements*.in into the *.lock files (exact versions, hashes),
# keeping every version the locks already have; `make lock UPGRADE=--upgrade`, or
# UPGRADE="--upgrade-package botocore", moves them. Then each function's
# requirements.txt is written from requirements.lock. uv runs from its own virtualenv:
# it is not part of what the tests install. The platform is the image's (stack.yml's
# PYTHON_VERSION on Linux), whoever runs it.
UV_VERSION := 0.13.8
UV_HOME := .local/uv-$(UV_VERSION)
UV_COMPILE = $(UV_HOME)/bin/uv pip compile -q --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" $(UPGRADE)

$(UV_HOME)/bin/uv:
	python3 -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install -q uv==$(UV_VERSION)

lock: $(UV_HOME)/bin/uv
	$(UV_COMPILE) requirements.in -o requirements.lock
	$(UV_COMPILE) requirements-dev.in -c requirements.lock -o requirements-dev.lock
	$(UV_COMPILE) bench/requirements.in -c requirements-dev.lock -o bench/requirements.lock
	$(MAKE) requirements

# functions/*/requirements.txt: what each function imports, pinned as in requirements.lock.
requirements: $(VENV)/.deps
	$(PY) -m deploy requirements

# Java runs DynamoDB Local; installed when missing and we may (root), explained otherwise.
java:
	@command -v java >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; \
	  elif [ "$(STORE)" = moto ]; then true; \
	  else echo "Java is missing: install default-jre-headless, or run: make up STORE=moto"; exit 2; fi; }

deps: $(VENV)/.deps node_modules/.deps

up: deps $(if $(filter moto,$(STORE)),,java)
	$(PY) -m local up --store $(STORE)

# The training sandbox (bac à sable), beside `make up`: http://127.0.0.1:8090/bac-a-sable/,
# its own table, DynamoDB Local (8010) and state (.local/sandbox/); README, "Training sandbox".
sandbox: deps $(if $(filter moto,$(STORE)),,java)
	$(PY) -m local up --sandbox --store $(STORE)

sandbox-reset:
	@if [ -x $(PY) ]; then $(PY) -m local reset --sandbox; else rm -rf .local/sandbox/dynamodb; fi

# stack.sandbox.yml (what the sandbox's OpenFaaS deploys), from stack.yml and deploy/sandbox.yml.
sandbox-stack: $(VENV)/.deps
	$(PY) -m deploy sandbox-stack --write

# The static front-end rendered into build/frontend/, what production publishes
# (docs/deploy.md); `local up` (so `make up` and the tests' stacks) builds it too.
frontend: deps
	$(PY) -m frontend.build

otp:
	@$(PY) -m local otp $${EMAIL:-camille.fwolk@demo.aidantsconnect.fr}

seed:
	$(PY) -m local seed --json

# DynamoDB Local keeps `make up`'s data in .local/dynamodb: this wipes it (and the mail).
reset:
	@if [ -x $(PY) ]; then $(PY) -m local reset; else rm -rf .local/dynamodb .local/mail; fi

# Debian's chromium for the browser tests; installed when missing and we may (root), explained otherwise.
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: install Debian's chromium (sudo apt-get install chromium) for the browser tests"; exit 2; fi; }

deps-test: deps java chromium

test: deps-test lint
	$(PY) -m pytest -q tests

# ruff (lint, and the format check: `ruff format .` fixes it), mypy over shared/;
# settings in pyproject.toml.
lint: $(VENV)/.deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

unit: deps
	$(PY) -m pytest -q tests/unit

integration: deps-test
	$(PY) -m pytest -q tests/integration

browser: deps-test
	$(PY) -m pytest -q tests/browser

$(VENV)/.bench-deps: bench/requirements.lock $(VENV)/.deps
	$(PY) -m pip install -q --require-hashes -r bench/requirements.lock
	touch $@

# Figures against docs/performance.md's targets, never part of `make test` (docs/performance.md):
# `make bench`, `make bench BENCH_ARGS=--quick` (~2 minutes), `BENCH_ARGS="--profile --quick"`.
bench: deps java $(VENV)/.bench-deps
	$(PY) -m bench $(BENCH_ARGS)

# stack.yml, the generated ingress and table, and every function run from its own
# build context in a fresh virtualenv (no Docker needed): see docs/deploy.md.
deploy-check: deps
	$(PY) -m pytest -q -rx tests/deploy

clean:
	rm -rf .local .pytest_cache tests/artifacts build/frontend
