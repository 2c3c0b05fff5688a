# s3seal: the two commands users need are `make run` and `make test`; both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQUIREMENTS := requirements.txt requirements-dev.txt lambda/requirements.txt pyproject.toml
STAMP := $(VENV)/.installed
WHEELS := .cache/lambda-wheels
# jsii (the CDK's bridge to Node.js) warns on every call about the Node version Debian ships.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 18,20

.PHONY: run test lint typecheck pytest bench synth deps system-deps clean

run: deps ## The main job: the real pipeline on an embedded local AWS, staging examples/.
	$(BIN)/s3seal local --demo

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

synth: deps ## Synthesize the CloudFormation template into cdk.out (offline, no Docker).
	node_modules/.bin/cdk synth --quiet

deps: system-deps $(STAMP) node_modules/.installed $(WHEELS)/.downloaded

system-deps: ## Debian packages the tests need (ruby-aws-sdk-s3, nodejs for the CDK's jsii).
	@scripts/install-system-deps.sh

$(STAMP): $(REQUIREMENTS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "s3seal needs Python 3.11 or newer: run 'make PYTHON=python3.12 ...'"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e '.[local]' 
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	@touch $@

# The Lambda's dependencies for its platform, fetched once so that bundling (cdk synth) is offline:
# exactly the hash-locked wheels (scripts/lock_lambda_requirements.py regenerates the lock).
$(WHEELS)/.downloaded: lambda/requirements.lock $(STAMP)
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
	  --platform manylinux2014_aarch64 --implementation cp --python-version 3.14 \
	  --require-hashes --no-deps -d $(WHEELS) -r lambda/requirements.lock
	@touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis cdk.out node_modules .cache
