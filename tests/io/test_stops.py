"""lnbayes.io.stops: a Ctrl-C or SIGTERM whose exception Python drops still stops the command.

Python runs a signal's handler in whatever Python code is executing; in a ``__del__`` method or
a weakref callback the exception it raises is printed as "Exception ignored" and dropped. The
test suite once saw a report, sent SIGTERM while it wrote its draws, run to its end and exit 0
(the exception was dropped in importlib's ``KeyedRef.remove``). These tests drop the exception
on purpose, in a destructor, and check that the command stops all the same.
"""

from __future__ import annotations

import signal
import sys

import pytest

from lnbayes.errors import Terminated
from lnbayes.io import files, stops

SIGNALS = [pytest.param(signal.SIGTERM, Terminated, id="SIGTERM"),
           pytest.param(signal.SIGINT, KeyboardInterrupt, id="SIGINT")]


class _SignalsInItsDestructor:
    """An object whose ``__del__`` sends ``signum`` to this thread: the handler runs inside the
    destructor, so Python drops the exception it raises."""

    def __init__(self, signum):
        self.signum = signum

    def __del__(self):
        signal.raise_signal(self.signum)
        for _ in range(100):  # Python runs the handler between these instructions
            pass


@pytest.fixture
def dropped(monkeypatch):
    """The exceptions Python drops ("Exception ignored") and would print, collected, with
    Python's own SIGINT handler in place (a test runner may have replaced it)."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield seen
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(("signum", "kind"), SIGNALS)
def test_a_dropped_signal_stops_the_file_being_written(tmp_path, dropped, signum, kind):
    went_on = []
    restore = stops.install()
    try:
        with pytest.raises(kind):
            with files.atomic_path(tmp_path / "out.txt") as tmp:
                tmp.write_text("half of it", encoding="utf-8")
                _SignalsInItsDestructor(signum)  # collected at once: its __del__ runs here
                went_on.append(True)  # the handler's exception was dropped: the case at hand
                tmp.write_text("all of it", encoding="utf-8")
    finally:
        restore()
    assert went_on
    assert list(tmp_path.iterdir()) == []  # not committed, and no temporary file left
    assert dropped == []  # and no "Exception ignored" traceback printed


def test_other_dropped_exceptions_are_still_printed(dropped):
    class Fails:
        def __del__(self):
            raise ValueError("not a stop")

    restore = stops.install()
    try:
        Fails()
    finally:
        restore()
    assert [type(d.exc_value) for d in dropped] == [ValueError]
    assert sys.unraisablehook == dropped.append  # restored


class _HalfBuilt:
    """Like xarray's CachingFileManager when a stop interrupts its ``__init__``: its ``__del__``
    then fails on an attribute that was never set (seen once in the test suite, after SIGTERM
    while a report wrote its draws: "Exception ignored in CachingFileManager.__del__ ...
    AttributeError: ... '_ref_counter'")."""

    def __init__(self, signum):
        signal.raise_signal(signum)
        self.counter = 0  # never reached

    def __del__(self):
        self.counter -= 1


@pytest.mark.parametrize(("signum", "kind"), SIGNALS)
def test_destructors_of_objects_a_stop_left_half_built_print_nothing(dropped, signum, kind):
    restore = stops.install()
    try:
        with pytest.raises(kind):
            _HalfBuilt(signum)
        assert stops.pending() is kind
    finally:
        restore()
    assert dropped == []  # the half-built object's AttributeError was not printed


def test_after_a_stop_debug_prints_destructor_errors(dropped):
    restore = stops.install(debug=True)
    try:
        with pytest.raises(Terminated):
            _HalfBuilt(signal.SIGTERM)
    finally:
        restore()
    assert [type(d.exc_value) for d in dropped] == [AttributeError]


def test_without_a_signal_nothing_is_raised_and_restore_forgets_one(tmp_path, dropped):
    restore = stops.install()
    try:
        files.write_text(tmp_path / "out.txt", "x")
        assert stops.pending() is None
        _SignalsInItsDestructor(signal.SIGTERM)
        assert stops.pending() is Terminated
    finally:
        restore()
    assert stops.pending() is None
    stops.check()  # nothing: the signal belonged to the command that ended
    assert (tmp_path / "out.txt").read_text() == "x"


def test_handlers_are_restored_and_an_ignored_sigint_stays_ignored(dropped):
    before = signal.getsignal(signal.SIGTERM)
    restore = stops.install()
    assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    restore()
    assert signal.getsignal(signal.SIGTERM) is before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    # a process started with SIGINT ignored (in the background of a shell) keeps it ignored
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    restore = stops.install()
    try:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        restore()


@pytest.mark.parametrize(("signum", "status", "message"),
                         [pytest.param(signal.SIGTERM, 143, "terminated", id="SIGTERM"),
                          pytest.param(signal.SIGINT, 130, "interrupted", id="SIGINT")])
def test_a_command_that_ends_after_a_dropped_signal_exits_as_stopped(monkeypatch, dropped,
                                                                       signum, status, message):
    """A signal dropped after the command's last write: the command still exits with the
    signal's status and its one line, not 0."""
    from typer.testing import CliRunner

    from lnbayes.cli.main import app
    from lnbayes.io import trialfile

    load = trialfile.load_trial

    def load_then_signal(*args, **kwargs):
        trial = load(*args, **kwargs)
        _SignalsInItsDestructor(signum)
        return trial

    monkeypatch.setattr(trialfile, "load_trial", load_then_signal)
    result = CliRunner().invoke(app, ["validate", "models/deng2017.toml"])
    assert result.exit_code == status, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr  # no traceback
    assert dropped == []
    assert stops.pending() is None
