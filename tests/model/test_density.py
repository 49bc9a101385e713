"""The model's densities (lnbayes.model.density), against independent quadrature and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from lnbayes.model import density
from lnbayes.model.spec import BetaPrior, NormalPrior, Prior


def effect_prior(scale, mean, sd, a=2.0, b=3.0):
    return Prior(name="p", family="effect", control=BetaPrior.single(a, b), scale=scale,
                 effect=NormalPrior.single(mean, sd))


def arm_prior(a_c, b_c, a_t, b_t):
    return Prior(name="p", family="arm", control=BetaPrior.single(a_c, b_c),
                 treatment=BetaPrior.single(a_t, b_t))


@pytest.mark.parametrize("scale,mean,sd", [("log_or", 0.3, 0.8), ("log_rr", 0.4, 0.6),
                                           ("rd", 0.1, 0.3)])
@pytest.mark.heavy
def test_joint_prior_density_integrates_to_one(scale, mean, sd):
    """Jacobian and truncation included: the density on (u_c, u_t) has mass 1."""
    prior = effect_prior(scale, mean, sd)

    def inner(u_c):
        return integrate.quad(lambda u_t: math.exp(density.log_prior_density(prior, u_c, u_t)),
                              -30, 30, limit=200, epsabs=1e-11)[0]

    total = integrate.quad(inner, -25, 25, limit=200, epsabs=1e-10)[0]
    assert total == pytest.approx(1.0, abs=1e-7)


def test_binomial_on_the_logit_scale_is_the_binomial():
    u = np.linspace(-6, 6, 13)
    for y, n in [(0, 5), (3, 5), (5, 5), (7, 40)]:
        np.testing.assert_allclose(density.binom_logpmf_logit(y, n, u),
                                   stats.binom.logpmf(y, n, special.expit(u)), rtol=1e-12)
    np.testing.assert_allclose(density.binom_logpmf_max(np.array([0, 3, 5]), 5),
                               stats.binom.logpmf([0, 3, 5], 5, np.array([0, 3, 5]) / 5), rtol=1e-12)


@pytest.mark.parametrize("a_c,b_c,a_t,b_t", [(1, 1, 1, 1), (2.5, 4, 1.5, 0.8), (1e-9, 1, 2, 2)])
def test_arm_prior_p_benefit_against_dblquad(a_c, b_c, a_t, b_t):
    prior = arm_prior(a_c, b_c, a_t, b_t)
    # P(p_t > p_c) = E over p_t of P(p_c < p_t)
    want = integrate.quad(lambda t: stats.beta.pdf(t, a_t, b_t) * stats.beta.cdf(t, a_c, b_c),
                          0, 1, epsabs=1e-13, limit=200)[0]
    assert density.prior_prob_benefit(prior) == pytest.approx(want, abs=1e-9)
    assert density.prior_prob_benefit(prior, True) == pytest.approx(1 - want, abs=1e-9)


@pytest.mark.parametrize("scale,mean,sd", [("log_rr", 0.5, 0.8), ("rd", 0.2, 0.4)])
def test_truncated_and_untruncated_prior_p_benefit(scale, mean, sd):
    """truncated: E over p_control of the truncated Normal's mass beyond 0 (independent nested
    quadrature); untruncated: the stated Normal's tail."""
    prior = effect_prior(scale, mean, sd)
    pc = stats.beta(2.0, 3.0)

    def beyond(x):
        lo, hi = (-np.inf, -math.log(x)) if scale == "log_rr" else (-x, 1 - x)
        g = stats.norm(mean, sd)
        return (g.cdf(hi) - g.cdf(max(0.0, lo))) / (g.cdf(hi) - g.cdf(lo))

    want = integrate.quad(lambda x: pc.pdf(x) * beyond(x), 0, 1, epsabs=1e-13, limit=200)[0]
    assert density.prior_prob_benefit(prior) == pytest.approx(want, abs=1e-9)
    assert density.prior_prob_benefit(prior, truncated=False) == pytest.approx(
        stats.norm.sf(0, mean, sd), abs=1e-14)
    assert abs(density.prior_prob_benefit(prior) - stats.norm.sf(0, mean, sd)) > 1e-3


def test_log_or_prior_p_benefit_ignores_truncation():
    prior = effect_prior("log_or", 0.4, 0.7)
    want = stats.norm.sf(0, 0.4, 0.7)
    assert density.prior_prob_benefit(prior) == pytest.approx(want, abs=1e-14)
    assert density.prior_prob_benefit(prior, truncated=False) == density.prior_prob_benefit(prior)


def test_normal_log_mass_in_both_tails():
    lo, hi = np.array([-1.0, 30.0, -38.0]), np.array([2.0, 31.0, -37.0])
    want = np.log([stats.norm.cdf(2.0) - stats.norm.cdf(-1.0),
                   stats.norm.sf(30.0) - stats.norm.sf(31.0),
                   stats.norm.cdf(-37.0) - stats.norm.cdf(-38.0)])
    np.testing.assert_allclose(density.normal_log_mass(lo, hi, 0.0, 1.0), want, rtol=1e-12)


def test_logit_normal_mix_density_cdf_and_beta_refusal():
    """The Normal mixture on the logit: its density on p integrates to 1 and to its CDF (scipy
    quad on p), its logit density is the Normal mixture's, and BetaMix.of refuses it with a
    one-line LnbayesError rather than an AttributeError."""
    from lnbayes.errors import LnbayesError
    from lnbayes.model.spec import LogitNormalPrior

    prior = LogitNormalPrior((0.3, 0.7), (-2.0, 0.5), (0.6, 1.5))
    mix = density.LogitNormalMix.of(prior)
    u = np.linspace(-6, 6, 7)
    want = np.log(0.3 * stats.norm.pdf(u, -2, 0.6) + 0.7 * stats.norm.pdf(u, 0.5, 1.5))
    np.testing.assert_allclose(mix.logpdf_logit(u), want, rtol=1e-12)
    total, _ = integrate.quad(lambda p: math.exp(float(mix.logpdf(p))), 0, 1, points=[0.12, 0.62],
                             epsabs=1e-12, limit=200)
    assert total == pytest.approx(1.0, abs=1e-9)
    below, _ = integrate.quad(lambda p: math.exp(float(mix.logpdf(p))), 0, 0.3, epsabs=1e-13,
                              limit=200)
    assert float(mix.cdf(0.3)) == pytest.approx(below, abs=1e-9)
    assert float(mix.cdf(0.3) + mix.sf(0.3)) == pytest.approx(1.0, abs=1e-15)
    assert mix.mass_below_logit(special.logit(0.3)) == pytest.approx(below, abs=1e-9)
    with pytest.raises(LnbayesError, match="Normal prior on the logit"):
        density.BetaMix.of(prior)


def test_beta_mixture_sf_matches_the_closed_form_and_betaincc():
    """BetaMix.sf takes betainc where it loses nothing (x >= 1/2 mirrored, 1 - CDF where the
    CDF is at most 1/2): against the closed form of Beta(1/2, 1/2) down to x = 1e-300 (where
    SciPy's betaincc itself is off by 3e-11), and against betaincc on mixtures, to 1e-13
    relative, tiny tails included."""
    x = np.concatenate([np.logspace(-300, -1, 60), np.linspace(0.01, 0.99, 99),
                        1 - np.logspace(-16, -2, 30), [0.0, 0.5, 1.0]])
    arcsine = density.BetaMix(np.array([1.0]), np.array([0.5]), np.array([0.5]))
    # the closed form, on the side where it is accurate: arcsin(sqrt(1 - x)) near 1
    want = 2 / np.pi * np.where(x >= 0.5, np.arcsin(np.sqrt(1 - x)), np.arccos(np.sqrt(x)))
    np.testing.assert_allclose(arcsine.sf(x), want, rtol=1e-13, atol=1e-300)
    for w, a, b in [((0.6, 0.4), (14.83, 10.0), (7.17, 4.0)), ((1.0,), (1.0,), (100.0,)),
                    ((0.3, 0.7), (117.6, 1e-9), (88.1, 1.0)), ((1.0,), (2.5,), (1500.5,))]:
        mix = density.BetaMix(np.array(w), np.array(a), np.array(b))
        ref = np.clip(np.sum(mix.w * special.betaincc(mix.a, mix.b, x[:, None]), axis=-1), 0, 1)
        np.testing.assert_allclose(mix.sf(x), ref, rtol=1e-13, atol=1e-300)
        assert mix.sf(x.reshape(-1, 2)).shape == (len(x) // 2, 2)
        assert np.ndim(mix.sf(0.3)) == 0
