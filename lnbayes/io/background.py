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
    import importlib

    module, name, args = pickle.loads(sys.stdin.buffer.read())
    target = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    target(*args)
