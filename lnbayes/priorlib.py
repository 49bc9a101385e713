"""Priors from clinical statements, effective sample size and prior-data conflict (pure maths).

Only NumPy and SciPy here. The spec layer calls these to turn a statement in a trial file into
distribution parameters.
"""

from __future__ import annotations

from typing import Any


def beta_from_spec(d: dict[str, Any], where: str, problems: Any):
    """A Beta prior from ``{mean, ess}`` (a = mean * ess, b = (1 - mean) * ess)."""
    from lnbayes.spec import BetaPrior, _get_number

    if "quantiles" in d:
        problems.add(f"{where}.quantiles", "quantile statements are not supported yet")
        return None
    mean = _get_number(d, "mean", where, problems)
    ess = _get_number(d, "ess", where, problems, positive=True)
    if mean is None or ess is None:
        return None
    if not 0 < mean < 1:
        problems.add(f"{where}.mean", f"must lie in (0, 1), got {mean:.4g}")
        return None
    return BetaPrior.single(mean * ess, (1 - mean) * ess)


def normal_from_statement(d: dict[str, Any], where: str, problems: Any, scale: str | None):
    problems.add(f"{where}.statement", "statement priors are not supported yet")
    return None
