"""Errors that the CLI turns into one-line messages and exit status 2."""

from __future__ import annotations


class LnbayesError(Exception):
    """A user-facing error: bad input, unknown name, unreadable file.

    Each entry of ``problems`` is one line naming the file, the field and the problem,
    e.g. ``models/x.toml: priors.sceptical.effect.sd: must be > 0``.
    """

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))
