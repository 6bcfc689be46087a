# The two commands of the README: `make perf` (the perf job) and `make test` (the harness's
# own tests and lint).  Both create .venv and install the project on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: perf test lint unit clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,torch]'
	touch $(STAMP)

perf: $(STAMP)
	$(BIN)/pytest perf $(ARGS)

test: lint unit

unit: $(STAMP)
	$(BIN)/pytest tests --durations=20 $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src fixtures perf tests benchmarks examples conftest.py
	$(BIN)/mypy

clean-venv:
	rm -rf $(VENV)
