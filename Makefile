# s3seal: the two commands users need are `make run` and `make test`; both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQUIREMENTS := requirements.txt requirements-dev.txt lambda/requirements.txt pyproject.toml
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench deps system-deps clean

run: deps ## The main job: a local demonstration of the envelope core.
	@scripts/demo.sh

test: deps lint typecheck pytest ## Everything CI runs.

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: deps
	$(BIN)/mypy

pytest: deps
	@# pytest exits 5 when it collected no tests: a suite that ran nothing has not passed.
	@$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

bench: deps ## Throughput and memory figures, as ratios against baselines of the same run.
	$(BIN)/python -m bench.bench_envelope

deps: system-deps $(STAMP)

system-deps: ## Debian packages the tests need (ruby-aws-sdk-s3, nodejs for the CDK's jsii).
	@scripts/install-system-deps.sh

$(STAMP): $(REQUIREMENTS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "s3seal needs Python 3.11 or newer: run 'make PYTHON=python3.12 ...'"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	@touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis cdk.out
