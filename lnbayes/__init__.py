"""lnbayes: Bayesian sensitivity analysis of small two-arm trials with a binary outcome."""

__version__ = "0.1.0"
