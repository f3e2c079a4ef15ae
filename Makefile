# The README's commands. Each sets up .venv (once, and again when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint docs dist bench

$(BIN)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(BIN)/.test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@ $(BIN)/.base

demo: $(BIN)/.base
	$(BIN)/rmsjax sweep digits

test: $(BIN)/.test lint docs dist
	$(BIN)/python -m pytest

lint: $(BIN)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The API reference (docs/_build/html/index.html), from the docstrings; a warning is an error.
docs: $(BIN)/.test
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# The sdist and the wheel build, pass `twine check`, and the wheel carries the LICENSE.
dist: $(BIN)/.test
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(BIN)/python -c "import glob, sys, zipfile; \
	names = zipfile.ZipFile(glob.glob('dist/*.whl')[0]).namelist(); \
	sys.exit(0 if any(n.endswith('licenses/LICENSE') for n in names) else 'no LICENSE in the wheel')"

bench: $(BIN)/.test
	$(BIN)/python bench/update.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/width.py
	$(BIN)/python bench/accuracy.py --seeds 0 1 2
	$(BIN)/python bench/demo.py
	$(BIN)/python bench/tables.py
