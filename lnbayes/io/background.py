"""Work that fills the record cache in a second process while this one goes on.

A report spends much of its time on one core: compiling the PyMC models (numba), drawing and
saving figures. A machine with a second core can meanwhile compute results that go into the
record cache (:mod:`lnbayes.io.record_cache`), such as the explorer's exact grids; the report then
reads them back when it needs them. The second process only ever fills the cache, whose records
are written atomically and checked when read, so nothing depends on it having succeeded: a
record it did not write is computed in the main process as if it had never run.

The second process is a fresh interpreter started with :mod:`subprocess` (no threads or locks
inherited from the sampler, and no re-import of the caller's main module, which
:mod:`multiprocessing` would need guarded). It runs in its own session, so Ctrl-C at the
terminal reaches only the main process, which stops it; it prints nothing; and it is stopped
when the main process is interrupted, fails or no longer needs it.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from typing import Any, Callable

from lnbayes.io import record_cache

WAIT_SECONDS = 0.2
"""How long one wait for the second process lasts before signal handlers get a turn."""


class CacheFiller:
    """A second process running ``target(*args)`` to fill the record cache."""

    def __init__(self, process: subprocess.Popen):
        self._process = process

    def wait(self) -> bool:
        """Wait for the second process to finish (Ctrl-C and SIGTERM are handled between
        short waits); True if it finished without error."""
        while True:
            try:
                return self._process.wait(WAIT_SECONDS) == 0
            except subprocess.TimeoutExpired:
                continue

    def stop(self) -> None:
        """Stop the second process if it still runs (idempotent)."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def cores() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def start(target: Callable[..., Any], *args: Any) -> CacheFiller | None:
    """Start ``target(*args)`` (a module-level function that fills the record cache; its
    arguments picklable) in a second process. None, and nothing started, when the cache is off,
    when there is no second core, or when ``LNBAYES_BACKGROUND=off``."""
    if record_cache.cache_dir() is None or cores() < 2:
        return None
    if os.environ.get("LNBAYES_BACKGROUND", "").strip().lower() in ("off", "0", "no", "false"):
        return None
    job = pickle.dumps((target.__module__, target.__qualname__, args))
    env = dict(os.environ)
    # the same modules as this process (a checkout on PYTHONPATH, an editable install)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    process = subprocess.Popen(
        [sys.executable, "-c", "from lnbayes.io.background import run_job; run_job()"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=env, start_new_session=True)
    try:
        process.stdin.write(job)
        process.stdin.close()
    except OSError:  # it died at once: the main process computes everything itself
        pass
    return CacheFiller(process)


def run_job() -> None:
    """The second process: read the pickled job from stdin and run it."""
    module, name, args = pickle.loads(sys.stdin.buffer.read())
    _target(module, name)(*args)


def _target(module: str, name: str) -> Callable[..., Any]:
    """The function ``name`` (a qualified name) of ``module``, imported."""
    import importlib

    target = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    return target


class Worker:
    """A second process that runs jobs sent to it one at a time, in the order sent.

    Where :func:`start` runs one job to fill the record cache, a worker takes any number of
    jobs (a module-level function and picklable arguments: a figure to save, a pure
    computation) over a pipe while the main process goes on, and says when each has ended,
    with its return value; the main process reads that with :meth:`poll` or :meth:`result`
    and does itself whatever the worker did not finish (it died, was stopped, or a job
    failed). Like the cache filler it is a fresh interpreter in its own
    session (Ctrl-C reaches only the main process, which stops it), prints nothing, and turns
    SIGTERM into :class:`lnbayes.errors.Terminated`, so that a job's atomic writes
    (:func:`lnbayes.io.files.atomic_path`) leave no temporary file behind when it is stopped.
    When the main process goes away without stopping it, the worker finishes the job it is on
    and ends (its pipe closes).
    """

    def __init__(self, process: subprocess.Popen):
        self._process = process
        self._sent = 0
        self._finished: dict[int, bool] = {}
        self._buffer = b""
        self._values: dict[int, bytes] = {}
        self.broken = False

    @property
    def outstanding(self) -> int:
        """Jobs sent whose end has not been read yet."""
        return self._sent - len(self._finished)

    def submit(self, target: Callable[..., Any], *args: Any) -> int | None:
        """Send ``target(*args)``; its number, or None if the worker cannot take it (gone)."""
        if self.broken:
            return None
        job = pickle.dumps((target.__module__, target.__qualname__, args))
        try:
            self._process.stdin.write(len(job).to_bytes(8, "little") + job)
            self._process.stdin.flush()
        except (OSError, ValueError):  # it died: the main process does the job itself
            self.broken = True
            return None
        self._sent += 1
        return self._sent - 1

    def poll(self, timeout: float = 0.0) -> dict[int, bool]:
        """Jobs that ended since ``timeout`` seconds at most (True: finished without error)."""
        import select

        if self.outstanding == 0 or self._process.stdout is None:
            return {}
        ended: dict[int, bool] = {}
        try:
            ready, _, _ = select.select([self._process.stdout], [], [], timeout)
            data = os.read(self._process.stdout.fileno(), 65536) if ready else b""
        except OSError:
            data, ready = b"", True
        if ready and not data:  # the worker ended: what it did not report is not done
            self.broken = True
        self._buffer += data
        # each ended job: its number and size (8 bytes each, little-endian), a status byte
        # (1: finished, 0: failed) and its pickled return value (finished) or nothing
        while len(self._buffer) >= 17:
            size = int.from_bytes(self._buffer[8:16], "little")
            if len(self._buffer) < 17 + size:
                break
            number = int.from_bytes(self._buffer[:8], "little")
            ok = self._buffer[16] == 1
            if ok:
                self._values[number] = self._buffer[17:17 + size]
            self._buffer = self._buffer[17 + size:]
            ended[number] = ok
        self._finished.update(ended)
        return ended

    def result(self, number: int | None) -> tuple[bool, Any]:
        """Wait (in short waits) for job ``number`` to end: ``(True, its return value)``, or
        ``(False, None)`` if it failed, the worker ended first, or it was never sent (None)."""
        while number is not None and number not in self._finished and not self.broken:
            self.poll(WAIT_SECONDS)
        if number is None or not self._finished.get(number):
            return False, None
        return True, pickle.loads(self._values.pop(number))

    def close(self) -> dict[int, bool]:
        """Send no more jobs; wait (in short waits, so that signals are handled) for those sent
        to end. Returns how each ended (a job not reported did not finish)."""
        try:
            self._process.stdin.close()
        except OSError:
            pass
        while self.outstanding and not self.broken:
            self.poll(WAIT_SECONDS)
        while True:
            try:
                self._process.wait(WAIT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                continue
        return dict(self._finished)

    def stop(self) -> None:
        """Stop the worker if it still runs (idempotent)."""
        CacheFiller(self._process).stop()
        for pipe in (self._process.stdin, self._process.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass


def allowed() -> bool:
    """Whether a second process may help: a second core, and ``LNBAYES_BACKGROUND`` not off."""
    if cores() < 2:
        return False
    return os.environ.get("LNBAYES_BACKGROUND", "").strip().lower() not in ("off", "0", "no",
                                                                             "false")


def start_worker() -> Worker | None:
    """Start a :class:`Worker`; None, and nothing started, when there is no second core or
    ``LNBAYES_BACKGROUND=off``."""
    if not allowed():
        return None
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    # the parent's arguments follow, so that a job's provenance (files.command_line) names the
    # command the user ran, not the worker's
    process = subprocess.Popen(
        [sys.executable, "-c", "from lnbayes.io.background import run_worker; run_worker()",
         *sys.argv[1:]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=env, start_new_session=True)
    return Worker(process)


def run_worker() -> None:
    """The worker process: run each job read from stdin, in order, and report its end (with
    its pickled return value) on stdout, the pipe :meth:`Worker.poll` reads."""
    import threading
    from queue import Queue

    from lnbayes.io import stops

    # SIGTERM as Terminated (its own session: no Ctrl-C reaches it)
    stops.install(sigint=False, debug=bool(os.environ.get("LNBAYES_DEBUG")))
    report = os.fdopen(os.dup(1), "wb")
    with open(os.devnull, "wb") as devnull:  # whatever a job prints goes nowhere
        os.dup2(devnull.fileno(), 1)
    # jobs are read as soon as they arrive, so that the main process never waits on the pipe
    # while this one is busy with an earlier job
    queue: Queue = Queue()

    def read_jobs(jobs=sys.stdin.buffer) -> None:
        while True:
            head = jobs.read(8)
            if len(head) < 8:
                break
            queue.put(jobs.read(int.from_bytes(head, "little")))
        queue.put(None)

    threading.Thread(target=read_jobs, daemon=True).start()
    number = 0
    while (job := queue.get()) is not None:
        try:
            module, name, args = pickle.loads(job)
            value = pickle.dumps(_target(module, name)(*args))
            status = b"\x01"
        except Exception:  # noqa: BLE001 - the main process does the job itself
            value, status = b"", b"\x00"
        try:
            report.write(number.to_bytes(8, "little") + len(value).to_bytes(8, "little")
                         + status + value)
            report.flush()
        except OSError:
            return
        number += 1
