# make lint: ruff + mypy + vulture (dead code; scripts/vulture_whitelist.py lists the uses it
# cannot see); make test: the whole suite (what .ci/run and the README run).
VENV ?= .venv
PY := $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,python3)

.PHONY: install lint test test-fast fuzz demo bench clean

install:
	scripts/install.sh

lint:
	$(PY) -m ruff check hardbox tests bench scripts
	$(PY) -m mypy
	$(PY) -m vulture hardbox scripts/vulture_whitelist.py --min-confidence 60

test:
	$(PY) -m pytest -q tests

test-fast:
	$(PY) -m pytest -q -m "not slow" tests

# The fuzz and fault suite at hunting size (CI runs it at 25 examples a test, fixed seed):
# more examples, failures shrunk to a minimal input, counts in reports/fuzz-stats.json.
FUZZ_EXAMPLES ?= 500
fuzz:
	HARDBOX_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) HARDBOX_FUZZ_SHRINK=1 HARDBOX_FUZZ_STATS=reports/fuzz-stats.json \
		$(PY) -m pytest -q -m fuzz tests/fuzz

demo:
	scripts/demo.sh

bench:
	$(PY) bench/run.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
