"""Errors that the CLI turns into one-line messages and exit statuses."""

from __future__ import annotations


class LnbayesError(Exception):
    """A user-facing error: bad input, unknown name, unreadable file, an impossible request.

    Each entry of ``problems`` is one line naming the file, the field and the problem,
    e.g. ``models/x.toml: priors.sceptical.effect.sd: must be > 0``. The CLI prints each line
    after ``error:`` and exits with status 2.
    """

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised by the CLI's signal handler so that the clean-up of Ctrl-C runs for it too.

    Library code treats it as a KeyboardInterrupt: it stops, saves nothing half-done, and lets
    it propagate; the CLI exits with status 143.
    """
