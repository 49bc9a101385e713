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
