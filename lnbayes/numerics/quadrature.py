"""Quadrature rules shared by the exact computations (NumPy and ``scipy.special`` only).

Every rule the exact engines use is defined here once; the engines combine them:

* :func:`simpson_weights`, :func:`simpson_grid`: composite Simpson on equally spaced nodes;
  :func:`gauss_hermite`, :func:`gauss_legendre`: one Gauss rule (MAP priors);
* Gauss-Legendre panels: :data:`GL_K` nodes per panel (:data:`GL_NODES_01`, :data:`GL_WEIGHTS_01`
  on [0, 1]), :func:`gauss_legendre_panels` for any number of nodes on given breakpoints,
  :func:`graded_edges` (equal panels, halving toward either end) and :func:`partial_weights`
  (the integral of a panel's interpolant up to any point), with :data:`GL_ANTI` and
  :data:`GL_ANTI_M1`, the antiderivative coefficients of that interpolant;
* :func:`lagrange_basis`, :func:`interp_uniform`: local polynomial interpolation on a uniform
  grid (degree 7 by default);
* :func:`gregory_end_weights`, :func:`half_line_weights`: the trapezoid rule on a half-line with
  Gregory end corrections (the lattice of :mod:`lnbayes.engines.datasets`);
* :func:`interval_weights` (and :func:`interval_weights_rows`): fourth-order weights of
  ``int_a^b f`` on a uniform grid, for bounds anywhere between nodes (the prior grids of
  :mod:`lnbayes.engines.prior_grid`), and :func:`hermite_quantile`, the quantile of a density
  known on such a grid; :func:`cumulative_integral` and :func:`cumulative_at`, the same
  fourth-order cumulative integral kept as values at the nodes (many integrands at once) and read
  at any points.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special

# ---------------------------------------------------------------------------------------------
# Simpson
# ---------------------------------------------------------------------------------------------


def simpson_weights(n: int, h: float) -> np.ndarray:
    """Composite Simpson weights for ``n`` (odd) equally spaced nodes ``h`` apart."""
    if n < 3 or n % 2 == 0:
        raise ValueError(f"Simpson's rule needs an odd number of nodes >= 3, got {n}")
    w = np.ones(n)
    w[1:-1:2] = 4
    w[2:-1:2] = 2
    return w * h / 3


def simpson_grid(lo: float, hi: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` equally spaced nodes on ``[lo, hi]`` and their composite Simpson weights."""
    x = np.linspace(lo, hi, n)
    return x, simpson_weights(n, x[1] - x[0])


def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the ``n``-point Gauss-Hermite rule for a standard Normal weight.

    ``sum(w * f(x))`` approximates ``E[f(Z)]`` for ``Z ~ Normal(0, 1)`` (the weights sum to 1).
    """
    if n < 1:
        raise ValueError(f"Gauss-Hermite needs at least 1 node, got {n}")
    x, w = np.polynomial.hermite.hermgauss(n)
    return x * np.sqrt(2.0), w / np.sqrt(np.pi)


def gauss_legendre(lo: float, hi: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the ``n``-point Gauss-Legendre rule on ``[lo, hi]``."""
    if n < 1:
        raise ValueError(f"Gauss-Legendre needs at least 1 node, got {n}")
    x, w = np.polynomial.legendre.leggauss(n)
    half = (hi - lo) / 2
    return lo + half * (x + 1), w * half


# ---------------------------------------------------------------------------------------------
# Gauss-Legendre panels, and partial integrals to any point of a panel's interpolant
# ---------------------------------------------------------------------------------------------

GL_K = 10
"""Gauss-Legendre nodes per panel of the exact engine's theta rows."""
GL_NODES, GL_WEIGHTS = np.polynomial.legendre.leggauss(GL_K)
"""The nodes and weights on [-1, 1]."""
GL_NODES_01 = (GL_NODES + 1) / 2
"""The nodes on [0, 1]."""
GL_WEIGHTS_01 = GL_WEIGHTS / 2
"""Their weights on [0, 1] (sum 1)."""
# the degree-(K-1) interpolant at the nodes, L_m(s) = sum_p _VINV[p, m] s^p on [-1, 1], and the
# coefficients of s^(p+1) in its antiderivative
_VINV = np.linalg.inv(np.vander(GL_NODES, GL_K, increasing=True))
GL_ANTI = _VINV / np.arange(1, GL_K + 1)[:, None]
"""Coefficients [p, m] of s^(p+1) in the antiderivative of the interpolant's basis L_m."""
GL_ANTI_M1 = ((-1.0) ** np.arange(1, GL_K + 1)) @ GL_ANTI
"""That antiderivative at s = -1 (per basis function)."""


def partial_weights(s: np.ndarray) -> np.ndarray:
    """Weights W_m(s) with sum_m W_m(s) f(node_m) = the integral of f's interpolant from the
    panel's start to s (s in [-1, 1]), as a fraction of the panel's width; W_m(1) =
    GL_WEIGHTS_01."""
    pw = np.empty(s.shape + (GL_K,))
    pw[..., 0] = s
    for k in range(1, GL_K):
        np.multiply(pw[..., k - 1], s, out=pw[..., k])
    return 0.5 * (pw @ GL_ANTI - GL_ANTI_M1)


@lru_cache(maxsize=None)
def _leggauss(k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(k)


def gauss_legendre_panels(edges: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of ``k``-point Gauss-Legendre rules on the panels between ``edges``
    (sorted breakpoints), flattened panel by panel."""
    s, w = _leggauss(k)
    mid = (edges[1:] + edges[:-1]) / 2
    half = (edges[1:] - edges[:-1]) / 2
    return (mid[:, None] + half[:, None] * s).ravel(), (half[:, None] * w).ravel()


def graded_edges(a: float, b: float, n_panels: int, levels_lo: int, levels_hi: int) -> np.ndarray:
    """Breakpoints of n_panels equal panels on [a, b], the first cut ``levels_lo`` times and the
    last ``levels_hi`` times geometrically (halving) toward a and b."""
    return a + (b - a) * _graded_fractions(int(n_panels), int(levels_lo), int(levels_hi))


@lru_cache(maxsize=1024)
def _graded_fractions(n_panels: int, levels_lo: int, levels_hi: int) -> np.ndarray:
    """graded_edges on [0, 1] (kept: the exact engine asks for the same few layouts again and
    again); read-only."""
    t = np.linspace(0.0, 1.0, n_panels + 1)
    step = t[1]
    first = step * 2.0 ** -np.arange(levels_lo, 0, -1)
    last = 1.0 - step * 2.0 ** -np.arange(1, levels_hi + 1)
    frac = np.unique(np.concatenate([t, first, last]))
    frac.setflags(write=False)
    return frac


# ---------------------------------------------------------------------------------------------
# Local interpolation on a uniform grid
# ---------------------------------------------------------------------------------------------

STENCIL = 8
"""Nodes of the local Lagrange interpolant (degree 7)."""
_LAGRANGE_DENOM: dict[int, np.ndarray] = {}


def lagrange_basis(pos: np.ndarray, width: int = STENCIL) -> np.ndarray:
    """Lagrange basis of the nodes 0 .. width - 1 at positions ``pos`` (..., width)."""
    if width not in _LAGRANGE_DENOM:
        k = np.arange(width, dtype=float)
        _LAGRANGE_DENOM[width] = np.array([np.prod(m - np.delete(k, m)) for m in range(width)])
    diff = pos[..., None] - np.arange(width, dtype=float)
    ones = np.ones(pos.shape + (1,))
    left = np.concatenate([ones, np.cumprod(diff[..., :-1], axis=-1)], axis=-1)
    right = np.concatenate([np.cumprod(diff[..., :0:-1], axis=-1)[..., ::-1], ones], axis=-1)
    return left * right / _LAGRANGE_DENOM[width]


def interp_uniform(values: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The degree-7 interpolant of ``values`` (at nodes 0, 1, ...) at positions ``pos``, from the
    8 nodes nearest each."""
    n = len(values)
    start = np.clip(np.floor(pos).astype(np.intp) - 3, 0, n - STENCIL)
    idx = start[:, None] + np.arange(STENCIL)
    return np.sum(lagrange_basis(pos - start) * values[idx], axis=1)


# ---------------------------------------------------------------------------------------------
# The trapezoid rule on a half-line with Gregory end corrections
# ---------------------------------------------------------------------------------------------

GREGORY_ORDER = 7


@lru_cache(maxsize=None)
def gregory_end_weights(order: int = GREGORY_ORDER) -> tuple[float, ...]:
    """Weights ``w_0..w_{m-1}`` of the trapezoid rule on a half-line with Gregory end corrections.

    The rule ``h (w_0 f_0 + ... + w_{m-1} f_{m-1} + f_m + f_{m+1} + ...)`` integrates
    ``f`` over ``[0, inf)`` exactly for polynomials of degree < m near the end point (from the
    Euler-Maclaurin formula: the corrections ``d_k = w_k - tau_k`` satisfy
    ``sum_k d_k k^p = B_{p+1} / (p + 1)`` for odd p and 0 for even p). For m = 3 this gives the
    classical 3/8, 7/6, 23/24.
    """
    m = order
    k = np.arange(m, dtype=float)
    a = np.vander(k, m, increasing=True).T  # a[p, k] = k^p
    bern = special.bernoulli(m + 1)
    rhs = np.array([bern[p + 1] / (p + 1) if p % 2 == 1 else 0.0 for p in range(m)])
    delta = np.linalg.solve(a, rhs)
    tau = np.ones(m)
    tau[0] = 0.5
    return tuple(float(v) for v in tau + delta)


def half_line_weights(offset: np.ndarray) -> np.ndarray:
    """Weights of the nodes at ``offset`` (whole numbers, node index minus the cut's index) in
    the rule for the half-line offset >= 0 (Gregory-corrected at the cut)."""
    g = np.asarray(gregory_end_weights())
    m = len(g)
    out = np.where(offset >= m, 1.0, 0.0)
    near = (offset >= 0) & (offset < m)
    return np.where(near, g[np.clip(offset, 0, m - 1)], out)


# ---------------------------------------------------------------------------------------------
# int_a^b f on a uniform grid, for bounds between nodes (fourth order)
# ---------------------------------------------------------------------------------------------


def _hermite_basis(t):
    """The cubic Hermite basis h00, h10, h01, h11 at t in [0, 1]."""
    return (2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2)


def _local_terms(t: np.ndarray, h: float) -> np.ndarray:
    """Coefficients of f at nodes k-1, k, k+1, k+2 in the cumulative integral up to theta_k + t h.

    With ``C_k = h (sum_{j<=k} f_j - f_k / 2) - h/24 (f_{k+1} - f_{k-1})`` (the cumulative
    trapezoid rule with the Euler-Maclaurin end correction, central differences for ``f'``) and
    the cubic Hermite interpolant in the cell through ``C_k``, ``C_{k+1}`` with slopes ``f_k``,
    ``f_{k+1}``, the cumulative integral is ``h * sum_{j<=k} f_j`` plus these four local terms
    (fourth order; the terms at the start of the grid cancel in differences).
    """
    h00, h10, h01, h11 = _hermite_basis(t)
    return h * np.stack([h00 / 24, -0.5 * h00 + h10 + h01 / 24,
                         0.5 * h01 - h00 / 24 + h11, -h01 / 24], axis=-1)


def interval_weights(theta: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Weights W (rows x nodes) with ``W[i] @ f ~ int_{a_i}^{b_i} f`` on the uniform grid ``theta``.

    Bounds are clamped to the grid's interior (``theta[1]`` to ``theta[-3]``); rows with
    ``a_i >= b_i`` get zero weights.
    """
    n = len(theta)
    h = theta[1] - theta[0]
    lo_ok, hi_ok = theta[1], theta[n - 3] + h * (1 - 1e-12)

    def locate(v):
        v = np.clip(v, lo_ok, hi_ok)
        pos = (v - theta[0]) / h
        k = np.clip(np.floor(pos).astype(int), 1, n - 3)
        return k, pos - k

    a = np.asarray(a, float)
    b = np.asarray(b, float)
    ka, ta = locate(a)
    kb, tb = locate(b)
    jj = np.arange(n)[None, :]
    w = h * ((jj > ka[:, None]) & (jj <= kb[:, None]))
    rows = np.arange(len(a))[:, None]
    offsets = np.arange(-1, 3)[None, :]
    np.add.at(w, (np.broadcast_to(rows, (len(a), 4)), kb[:, None] + offsets), _local_terms(tb, h))
    np.add.at(w, (np.broadcast_to(rows, (len(a), 4)), ka[:, None] + offsets), -_local_terms(ta, h))
    empty = (np.minimum(b, hi_ok) <= np.maximum(a, lo_ok))
    w[empty] = 0.0
    return w


def interval_weights_rows(theta: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`interval_weights`, computed once when every row has the same bounds and broadcast
    (read-only) to all rows."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) > 1 and np.all(a == a[0]) and np.all(b == b[0]):
        return np.broadcast_to(interval_weights(theta, a[:1], b[:1]), (len(a), len(theta)))
    return interval_weights(theta, a, b)


def cumulative_integral(f: np.ndarray, h: float) -> np.ndarray:
    """The cumulative integral of :func:`interval_weights` at the nodes, along the last axis.

    ``C_k = h (sum_{j<=k} f_j - f_k / 2) - h/24 (f_{k+1} - f_{k-1})`` (the cumulative trapezoid
    rule with the Euler-Maclaurin end correction, from an arbitrary origin); meaningful for
    ``k`` in ``1 .. n - 2`` (the two end values use one-sided differences and are not read by
    :func:`cumulative_at` inside the grid's interior).
    """
    c = np.cumsum(f, axis=-1)
    c -= 0.5 * f
    c *= h
    d = np.empty_like(f)
    d[..., 1:-1] = f[..., 2:] - f[..., :-2]
    d[..., 0] = 2 * (f[..., 1] - f[..., 0])
    d[..., -1] = 2 * (f[..., -1] - f[..., -2])
    c -= (h / 24) * d
    return c


def cumulative_at(c: np.ndarray, f: np.ndarray, i: np.ndarray, t: np.ndarray, h: float,
                  slope: bool = False):
    """The cumulative integral between nodes: the cubic Hermite interpolant through ``c`` (from
    :func:`cumulative_integral`) with the integrand ``f`` as slopes, at fraction ``t`` of the
    cell from flat index ``i`` to ``i + 1`` (``c`` and ``f`` raveled alike).

    Differences of it between two points are exactly the rule of :func:`interval_weights` (the
    same four local terms). ``slope``: also the integrand there, linearly interpolated (a
    derivative good enough to steer a root search).
    """
    t2 = t * t
    t3 = t2 * t
    h01 = 3 * t2 - 2 * t3  # the basis of _hermite_basis, by products (no powers)
    f0, f1 = f[i], f[i + 1]
    c0 = c[i]
    value = c0 + h01 * (c[i + 1] - c0) + h * ((t3 - 2 * t2 + t) * f0 + (t3 - t2) * f1)
    if slope:
        return value, f0 + t * (f1 - f0)
    return value


def grid_cell(theta0: float, h: float, n: int, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell ``k`` and fraction ``t`` of points ``v`` on the uniform grid ``theta0 + h j``
    (``j < n``), clamped to the interior as :func:`interval_weights` clamps its bounds."""
    pos = np.clip((np.asarray(v, float) - theta0) / h, 1.0, (n - 3) + (1 - 1e-12))
    k = np.clip(np.floor(pos).astype(np.intp), 1, n - 3)
    return k, pos - k


def hermite_quantile(theta: np.ndarray, density: np.ndarray, h: float, q: float) -> np.ndarray:
    """The q-quantile of each row of an unnormalised density on a uniform grid.

    CDF at the nodes by the end-corrected cumulative trapezoid rule, then the cubic Hermite
    interpolant (values and the density as slopes) is inverted in the crossing cell by Newton
    steps.
    """
    f = np.maximum(density, 0.0)
    cum = np.concatenate([np.zeros((f.shape[0], 1)), np.cumsum(0.5 * h * (f[:, 1:] + f[:, :-1]), axis=1)], axis=1)
    slope = np.gradient(f, h, axis=1)
    cum = cum - h * h / 12 * (slope - slope[:, :1])
    total = cum[:, -1:]
    cdf = cum / total
    fn = f * h / total  # slope in cell units
    k = np.clip(np.sum(cdf < q, axis=1) - 1, 0, len(theta) - 2)
    rows = np.arange(f.shape[0])
    f0, f1 = cdf[rows, k], cdf[rows, k + 1]
    d0, d1 = fn[rows, k], fn[rows, k + 1]
    t = np.clip((q - f0) / np.where(f1 > f0, f1 - f0, 1.0), 0.0, 1.0)
    for _ in range(6):
        h00, h10, h01, h11 = _hermite_basis(t)
        val = h00 * f0 + h10 * d0 + h01 * f1 + h11 * d1 - q
        der = (6 * t**2 - 6 * t) * f0 + (3 * t**2 - 4 * t + 1) * d0 + (-6 * t**2 + 6 * t) * f1 + (3 * t**2 - 2 * t) * d1
        t = np.clip(t - val / np.where(der > 1e-300, der, 1e-300), 0.0, 1.0)
    return theta[k] + t * h
