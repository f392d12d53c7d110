# Two commands do everything on a fresh machine with Python 3.11:
#   make run    install into .venv, then train the denoising autoencoders
#   make test   install into .venv (with test tools), then run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test test-fast docs figures bench clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,docs]"
	touch $@

run: $(VENV)/.installed
	$(PY) code/dA.py

# one test process per core, at most 4 (pytest-xdist): most of the suite's time
# is compiling, which runs on one core per process
test: $(VENV)/.installed
	$(PY) -m pytest -ra --numprocesses auto --maxprocesses 4

# everything but the long reproduction runs
test-fast: $(VENV)/.installed
	$(PY) -m pytest -ra --numprocesses auto --maxprocesses 4 -m "not slow"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# the tutorial as HTML, warnings are errors: docs/_build/html/index.html
docs: $(VENV)/.installed
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

# redraw the docs' figures from docs/runs/*.log; FIGURES_RUN=--run reruns the short scripts
figures: $(VENV)/.installed
	$(PY) docs/make_figures.py $(FIGURES_RUN)

# side-by-side step timings (installs PyTorch into .venv); writes docs/performance_table.md
bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) bench/bench.py --threads 2 1 --write docs/performance_table.md
	$(PY) bench/compile_times.py
