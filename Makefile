# The kit's commands. Each bootstraps a local virtual environment (.venv) first and
# reinstalls only when a requirements file changes.
#
#   make lab          set up and open JupyterLab on your own working copy of the learner
#                     edition (work/, created on first run; your edits are never overwritten)
#   make lab EDITION=instructor   open the solved notebooks instead
#   make preflight    check this machine and print a fix for each problem
#   make test         set up, then run every test and execute every notebook
#   make book         build the rendered book into _build/html
#   make learner      write the learner edition (_build/learner/ and _build/learner.zip)
#   make notebooks    re-execute the committed notebooks in place (instructors, after edits)
#   make bench        run the benchmarks and print their tables

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Extra arguments for JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port=8899"
LAB_ARGS ?=
# JupyterLab fetches no news feed (see also LAB_SETTINGS below).
LAB_QUIET := --LabApp.news_url=None
# Root (as in CI or a container) must say so to Jupyter.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: preflight clean

# pip compiles the installed packages to bytecode on one core, which is most of a fresh
# install's CPU time; compileall does it on every core. A file that cannot be precompiled is
# compiled (or its error reported) when it is first imported, as after pip's own step.
PRECOMPILE = $(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || \
	echo "(some installed files could not be precompiled; Python compiles them on import)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
		{ echo "The kit needs Python 3.11 or newer; '$(PYTHON)' is older. Install a newer python3 and retry, or run: make lab PYTHON=python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-runtime: requirements.txt pyproject.toml | $(BIN)/python
	@echo "Installing the kit's packages into $(VENV) (a few minutes the first time)..."
	$(BIN)/python -m pip install --quiet --no-compile -r requirements.txt
	@$(PRECOMPILE)
	@touch $@

# JupyterLab settings for a classroom: no "Jupyter news" prompt, no update checks (an
# overrides.d file of the venv's JupyterLab, so a learner's own settings stay theirs).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.d/ppml-kit.json
$(LAB_SETTINGS): scripts/lab_settings.json | $(BIN)/python
	@mkdir -p $(dir $@)
	@cp scripts/lab_settings.json $@

preflight: $(VENV)/.installed-runtime $(LAB_SETTINGS)
	$(BIN)/python -m helpers.preflight

clean:
	rm -rf $(VENV) _build .pytest_cache .hypothesis .cache

# ---- kit only: the learner edition's Makefile stops here ----

# Which notebooks `make lab` opens: learner (your working copy, no solutions) or instructor.
EDITION ?= learner
# Where your working copy of the learner edition lives (git-ignored).
WORK ?= work
# Extra arguments for pytest, e.g. make test PYTEST_ARGS="-k dp"; tests run on two workers.
PYTEST_ARGS ?=
PYTEST_WORKERS ?= 2
BOOK_ARGS ?=

.PHONY: lab test bench notebooks book learner

$(VENV)/.installed-test: requirements-test.txt requirements-flower.txt requirements-book.txt $(VENV)/.installed-runtime
	$(BIN)/python -m pip install --quiet --no-compile -r requirements-test.txt
	@$(PRECOMPILE)
	@touch $@

# axe-core (the accessibility checker the book's browser test runs), pinned, from the npm
# registry into a git-ignored folder; the tests never download it.
AXE_VERSION := 4.14.1
AXE_DIR := .cache/axe-core-$(AXE_VERSION)
AXE := $(AXE_DIR)/package/axe.min.js
$(AXE):
	@mkdir -p $(AXE_DIR)
	@cd $(AXE_DIR) && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null \
		&& tar -xzf axe-core-$(AXE_VERSION).tgz && rm axe-core-$(AXE_VERSION).tgz \
		|| echo "axe-core not installed (is npm missing?): the book's accessibility test will skip"

lab: preflight
ifeq ($(EDITION),instructor)
	$(BIN)/jupyter lab $(ALLOW_ROOT) $(LAB_QUIET) --ServerApp.root_dir=. \
		--LabApp.default_url=/lab/tree/notebooks/00_welcome_and_data.ipynb $(LAB_ARGS)
else ifeq ($(EDITION),learner)
	@$(BIN)/python scripts/working_copy.py --work "$(WORK)"
	$(BIN)/jupyter lab $(ALLOW_ROOT) $(LAB_QUIET) --ServerApp.root_dir="$(WORK)" \
		--LabApp.default_url=/lab/tree/notebooks/00_welcome_and_data.ipynb $(LAB_ARGS)
else
	@echo "EDITION must be learner (the default) or instructor; got '$(EDITION)'"; exit 2
endif

test: $(VENV)/.installed-test $(AXE)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	@for script in benchmarks/*.py; do \
		echo "== $$script"; $(BIN)/python $$script || exit 1; done

notebooks: $(VENV)/.installed-test
	$(BIN)/python scripts/notebooks.py $(NOTEBOOKS)

# make book re-executes every notebook; make book BOOK_ARGS=--no-execute reuses the outputs.
book: $(VENV)/.installed-test
	$(BIN)/python scripts/build_book.py $(BOOK_ARGS)

# The learner edition needs only the runtime packages (nbformat comes with JupyterLab).
learner: $(VENV)/.installed-runtime
	$(BIN)/python scripts/learner_edition.py
