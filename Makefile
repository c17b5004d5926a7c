PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: run test test-servers lint bench clean

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

## Servers the tests start themselves (from Debian's packages).
test-servers:
	@command -v redis-server >/dev/null && command -v swaks >/dev/null || { \
		echo "installing redis-server and swaks from Debian's packages"; \
		(apt-get update -qq && apt-get install -y -qq redis-server swaks >/dev/null) || \
		(sudo apt-get update -qq && sudo apt-get install -y -qq redis-server swaks >/dev/null); }

## Install test dependencies and run the whole suite.
test: $(TSTAMP) test-servers
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(TSTAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(TSTAMP)
	$(BIN)/python -m bench.api

clean:
	rm -rf $(VENV) build *.egg-info
