"""lnbayes.analyses.densities: density curves of the effect measures against closed forms
(triangular RD, conjugate Betas, the Normal prior) and the exact engine's benefit grid."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from lnbayes.analyses import densities as densities_mod
from lnbayes.engines import exact
from lnbayes.io import trialfile
from lnbayes.model import spec as spec_mod
from lnbayes.model.spec import BetaPrior, NormalPrior


@pytest.fixture(scope="session")
def outcome(trial):
    return trial.primary_outcome



def test_flat_prior_risk_difference_is_triangular(outcome):
    flat = trialfile.reference_priors()["flat"]
    c = densities_mod.density_curves(flat, outcome, ("risk_difference",),
                                 ranges={"risk_difference": (-0.95, 0.95)}, n=381)
    grid = c["risk_difference"]["grid"]
    away_from_kink = np.abs(grid) > 0.02
    # difference of two independent uniforms: density 1 - |d|
    np.testing.assert_allclose(c["risk_difference"]["prior"][away_from_kink],
                               1 - np.abs(grid[away_from_kink]), atol=2e-3)



def test_posterior_arm_densities_are_the_conjugate_betas(outcome):
    flat = trialfile.reference_priors()["flat"]
    c = densities_mod.density_curves(flat, outcome, ("p_control", "p_treatment"),
                                 ranges={"p_control": (0.01, 0.99), "p_treatment": (0.01, 0.99)})
    g = c["p_control"]["grid"]
    np.testing.assert_allclose(c["p_control"]["posterior"],
                               stats.beta.pdf(g, 1 + outcome.control_events,
                                              1 + outcome.control_n - outcome.control_events),
                               rtol=1e-9)



def test_effect_prior_log_or_density_is_the_normal(outcome):
    prior = spec_mod.Prior(name="s", family="effect", control=BetaPrior.single(1, 1), scale="log_or",
                       effect=NormalPrior.single(0.3, 0.7))
    c = densities_mod.density_curves(prior, outcome, ("odds_ratio", "p_control"),
                                 ranges={"odds_ratio": (0.05, 20), "p_control": (0.05, 0.95)})
    g = c["odds_ratio"]["grid"]
    # density per unit log OR of the prior is the Normal itself
    np.testing.assert_allclose(c["odds_ratio"]["prior"], stats.norm.pdf(np.log(g), 0.3, 0.7),
                               atol=1e-6)
    # p_control keeps its stated Beta(1, 1) prior
    np.testing.assert_allclose(c["p_control"]["prior"], 1.0, atol=1e-3)
    # the posterior density integrates to the exact engine's probability of an interval
    post = exact.posterior(prior, outcome)
    x = np.log(g)
    inside = (g > 0.5) & (g < 2.0)
    area = integrate.trapezoid(c["odds_ratio"]["posterior"][inside], x[inside])
    assert area == pytest.approx(post.prob_between("odds_ratio", g[inside][0], g[inside][-1]),
                                 abs=2e-3)


MIXTURE = exact.BetaMix(np.array([0.5, 0.3, 0.2]), np.array([3.0, 40.0, 1.0]),
                        np.array([7.0, 12.0, 1.0]))
"""A robust-MAP-like control prior: two informative components and a flat one."""


def test_mixture_log_density_is_the_log_sum_exp_of_its_components():
    x = np.concatenate([[0.0, 1e-300, 1e-12, 0.5, 1 - 1e-12, 1.0], np.linspace(0, 1, 1001)])
    comps = [stats.beta(a, b) for a, b in zip(MIXTURE.a, MIXTURE.b)]
    with np.errstate(divide="ignore"):
        expected = np.log(sum(w * c.pdf(x) for w, c in zip(MIXTURE.w, comps)))
    got = densities_mod._beta_logpdf(MIXTURE, x)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # Beta(0.5, 0.5) in a mixture: +inf at the ends, as the mixture's density
    edge = exact.BetaMix(np.array([0.6, 0.4]), np.array([0.5, 2.0]), np.array([0.5, 2.0]))
    assert np.all(densities_mod._beta_logpdf(edge, np.array([0.0, 1.0])) == np.inf)
    np.testing.assert_allclose(densities_mod._beta_logpdf(edge, x[2:5]), edge.logpdf(x[2:5]),
                               rtol=1e-13)


@pytest.mark.parametrize("measure,values", [("risk_difference", [-0.6, -0.1, 0.0, 0.35]),
                                            ("odds_ratio", [0.05, 0.7, 1.0, 6.0]),
                                            ("risk_ratio", [0.3, 0.9, 1.0, 1.8])])
def test_arm_measure_density_of_a_mixture_against_quad(measure, values):
    """The Simpson rule on the logistic nodes against scipy.integrate.quad of the defining
    integral, for a Beta-mixture control arm (the evidence-based prior's shape)."""
    treatment = stats.beta(9.0, 4.0)
    got = densities_mod.arm_measure_density(MIXTURE, treatment.logpdf, measure, np.array(values))
    f_c = lambda x: np.exp(densities_mod._beta_logpdf(MIXTURE, np.array(x)))  # noqa: E731
    for value, density in zip(values, got):
        if measure == "risk_difference":
            lo, hi = max(0.0, -value), min(1.0, 1.0 - value)
            integrand = lambda x: f_c(x) * treatment.pdf(x + value)  # noqa: E731
        elif measure == "odds_ratio":
            lo, hi = 0.0, 1.0

            def integrand(x, value=value):
                t = 1 / (1 + (1 - x) / (x * value))
                return f_c(x) * treatment.pdf(t) * t * (1 - t)
        else:
            lo, hi = 0.0, min(1.0, 1.0 / value)
            integrand = lambda x: f_c(x) * treatment.pdf(x * value) * x * value  # noqa: E731
        expected, _ = integrate.quad(integrand, lo, hi, epsabs=1e-13, epsrel=1e-11, limit=200,
                                     points=[p for p in (0.7, 0.77) if lo < p < hi])
        assert density == pytest.approx(expected, rel=1e-8, abs=1e-12), value


def test_arm_measure_density_of_a_large_trial_against_quad():
    """Narrow posteriors (1,000 patients per arm) are integrated as accurately."""
    control = exact.BetaMix(np.array([1.0]), np.array([301.0]), np.array([701.0]))
    c, t = stats.beta(301.0, 701.0), stats.beta(351.0, 651.0)
    values = np.array([0.0, 0.02, 0.05, 0.08, 0.1])
    got = densities_mod.arm_measure_density(control, t.logpdf, "risk_difference", values)
    for value, density in zip(values, got):
        expected, _ = integrate.quad(lambda x: c.pdf(x) * t.pdf(x + value), 0.2, 0.45,
                                     epsabs=1e-14, epsrel=1e-12, limit=200)
        assert density == pytest.approx(expected, rel=1e-8, abs=1e-10), value
