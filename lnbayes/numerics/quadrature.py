"""Quadrature rules shared by the exact computations (NumPy only)."""

from __future__ import annotations

import numpy as np


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
