# Two commands do everything on a clean machine:
#   make run    set up (first time) and run the full re-analysis of the embedded trial (Deng et al. 2017) into reports/deng2017/
#   make test   set up (first time) and run the tests
# Also: make test-fast (the tests that do not sample with PyMC), make bench (speed targets;
# BENCH_ARGS=--report also times the report), benchmarks/bench_sweep.py (sweep and PyMC sweep).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lnbayes-installed

.PHONY: run test test-fast setup bench clean

$(STAMP): pyproject.toml constraints.txt scripts/setup-venv scripts/find-python
	VENV=$(VENV) scripts/setup-venv

setup: $(STAMP)

run: $(STAMP)
	$(PY) -m lnbayes report

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

bench: $(STAMP)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
