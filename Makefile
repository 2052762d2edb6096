# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
# Both create .venv and install the pinned dependencies on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench install clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ventros run

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict src/
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/events.py
	$(BIN)/python bench/inbound.py --write bench/RESULTS.md
	$(BIN)/python bench/outbound.py --write bench/RESULTS.md
	$(BIN)/python bench/assignment.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
