# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
DEMO ?= .demo
BIN := $(VENV)/bin

.PHONY: demo test install lint bench clean-demo

$(BIN)/.installed: setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## Seed the demo CDR database and folders, then start the Dagster UI and daemon on
## http://127.0.0.1:3000 with an embedded SQLite instance.
demo: install
	$(BIN)/cdr-dagster seed-demo $(DEMO)
	set -a && . ./$(DEMO)/demo.env && set +a && \
	  exec $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## Run the whole test suite against real services on loopback.
test: install
	scripts/ensure-postgres
	$(BIN)/pytest cdr_dagster_tests

lint: install
	$(BIN)/ruff check .

bench: install
	scripts/ensure-postgres
	$(BIN)/python -m benchmarks

clean-demo:
	rm -rf $(DEMO)
