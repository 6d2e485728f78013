# The kit's commands. Each bootstraps a local virtual environment (.venv) first and
# reinstalls only when a requirements file changes.
#
#   make lab    set up and open JupyterLab at the course map
#   make test   set up, then run every test and execute every notebook
#   make bench  run the benchmarks and print their tables
#   make notebooks   re-execute the committed notebooks in place (instructors, after edits)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Extra arguments for JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port=8899"
LAB_ARGS ?=
# Extra arguments for pytest, e.g. make test PYTEST_ARGS="-k dp"
PYTEST_ARGS ?=
# Root (as in CI or a container) must say so to Jupyter.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test bench notebooks preflight clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
		{ echo "The kit needs Python 3.11 or newer; '$(PYTHON)' is older. Install a newer python3 and retry, or run: make lab PYTHON=python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-runtime: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-test: requirements-test.txt requirements-flower.txt requirements-book.txt $(VENV)/.installed-runtime
	$(BIN)/python -m pip install --quiet -r requirements-test.txt
	@touch $@

preflight: $(VENV)/.installed-runtime
	$(BIN)/python -m helpers.preflight

lab: preflight
	$(BIN)/jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir=. \
		--LabApp.default_url=/lab/tree/notebooks/00_welcome_and_data.ipynb $(LAB_ARGS)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	@for script in benchmarks/*.py; do \
		echo "== $$script"; $(BIN)/python $$script || exit 1; done

notebooks: $(VENV)/.installed-test
	$(BIN)/python scripts/notebooks.py $(NOTEBOOKS)

clean:
	rm -rf $(VENV) _build .pytest_cache .hypothesis

# The rendered book and the learner edition (scripts/build_book.py, scripts/learner_edition.py).
#   make book      execute every notebook afresh and build the book into _build/html
#                  (make book BOOK_ARGS=--no-execute reuses the committed outputs: faster)
#   make learner   write the learner edition: _build/learner/ and _build/learner.zip
BOOK_ARGS ?=
.PHONY: book learner

book: $(VENV)/.installed-test
	$(BIN)/python scripts/build_book.py $(BOOK_ARGS)

learner: $(VENV)/.installed-test
	$(BIN)/python scripts/learner_edition.py
