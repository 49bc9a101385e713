"""Reverse questions (engines/reverse.py) against an independent brute force written here: its
own posterior probabilities (Beta posteriors integrated with scipy.integrate.quad), its own
decision sets, its own binomial sums (scipy.stats.binom) and its own bisection."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from lnbayes.engines import enumeration
from lnbayes.engines import reverse as rev
from lnbayes.model.spec import BetaPrior, Prior


def brute_p_benefit(y_t, n_t, y_c, n_c, a=1.0, b=1.0, lower=False):
    """P(p_t > p_c | data) (< when lower is better) under Beta(a, b) priors on both arms."""
    post_c = stats.beta(a + y_c, b + n_c - y_c)
    post_t = stats.beta(a + y_t, b + n_t - y_t)
    if lower:
        f = lambda x: post_c.pdf(x) * post_t.cdf(x)  # noqa: E731
    else:
        f = lambda x: post_c.pdf(x) * post_t.sf(x)  # noqa: E731
    value, _ = integrate.quad(f, 0, 1, epsabs=1e-13, epsrel=1e-12, limit=200)
    return value


def brute_declare(n_t, n_c, threshold, a=1.0, b=1.0, lower=False):
    out = np.zeros((n_c + 1, n_t + 1), bool)
    for yc in range(n_c + 1):
        for yt in range(n_t + 1):
            out[yc, yt] = brute_p_benefit(yt, n_t, yc, n_c, a, b, lower) >= threshold
    return out


def brute_power(decl, p_c, p_t):
    n_c, n_t = decl.shape[0] - 1, decl.shape[1] - 1
    joint = np.outer(stats.binom.pmf(np.arange(n_c + 1), n_c, p_c),
                     stats.binom.pmf(np.arange(n_t + 1), n_t, p_t))
    return float(joint[decl].sum())


def brute_mde(decl, p_c, target, lower=False):
    lo, hi = (0.0, p_c) if lower else (p_c, 1.0)
    if brute_power(decl, p_c, 0.0 if lower else 1.0) < target:
        return None
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = brute_power(decl, p_c, mid) >= target
        if above != lower:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def beta_arm_prior(a):
    """Beta(a, a) on both arms (the package's prior object, for the package's side)."""
    return Prior("beta", "arm", BetaPrior.single(a, a), treatment=BetaPrior.single(a, a))


CASES = [  # n_t, n_c, control events held, threshold, Beta(a, a) prior, lower is better
    (12, 6, 5, 0.95, 1.0, False),  # Deng stopped, observed control 5/6
    (17, 8, 6, 0.95, 1.0, False),  # Deng planned, the control counts nearest 5/6
    (17, 8, 7, 0.95, 1.0, False),
    (12, 6, 3, 0.95, 1.0, False),
    (17, 8, 4, 0.9, 2.0, False),
    (12, 6, 4, 0.9, 1.0, True),
]


@pytest.mark.heavy
@pytest.mark.parametrize("n_t,n_c,y_c,threshold,a,lower", CASES)
def test_needed_count_matches_brute_force(n_t, n_c, y_c, threshold, a, lower):
    decl_pkg = enumeration.declare_table(beta_arm_prior(a), n_t, n_c, threshold, lower)
    decl = brute_declare(n_t, n_c, threshold, a, a, lower)
    assert np.array_equal(decl_pkg, decl)
    got = rev.needed_count(decl_pkg, y_c, lower)
    hits = [yt for yt in range(n_t + 1) if decl[y_c, yt]]
    want = (max(hits) if lower else min(hits)) if hits else None
    assert got["treatment_events"] == want
    assert got["control_events"] == y_c and got["n_treatment"] == n_t
    if want is not None:
        assert got["risk_difference"] == pytest.approx(want / n_t - y_c / n_c, abs=1e-15)
        # the count just short of it does not declare (it is the least extreme one)
        short = want + 1 if lower else want - 1
        if 0 <= short <= n_t:
            assert not decl[y_c, short]


@pytest.mark.parametrize("n_t,n_c,p_c,threshold,a,lower", [
    (17, 8, 0.6, 0.95, 1.0, False),  # Deng planned at the expected control rate
    (12, 6, 0.3, 0.95, 1.0, False),
    (24, 12, 0.5, 0.9, 1.0, False),
    (17, 8, 0.6, 0.9, 1.0, True),
])
@pytest.mark.heavy
def test_minimal_detectable_rate_matches_brute_force(n_t, n_c, p_c, threshold, a, lower):
    decl = brute_declare(n_t, n_c, threshold, a, a, lower)
    got = rev.minimal_detectable_rate(decl, p_c, 0.8, lower)
    want = brute_mde(decl, p_c, 0.8, lower)
    if want is None:
        assert got["p_treatment"] is None
        assert got["max_power"] == pytest.approx(brute_power(decl, p_c, 0.0 if lower else 1.0),
                                                 abs=1e-12)
    else:
        assert got["p_treatment"] == pytest.approx(want, abs=1e-8)
        assert brute_power(decl, p_c, got["p_treatment"]) == pytest.approx(0.8, abs=1e-7)
        odds = want * (1 - p_c) / (p_c * (1 - want))
        assert got["odds_ratio"] == pytest.approx(odds, rel=1e-6)
    assert got["monotone"]


def test_stopped_deng_flat_reaches_no_declaration():
    """At 12/6 with 5/6 controls responding, no hUC-MSC count declares benefit under flat priors
    at 0.95, and 80% power at a control rate of 0.6 is out of reach (max power = P(declare) when
    every treated patient responds)."""
    decl = brute_declare(12, 6, 0.95)
    assert rev.needed_count(decl, 5)["treatment_events"] is None
    got = rev.minimal_detectable_rate(decl, 0.6, 0.8)
    assert got["p_treatment"] is None
    assert got["max_power"] == pytest.approx(brute_power(decl, 0.6, 1.0), abs=1e-12)
    assert got["max_power"] < 0.8


def test_non_monotone_row_is_flagged():
    decl = np.zeros((3, 5), bool)
    decl[1, [2, 4]] = True  # count 3 does not declare between two that do
    got = rev.needed_count(decl, 1)
    assert got["treatment_events"] == 2 and got["monotone"] is False
    assert rev.needed_count(decl, 0)["treatment_events"] is None
