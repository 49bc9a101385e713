"""The exact engine against independent closed forms and scipy.integrate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats

import exact_reference
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


def test_partial_panel_weights_integrate_polynomials_exactly():
    """The in-panel partial integrals of the effect-level rows: exact for degree < GL_K."""
    s = np.linspace(-1, 1, 7)
    nodes = (np.polynomial.legendre.leggauss(exact.GL_K)[0])
    for deg in range(exact.GL_K):
        f = nodes**deg
        got = exact._partial_weights(s) @ f
        want = 0.5 * (s ** (deg + 1) - (-1.0) ** (deg + 1)) / (deg + 1)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# Against the independent high-precision reference (tests/exact_reference.py)
# ---------------------------------------------------------------------------------------------

PROB_TOL = 1e-8
"""Absolute tolerance on probabilities (issue 12)."""
QUANTILE_RTOL = 1e-7
"""Relative tolerance on quantiles (plus 1e-9 absolute, for risk differences near 0)."""

REFERENCE = json.loads((Path(__file__).parent / "data" / "exact_reference.json").read_text())


def _engine(case):
    name, kind, c, e, (yt, nt, yc, nc), lower = case
    outcome = Outcome("o", "o", yt, nt, yc, nc, better="lower" if lower else "higher")
    if kind == "arm":
        return exact.arm_posterior(BetaPrior(*c), BetaPrior(*e), outcome), outcome
    scale, w, m, s = e
    return exact.effect_posterior(BetaPrior(*c), scale, NormalPrior(w, m, s), outcome), outcome


@pytest.mark.parametrize("case", exact_reference.CASES, ids=[c[0] for c in exact_reference.CASES])
def test_against_high_precision_reference(case):
    """P(benefit), CDF and survival function at thresholds on three scales, and the 2.5%, 50% and
    97.5% quantiles of every measure (and the log evidence of effect-level priors) against the
    nested-quadrature reference: priors of both families on every scale, truncated log-RR and RD
    priors (one piled against the feasible edge), mixtures on both parameters, lower-is-better
    outcomes, a Beta(1e-9, 1) control prior with no control events, 1,500 patients per arm."""
    ref = REFERENCE[case[0]]
    post, outcome = _engine(case)
    lower = case[-1]
    assert abs(post.prob_benefit(lower) - ref["p_benefit"]) <= PROB_TOL
    for th in ref["thresholds"]:
        cdf = post.cdf(th["measure"], [th["value"]])[0]
        sf = post.sf(th["measure"], [th["value"]])[0]
        assert abs(cdf - th["cdf"]) <= PROB_TOL, th
        assert abs(sf - (1 - th["cdf"])) <= PROB_TOL, th
        above = post.prob_beyond(th["measure"], th["value"], lower)
        assert abs(above - (th["cdf"] if lower else 1 - th["cdf"])) <= PROB_TOL, th
    for measure, refs in ref["quantiles"].items():
        got = post.quantiles(measure, exact_reference.LEVELS)
        for level, g, r in zip(exact_reference.LEVELS, got, refs):
            if r is None:  # degenerate in the reference (p_control piled at 0)
                continue
            assert abs(g - r) <= QUANTILE_RTOL * abs(r) + 1e-9, (measure, level, g, r)
    if ref.get("log_evidence") is not None:
        assert abs(post.log_evidence - ref["log_evidence"]) <= PROB_TOL


def test_reference_data_is_the_reference_live():
    """The stored reference is what the reference code gives (two cheap entries recomputed)."""
    import warnings

    from scipy.integrate import IntegrationWarning

    warnings.simplefilter("ignore", IntegrationWarning)
    cases = {c[0]: c for c in exact_reference.CASES}
    arm = exact_reference.make_ref(cases["arm_flat_deng"])
    stored = REFERENCE["arm_flat_deng"]
    assert abs(1 - arm.cdf("risk_difference", 0.0) - stored["p_benefit"]) < 1e-12
    q = stored["quantiles"]["risk_difference"][2]
    assert abs(arm.cdf("risk_difference", q) - 0.975) < 1e-12
    eff = exact_reference.make_ref(cases["effect_log_or_sceptical"])
    stored = REFERENCE["effect_log_or_sceptical"]
    assert abs(1 - eff.cdf("risk_difference", 0.0) - stored["p_benefit"]) < 1e-12
    assert abs(eff.cdf("risk_difference", 0.1) - stored["thresholds"][0]["cdf"]) < 1e-12


def test_cut_aware_effect_probability_converges_with_rows():
    """P(RR <= 1.2) under a log-OR prior: the line p_t = 1.2 p_c leaves the unit square at
    p_c = 1/1.2, where the sum over the rows converges only algebraically (an error of 2e-5 at 85
    rows); the cut-aware value is the same with 4 times the rows."""
    prior = (BetaPrior.single(1, 1), "log_or", NormalPrior.single(0.0, 0.668))
    a = exact.effect_posterior(*prior, DENG)
    b = exact.effect_posterior(*prior, DENG, n_rows=4 * len(a.x))
    assert abs(a.cdf("risk_ratio", [1.2])[0] - b.cdf("risk_ratio", [1.2])[0]) < 1e-10
    assert abs(a.sf("risk_difference", [0.1])[0] - b.sf("risk_difference", [0.1])[0]) < 1e-10
