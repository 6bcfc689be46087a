# The two commands of the README: `make perf` (the perf job) and `make test` (the harness's
# own tests and lint).  Both create .venv and install the project on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: perf test test-no-bf16 lint quick slow clean-venv constraints

# pyproject.toml keeps ranges; constraints.txt the one set the suite passed with
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,torch]'
	touch $(STAMP)

perf: $(STAMP)
	$(BIN)/pytest perf $(ARGS)

test: lint quick slow

# The harness's own tests in two halves: the quick ones (no cluster, no training) spread
# over every CPU, then the slow ones (real clusters and training, some of them timed) one
# at a time, on a quiet machine.  ARGS go to both halves (a selection must match in both).
quick: $(STAMP)
	$(BIN)/pytest tests -m "not slow" -n auto --durations=10 $(ARGS)

slow: $(STAMP)
	$(BIN)/pytest tests -m slow --durations=20 $(ARGS)

# the same tests, a bf16 host seen as one without bf16 (tests/hostview.py): run both on a
# bf16 host
test-no-bf16: $(STAMP)
	BF16PERF_TEST_VIEW=no-bf16 $(BIN)/pytest tests --durations=20 $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src fixtures perf tests benchmarks examples conftest.py
	$(BIN)/mypy
	$(BIN)/lint-imports

clean-venv:
	rm -rf $(VENV)

# after a deliberate upgrade that make test passed with: pin what this venv holds
constraints: $(STAMP)
	{ sed -n '1,3p' constraints.txt; $(BIN)/pip freeze --exclude-editable \
	    | grep -v '^#'; } > constraints.txt.new && mv constraints.txt.new constraints.txt
