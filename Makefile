# s3seal: the two commands users need are `make run` and `make test`; both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_REQUIREMENTS := lambda/requirements.txt pyproject.toml
REQUIREMENTS := $(RUN_REQUIREMENTS) requirements.txt requirements-dev.txt
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
WHEELS := .cache/lambda-wheels
# jsii (the CDK's bridge to Node.js) warns on every call about the Node version Debian ships.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 18,20

.PHONY: run test test-fast lint typecheck pytest bench synth deps deps-run system-deps clean

# The examples s3seal ships (lambda/s3seal/examples).
run: deps-run ## The main job: the real pipeline on an embedded local AWS, staging the examples.
	$(BIN)/s3seal local --demo

test: deps lint typecheck pytest ## Everything CI runs.

test-fast: $(STAMP) ## Unit and functional tests only (no interop, no infra: no Ruby, no npm).
	$(call run_pytest,tests/unit tests/functional $(PYTEST_ARGS))

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: deps
	$(BIN)/mypy

# -n auto: one pytest-xdist worker per core (each worker starts its own moto servers).
PYTEST_WORKERS ?= auto
# pytest exits 5 when it collected no tests: a suite that ran nothing has not passed.
define run_pytest
@$(BIN)/pytest -n $(PYTEST_WORKERS) $(1); status=$$?; \
  if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status
endef

pytest: deps
	$(call run_pytest,$(PYTEST_ARGS))

bench: deps ## Throughput and memory figures, as ratios against baselines of the same run.
	$(BIN)/python -m bench.bench_envelope
	$(BIN)/python -m bench.latency

synth: deps ## Synthesize the CloudFormation template into cdk.out (offline, no Docker).
	node_modules/.bin/cdk synth --quiet

# Everything: tests, lint, the CDK app (Ruby SDK, Node.js, npm, the Lambda's arm64 wheels).
deps: system-deps $(STAMP) node_modules/.installed $(WHEELS)/.downloaded

# Only what `make run` needs: s3seal and moto in the venv (no Ruby, no npm, no Lambda wheels).
deps-run: $(RUN_STAMP)

system-deps: ## Debian packages the tests need (ruby-aws-sdk-s3, nodejs for the CDK's jsii).
	@scripts/install-system-deps.sh

$(RUN_STAMP): $(RUN_REQUIREMENTS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "s3seal needs Python 3.11 or newer: run 'make PYTHON=python3.12 ...'"; exit 1; }
	@scripts/install-system-deps.sh run
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local]'
	@touch $@

$(STAMP): $(REQUIREMENTS) $(RUN_STAMP)
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
