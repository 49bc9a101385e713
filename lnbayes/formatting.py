"""How lnbayes writes a number: one formatter for the tables, figures, appendix and messages.

Pure Python, layer 0 (beside :mod:`lnbayes.errors`), so every layer writes numbers the same way.
"""

from __future__ import annotations

import math

MISSING = "–"
"""What a missing number prints as."""


def fixed(x: float, digits: int) -> str:
    """Fixed-point text without a minus sign on values that round to zero ("-0.00")."""
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def probability(x: float | None, digits: int = 3) -> str:
    """A probability with ``digits`` decimals on every row; bounds where that would print 0 or 1.

    ``probability(0.4058) == "0.406"``, ``probability(2e-6) == "< 0.001"``, and exactly 0 or 1
    print as such.
    """
    if x is None:
        return MISSING
    floor = 10.0 ** -digits
    if 0 < x < floor / 2:
        return f"< {floor:.{digits}f}"
    if 1 - floor / 2 < x < 1:
        return f"> {1 - floor:.{digits}f}"
    return fixed(x, digits)


NUMERICAL_ZERO = 1e-12
"""Estimates closer to 0 than this print as "0": the exact engine resolves about 1e-9, so a
median of a symmetric prior's risk difference found as 1e-16 is 0, not "1.11e-16"."""


def estimate(x: float, digits: int = 3) -> str:
    """An estimate to ``digits`` significant figures, trailing zeros kept; 0 (to within
    :data:`NUMERICAL_ZERO`) is "0".

    ``estimate(0.6) == "0.600"``, ``estimate(0.0486) == "0.0486"``, ``estimate(250.0) == "250"``,
    ``estimate(0.6, 2) == "0.60"``, ``estimate(-1e-9) == "-1.00e-09"``, ``estimate(1e-16) == "0"``.
    """
    if abs(x) < NUMERICAL_ZERO:
        return "0"
    text = f"{x:#.{digits}g}".rstrip(".")
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def ratio(x: float, digits: int = 3) -> str:
    """A ratio (odds ratio, risk ratio) as :func:`estimate`, but never "0": a positive ratio
    below 0.001 or above 100,000 is written in scientific notation.

    ``ratio(0.444) == "0.444"``, ``ratio(2e-59) == "2.00e-59"``, ``ratio(3e7) == "3.00e+07"``.
    """
    if x > 0 and math.isfinite(x) and (x < 1e-3 or x >= 1e5):
        return f"{x:.{digits - 1}e}"
    return estimate(x, digits)


def interval(est: dict[str, float], digits: int = 3) -> str:
    """``median (lower to upper)`` of an estimate dict."""
    return (f"{estimate(est['median'], digits)} ({estimate(est['lower'], digits)} to "
            f"{estimate(est['upper'], digits)})")


def short(x: float, digits: int = 4) -> str:
    """A parameter as typed: ``digits`` significant figures, no trailing zeros (``Beta(2.5, 1)``)."""
    return f"{x:.{digits}g}"


def table_number(x: float | None, digits: int = 3) -> str:
    """A number in a table column: ``digits`` decimals, scientific when that would hide it."""
    if x is None:
        return "-"
    if x != 0 and math.isfinite(x) and (abs(x) >= 1000 or abs(x) < 10 ** -digits):
        return f"{x:.2e}"
    return f"{x:.{digits}f}"
