"""The few distribution functions the exact engine needs, on ``scipy.special`` (pure maths).

``scipy.stats`` takes 0.6 s to import (it builds the docstrings of every distribution), more
than the exact computation of a whole command; the exact commands (``analyze --engine exact``,
``predict``, ``design``, ``sweep``) therefore use these functions instead. Each is the formula
``scipy.stats`` itself uses (same special functions, same order of operations) wherever that is
public; ``tests/test_dists.py`` checks every one against ``scipy.stats``.
"""

from __future__ import annotations

import numpy as np
from scipy import special

_LOG_SQRT_2PI = float(np.log(np.sqrt(2 * np.pi)))


def norm_logpdf(x, loc=0.0, scale=1.0):
    """log density of Normal(loc, scale^2)."""
    z = (np.asarray(x, dtype=float) - loc) / scale
    return -z**2 / 2.0 - _LOG_SQRT_2PI - np.log(scale)


def norm_ppf(q, loc=0.0, scale=1.0):
    """Quantile function of Normal(loc, scale^2)."""
    return special.ndtri(q) * scale + loc


def norm_isf(q, loc=0.0, scale=1.0):
    """Inverse survival function of Normal(loc, scale^2)."""
    return -special.ndtri(q) * scale + loc


def norm_sf(x, loc=0.0, scale=1.0):
    """Survival function of Normal(loc, scale^2)."""
    return special.ndtr(-(np.asarray(x, dtype=float) - loc) / scale)


def beta_logpdf(x, a, b):
    """log density of Beta(a, b) at x in [0, 1] (-inf outside)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = special.xlog1py(b - 1.0, -x) + special.xlogy(a - 1.0, x) - special.betaln(a, b)
    return np.where((x >= 0) & (x <= 1), out, -np.inf)


def beta_ppf(q, a, b):
    """Quantile function of Beta(a, b)."""
    return special.betaincinv(a, b, q)


def beta_isf(q, a, b):
    """Inverse survival function of Beta(a, b): the x with P(X > x) = q."""
    return special.betainccinv(a, b, q)


def log_binom_coef(k, n):
    """log of the binomial coefficient n choose k (the one definition; k broadcasts), in the
    order of operations scipy.stats.binom uses."""
    return special.gammaln(n + 1) - (special.gammaln(k + 1) + special.gammaln(n - k + 1))


def binom_logpmf(k, n, p):
    """log P(K = k) for K ~ Binomial(n, p).

    ``k xlogy p + (n - k) xlog1py (-p)``, with the logarithms taken once per value of ``p``
    (scipy's, as xlogy takes them) instead of once per element of the broadcast result: the
    same numbers, and a table of every count against many ``p`` costs a multiply per element
    instead of two logarithms. A term whose count is 0 is 0 even where its logarithm is -inf.
    """
    k = np.asarray(k, dtype=float)
    p = np.asarray(p, dtype=float)
    log_p = special.xlogy(1.0, p)
    log_q = special.xlog1py(1.0, -p)
    m = n - k
    with np.errstate(invalid="ignore"):
        term_p = k * log_p
        term_q = m * log_q
    if not (np.all(np.isfinite(log_p)) and np.all(np.isfinite(log_q))):  # p = 0 or 1, or NaN
        term_p = np.where(k == 0, special.xlogy(k, p), term_p)
        term_q = np.where(m == 0, special.xlog1py(m, -p), term_q)
    return log_binom_coef(k, n) + term_p + term_q


def binom_pmf(k, n, p):
    """P(K = k) for K ~ Binomial(n, p)."""
    return np.exp(binom_logpmf(k, n, p))


def betabinom_pmf(k, n, a, b):
    """P(K = k) for K ~ BetaBinomial(n, a, b)."""
    k = np.floor(np.asarray(k, dtype=float))
    combiln = -np.log(n + 1) - special.betaln(n - k + 1, k + 1)
    return np.exp(combiln + special.betaln(k + a, n - k + b) - special.betaln(a, b))
