"""lnbayes.engines.exact: posteriors, probabilities and quantiles against closed forms and
scipy.integrate (quad, dblquad), including quantiles that must survive another machine's rounding."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats

from lnbayes.engines import exact, prior_grid
from lnbayes.io import trialfile
from lnbayes.model import effects
from lnbayes.model.spec import BetaPrior, NormalPrior, Outcome, Prior
from tests import exact_reference

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
    # the densities written out with the math module (scipy.stats' pdf, cdf and pmf give the same
    # numbers, but cost about 0.1 ms a call: the reference for the wide prior took 90 s with them)
    log_beta_c = math.lgamma(a_c) + math.lgamma(b_c) - math.lgamma(a_c + b_c)
    yc, nc, yt, nt = (outcome.control_events, outcome.control_n, outcome.treatment_events,
                      outcome.treatment_n)
    comb_c, comb_t = math.comb(nc, yc), math.comb(nt, yt)
    root2 = math.sqrt(2.0)

    def norm_cdf(x):
        return 0.5 * math.erfc(-(x - m) / (s * root2))

    def bounds(pc):  # the effects that keep p_treatment inside (0, 1)
        if scale == "log_or":
            return -math.inf, math.inf
        if scale == "log_rr":
            return -math.inf, -math.log(pc)
        return -pc, 1.0 - pc  # rd

    def p_treatment(pc, th):
        if scale == "log_or":
            return 1.0 / (1.0 + math.exp(-(math.log(pc / (1 - pc)) + th)))
        if scale == "log_rr":
            return pc * math.exp(th)
        return pc + th  # rd

    def dens(th, pc):
        lo, hi = bounds(pc)
        if not lo < th < hi:
            return 0.0
        mass = norm_cdf(hi) - norm_cdf(lo)
        pt = p_treatment(pc, th)
        beta_pdf = math.exp((a_c - 1) * math.log(pc) + (b_c - 1) * math.log1p(-pc) - log_beta_c)
        norm_pdf = math.exp(-0.5 * ((th - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
        lik_c = comb_c * pc**yc * (1 - pc) ** (nc - yc)
        lik_t = comb_t * pt**yt * (1 - pt) ** (nt - yt)
        return beta_pdf * norm_pdf / mass * lik_c * lik_t

    def lims(pc):
        lo, hi = bounds(pc)
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

    def dens(th, pc):  # with the math module: scipy.stats calls cost about 0.1 ms a point
        pt = 1.0 / (1.0 + math.exp(-(math.log(pc / (1 - pc)) + th)))
        norm_pdf = math.exp(-0.5 * ((th - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
        return (norm_pdf * math.comb(6, 5) * pc**5 * (1 - pc)
                * math.comb(12, 9) * pt**9 * (1 - pt) ** 3)

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


# ---------------------------------------------------------------------------------------------
# Against the independent high-precision reference (tests/exact_reference.py)
# ---------------------------------------------------------------------------------------------

PROB_TOL = 1e-8
"""Absolute tolerance on probabilities (issue 12)."""
QUANTILE_RTOL = 1e-7
"""Relative tolerance on quantiles (plus 1e-9 absolute, for risk differences near 0)."""

REFERENCE = json.loads(exact_reference.DATA.read_text())


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


ROOT = Path(__file__).resolve().parents[2]

DENG_FILE = ROOT / "models" / "deng2017.toml"

REMISSION = Outcome("remission", "Remission", 9, 12, 5, 6)


@pytest.fixture(scope="session")
def deng_trial():
    return trialfile.load_trial(DENG_FILE)


def _dblquad_p_benefit(joint):
    """P(p_treatment > p_control) of an unnormalised joint density, by scipy's dblquad."""
    kw = dict(epsabs=1e-12, epsrel=1e-9)
    # integrand(t, c): outer p_control in (0, 1), inner p_treatment in (c, 1) or (0, 1)
    above = integrate.dblquad(joint, 0, 1, lambda c: c, 1, **kw)[0]
    total = integrate.dblquad(joint, 0, 1, 0, 1, **kw)[0]
    return above / total


def _log_beta_mix(x, weights, a, b):
    terms = [
        math.log(w)
        + (ai - 1) * math.log(x)
        + (bi - 1) * math.log1p(-x)
        - (math.lgamma(ai) + math.lgamma(bi) - math.lgamma(ai + bi))
        for w, ai, bi in zip(weights, a, b)
    ]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def test_beta_mixture_posterior_against_dblquad():
    control = BetaPrior((0.8, 0.2), (5.5, 1.0), (4.5, 1.0))
    treatment = BetaPrior((0.5, 0.5), (5.8, 1.0), (4.2, 1.0))
    prior = Prior("m", "arm", control, treatment=treatment)

    def joint(t, c):
        if not (0 < c < 1 and 0 < t < 1):
            return 0.0
        return math.exp(
            _log_beta_mix(c, control.weights, control.a, control.b)
            + _log_beta_mix(t, treatment.weights, treatment.a, treatment.b)
            + 5 * math.log(c)
            + math.log1p(-c)
            + 9 * math.log(t)
            + 3 * math.log1p(-t)
        )

    expected = _dblquad_p_benefit(joint)
    assert exact.posterior(prior, REMISSION).prob_benefit() == pytest.approx(expected, abs=1e-6)


def test_normal_mixture_posterior_against_dblquad():
    effect = NormalPrior((0.6, 0.4), (math.log(3), 0.0), (0.668, 2.0))
    prior = Prior("m", "effect", BetaPrior.single(1, 1), scale="log_or", effect=effect)

    def joint(t, c):
        # density in (p_control, p_treatment): the log OR prior times its Jacobian 1 / (t (1 - t))
        if not (0 < c < 1 and 0 < t < 1):
            return 0.0
        theta = math.log(t / (1 - t)) - math.log(c / (1 - c))
        dens = sum(
            w * math.exp(-0.5 * ((theta - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
            for w, m, s in zip(effect.weights, effect.means, effect.sds)
        )
        return dens / (t * (1 - t)) * c**5 * (1 - c) * t**9 * (1 - t) ** 3

    expected = _dblquad_p_benefit(joint)
    assert exact.posterior(prior, REMISSION).prob_benefit() == pytest.approx(expected, abs=1e-5)


def test_after_data_enthusiastic_beats_sceptical_beats_pessimistic(deng_trial):
    outcome = deng_trial.outcome("remission")
    post = {
        name: exact.posterior(deng_trial.priors[name], outcome).prob_benefit()
        for name in ("sceptical", "enthusiastic", "pessimistic")
    }
    assert post["enthusiastic"] > post["sceptical"] > post["pessimistic"]


FLAT = Prior("flat", "arm", BetaPrior.single(1, 1), treatment=BetaPrior.single(1, 1))

MIXTURE = Prior("mix", "arm", BetaPrior((0.5, 0.5), (2.0, 9.0), (8.0, 3.0)),
                treatment=BetaPrior((0.3, 0.7), (1.0, 4.0), (1.0, 4.0)))

LOG_OR = Prior("w", "effect", BetaPrior.single(1, 1), scale="log_or",
               effect=NormalPrior.single(0.0, 1.5))

LOG_RR = Prior("rr", "effect", BetaPrior.single(2, 3), scale="log_rr",
               effect=NormalPrior.single(0.0, 0.5))

RD = Prior("rd", "effect", BetaPrior.single(2, 2), scale="rd", effect=NormalPrior.single(0.1, 0.2))

NO_DATA = Outcome("none", "No data", 0, 0, 0, 0)


def moved(x: float) -> list[float]:
    """x one ulp down and up, and moved by a relative 1e-12 both ways (1e-12 if x is 0)."""
    step = 1e-12 * abs(x) if x != 0 else 1e-12
    return [float(np.nextafter(x, -np.inf)), float(np.nextafter(x, np.inf)), x - step, x + step]


def test_flat_prior_median_of_p_treatment_is_exactly_half():
    post = exact.posterior(FLAT, NO_DATA)
    assert post.quantile("p_treatment", 0.5) == 0.5
    assert post.quantile("p_control", 0.5) == 0.5
    for q in moved(0.5):
        assert abs(post.quantile("p_treatment", q) - 0.5) <= 1e-11


class _OtherMachine:
    """Wraps an ExactPosterior's CDF to round as the other machine did: grid evaluations one ulp
    up, one-point evaluations one ulp down."""

    def __init__(self, post):
        self.post = post
        self.inner = post.cdf

    def __call__(self, measure, values):
        out = self.inner(measure, values)
        direction = np.inf if np.size(values) > 1 else -np.inf
        return np.nextafter(out, direction)


@pytest.mark.parametrize("measure", ["p_treatment", "risk_difference", "odds_ratio", "risk_ratio"])
def test_quantile_survives_the_other_machines_rounding(measure):
    post = exact.posterior(FLAT, NO_DATA)
    expected = post.quantile(measure, 0.5)
    post.pt_ppf = None  # force the search, which is what crashed
    post.cdf = _OtherMachine(post)
    sums = post._node_sums  # what the quantile search evaluates: nudged one ulp, as elsewhere

    def other_sums(names, values):
        return [np.nextafter(np.asarray(v), np.inf) for v in sums(names, values)]

    post._node_sums = other_sums
    post.__dict__.pop("_grid_cdf_cache", None)
    got = post.quantile(measure, 0.5)
    assert post.quantile(measure, 0.5) == got  # and the nudged search is deterministic
    scale = abs(expected) if measure in ("odds_ratio", "risk_ratio") else 1.0
    assert abs(got - expected) <= 1e-9 * scale


_MEASURES = ("p_control", "p_treatment", "risk_difference", "risk_ratio", "odds_ratio")


def _assert_close(a: float, b: float, measure: str, tol: float = 1e-9):
    scale = max(abs(a), abs(b)) if measure in ("odds_ratio", "risk_ratio") else 1.0
    assert abs(a - b) <= tol * scale, (measure, a, b)


@pytest.mark.parametrize("prior", [FLAT, MIXTURE, LOG_OR, LOG_RR, RD], ids=lambda p: p.name)
@pytest.mark.parametrize("outcome", [DENG, NO_DATA], ids=["deng", "no_data"])
def test_quantiles_are_continuous_in_the_level(prior, outcome):
    post = exact.posterior(prior, outcome)
    for measure in _MEASURES:
        for q in (0.025, 0.5, 0.975):
            base = post.quantile(measure, q)
            for q2 in moved(q):
                _assert_close(post.quantile(measure, q2), base, measure)


def test_quantiles_are_continuous_in_the_prior():
    """Prior parameters moved by one ulp and by 1e-12 move every interval by a tiny amount."""
    base = {m: exact.posterior(LOG_OR, DENG).interval(m) for m in _MEASURES}
    for sd in moved(1.5)[::2]:
        post = exact.posterior(replace(LOG_OR, effect=NormalPrior.single(0.0, sd)), DENG)
        for m in _MEASURES:
            for key, value in post.interval(m).items():
                _assert_close(value, base[m][key], m, tol=1e-8)
    base = {m: exact.posterior(FLAT, DENG).interval(m) for m in _MEASURES}
    for a in moved(1.0):
        prior = replace(FLAT, treatment=BetaPrior.single(a, 1.0), control=BetaPrior.single(1.0, a))
        post = exact.posterior(prior, DENG)
        for m in _MEASURES:
            for key, value in post.interval(m).items():
                _assert_close(value, base[m][key], m, tol=1e-8)


def test_mixture_quantile_against_scipy():
    mix = exact.BetaMix.of(MIXTURE.control)
    for q in (1e-12, 0.025, 0.5, 0.975, 1 - 1e-12):
        x = mix.ppf(q)
        assert float(mix.cdf(x)) == pytest.approx(q, rel=1e-9, abs=1e-15)
        density = float(np.exp(mix.logpdf(x)))
        for q2 in moved(q):
            if 0 < q2 < 1:  # the quantile moves by about |dq| / density
                assert abs(mix.ppf(q2) - x) <= 2 * abs(q2 - q) / density + 1e-13
    single = exact.BetaMix.of(BetaPrior.single(3.5, 7.25))
    assert single.ppf(0.3) == stats.beta.ppf(0.3, 3.5, 7.25)


def test_probabilities_on_their_own_side():
    """Survival functions are computed directly: tiny tails keep their relative accuracy and no
    probability falls below 0 by rounding (``1 - cdf`` gave -2.2e-16)."""
    # flat prior, 0/60 treated and 40/60 controls: P(p_t > p_c) for Beta(1, 61) vs Beta(41, 21)
    # is, by Cook's formula with a whole first shape (one term), B(41, 82) / (61 B(1, 61) B(41, 21))
    from scipy import special

    post = exact.posterior(FLAT, Outcome("x", "x", 0, 60, 40, 60))
    expected = float(np.exp(special.betaln(41, 61 + 21) - np.log(61) - special.betaln(1, 61)
                            - special.betaln(41, 21)))
    assert 1e-30 < expected < 1e-15
    assert post.prob_benefit() == pytest.approx(expected, rel=1e-3, abs=0.0)
    assert post.prob_benefit(lower_is_better=True) == pytest.approx(1.0, abs=1e-15)
    extreme = exact.posterior(FLAT, Outcome("x", "x", 0, 1000, 1000, 1000))
    assert 0.0 <= extreme.prob_benefit() < 1e-300
    assert extreme.prob_benefit(lower_is_better=True) == pytest.approx(1.0, abs=1e-15)


def _brute_rd(y_t, n_t, y_c, n_c, m, s, x_lo, x_hi):
    """P(RD < 0) under a flat control prior and N(m, s^2) on the RD truncated to
    (-p_c, 1 - p_c), by scipy's dblquad (truncation mass in logs: it underflows otherwise)."""
    def log_joint(theta, x):
        a, b = (-x - m) / s, (1 - x - m) / s
        if a > 0:
            la, lb = stats.norm.logsf(a), stats.norm.logsf(b)
            log_z = la + np.log1p(-np.exp(lb - la))
        else:
            la, lb = stats.norm.logcdf(a), stats.norm.logcdf(b)
            log_z = lb + np.log1p(-np.exp(la - lb))
        return (stats.binom.logpmf(y_c, n_c, x) + stats.norm.logpdf(theta, m, s) - log_z
                + stats.binom.logpmf(y_t, n_t, x + theta))

    peak = max(float(np.max(log_joint(np.linspace(-x + 1e-12, 1 - x - 1e-12, 2000), x)))
               for x in np.linspace(x_lo, x_hi, 200))

    # the same log_joint for one point, its theta terms with the math module and its x terms
    # cached (scipy.stats costs about 0.1 ms a call, and dblquad evaluates tens of thousands)
    log_comb_t = math.lgamma(n_t + 1) - math.lgamma(y_t + 1) - math.lgamma(n_t - y_t + 1)
    @functools.lru_cache(maxsize=None)
    def x_terms(x):  # log_joint's terms in x alone: control likelihood and truncation mass
        a, b = (-x - m) / s, (1 - x - m) / s
        if a > 0:
            la, lb = stats.norm.logsf(a), stats.norm.logsf(b)
            log_z = la + np.log1p(-np.exp(lb - la))
        else:
            la, lb = stats.norm.logcdf(a), stats.norm.logcdf(b)
            log_z = lb + np.log1p(-np.exp(la - lb))
        return float(stats.binom.logpmf(y_c, n_c, x) - log_z)

    def f(th, x):
        p_t = x + th
        log_lik_t = (log_comb_t + (y_t * math.log(p_t) if y_t else 0.0)
                     + (n_t - y_t) * math.log1p(-p_t))
        log_norm = -0.5 * ((th - m) / s) ** 2 - 0.5 * math.log(2 * math.pi * s * s)
        return math.exp(x_terms(x) + log_norm + log_lik_t - peak)
    below = integrate.dblquad(f, x_lo, x_hi, lambda x: -x, lambda x: 0.0, epsrel=1e-9)[0]
    above = integrate.dblquad(f, x_lo, x_hi, lambda x: 0.0, lambda x: 1 - x, epsrel=1e-9)[0]
    return below / (below + above)


@pytest.mark.parametrize("centre", [-1.0, 1.0])
def test_exact_engine_with_a_prior_beyond_the_feasible_range(centre):
    """0/1000 vs 3/1000, N(+-1, 0.05^2) on the risk difference: the truncated prior piles up at
    a feasible edge, 20 sd from its centre. The exact engine gave 1.0 and 0.0 (nodes outside the
    feasible range, and the likelihood's region cut away); the sweep engine agrees."""

    prior = Prior("rd", "effect", BetaPrior.single(1, 1), scale="rd",
                  effect=NormalPrior.single(centre, 0.05))
    o = Outcome("o", "o", 0, 1000, 3, 1000, better="lower")
    expected = _brute_rd(0, 1000, 3, 1000, centre, 0.05, 1e-7, 0.03)
    assert exact.posterior(prior, o).prob_benefit(True) == pytest.approx(expected, abs=1e-5)
    engine = prior_grid.EffectSweep(prior.control, "rd", o)
    res = engine.evaluate([centre], [0.05])
    assert 1.0 - res.p_above_zero[0] == pytest.approx(expected, abs=1e-4)



# ---------------------------------------------------------------------------------------------
# A Normal prior on logit(p_control) (the intercept of brms and rstanarm re-analyses)
# ---------------------------------------------------------------------------------------------


def _grid_posterior(control_mean, control_sd, scale, effect_mean, effect_sd, yt, nt, yc, nc,
                    n_u=1601, n_th=1601):
    """An independent answer: the joint posterior on a fine (logit p_control, theta) grid by the
    trapezoid rule, written from the model's definition (scipy densities only). Returns
    P(p_treatment > p_control), E[p_control] and E[p_treatment - p_control]."""
    from scipy import special, stats

    post_sd = 1 / math.sqrt(1 / control_sd**2 + nc * 0.25 * 0.25)
    u_hat = special.logit((yc + 0.5) / (nc + 1))
    u = np.linspace(u_hat - 14 * max(post_sd, 0.05) - 2, u_hat + 14 * max(post_sd, 0.05) + 2, n_u)
    # theta on cell midpoints with no effect (theta = 0) on a cell edge: the indicator of benefit
    # then integrates exactly cell by cell (the midpoint rule's error stays O(h^2))
    half = abs(effect_mean) + 12 * effect_sd
    h_th = 2 * half / n_th
    th = (np.arange(n_th) - n_th // 2 + 0.5 * (1 - n_th % 2)) * h_th
    if n_th % 2:
        th = th - 0.5 * h_th
    U, TH = np.meshgrid(u, th, indexing="ij")
    PC = special.expit(U)
    log_prior_c = stats.norm.logpdf(U, control_mean, control_sd)
    log_e = stats.norm.logpdf(TH, effect_mean, effect_sd)
    if scale == "log_or":
        PT = special.expit(U + TH)
        feasible = np.ones_like(PT, bool)
    else:  # log_rr: truncated to theta < -log p_control, renormalised given p_control
        PT = PC * np.exp(TH)
        feasible = TH < -np.log(PC)
        log_e = log_e - stats.norm.logcdf(-np.log(PC), effect_mean, effect_sd)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_j = (log_prior_c + stats.binom.logpmf(yc, nc, PC) + log_e
                 + stats.binom.logpmf(yt, nt, np.clip(PT, 0, 1)))
    log_j = np.where(feasible, log_j, -np.inf)
    dens = np.exp(log_j - np.max(log_j))
    wu = np.full(n_u, u[1] - u[0]); wu[[0, -1]] /= 2
    wt = np.full(n_th, h_th)
    w = dens * wu[:, None] * wt[None, :]
    w /= w.sum()
    return float(np.sum(w * (PT > PC))), float(np.sum(w * PC)), float(np.sum(w * (PT - PC)))


LOGIT_NORMAL_CASES = [
    # (control mean, sd, scale, effect mean, sd, yt, nt, yc, nc)
    (0.0, 2.5, "log_or", 0.0, 2.5, 9, 12, 5, 6),  # Deng 2017 with rstanarm-like scales
    (-1.0, 1.0, "log_rr", 0.2, 0.7, 9, 12, 5, 6),  # truncated effect, informative intercept
    (0.0, 2.5, "log_or", 0.0, 2.5, 30, 1500, 43, 1500),  # a large trial with rare events
]


@pytest.mark.parametrize("case", LOGIT_NORMAL_CASES, ids=lambda c: f"{c[2]}-{c[6]}")
def test_logit_normal_control_matches_independent_grid(case):
    """The exact engine treats a Normal prior on logit(p_control) exactly (its rows are on the
    logit): P(benefit), E[p_control] and E[RD] agree with a 1601 x 1601 trapezoid grid written
    here from the model's definition to 2e-4 (the grid's own error is below 1e-5 at this size;
    the tolerance is the engine's stated accuracy on probabilities, 1e-4, doubled)."""
    from lnbayes.model.spec import LogitNormalPrior

    cm, cs, scale, em, es, yt, nt, yc, nc = case
    prior = Prior("ln", "effect", LogitNormalPrior.single(cm, cs), scale=scale,
                  effect=NormalPrior.single(em, es))
    outcome = Outcome("o", "o", yt, nt, yc, nc)
    post = exact.posterior(prior, outcome)
    p_ben, mean_pc, mean_rd = _grid_posterior(cm, cs, scale, em, es, yt, nt, yc, nc)
    assert post.prob_benefit() == pytest.approx(p_ben, abs=2e-4)
    assert post.mean("p_control") == pytest.approx(mean_pc, abs=2e-4)
    assert post.mean("risk_difference") == pytest.approx(mean_rd, abs=2e-4)


def test_logit_normal_differs_from_beta_on_the_large_trial():
    """The motivating case (issue 13, item 5): 1,500 per arm, 43 control events. Beta(1, 1) on
    p_control and Normal(0, 2.5^2) on its logit are different priors; the exact engine's
    P(benefit) under each matches the independent grid, so the difference between them is the
    priors', not the engine's."""
    from lnbayes.model.spec import LogitNormalPrior

    outcome = Outcome("o", "o", 30, 1500, 43, 1500, better="lower")
    effect = NormalPrior.single(0.0, 2.5)
    beta = exact.posterior(Prior("b", "effect", BetaPrior.single(1, 1), scale="log_or",
                                 effect=effect), outcome).prob_benefit(lower_is_better=True)
    logit = exact.posterior(Prior("l", "effect", LogitNormalPrior.single(0, 2.5), scale="log_or",
                                  effect=effect), outcome).prob_benefit(lower_is_better=True)
    grid = 1 - _grid_posterior(0.0, 2.5, "log_or", 0.0, 2.5, 30, 1500, 43, 1500)[0]
    assert logit == pytest.approx(grid, abs=2e-4)
    assert abs(logit - beta) > 1e-3  # far more than the engine's error: the priors differ


def test_logit_normal_prior_probability_of_benefit_truncated():
    """A-priori P(benefit) on log RR, where the truncation depends on p_control, agrees with a
    direct integral over logit(p_control) written here (scipy quad)."""
    from scipy import integrate, stats

    from lnbayes.model.density import prior_prob_benefit
    from lnbayes.model.spec import LogitNormalPrior

    prior = Prior("ln", "effect", LogitNormalPrior.single(-1.0, 1.2), scale="log_rr",
                  effect=NormalPrior.single(0.3, 0.5))

    def integrand(u):
        pc = 1 / (1 + math.exp(-u))
        hi = -math.log(pc)
        mass = stats.norm.cdf(hi, 0.3, 0.5)
        side = (mass - stats.norm.cdf(0.0, 0.3, 0.5)) / mass
        return stats.norm.pdf(u, -1.0, 1.2) * side

    want, _ = integrate.quad(integrand, -15, 15, epsabs=1e-13, limit=200)
    assert prior_prob_benefit(prior) == pytest.approx(want, abs=1e-9)


def test_a_large_trial_summarises_without_numpy_warnings():
    """CRASH-2 (20,127 patients): CDF values a few ulps apart overflowed the quantile search's
    cubic start, and every user of the gallery trial saw three RuntimeWarnings on stderr."""
    import warnings
    from pathlib import Path

    from lnbayes.io import trialfile

    trial = trialfile.load_trial(Path(__file__).parents[2] / "models" / "crash2_2010.toml")
    outcome = trial.outcome("death")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for prior in trial.priors_for(outcome):
            summary = exact.summarise(exact.posterior(prior, outcome), outcome)
            est = summary["estimates"]["odds_ratio"]
            assert est["lower"] < est["median"] < est["upper"]


def test_brackets_from_another_rule_are_confirmed_and_moved():
    """_confirm_brackets (brackets placed on every 4th node, checked on all): brackets that miss
    their root below or above are moved past the failing end until cdf(a) < q <= cdf(b), and a
    root beyond the search range ends at the range's end; the gaps are on the probit scale."""
    def cdf(z, which):
        return stats.norm.cdf(np.asarray(z, dtype=float), loc=0.3, scale=0.2)

    qs = np.array([0.5, 0.025, 0.975, 0.5, 1e-300, 0.0])
    mid = np.zeros(len(qs), dtype=int)
    lo, hi = np.full(len(qs), -40.0), np.full(len(qs), 40.0)
    # right, too high, too low, the whole range, far too high (three moves), beyond the range
    a = np.array([0.25, 0.5, -1.0, -40.0, -3.0, -3.0])
    b = np.array([0.35, 0.6, -0.9, 40.0, -2.0, -2.0])
    a2, b2, fa, fb = exact._confirm_brackets(cdf, a, b, lo, hi, qs, mid)
    roots = 0.3 + 0.2 * special.ndtri(qs[:5])
    assert np.all(a2[:5] < roots) and np.all(roots <= b2[:5])
    assert np.all(cdf(a2[:5], 0) < qs[:5]) and np.all(qs[:5] <= cdf(b2[:5], 0))
    assert (a2[0], b2[0]) == (0.25, 0.35) and (a2[3], b2[3]) == (-40.0, 40.0)
    assert (a2[4], b2[4]) == (-9.0, -5.0)
    assert a2[5] == -40.0 and fa[5] == 0.0  # cdf(-40) = 0 = q: the root is the range's end
    assert np.all(fa <= 0) and np.all(fb >= 0)
    # the probit of a CDF that rounds to 1 is taken as 40
    probit_b = np.minimum(special.ndtri(cdf(b2[:3], 0)), 40.0)
    np.testing.assert_allclose(fb[:3], probit_b - special.ndtri(qs[:3]), rtol=1e-12)
