# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
DEMO ?= .demo
PORT ?= 3000
HOST ?= 127.0.0.1
BIN := $(VENV)/bin

.PHONY: demo stop test install lint bench clean-demo

$(BIN)/.installed: setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## Seed the demo CDR database and folders, then start the Dagster UI and daemon on
## http://$(HOST):$(PORT) (make demo PORT=3001) with an embedded SQLite instance.
## Ctrl-C or `make stop` ends every process it started (the pid is in $(DEMO)/demo.pid).
demo: install
	$(BIN)/cdr-dagster seed-demo $(DEMO)
	$(BIN)/cdr-dagster serve-demo $(DEMO) --host $(HOST) --port $(PORT)

## Stop the demo started by `make demo` (from another terminal, or after `make demo &`).
stop:
	@if test -x $(BIN)/cdr-dagster; then $(BIN)/cdr-dagster stop-demo $(DEMO); fi

## Run the whole test suite against real services on loopback.
test: install
	scripts/ensure-postgres
	$(BIN)/pytest cdr_dagster_tests

lint: install
	$(BIN)/ruff check .

bench: install
	scripts/ensure-postgres
	$(BIN)/python -m benchmarks

clean-demo: stop
	rm -rf $(DEMO)
