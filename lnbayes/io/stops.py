"""Ctrl-C and SIGTERM that stop a command even where Python drops the exception they raise.

A signal's Python handler runs in whatever Python code the main thread is executing when the
signal arrives. If that is a ``__del__`` method or a weakref callback (the garbage collector's,
importlib's module cache), the exception the handler raises is printed as "Exception ignored
in ..." and dropped, and the command goes on as if no signal had come: a report sent SIGTERM
while it wrote its draws ran to its end and exited 0 (seen once in the test suite, in
``KeyedRef.remove`` of ``<frozen importlib._bootstrap>``).

The handlers installed here (:func:`install`) also remember the signal (and keep Python from
printing the dropped exception's traceback, and the errors of destructors of the objects the
stop left half built: the user sees the command's one line), and
:func:`check` raises it again at the next safe point: before a file is moved into place
(:func:`lnbayes.io.files.atomic_path`, so the file being written when the signal came is not
committed), between the sampler's short waits (:func:`lnbayes.engines.mcmc.sample`), and when a
command ends without the exception having reached the CLI's handler (lnbayes.cli.main).
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Callable

from lnbayes.errors import Terminated

_pending: type[BaseException] | None = None


def _raise(kind: type[BaseException]) -> None:
    global _pending
    _pending = kind
    raise kind()


def _on_sigterm(signum, frame) -> None:
    _raise(Terminated)


def _on_sigint(signum, frame) -> None:
    _raise(KeyboardInterrupt)


def pending() -> type[BaseException] | None:
    """The exception of a signal received since :func:`install` (None: none came)."""
    return _pending


def check() -> None:
    """Raise the exception of a signal received since :func:`install`, if one came.

    The signal's handler raised it already; this raises it again in case it was dropped
    (see the module's docstring). Does nothing when no signal came.
    """
    if _pending is not None:
        raise _pending()


def install(sigint: bool = True, debug: bool = False) -> Callable[[], None]:
    """Handle SIGTERM (as :class:`lnbayes.errors.Terminated`) and, if ``sigint`` and Python's
    own handler is in place (not ignored, not replaced), SIGINT (as ``KeyboardInterrupt``), both
    remembered for :func:`check`, their exceptions not printed when Python drops them. Once a
    stop has come, the errors of destructors are not printed either, unless ``debug`` (the
    command's ``--debug`` or ``LNBAYES_DEBUG``).

    Returns the function that restores the previous handlers and forgets a signal received.
    Outside the main thread (where handlers cannot be set) nothing is installed."""
    global _pending
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    _pending = None
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _on_sigterm)}
    if sigint and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _on_sigint)
    hook = sys.unraisablehook

    def quiet(unraisable) -> None:
        # once a stop has come, what Python drops is not printed: the stop's own exception
        # (raised again by check()), and any error of a destructor of an object the stop left
        # half built (xarray's CachingFileManager, interrupted in its __init__, fails in its
        # __del__ with AttributeError); debug prints the second kind
        if _pending is None or (debug and not isinstance(unraisable.exc_value, KeyboardInterrupt)):
            hook(unraisable)

    sys.unraisablehook = quiet

    def restore() -> None:
        global _pending
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if sys.unraisablehook is quiet:
            sys.unraisablehook = hook
        _pending = None

    return restore
