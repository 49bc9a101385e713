"""Figures: each function takes results and returns a matplotlib Figure."""
