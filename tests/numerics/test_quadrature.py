"""The shared quadrature rules (lnbayes.numerics.quadrature), each against exact integrals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from lnbayes.numerics import quadrature


def test_simpson_weights_integrate_cubics_exactly():
    x, w = quadrature.simpson_grid(-1.3, 2.1, 9)
    f = 2 * x**3 - x**2 + 0.5
    want = (2.1**4 - 1.3**4) / 2 - (2.1**3 + 1.3**3) / 3 + 0.5 * 3.4
    assert w @ f == pytest.approx(want, abs=1e-12)
    with pytest.raises(ValueError):
        quadrature.simpson_weights(4, 0.1)


def test_gauss_legendre_panels_on_graded_edges():
    """k nodes per panel integrate degree 2k - 1 exactly, on any breakpoints."""
    edges = quadrature.graded_edges(0.0, 2.0, 4, 5, 3)
    assert edges[0] == 0.0 and edges[-1] == 2.0 and np.all(np.diff(edges) > 0)
    assert len(edges) == 4 + 1 + 5 + 3
    assert edges[1] == pytest.approx(0.5 * 2.0**-5)
    x, w = quadrature.gauss_legendre_panels(edges, 4)
    assert w @ x**7 == pytest.approx(2.0**8 / 8, rel=1e-13)
    assert w @ np.exp(-x) == pytest.approx(1 - math.exp(-2.0), rel=1e-13)


def test_local_interpolant_is_exact_for_degree_seven():
    values = np.arange(20, dtype=float)
    poly = 0.01 * values**7 - values**3 + 2
    pos = np.array([0.3, 5.5, 18.7])
    want = 0.01 * pos**7 - pos**3 + 2
    np.testing.assert_allclose(quadrature.interp_uniform(poly, pos), want, rtol=1e-10)


def test_interval_weights_are_fourth_order():
    theta = np.linspace(-3, 3, 121)
    f = np.cos(theta) + theta**3
    a = np.array([-2.013, 0.5])
    b = np.array([1.377, 0.5001])
    w = quadrature.interval_weights(theta, a, b)
    exact_int = np.sin(b) - np.sin(a) + (b**4 - a**4) / 4
    assert np.allclose(w @ f, exact_int, atol=1e-6)


def test_cumulative_integral_read_between_nodes_is_the_interval_rule():
    """Differences of cumulative_at are interval_weights' rule (to rounding), for many
    integrands at once, and fourth order."""
    theta = np.linspace(-3, 3, 121)
    h = theta[1] - theta[0]
    f = np.stack([np.cos(theta) + theta**3, np.exp(-theta**2)])
    a = np.array([-2.013, 0.5, -1.0])
    b = np.array([1.377, 0.5001, 2.9])
    c = quadrature.cumulative_integral(f, h)
    got = []
    for row in range(2):
        ka, ta = quadrature.grid_cell(theta[0], h, len(theta), a)
        kb, tb = quadrature.grid_cell(theta[0], h, len(theta), b)
        start = row * len(theta)
        got.append(quadrature.cumulative_at(c.ravel(), f.ravel(), start + kb, tb, h)
                   - quadrature.cumulative_at(c.ravel(), f.ravel(), start + ka, ta, h))
    want = quadrature.interval_weights(theta, a, b) @ f.T  # (bounds, integrands)
    assert np.allclose(np.array(got).T, want, rtol=0, atol=1e-13)
    exact_int = np.sin(b) - np.sin(a) + (b**4 - a**4) / 4
    assert np.allclose(got[0], exact_int, atol=1e-6)
    _, slope = quadrature.cumulative_at(c.ravel(), f.ravel(), np.array([60]), np.array([0.25]), h, True)
    assert slope[0] == pytest.approx(0.75 * f[0, 60] + 0.25 * f[0, 61])


def test_hermite_quantile_at_a_node():
    theta = np.linspace(-5, 5, 101)
    h = theta[1] - theta[0]
    dens = stats.norm.pdf(theta)[None, :]
    base = quadrature.hermite_quantile(theta, dens, h, 0.5)[0]
    assert base == pytest.approx(0.0, abs=1e-6)
    for q in [float(np.nextafter(0.5, 0)), float(np.nextafter(0.5, 1)), 0.5 - 5e-13, 0.5 + 5e-13]:
        assert abs(quadrature.hermite_quantile(theta, dens, h, q)[0] - base) <= 1e-9


def test_gregory_weights_classical_order_3():
    assert quadrature.gregory_end_weights(3) == pytest.approx((3 / 8, 7 / 6, 23 / 24), abs=1e-14)


def test_gregory_rule_integrates_smooth_half_line():
    h = 0.1
    w = np.asarray(quadrature.gregory_end_weights())
    x = np.arange(0, 40, h)
    f = np.exp(-0.5 * (x - 0.3) ** 2)
    weights = np.ones_like(x)
    weights[: len(w)] = w
    exact_value = math.sqrt(math.pi / 2) * special.erfc(-0.3 / math.sqrt(2))
    assert h * np.sum(weights * f) == pytest.approx(exact_value, abs=1e-8)


def test_partial_panel_weights_integrate_polynomials_exactly():
    """The in-panel partial integrals of the effect-level rows: exact for degree < GL_K."""
    s = np.linspace(-1, 1, 7)
    nodes = (np.polynomial.legendre.leggauss(quadrature.GL_K)[0])
    for deg in range(quadrature.GL_K):
        f = nodes**deg
        got = quadrature.partial_weights(s) @ f
        want = 0.5 * (s ** (deg + 1) - (-1.0) ** (deg + 1)) / (deg + 1)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)
