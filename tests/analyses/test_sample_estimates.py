"""lnbayes.analyses.sample_estimates: data-only estimates (Newcombe's interval)."""

from __future__ import annotations

import math

import pytest

from lnbayes.analyses import sample_estimates
from lnbayes.model.spec import Outcome


def test_newcombe_interval_matches_the_published_example():
    # Newcombe 1998, Table II example (a): 56/70 vs 48/80, method 10: 0.0524 to 0.3339
    est = sample_estimates.data_only_estimate(Outcome("x", "x", 56, 70, 48, 80))
    rd = est["risk_difference"]
    assert rd["estimate"] == pytest.approx(0.2)
    assert rd["lower"] == pytest.approx(0.0524, abs=1e-4)
    assert rd["upper"] == pytest.approx(0.3339, abs=1e-4)
    # Woolf: log OR +/- 1.96 sqrt(1/a + 1/b + 1/c + 1/d)
    se = math.sqrt(1 / 56 + 1 / 14 + 1 / 48 + 1 / 32)
    assert est["odds_ratio"]["lower"] == pytest.approx(56 * 32 / (14 * 48) * math.exp(-1.959964 * se),
                                                       rel=1e-5)

