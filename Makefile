PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
S3RVER_VERSION := 3.7.1
S3RVER := .tools/node_modules/.bin/s3rver

.PHONY: run test test-mongodb test-servers lint bench clean deploy-check

## The mongoeco MongoDB emulator needs Python 3.13: its own venv (tests skip without one,
## and fail under CI=true).
PYTHON313 ?= $(shell for p in $$(command -v python3.13) /root/.pyenv/versions/3.13*/bin/python3.13; do \
	"$$p" --version >/dev/null 2>&1 && { echo "$$p"; break; }; done)
ECO_VENV  := .venv-mongoeco
ECO_STAMP := $(ECO_VENV)/.installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TSTAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

## Start the server with embedded storage under ./data on 127.0.0.1:8080.
run: $(STAMP)
	$(BIN)/fulmar serve

## Servers the tests start themselves (redis, rspamd, clamd and swaks from Debian's
## packages; s3rver from npm into the gitignored .tools/; moto comes with the [test] extra).
test-servers: $(S3RVER)
	@missing=""; \
	for pair in redis-server:redis-server rspamd:rspamd clamd:clamav-daemon swaks:swaks; do \
		command -v $${pair%%:*} >/dev/null || [ -x /usr/sbin/$${pair%%:*} ] || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing from Debian's packages:$$missing"; \
		(apt-get update -qq && apt-get install -y -qq $$missing >/dev/null) || \
		(sudo apt-get update -qq && sudo apt-get install -y -qq $$missing >/dev/null); \
	fi

$(S3RVER):
	@command -v npm >/dev/null || { \
		echo "installing npm from Debian's packages"; \
		(apt-get update -qq && apt-get install -y -qq npm >/dev/null) || \
		(sudo apt-get update -qq && sudo apt-get install -y -qq npm >/dev/null); }
	npm install --silent --no-audit --no-fund --prefix .tools s3rver@$(S3RVER_VERSION)

$(ECO_STAMP):
	@if [ -z "$(PYTHON313)" ]; then \
		echo "no python3.13: the mongoeco emulator tests will be skipped"; \
		if [ "$$CI" = "true" ]; then exit 1; fi; \
	else \
		$(PYTHON313) -m venv $(ECO_VENV) && \
		$(ECO_VENV)/bin/pip install -q "mongoeco[wire]>=4.11,<5" && touch $@; \
	fi

## The mail and end-to-end tests that also run with the data role on MongoDB (the nx-27017
## emulator: the faster of the two; both run the whole storage conformance suite).
MONGO_DATA_BACKEND ?= mongo-emulator-nx27017
MONGO_SUBSET := tests/mail/test_query.py::test_filters tests/mail/test_query.py::test_sorts \
	tests/mail/test_query.py::test_search_snippets tests/mail/test_threads_changes.py \
	tests/mail/test_trash_counters.py::test_unread_threads_apply_the_trash_rule \
	tests/e2e/test_mailbox.py::test_changes_round_trip

## Test processes (pytest-xdist): most tests wait on servers they started, so a few more
## processes than cores; each test file runs whole in one process (its servers are shared).
TEST_WORKERS ?= 3
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

## The end-to-end and mail suites again with the data role on the MongoDB emulator (about
## as long as the whole suite, so not part of `make test`).
test-mongodb: $(TSTAMP) $(ECO_STAMP) test-servers
	FULMAR_TEST_DATA_BACKEND=$(MONGO_DATA_BACKEND) $(PYTEST) tests/e2e tests/mail

## Install test dependencies and run the whole suite, then the MongoDB subset.
test: $(TSTAMP) $(ECO_STAMP) test-servers
	$(BIN)/ruff check .
	$(PYTEST)
	FULMAR_TEST_DATA_BACKEND=$(MONGO_DATA_BACKEND) $(PYTEST) $(MONGO_SUBSET)

lint: $(TSTAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Check the Kubernetes manifests against the API schemas (offline: kubernetes-validate
## ships them) and the compose file's consistency with the code.
deploy-check: $(TSTAMP)
	$(BIN)/pip install -q 'kubernetes-validate>=1.30,<2'
	kubectl kustomize deploy/ | $(BIN)/kubernetes-validate --strict --quiet -k 1.32.0 -
	$(BIN)/python -m pytest -q tests/unit/test_deploy.py

bench: $(TSTAMP)
	$(BIN)/python -m bench.api

clean:
	rm -rf $(VENV) $(ECO_VENV) build *.egg-info
