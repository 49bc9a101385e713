"""Validation of the MAP prior against a published analysis: RBesT's "Getting started" vignette.

Source: RBesT 1.8-2 (CRAN, 2025-04-25), file ``inst/doc/introduction.html`` (rendered from
``vignettes/introduction.Rmd``), in the CRAN mirror https://github.com/cran/RBesT at commit
ae5db627e3304f854fc4067f9c03cf2f36db1792, sections "Meta-Analytic-Predictive Analysis",
"Parametric Approximation", "Effective Sample Size" and "Robustification of the MAP Prior".
The data set ``AS`` (placebo ASAS20 responders in 8 ankylosing spondylitis trials, Baeten et al.
Lancet 2013) is analysed with ``gMAP(cbind(r, n - r) ~ 1 | study, tau.dist = "HalfNormal",
tau.prior = 1, beta.prior = 2, family = binomial)``: logit p_i ~ Normal(mu, tau^2),
mu ~ Normal(0, 2^2), tau ~ half-Normal(scale 1) -- lnbayes's MapSpec(..., half_normal 1, 0, 2).
The sensitivity analysis reruns it with tau.prior = 1/2.

Published numbers (printed by the vignette, rounded to 3 significant figures):

- tau, HN(1):   mean 0.377, sd 0.217, 2.5% 0.0414, 50% 0.346, 97.5% 0.893
- MAP, HN(1):   mean 0.258, sd 0.0842, 2.5% 0.112, 50% 0.251, 97.5% 0.459
- tau, HN(1/2): mean 0.334, sd 0.176, 2.5% 0.0382, 50% 0.312, 97.5% 0.724
- MAP, HN(1/2): mean 0.257, sd 0.0794, 2.5% 0.119, 50% 0.248, 97.5% 0.440
- automixfit of the HN(1) MAP sample: w (0.6167463, 0.3832537), a (19.1916387, 3.5278745),
  b (57.7779318, 9.3735980)
- round(ess(map, "elir")) 37, round(ess(map, "moment")) 26, round(ess(map, "morita")) 63
- robustify(map, weight = 0.2, mean = 1/2) (a Beta(1, 1) component): round(ess(.)) 26 (ELIR)

Tolerances. The gMAP numbers are MCMC estimates. The vignette's sampling settings
(``vignettes/settings-sampling.txt``) use RBesT's defaults (4 chains, 4000 kept draws) or, when
built in CRAN mode, 2 chains of 250 kept draws: we take the smaller, 500 draws, and allow
3 Monte Carlo standard errors at 500 independent draws (computed here from the exact
distribution: sqrt(q (1 - q) / 500) / f(x_q) for a quantile, sd / sqrt(500) for a mean,
sd sqrt((kurtosis - 1) / 2000) for an sd) plus half a unit of the printed last digit.
The mixture is a fit to that MCMC sample, so it is compared with the exact MAP by the
Kolmogorov distance a 500-draw sample attains with 95% probability (1.36 / sqrt(500)).
The ESS are deterministic functions of the printed mixture (7 significant figures), so lnbayes's
ESS of that mixture must round to the printed integers: within 0.5.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lnbayes.model.spec import BetaPrior
from lnbayes.priors import effective_size as es
from lnbayes.priors import map as mp

AS = [(23, 107), (12, 44), (19, 51), (9, 39), (39, 139), (6, 20), (9, 78), (10, 35)]
"""RBesT's ``AS`` data (r, n), as printed in the vignette's table (Study 1 to Study 8)."""

N_DRAWS = 500
"""The fewest MCMC draws the vignette's build may have used (CRAN mode: 2 chains x 250)."""

PUBLISHED = {
    1.0: {"tau": {"mean": 0.377, "sd": 0.217, "0.025": 0.0414, "0.5": 0.346, "0.975": 0.893},
          "map": {"mean": 0.258, "sd": 0.0842, "0.025": 0.112, "0.5": 0.251, "0.975": 0.459}},
    0.5: {"tau": {"mean": 0.334, "sd": 0.176, "0.025": 0.0382, "0.5": 0.312, "0.975": 0.724},
          "map": {"mean": 0.257, "sd": 0.0794, "0.025": 0.119, "0.5": 0.248, "0.975": 0.440}},
}
PUBLISHED_MIXTURE = BetaPrior((0.6167463, 0.3832537), (19.1916387, 3.5278745),
                              (57.7779318, 9.3735980))
PUBLISHED_ESS = {"elir": 37, "moment": 26, "morita": 63}
PUBLISHED_ROBUST_ELIR = 26


def _half_unit(x: float) -> float:
    """Half a unit of the last of 3 significant figures of a printed number."""
    return 0.5 * 10 ** (math.floor(math.log10(abs(x))) - 2)


def _spec(scale: float) -> mp.MapSpec:
    return mp.MapSpec(tuple(mp.Study(r, n) for r, n in AS), mp.TauPrior("half_normal", scale),
                      0.0, 2.0)


def _quantile_sample(quantile, n: int = 400) -> np.ndarray:
    """The exact distribution's quantiles at n mid-point probabilities (for its moments)."""
    return np.array([quantile(u) for u in (np.arange(n) + 0.5) / n])


def _moment_mcse(x: np.ndarray) -> tuple[float, float, float, float]:
    mean, sd = float(x.mean()), float(x.std())
    kurt = float(np.mean((x - mean) ** 4) / sd**4)
    return mean, sd, sd / math.sqrt(N_DRAWS), sd * math.sqrt((kurt - 1) / (4 * N_DRAWS))


def _quantile_mcse(quantile, q: float, h: float = 1e-4) -> float:
    """sqrt(q (1 - q) / N) / f(x_q), with 1 / f(x_q) = dx/dq by a central difference."""
    slope = (quantile(q + h) - quantile(q - h)) / (2 * h)
    return math.sqrt(q * (1 - q) / N_DRAWS) * slope


@pytest.mark.heavy
@pytest.mark.parametrize("scale", [1.0, 0.5])
@pytest.mark.parametrize("what", ["tau", "map"])
def test_exact_map_matches_rbest_gmap(scale, what):
    pred = mp.map_predictive(_spec(scale))
    quantile = pred.tau_quantile if what == "tau" else pred.quantile
    published = PUBLISHED[scale][what]
    mean, sd, se_mean, se_sd = _moment_mcse(_quantile_sample(quantile))
    checks = {"mean": (mean, se_mean), "sd": (sd, se_sd)}
    for q in ("0.025", "0.5", "0.975"):
        checks[q] = (quantile(float(q)), _quantile_mcse(quantile, float(q)))
    for key, (ours, se) in checks.items():
        tol = 3 * se + _half_unit(published[key])
        assert abs(ours - published[key]) <= tol, (scale, what, key, ours, published[key], tol)


@pytest.mark.heavy
def test_published_mixture_is_close_to_the_exact_map():
    pred = mp.map_predictive(_spec(1.0))
    assert mp.max_cdf_error(pred, PUBLISHED_MIXTURE) < 1.36 / math.sqrt(N_DRAWS)
    # and lnbayes's own fit is within its stated accuracy of the same exact MAP
    assert mp.fit_beta_mixture(pred).max_cdf_error < mp.CDF_TOLERANCE


def test_ess_of_the_published_mixture_matches_rbest():
    ess = mp.mixture_ess(PUBLISHED_MIXTURE)
    for method, printed in PUBLISHED_ESS.items():
        assert abs(ess[method] - printed) <= 0.5, (method, ess[method], printed)
    assert es.arm_ess(PUBLISHED_MIXTURE)["elir"] == pytest.approx(ess["elir"])


def test_ess_of_the_published_robust_mixture_matches_rbest():
    robust = mp.robustify(PUBLISHED_MIXTURE, 0.2, 1.0, 1.0)
    # the weights RBesT prints for map_robust: 0.493397, 0.306603, 0.200000
    assert robust.weights == pytest.approx((0.493397, 0.306603, 0.2), abs=5e-7)
    assert abs(es.ess_elir(robust) - PUBLISHED_ROBUST_ELIR) <= 0.5


def test_ess_of_a_beta_is_a_plus_b_as_in_rbest_tests():
    """RBesT tests/testthat/test-utils.R ("conjugate beta case matches canonical formula", same
    commit): for a Beta(a, b) prior, moment and ELIR ESS equal a + b and Morita rounds to it."""
    for a, b in ((4.0, 6.0), (19.1916387, 57.7779318), (3.5, 9.25)):
        ess = mp.mixture_ess(BetaPrior((1.0,), (a,), (b,)))
        assert ess["moment"] == pytest.approx(a + b, rel=1e-9)
        assert ess["elir"] == pytest.approx(a + b, rel=1e-6)
        assert abs(ess["morita"] - (a + b)) < 0.5
