"""Roots of monotone functions on a bracket, robust to the last bit of a float (NumPy/SciPy).

Every root-finder of lnbayes goes through :func:`monotone_root`. A bracket ``[lo, hi]`` found
from one evaluation of a function (often a vectorised evaluation on a grid) may not bracket the
root when the same function is evaluated again at one point: summation order, BLAS kernels and
compilers move the last bit of a float, and a probability that equals its target exactly (the
median of a symmetric distribution) then lands on either side of it. ``scipy.optimize.brentq``
raises ``f(a) and f(b) must have different signs`` in that case; the last release crashed on
another machine for that reason (the flat prior's median of p_treatment, exactly 0.5).

:func:`monotone_root` therefore

1. evaluates the function at both ends itself and accepts an exact zero at either end;
2. when both ends have the same sign, widens the bracket on the side where a monotone function
   must have its root (doubling the step, within the ``limits`` of the domain), so that a
   bracket that is one ulp off becomes a bracket one step wider;
3. at a limit of the domain without a sign change, returns that limit (``at_limit="clamp"``, for
   quantiles beyond a range that is reported as the range's end) or raises :class:`NoRootError`
   with the values found (``at_limit="raise"``);
4. otherwise calls Brent's method on a bracket whose signs it has checked.

The answer is continuous in the inputs: moving the function by one ulp moves the root by about
one ulp divided by the slope, never by a bracket's width.
"""

from __future__ import annotations

import math
from typing import Callable


class NoRootError(ValueError):
    """A monotone function has no sign change within the limits of its domain."""


def monotone_root(
    f: Callable[[float], float],
    lo: float,
    hi: float,
    *,
    increasing: bool,
    limits: tuple[float, float] | None = None,
    at_limit: str = "raise",
    xtol: float = 1e-12,
    rtol: float = 4 * 2.220446049250313e-16,
    max_widen: int = 200,
    what: str = "the root",
) -> float:
    """The root of a monotone function ``f`` starting from the bracket ``[lo, hi]``.

    Parameters
    ----------
    f
        Monotone (not necessarily strictly) on ``limits``; float -> float.
    lo, hi
        A first bracket (``lo < hi``); it need not contain the root.
    increasing
        Whether ``f`` increases (True) or decreases (False): says on which side to widen.
    limits
        The domain ``(lower, upper)`` the bracket may be widened to (default: the bracket
        itself, i.e. no widening). Infinite limits are allowed.
    at_limit
        ``"raise"``: :class:`NoRootError` when ``f`` keeps its sign up to a limit.
        ``"clamp"``: return that limit instead (e.g. a quantile beyond a searched range).
    xtol, rtol
        Brent's method tolerances.
    max_widen
        Most widening steps (each doubles the step).
    what
        What the root is, for the error message.

    Returns
    -------
    float
        A point where ``f`` changes sign (or is exactly zero), within ``xtol + rtol |x|``.

    Raises
    ------
    NoRootError
        No sign change within the limits (with ``at_limit="raise"``), or ``f`` is NaN.
    """
    if at_limit not in ("raise", "clamp"):
        raise ValueError(f"at_limit must be 'raise' or 'clamp', got {at_limit!r}")
    lo, hi = float(lo), float(hi)
    if not lo <= hi:
        raise ValueError(f"the bracket must have lo <= hi, got [{lo!r}, {hi!r}]")
    lim_lo, lim_hi = (lo, hi) if limits is None else (float(limits[0]), float(limits[1]))
    lo, hi = max(lo, lim_lo), min(hi, lim_hi)
    sign = 1.0 if increasing else -1.0

    def g(x: float) -> float:
        value = float(f(x))
        if math.isnan(value):
            raise NoRootError(f"{what}: the function is NaN at {x!r}")
        return sign * value  # increasing from here on

    g_lo, g_hi = g(lo), g(hi)
    if g_lo == 0.0:
        return lo
    if g_hi == 0.0:
        return hi
    if (g_lo < 0.0) != (g_hi < 0.0):  # a sign change (in either order): Brent's method
        return _brent(g, lo, hi, xtol, rtol)
    step = max(hi - lo, abs(lo) * 1e-12, abs(hi) * 1e-12, 1e-300)
    widened = 0
    while g_lo > 0.0:  # the root is below lo
        if lo <= lim_lo or widened >= max_widen:
            return _at_limit(lo, at_limit, what, "below", g_lo * sign)
        new_lo = max(lo - step, lim_lo)
        hi, g_hi = lo, g_lo
        lo, g_lo = new_lo, g(new_lo)
        if g_lo == 0.0:
            return lo
        step *= 2.0
        widened += 1
    while g_hi < 0.0:  # the root is above hi
        if hi >= lim_hi or widened >= max_widen:
            return _at_limit(hi, at_limit, what, "above", g_hi * sign)
        new_hi = min(hi + step, lim_hi)
        lo, g_lo = hi, g_hi
        hi, g_hi = new_hi, g(new_hi)
        if g_hi == 0.0:
            return hi
        step *= 2.0
        widened += 1
    if lo == hi:
        return lo
    return _brent(g, lo, hi, xtol, rtol)


def _at_limit(x: float, at_limit: str, what: str, side: str, value: float) -> float:
    if at_limit == "clamp":
        return x
    raise NoRootError(
        f"{what}: no sign change up to the end of the domain; the root would lie {side} "
        f"{x:.6g}, where the function is {value:.6g}"
    )


def _brent(g: Callable[[float], float], lo: float, hi: float, xtol: float, rtol: float) -> float:
    from scipy import optimize

    return float(optimize.brentq(g, lo, hi, xtol=xtol, rtol=rtol))
