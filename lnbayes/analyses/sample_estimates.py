"""Data-only estimates beside the Bayesian ones: sample risk difference (Newcombe) and odds ratio (Woolf)."""

from __future__ import annotations

import math

import numpy as np

from lnbayes.model import dists

# ---------------------------------------------------------------------------------------------
# Data-only (frequentist) reference estimates
# ---------------------------------------------------------------------------------------------


def wilson_interval(events: int, n: int, prob: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (Wilson 1927, doi:10.1080/01621459.1927.10502953)."""
    z = dists.norm_isf((1 - prob) / 2)
    p = events / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def data_only_estimate(outcome, prob: float = 0.95) -> dict[str, dict[str, float]]:
    """Sample risk difference and odds ratio (treatment vs control) with their intervals.

    The risk difference gets Newcombe's hybrid score interval (his method 10), which stays
    inside [-1, 1] and behaves with small counts; the odds ratio gets Woolf's logit interval,
    with 0.5 added to every cell when any cell is 0 (Haldane).

    References
    ----------
    Newcombe RG. Interval estimation for the difference between independent proportions:
    comparison of eleven methods. Stat Med 1998;17:873-890.
    doi:10.1002/(SICI)1097-0258(19980430)17:8<873::AID-SIM779>3.0.CO;2-I

    Woolf B. On estimating the relation between blood group and disease. Ann Hum Genet
    1955;19:251-253. doi:10.1111/j.1469-1809.1955.tb01348.x

    Katz D, Baptista J, Azen SP, Pike MC. Obtaining confidence intervals for the risk ratio in
    cohort studies. Biometrics 1978;34:469-474. doi:10.2307/2530610
    """
    z = dists.norm_isf((1 - prob) / 2)
    y1, n1 = outcome.treatment_events, outcome.treatment_n
    y0, n0 = outcome.control_events, outcome.control_n
    p1, p0 = y1 / n1, y0 / n0
    l1, u1 = wilson_interval(y1, n1, prob)
    l0, u0 = wilson_interval(y0, n0, prob)
    rd = p1 - p0
    rd_lo = rd - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    rd_hi = rd + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    cells = np.array([y1, n1 - y1, y0, n0 - y0], dtype=float)
    corrected = bool(np.any(cells == 0))
    if corrected:
        cells = cells + 0.5
    a, b, c, d = cells
    log_or = math.log(a * d / (b * c))
    se = math.sqrt(float(np.sum(1 / cells)))
    # risk ratio: Katz log interval, on the same (corrected when a cell is 0) table
    t_n, c_n = a + b, c + d
    log_rr = math.log((a / t_n) / (c / c_n))
    se_rr = math.sqrt(1 / a - 1 / t_n + 1 / c - 1 / c_n)
    return {
        "risk_difference": {"estimate": rd, "lower": rd_lo, "upper": rd_hi,
                            "method": "Newcombe hybrid score interval for the risk difference"},
        "odds_ratio": {"estimate": math.exp(log_or), "lower": math.exp(log_or - z * se),
                       "upper": math.exp(log_or + z * se),
                       "method": "Woolf logit interval for the odds ratio"
                       + (", 0.5 added to each cell" if corrected else "")},
        "risk_ratio": {"estimate": math.exp(log_rr), "lower": math.exp(log_rr - z * se_rr),
                       "upper": math.exp(log_rr + z * se_rr),
                       "method": "Katz log interval for the risk ratio"
                       + (", 0.5 added to each cell" if corrected else "")},
    }
