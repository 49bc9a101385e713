"""The scipy-free distribution functions of lnbayes.model.dists against scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lnbayes.model import dists

RNG = np.random.default_rng(20261205)

Q = np.concatenate([[1e-300, 1e-15, 1e-6, 0.025, 0.5, 0.975, 1 - 1e-6], RNG.random(40)])



@pytest.mark.parametrize("loc, scale", [(0.0, 1.0), (1.3, 0.02), (-4.0, 7.5)])
def test_normal(loc, scale):
    x = loc + scale * RNG.normal(scale=3.0, size=60)
    np.testing.assert_allclose(dists.norm_logpdf(x, loc, scale),
                               stats.norm.logpdf(x, loc, scale), rtol=1e-14)
    np.testing.assert_allclose(dists.norm_sf(x, loc, scale), stats.norm.sf(x, loc, scale),
                               rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(dists.norm_ppf(Q, loc, scale), stats.norm.ppf(Q, loc, scale),
                               rtol=1e-14)
    np.testing.assert_allclose(dists.norm_isf(Q, loc, scale), stats.norm.isf(Q, loc, scale),
                               rtol=1e-14)



@pytest.mark.parametrize("a, b", [(1.0, 1.0), (0.3, 7.0), (10.0, 2.5), (5000.5, 5000.5)])
def test_beta(a, b):
    x = np.concatenate([[0.0, 1.0, -0.1, 1.1], RNG.random(50)])
    with np.errstate(divide="ignore"):
        want = stats.beta.logpdf(x, a, b)
    np.testing.assert_allclose(dists.beta_logpdf(x, a, b), want, rtol=1e-13)
    np.testing.assert_allclose(dists.beta_ppf(Q, a, b), stats.beta.ppf(Q, a, b), rtol=1e-12)
    np.testing.assert_allclose(dists.beta_isf(Q, a, b), stats.beta.isf(Q, a, b), rtol=1e-12)



@pytest.mark.parametrize("n, p", [(12, 0.75), (6, 1e-9), (10000, 0.183), (3, 1.0)])
def test_binomial_and_beta_binomial(n, p):
    k = np.arange(n + 1)
    with np.errstate(divide="ignore"):
        want = stats.binom.logpmf(k, n, p)
    np.testing.assert_allclose(dists.binom_logpmf(k, n, p), want, rtol=1e-12)
    np.testing.assert_allclose(dists.binom_pmf(k, n, p), stats.binom.pmf(k, n, p),
                               rtol=1e-9, atol=1e-300)
    for a, b in ((1.0, 1.0), (0.5, 3.0), (40.0, 9.0)):
        np.testing.assert_allclose(dists.betabinom_pmf(k, n, a, b),
                                   stats.betabinom.pmf(k, n, a, b), rtol=1e-9, atol=1e-300)

