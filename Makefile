# firmforge: `make demo` runs the main job, `make test` the test suite. Both bootstrap what they
# need (the .venv with torch first, then the package) and are safe to run again.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.firmforge-deps
JOBS   ?= 2

.PHONY: demo test lint bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(PY) examples/mnist_demo.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n $(JOBS) tests

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf build dist *.egg-info .pytest_cache
