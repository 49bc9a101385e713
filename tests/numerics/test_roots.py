"""lnbayes.numerics.roots: the bracketing root finder that widens a bracket one ulp off.

The last release crashed on another machine (``ValueError: f(a) and f(b) must have different
signs``) where rounding put a quantile's target just outside the bracket; the engines' quantiles
that use this root finder are tested in tests/engines/test_exact.py and test_prior_grid.py."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from lnbayes.numerics import roots


def moved(x: float) -> list[float]:
    """x one ulp down and up, and moved by a relative 1e-12 both ways (1e-12 if x is 0)."""
    step = 1e-12 * abs(x) if x != 0 else 1e-12
    return [float(np.nextafter(x, -np.inf)), float(np.nextafter(x, np.inf)), x - step, x + step]



def test_zero_at_either_end_is_accepted():
    assert roots.monotone_root(lambda x: x - 1.0, 1.0, 2.0, increasing=True) == 1.0
    assert roots.monotone_root(lambda x: x - 2.0, 1.0, 2.0, increasing=True) == 2.0



def test_bracket_one_ulp_off_is_widened():
    """The crash pattern: the root is at the bracket's end, where f has the wrong sign by 1 ulp."""
    below = float(np.nextafter(0.5, 0.0))

    def f(x):  # increasing, root exactly at 0.5, but evaluates to -1 ulp at 0.5
        return -1e-16 if x == 0.5 else x - 0.5

    assert f(0.4975) < 0 and f(0.5) < 0  # the bracket brentq was given
    with pytest.raises(ValueError, match="different signs"):
        optimize.brentq(f, 0.4975, 0.5)
    root = roots.monotone_root(f, 0.4975, 0.5, increasing=True, limits=(0.0, 1.0))
    assert abs(root - 0.5) <= 1e-12
    assert below <= root



def test_decreasing_function_widens_the_right_way():
    root = roots.monotone_root(lambda x: 3.0 - x, 0.0, 1.0, increasing=False, limits=(0.0, 10.0))
    assert root == pytest.approx(3.0, abs=1e-12)
    root = roots.monotone_root(lambda x: -3.0 - x, 0.0, 1.0, increasing=False,
                               limits=(-np.inf, np.inf))
    assert root == pytest.approx(-3.0, abs=1e-12)



def test_no_sign_change_raises_or_clamps():
    with pytest.raises(roots.NoRootError, match="the answer: no sign change"):
        roots.monotone_root(lambda x: x + 5.0, 0.0, 1.0, increasing=True, limits=(-1.0, 1.0),
                            what="the answer")
    assert roots.monotone_root(lambda x: x + 5.0, 0.0, 1.0, increasing=True, limits=(-1.0, 1.0),
                               at_limit="clamp") == -1.0
    assert roots.monotone_root(lambda x: x - 5.0, 0.0, 1.0, increasing=True, limits=(-1.0, 1.0),
                               at_limit="clamp") == 1.0



def test_nan_is_an_error_not_a_root():
    with pytest.raises(roots.NoRootError, match="NaN"):
        roots.monotone_root(lambda x: float("nan"), 0.0, 1.0, increasing=True)



@pytest.mark.parametrize("target", [0.5, 1e-300, 1 - 2**-53, 0.3])
def test_helper_is_continuous_in_its_target(target):
    base = roots.monotone_root(lambda x: x - target, 0.0, 1.0, increasing=True, xtol=1e-15)
    for t in moved(target):
        if 0 <= t <= 1:
            r = roots.monotone_root(lambda x, t=t: x - t, 0.0, 1.0, increasing=True, xtol=1e-15)
            assert abs(r - base) <= 2e-15 + 1e-11 * target

