"""The second process that fills the record cache (lnbayes.io.background)."""

from __future__ import annotations

import operator
import pathlib
import time

import pytest

from lnbayes.io import background


@pytest.fixture
def cache_on(tmp_path, monkeypatch):
    monkeypatch.setenv("LNBAYES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LNBAYES_BACKGROUND", raising=False)
    monkeypatch.setattr(background, "cores", lambda: 2)


def test_runs_the_target_in_a_second_process(cache_on, tmp_path):
    out = tmp_path / "written.txt"
    filler = background.start(pathlib.Path.write_text, out, "from the second process")
    assert filler is not None
    assert filler.wait() is True
    assert out.read_text() == "from the second process"
    filler.stop()  # finished: nothing to stop, no error


def test_a_failing_target_is_reported_not_raised(cache_on):
    filler = background.start(operator.truediv, 1, 0)
    assert filler.wait() is False


def test_stop_ends_a_running_target(cache_on):
    filler = background.start(time.sleep, 60)
    started = time.monotonic()
    filler.stop()
    assert filler.wait() is False  # terminated, not finished
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("setting", ["cache_off", "one_core", "switched_off"])
def test_nothing_starts_where_it_cannot_help(setting, tmp_path, monkeypatch):
    monkeypatch.setenv("LNBAYES_CACHE_DIR", "off" if setting == "cache_off" else str(tmp_path))
    monkeypatch.setattr(background, "cores", lambda: 1 if setting == "one_core" else 2)
    if setting == "switched_off":
        monkeypatch.setenv("LNBAYES_BACKGROUND", "off")
    else:
        monkeypatch.delenv("LNBAYES_BACKGROUND", raising=False)
    assert background.start(time.sleep, 60) is None


# ---------------------------------------------------------------------------------------------
# Worker: a second process taking jobs one at a time
# ---------------------------------------------------------------------------------------------


def test_worker_runs_jobs_in_order_and_reports_each(cache_on, tmp_path):
    worker = background.start_worker()
    assert worker is not None
    try:
        numbers = [worker.submit(pathlib.Path.write_text, tmp_path / f"{i}.txt", str(i))
                   for i in range(3)]
        failing = worker.submit(operator.truediv, 1, 0)
        assert numbers == [0, 1, 2] and failing == 3
        ended = worker.close()
    finally:
        worker.stop()
    assert ended == {0: True, 1: True, 2: True, 3: False}  # a failed job is reported, not raised
    assert [(tmp_path / f"{i}.txt").read_text() for i in range(3)] == ["0", "1", "2"]


def test_worker_returns_what_a_job_returns(cache_on):
    worker = background.start_worker()
    try:
        big = worker.submit(bytes, 300_000)  # more than a pipe holds at once
        failing = worker.submit(operator.truediv, 1, 0)
        small = worker.submit(operator.add, 2, 3)
        assert worker.result(small) == (True, 5)
        assert worker.result(big) == (True, bytes(300_000))
        assert worker.result(failing) == (False, None)
        assert worker.result(None) == (False, None)
    finally:
        worker.stop()


def test_a_worker_that_died_reports_no_more_jobs(cache_on):
    worker = background.start_worker()
    try:
        worker.submit(time.sleep, 60)
        worker._process.kill()  # as if killed from outside
        ended = worker.close()
    finally:
        worker.stop()
    assert ended == {} and worker.broken
    assert worker.submit(time.sleep, 0) is None  # the caller does it itself


def test_stop_ends_a_busy_worker(cache_on):
    worker = background.start_worker()
    worker.submit(time.sleep, 60)
    started = time.monotonic()
    worker.stop()
    assert worker._process.poll() is not None
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("setting", ["one_core", "switched_off"])
def test_no_worker_where_it_cannot_help(setting, monkeypatch):
    monkeypatch.setattr(background, "cores", lambda: 1 if setting == "one_core" else 2)
    if setting == "switched_off":
        monkeypatch.setenv("LNBAYES_BACKGROUND", "off")
    else:
        monkeypatch.delenv("LNBAYES_BACKGROUND", raising=False)
    assert background.start_worker() is None


def test_a_jobs_provenance_names_the_command_the_user_ran(cache_on, monkeypatch):
    """A report's predict and design run in the worker: their provenance must say
    'lnbayes report ...' (the worker's own argv is '-c')."""
    from lnbayes.io import files

    monkeypatch.setattr("sys.argv", ["/x/lnbayes/__main__.py", "report", "--engine", "exact"])
    worker = background.start_worker()
    try:
        ok, value = worker.result(worker.submit(files.command_line))
    finally:
        worker.stop()
    assert ok and value == "lnbayes report --engine exact"
