"""Independent reference computations the tests compare lnbayes with (closed forms and
Gauss-Legendre quadrature written out here, never lnbayes's own engines), and the small priors
several test modules share."""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from lnbayes.model.spec import BetaPrior, NormalPrior, Prior


def log_or_prior(sd: float, mean: float = 0.0) -> Prior:
    return Prior(f"n{sd:g}", "effect", BetaPrior.single(1, 1), scale="log_or",
                 effect=NormalPrior.single(mean, sd))


def gauss_legendre(lo: float, hi: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    g, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (hi - lo) * (g + 1) + lo, 0.5 * (hi - lo) * w


def brute_log_or(prior: Prior, y_t, n_t, y_c, n_c, uc_window, v_window, n: int = 400):
    """Masses of v = log OR below and above 0, and of v = 0 (per unit v), for a Beta(a, b)
    control prior and a Normal log-OR prior, by Gauss-Legendre on (u_c, v) (v split at 0)."""
    a, b = prior.control.a[0], prior.control.b[0]
    m, s = prior.effect.means[0], prior.effect.sds[0]
    uc, wc = gauss_legendre(*uc_window, n)

    def log_joint(u, v):
        ut = u + v
        return (a * special.log_expit(u) + b * special.log_expit(-u) - special.betaln(a, b)
                + stats.norm.logpdf(v, m, s)
                + y_c * special.log_expit(u) + (n_c - y_c) * special.log_expit(-u)
                + y_t * special.log_expit(ut) + (n_t - y_t) * special.log_expit(-ut))

    below_v, below_w = gauss_legendre(v_window[0], 0.0, n)
    above_v, above_w = gauss_legendre(0.0, v_window[1], n)
    ref = float(np.max(log_joint(uc[:, None], np.r_[below_v, above_v][None, :])))
    below = float(wc @ np.exp(log_joint(uc[:, None], below_v[None, :]) - ref) @ below_w)
    above = float(wc @ np.exp(log_joint(uc[:, None], above_v[None, :]) - ref) @ above_w)
    at0 = float(wc @ np.exp(log_joint(uc, 0.0) - ref))
    return below, above, at0


def gauss_2d(f, theta_range, n: int = 240) -> float:
    """Integral of f(theta, p_c) over p_c in (0, 1) and theta in theta_range(p_c), by a tensor
    Gauss-Legendre rule (n nodes per axis; theta nodes mapped per p_c).
    """
    g, gw = np.polynomial.legendre.leggauss(n)
    pc = 0.5 * (g + 1)
    wc = 0.5 * gw
    lo, hi = theta_range(pc)
    theta = 0.5 * (hi - lo)[:, None] * (g[None, :] + 1) + lo[:, None]
    wt = 0.5 * (hi - lo)[:, None] * gw[None, :]
    return float(np.sum(wc[:, None] * wt * f(theta, pc[:, None])))


def cook_p_greater(a1: int, b1: float, a2: float, b2: float) -> float:
    """P(X > Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2), a1 a whole number (Cook's formula)."""
    i = np.arange(a1)
    return float(np.sum(np.exp(special.betaln(a2 + i, b1 + b2) - np.log(b1 + i)
                               - special.betaln(1 + i, b1) - special.betaln(a2, b2))))


def flat_p_benefit(y_t: int, n_t: int, y_c: int, n_c: int) -> float:
    return cook_p_greater(1 + y_t, 1 + n_t - y_t, 1 + y_c, 1 + n_c - y_c)


def flat_p_greater(y1, n1, y2, n2):
    """P(p1 > p2) under Beta(1, 1) priors (Cook's closed form)."""
    a1, b1, a2, b2 = 1 + y1, 1 + n1 - y1, 1 + y2, 1 + n2 - y2
    i = np.arange(a1)
    return float(np.sum(np.exp(special.betaln(a2 + i, b1 + b2) - np.log(b1 + i)
                               - special.betaln(1 + i, b1) - special.betaln(a2, b2))))
