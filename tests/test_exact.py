"""The exact engine against independent closed forms and scipy.integrate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats

from lnbayes.engines import exact
from lnbayes.model import effects
from lnbayes.model.spec import BetaPrior, NormalPrior, Outcome

DENG = Outcome("remission", "Remission", 9, 12, 5, 6)


def prob_beta_greater(a1, b1, a2, b2):
    """P(X > Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2), integer a1 (Evan Miller's closed form)."""
    total = 0.0
    for i in range(int(a1)):
        total += math.exp(
            special.betaln(a2 + i, b1 + b2) - math.log(b1 + i) - special.betaln(1 + i, b1)
            - special.betaln(a2, b2)
        )
    return total


def test_flat_prior_deng_matches_independent_quadrature():
    post = exact.arm_posterior(BetaPrior.single(1, 1), BetaPrior.single(1, 1), DENG)
    p = post.prob_benefit()
    by_quad = integrate.quad(lambda x: stats.beta.pdf(x, 6, 2) * stats.beta.sf(x, 10, 4), 0, 1,
                             epsabs=1e-13)[0]
    assert abs(p - by_quad) < 1e-8
    assert abs(p - 0.405831) < 1e-6  # the independent value
    assert abs(p - prob_beta_greater(10, 4, 6, 2)) < 1e-8


def test_flat_prior_deng_risk_difference_interval():
    post = exact.arm_posterior(BetaPrior.single(1, 1), BetaPrior.single(1, 1), DENG)
    est = post.interval("risk_difference")

    def cdf(v):
        return integrate.quad(lambda x: stats.beta.pdf(x, 6, 2) * stats.beta.cdf(x + v, 10, 4),
                              0, 1, epsabs=1e-13)[0]

    for key, q in (("median", 0.5), ("lower", 0.025), ("upper", 0.975)):
        ref = optimize.brentq(lambda v: cdf(v) - q, -0.99, 0.99, xtol=1e-10)
        assert abs(est[key] - ref) < 1e-5, key
    assert abs(est["median"] - (-0.044)) < 1e-3
    assert abs(est["lower"] - (-0.381)) < 1e-3
    assert abs(est["upper"] - 0.351) < 1e-3


@settings(max_examples=40, deadline=None)
@given(
    yt=st.integers(0, 20), nt_extra=st.integers(0, 20), yc=st.integers(0, 20),
    nc_extra=st.integers(0, 20), a=st.integers(1, 4), b=st.integers(1, 4),
)
def test_arm_level_against_closed_form(yt, nt_extra, yc, nc_extra, a, b):
    outcome = Outcome("o", "o", yt, yt + nt_extra, yc, yc + nc_extra)
    post = exact.arm_posterior(BetaPrior.single(a, b), BetaPrior.single(a, b), outcome)
    ref = prob_beta_greater(a + yt, b + nt_extra, a + yc, b + nc_extra)
    p = post.prob_benefit()
    assert 0 <= p <= 1
    assert abs(p - ref) < 1e-6


def _dblquad_prob_benefit(scale, m, s, outcome, a_c=1.0, b_c=1.0):
    def dens(th, pc):
        lo, hi = effects.theta_bounds(scale, pc)
        if not lo < th < hi:
            return 0.0
        mass = stats.norm.cdf(hi, m, s) - stats.norm.cdf(lo, m, s)
        pt = float(effects.p_treatment(scale, pc, th))
        return (stats.beta.pdf(pc, a_c, b_c) * stats.norm.pdf(th, m, s) / mass
                * stats.binom.pmf(outcome.control_events, outcome.control_n, pc)
                * stats.binom.pmf(outcome.treatment_events, outcome.treatment_n, pt))

    def lims(pc):
        lo, hi = effects.theta_bounds(scale, pc)
        return max(lo, m - 12 * s), min(hi, m + 12 * s)

    kw = dict(epsabs=1e-12, epsrel=1e-10)
    total = integrate.dblquad(dens, 0, 1, lambda pc: lims(pc)[0], lambda pc: lims(pc)[1], **kw)[0]
    above = integrate.dblquad(dens, 0, 1, lambda pc: max(0.0, lims(pc)[0]),
                              lambda pc: lims(pc)[1], **kw)[0]
    return above / total, math.log(total)


@pytest.mark.parametrize(
    "scale,mean,sd,a_c,b_c",
    [
        ("log_or", 0.0, 0.668, 1, 1),
        ("log_or", 0.8, 0.3, 6, 4),
        ("log_or", 0.0, 10.0, 1, 1),
        ("rd", 0.0, 0.2, 1, 1),
        ("rd", 0.2, 0.1, 2, 2),
        ("log_rr", 0.0, 0.5, 1, 1),
    ],
)
def test_effect_level_against_dblquad(scale, mean, sd, a_c, b_c):
    post = exact.effect_posterior(BetaPrior.single(a_c, b_c), scale, NormalPrior.single(mean, sd), DENG)
    ref, log_total = _dblquad_prob_benefit(scale, mean, sd, DENG, a_c, b_c)
    assert abs(post.prob_benefit() - ref) < 1e-4
    assert abs(post.log_evidence - log_total) < 1e-4


def test_effect_level_log_or_threshold_against_dblquad():
    """P(RR > 1.2) under a log-OR prior: a threshold on another scale than the prior's."""
    m, s = 0.3, 0.5
    post = exact.effect_posterior(BetaPrior.single(1, 1), "log_or", NormalPrior.single(m, s), DENG)

    def dens(th, pc):
        pt = special.expit(special.logit(pc) + th)
        return (stats.norm.pdf(th, m, s) * stats.binom.pmf(5, 6, pc) * stats.binom.pmf(9, 12, pt))

    def th_at(pc):  # theta at which RR = 1.2, or +inf where p_t cannot reach 1.2 p_c
        t = 1.2 * pc
        return special.logit(t) - special.logit(pc) if t < 1 else m + 12 * s

    kw = dict(epsabs=1e-12, epsrel=1e-10)
    total = integrate.dblquad(dens, 0, 1, lambda pc: m - 12 * s, lambda pc: m + 12 * s, **kw)[0]
    above = integrate.dblquad(dens, 0, 1, th_at, lambda pc: m + 12 * s, **kw)[0]
    assert abs(post.prob_beyond("risk_ratio", 1.2) - above / total) < 1e-4


def test_lower_is_better_mirrors_complement_counts():
    """Fewer events on a harmful outcome is the same question as more non-events."""
    harmful = Outcome("death", "Death", 1, 12, 0, 6, better="lower")
    complement = Outcome("alive", "Alive", 11, 12, 6, 6, better="higher")
    flat = BetaPrior.single(1, 1)
    p_harm_benefit = exact.arm_posterior(flat, flat, harmful).prob_benefit(lower_is_better=True)
    p_alive_benefit = exact.arm_posterior(flat, flat, complement).prob_benefit()
    assert abs(p_harm_benefit - p_alive_benefit) < 1e-8
    assert abs(p_harm_benefit - (1 - prob_beta_greater(2, 12, 1, 7))) < 1e-8


def test_beta_mixture_update_against_numerical_integration():
    prior = BetaPrior((0.7, 0.3), (12.0, 1.0), (8.0, 1.0))
    post, log_ev = exact.update_beta(exact.BetaMix.of(prior), 9, 12)

    def prior_pdf(x):
        return 0.7 * stats.beta.pdf(x, 12, 8) + 0.3 * stats.beta.pdf(x, 1, 1)

    ev = integrate.quad(lambda x: prior_pdf(x) * stats.binom.pmf(9, 12, x), 0, 1, epsabs=1e-14)[0]
    assert abs(log_ev - math.log(ev)) < 1e-8
    mean = integrate.quad(lambda x: x * prior_pdf(x) * stats.binom.pmf(9, 12, x), 0, 1,
                          epsabs=1e-14)[0] / ev
    assert abs(post.mean() - mean) < 1e-8


@settings(max_examples=15, deadline=None)
@given(sd=st.floats(0.2, 2.0), lo=st.floats(-1.5, 0.5), step=st.floats(0.2, 1.5))
def test_prob_benefit_rises_with_prior_centre(sd, lo, step):
    flat = BetaPrior.single(1, 1)
    p_lo = exact.effect_posterior(flat, "log_or", NormalPrior.single(lo, sd), DENG).prob_benefit()
    p_hi = exact.effect_posterior(flat, "log_or", NormalPrior.single(lo + step, sd), DENG).prob_benefit()
    assert 0 <= p_lo <= 1 and 0 <= p_hi <= 1
    assert p_hi > p_lo


def test_quantiles_are_ordered_and_inside_support():
    post = exact.effect_posterior(BetaPrior.single(1, 1), "rd", NormalPrior.single(0, 0.3), DENG)
    for measure in effects.MEASURES:
        est = post.interval(measure)
        assert est["lower"] < est["median"] < est["upper"]
    rd = post.interval("risk_difference")
    assert -1 < rd["lower"] and rd["upper"] < 1
    assert np.isclose(post.cdf("risk_difference", [rd["median"]])[0], 0.5, atol=1e-6)


@pytest.mark.parametrize("points", [1, 3, 50])
def test_row_lookup_equals_np_interp_row_by_row(points):
    """The vectorised row interpolation of the effect posterior gives np.interp's values, with
    repeated nodes, nodes 1e-13 apart (a point-like prior) and points outside the rows."""
    from lnbayes.engines.exact import _RowLookup

    rng = np.random.default_rng(points)
    rows = 9
    wide = rng.normal(scale=5.0, size=(rows, 300))
    tight = 1e-13 * rng.random((rows, 200))
    repeated = np.repeat(rng.normal(size=(rows, 1)), 3, axis=1)
    nodes = np.sort(np.concatenate([wide, tight, repeated], axis=1), axis=1)
    values = np.cumsum(rng.random(nodes.shape), axis=1)
    at = rng.normal(scale=8.0, size=(rows, points))
    at[:, 0] = np.where(rng.random(rows) < 0.5, 5e-14, nodes[:, 7])  # inside the tight cluster
    got = _RowLookup(nodes).interp(at, values, left=-1.0, right=-2.0)
    want = np.array([np.interp(at[i], nodes[i], values[i], left=-1.0, right=-2.0)
                     for i in range(rows)])
    np.testing.assert_allclose(got, want, rtol=4e-16, atol=4e-15)
