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



def test_binomial_table_of_counts_against_probabilities():
    """A whole table (every count against many p, as the prior predictive asks): scipy.stats'
    value at every cell, p = 0 and p = 1 included (a count whose term is 0 there is exact)."""
    n = 40
    k = np.arange(n + 1)[None, :]
    p = np.concatenate([[0.0, 1.0, 5e-324, 1e-300, 1 - 1e-16], RNG.random(30)])[:, None]
    with np.errstate(divide="ignore"):
        want = stats.binom.logpmf(k, n, p)
    got = dists.binom_logpmf(k, n, p)
    assert got.shape == want.shape and not np.any(np.isnan(got))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12)
    assert got[0, 0] == 0.0 and got[1, n] == 0.0  # P(K = 0 | p = 0) = P(K = n | p = 1) = 1


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

