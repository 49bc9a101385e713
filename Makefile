# Two commands do everything on a clean machine:
#   make run    set up (first time) and run the full re-analysis of the embedded trial (Deng et al. 2017) into reports/deng2017/
#   make test   set up (first time) and run the tests
# Also: make test-fast (the fast loop, a minute or less: the tests that neither sample with PyMC
# nor run the command line or a whole report nor take seconds, i.e. neither `slow` nor `e2e` nor
# `heavy`), make test-not-slow
# (every test that does not sample: CI's run on the second Python), make bench (speed targets;
# BENCH_ARGS=--report also times the report), benchmarks/bench_sweep.py (sweep and PyMC sweep).
# The test targets run in parallel with pytest-xdist, one worker per core (XDIST=-n0: one process);
# --dist loadgroup keeps the tests that share a sampled run or a report in one worker.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lnbayes-installed

XDIST ?= -n auto --dist loadgroup

.PHONY: run test test-fast test-not-slow setup bench clean

$(STAMP): pyproject.toml constraints.txt scripts/setup-venv scripts/find-python
	VENV=$(VENV) scripts/setup-venv

setup: $(STAMP)

run: $(STAMP)
	$(PY) -m lnbayes report

test: $(STAMP)
	$(PY) -m pytest $(XDIST)

test-fast: $(STAMP)
	$(PY) -m pytest $(XDIST) -m "not slow and not e2e and not heavy"

test-not-slow: $(STAMP)
	$(PY) -m pytest $(XDIST) -m "not slow"

bench: $(STAMP)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
