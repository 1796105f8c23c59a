# make lint: ruff + mypy; make test: the whole suite (what .ci/run and the README run).
VENV ?= .venv
PY := $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,python3)

.PHONY: install lint test test-fast demo bench clean

install:
	scripts/install.sh

lint:
	$(PY) -m ruff check hardbox tests bench scripts
	$(PY) -m mypy

test:
	$(PY) -m pytest -q tests

test-fast:
	$(PY) -m pytest -q -m "not slow" tests

demo:
	scripts/demo.sh

bench:
	$(PY) bench/run.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
