"""lnbayes.analyses.bayes_factors: Savage-Dickey Bayes factors, BF for benefit and the evidence
summary (ROPE) against closed forms, scipy.integrate.quad and Gauss-Legendre rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from lnbayes.analyses import bayes_factors
from lnbayes.engines import exact
from lnbayes.model.spec import BetaPrior, NormalPrior, Outcome, Prior
from tests.references import (
    brute_log_or,
    flat_p_benefit,
    gauss_2d,
    log_or_prior,
)

FLAT = Prior("flat", "arm", BetaPrior.single(1, 1), treatment=BetaPrior.single(1, 1))

LOG_OR = Prior("w", "effect", BetaPrior.single(1, 1), scale="log_or",
               effect=NormalPrior.single(0.0, 1.5))












def test_savage_dickey_flat_closed_form():
    """Flat prior: density of the log OR at 0 is 1/6 a priori and B(a1+a2, b1+b2)/(B1 B2) after."""
    sd = bayes_factors.savage_dickey(FLAT, 9, 12, 5, 6)
    assert sd["prior_density_at_0"] == pytest.approx(1 / 6, abs=1e-10)
    post = math.exp(special.betaln(10 + 6, 4 + 2) - special.betaln(10, 4) - special.betaln(6, 2))
    assert sd["posterior_density_at_0"] == pytest.approx(post, abs=1e-9)
    assert sd["bf01"] == pytest.approx(post * 6, abs=1e-8)



def test_savage_dickey_log_or_against_quad():
    s = LOG_OR.effect.sds[0]
    sd = bayes_factors.savage_dickey(LOG_OR, 9, 12, 5, 6)
    assert sd["prior_density_at_0"] == pytest.approx(stats.norm.pdf(0, 0, s), abs=1e-10)

    def joint(theta, pc):
        pt = special.expit(special.logit(pc) + theta)
        return stats.norm.pdf(theta, 0, s) * stats.binom.pmf(5, 6, pc) * stats.binom.pmf(9, 12, pt)

    z = gauss_2d(joint, lambda pc: (np.full_like(pc, -12 * s), np.full_like(pc, 12 * s)))
    at0 = integrate.quad(lambda pc: joint(0.0, pc), 0, 1, epsabs=1e-14)[0]
    assert sd["posterior_density_at_0"] == pytest.approx(at0 / z, rel=1e-7)



def test_bf_benefit_definition():
    assert bayes_factors.bf_benefit(0.75, 0.5) == pytest.approx(3.0)
    assert bayes_factors.bf_benefit(0.5, 0.2) == pytest.approx(4.0)
    assert bayes_factors.bf_benefit(1.0, 0.5) is None



def test_evidence_summary_rope_flat_against_quad():
    o = Outcome("o", "o", 9, 12, 5, 6, rope=("rd", -0.05, 0.05))
    ev = bayes_factors.evidence_summary(FLAT, o, exact.posterior(FLAT, o))
    expected = integrate.quad(
        lambda x: stats.beta.pdf(x, 6, 2) * (stats.beta.cdf(x + 0.05, 10, 4)
                                             - stats.beta.cdf(x - 0.05, 10, 4)),
        0, 1, epsabs=1e-13)[0]
    assert ev["rope"]["p_inside"] == pytest.approx(expected, abs=1e-6)
    assert ev["prior_p_benefit"] == pytest.approx(0.5, abs=1e-12)
    p = flat_p_benefit(9, 12, 5, 6)
    assert ev["bf_benefit"] == pytest.approx(p / (1 - p), abs=1e-6)



BIG = (50_500, 100_000, 50_000, 100_000)  # y_t, n_t, y_c, n_c: the audit's large trial












def test_large_trial_flat_savage_dickey_closed_form():
    y_t, n_t, y_c, n_c = BIG
    a_t, b_t, a_c, b_c = 1 + y_t, 1 + n_t - y_t, 1 + y_c, 1 + n_c - y_c
    post = math.exp(special.betaln(a_t + a_c, b_t + b_c) - special.betaln(a_t, b_t)
                    - special.betaln(a_c, b_c))
    sd = bayes_factors.savage_dickey(FLAT, *BIG)
    assert sd["prior_density_at_0"] == pytest.approx(1 / 6, rel=1e-12)
    assert sd["bf01"] == pytest.approx(6 * post, rel=1e-9)
    assert sd["bf01"] == pytest.approx(21.97, abs=0.01)  # the audit's exact value



def test_narrow_prior_evidence_against_gauss_legendre():
    """N(0, 0.01^2) on the log OR, 9/12 vs 5/6: the Bayes factor for benefit is about 1 (the
    audit measured 1.52), and BF01 matches a brute-force Savage-Dickey ratio."""
    prior = log_or_prior(0.01)
    o = Outcome("o", "o", 9, 12, 5, 6)
    below, above, at0 = brute_log_or(prior, 9, 12, 5, 6, uc_window=(-6.0, 12.0),
                                     v_window=(-0.12, 0.12))
    p = above / (above + below)
    ev = bayes_factors.evidence_summary(prior, o, exact.posterior(prior, o))
    assert ev["posterior_p_benefit"] == pytest.approx(p, abs=1e-7)
    assert ev["bf_benefit"] == pytest.approx(p / (1 - p), rel=1e-6)
    assert ev["bf_benefit"] == pytest.approx(1.0, abs=1e-3)
    sd = ev["savage_dickey"]
    assert sd["prior_density_at_0"] == pytest.approx(stats.norm.pdf(0, 0, 0.01), rel=1e-12)
    assert sd["bf01"] == pytest.approx(at0 / (above + below) / stats.norm.pdf(0, 0, 0.01),
                                       rel=1e-6)



def test_point_like_prior_gives_bayes_factors_of_one():
    """sd 1e-12: the data cannot move the effect, so BF01 and the benefit Bayes factor are 1
    (the audit measured BF01 = 1.25e-10)."""
    prior = log_or_prior(1e-12)
    o = Outcome("o", "o", 9, 12, 5, 6)
    ev = bayes_factors.evidence_summary(prior, o, exact.posterior(prior, o))
    assert ev["savage_dickey"]["bf01"] == pytest.approx(1.0, abs=1e-4)
    assert ev["bf_benefit"] == pytest.approx(1.0, abs=1e-6)



def test_savage_dickey_is_on_the_log_or_for_a_risk_difference_prior():
    """One declared parametrisation: for a prior on the RD the Bayes factor is still per unit of
    the log OR. Brute force in (p_c, p_t) with scipy: the density of the log OR at 0 is
    int f(p_c) g(p_c | p_c) p_c (1 - p_c) dp_c (dp_t / dlogOR = p(1 - p) on the diagonal)."""
    from scipy import integrate

    m, s = 0.05, 0.2
    prior = Prior("rd", "effect", BetaPrior.single(1, 1), scale="rd",
                  effect=NormalPrior.single(m, s))

    def g(pt, pc):  # the truncated Normal of the RD given p_c
        mass = stats.norm.cdf(1 - pc, m, s) - stats.norm.cdf(-pc, m, s)
        return stats.norm.pdf(pt - pc, m, s) / mass

    def lik(pt, pc):
        return stats.binom.pmf(9, 12, pt) * stats.binom.pmf(5, 6, pc)

    opts = dict(epsabs=1e-13, epsrel=1e-11, limit=200)
    prior_at0 = integrate.quad(lambda pc: g(pc, pc) * pc * (1 - pc), 0, 1, **opts)[0]
    post_at0 = integrate.quad(lambda pc: g(pc, pc) * lik(pc, pc) * pc * (1 - pc), 0, 1, **opts)[0]
    total = integrate.dblquad(lambda pt, pc: g(pt, pc) * lik(pt, pc), 0, 1, 0, 1,
                              epsabs=1e-13, epsrel=1e-10)[0]
    sd = bayes_factors.savage_dickey(prior, 9, 12, 5, 6)
    assert sd["scale"] == "log_or"
    assert sd["prior_density_at_0"] == pytest.approx(prior_at0, rel=1e-7)
    assert sd["bf01"] == pytest.approx(post_at0 / total / prior_at0, rel=1e-5)


@pytest.mark.heavy
def test_savage_dickey_log_rr_prior_on_a_large_trial_against_scipy():
    """A log-RR prior on 2 x 1,000 patients (the one-dataset diagonal integral, not the
    all-datasets lattice): brute force in (p_c, p_t) with scipy, on windows of at least 7
    posterior sds written here. The density of the log OR at 0 is the joint density along the
    diagonal p_t = p_c, with dp_t = p (1 - p) d logOR there."""
    from scipy import integrate

    m, s = -0.1, 0.3
    y_t, n_t, y_c, n_c = 200, 1000, 240, 1000
    prior = Prior("rr", "effect", BetaPrior.single(1, 1), scale="log_rr",
                  effect=NormalPrior.single(m, s))

    def g(pt, pc):  # density of p_t given p_c: Normal on log(p_t / p_c), truncated to p_t < 1
        mass = stats.norm.cdf(-math.log(pc), m, s)
        return stats.norm.pdf(math.log(pt / pc), m, s) / mass / pt

    log_scale = stats.binom.logpmf(y_t, n_t, 0.2) + stats.binom.logpmf(y_c, n_c, 0.24)

    def lik(pt, pc):
        return math.exp(stats.binom.logpmf(y_t, n_t, pt) + stats.binom.logpmf(y_c, n_c, pc)
                        - log_scale)

    opts = dict(epsabs=0, epsrel=1e-11, limit=200)
    # the log OR at 0 is the diagonal; per unit of the log OR, dp_t = p (1 - p) dlogOR
    post_at0 = integrate.quad(lambda p: g(p, p) * lik(p, p) * p * (1 - p), 0.12, 0.36,
                              points=[0.22], **opts)[0]
    total = integrate.dblquad(lambda pt, pc: g(pt, pc) * lik(pt, pc), 0.14, 0.36, 0.10, 0.32,
                              epsabs=0, epsrel=1e-10)[0]
    prior_at0 = integrate.quad(lambda p: g(p, p) * p * (1 - p), 0, 1, **opts)[0]
    sd = bayes_factors.savage_dickey(prior, y_t, n_t, y_c, n_c)
    assert sd["prior_density_at_0"] == pytest.approx(prior_at0, rel=1e-7)
    assert sd["posterior_density_at_0"] == pytest.approx(post_at0 / total, rel=1e-6)


@pytest.mark.parametrize("counts", [(9, 12, 5, 6), (1, 12, 0, 6), (30, 40, 12, 20)])
def test_flat_scale_dependence_against_quadrature_of_each_scale(counts):
    # independent: the density of each effect measure at 0 by quadrature on that measure's own
    # scale (the change of variables done numerically, not by Beta functions)
    y_t, n_t, y_c, n_c = counts

    def density_at_0(a_t, b_t, a_c, b_c, scale):
        if scale == "rd":  # density of p_T - p_C at 0
            return integrate.quad(lambda p: stats.beta.pdf(p, a_t, b_t) * stats.beta.pdf(p, a_c, b_c),
                                  0, 1, epsabs=1e-13)[0]
        to_p = special.expit if scale == "log_or" else np.exp
        upper = 60 if scale == "log_or" else 0

        def on_scale(u, a, b):  # density of logit(p) or log(p) at u
            p = to_p(u)
            jac = p * (1 - p) if scale == "log_or" else p
            return stats.beta.pdf(p, a, b) * jac

        return integrate.quad(lambda u: on_scale(u, a_t, b_t) * on_scale(u, a_c, b_c),
                              -60, upper, limit=500, epsabs=1e-14)[0]

    got = bayes_factors.flat_scale_dependence(y_t, n_t, y_c, n_c)
    post = (1 + y_t, 1 + n_t - y_t, 1 + y_c, 1 + n_c - y_c)
    for scale in ("log_or", "rd", "log_rr"):
        want = density_at_0(*post, scale) / density_at_0(1, 1, 1, 1, scale)
        assert got[scale] == pytest.approx(want, rel=1e-6), scale
    # and on the log OR it is the Savage-Dickey ratio the evidence summary reports
    sd = bayes_factors.savage_dickey(FLAT, y_t, n_t, y_c, n_c)
    assert got["log_or"] == pytest.approx(sd["bf01"], rel=1e-9)


@pytest.mark.slow  # scipy's dblquad to 1e-10 takes about a minute
def test_savage_dickey_with_a_logit_normal_control_matches_direct_integrals():
    """BF01 on the log OR under a Normal prior on logit(p_control): the posterior density of the
    log OR at 0 is int g(u) L_c(u) f(0) L_t(u) du over the evidence int int g(u) L_c(u) f(t)
    L_t(u + t) du dt, both by scipy quadrature here; the prior density at 0 is f(0)."""
    from lnbayes.model.spec import LogitNormalPrior

    prior = Prior("ln", "effect", LogitNormalPrior.single(0.5, 1.5), scale="log_or",
                  effect=NormalPrior.single(0.2, 1.0))
    yt, nt, yc, nc = 9, 12, 5, 6

    def joint(t, u):
        return (stats.norm.pdf(u, 0.5, 1.5) * stats.binom.pmf(yc, nc, special.expit(u))
                * stats.norm.pdf(t, 0.2, 1.0) * stats.binom.pmf(yt, nt, special.expit(u + t)))

    evidence, _ = integrate.dblquad(joint, -15, 15, -10, 10, epsabs=1e-13, epsrel=1e-10)
    at0, _ = integrate.quad(lambda u: joint(0.0, u), -15, 15, epsabs=1e-14, epsrel=1e-11)
    got = bayes_factors.savage_dickey(prior, yt, nt, yc, nc)
    assert got["prior_density_at_0"] == pytest.approx(stats.norm.pdf(0, 0.2, 1.0), rel=1e-9)
    assert got["posterior_density_at_0"] == pytest.approx(at0 / evidence, rel=1e-5)
    assert got["bf01"] == pytest.approx(at0 / evidence / stats.norm.pdf(0, 0.2, 1.0), rel=1e-5)
