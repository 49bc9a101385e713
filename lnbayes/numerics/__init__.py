"""Layer 0, numerics shared by every engine: root finding (and quadrature rules)."""
