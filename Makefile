# The README's commands. Each sets up .venv (once, and again when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint bench

$(BIN)/.examples: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[examples]"
	touch $@

$(BIN)/.test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@ $(BIN)/.examples

demo: $(BIN)/.examples
	$(BIN)/rmsjax sweep digits

test: $(BIN)/.test lint
	$(BIN)/python -m pytest

lint: $(BIN)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/.test
	$(BIN)/python bench/update.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/train.py
