"""lnbayes.analyses.map_checks and the `map` record of `lnbayes priors` (exact MAP arms)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from lnbayes.analyses import map_checks, prior_checks
from lnbayes.io import trialfile
from lnbayes.priors import map as mp

ROOT = Path(__file__).resolve().parents[2]
MAP_TRIAL = ROOT / "models" / "deng2017_map.toml"


@pytest.fixture(scope="module")
def trial():
    return trialfile.load_trial(MAP_TRIAL)


@pytest.fixture(scope="module")
def report(trial):
    return prior_checks.priors_report(trial)


def test_priors_report_has_the_map_record_the_issue_asks(report):
    records = {p["name"]: p for p in report["priors"]}
    assert "map" not in records["flat"]
    rec = records["map_control"]["map"]["control"]
    assert set(rec["quantiles"]) == {"0.025", "0.5", "0.975"}
    assert rec["quantiles"]["0.025"] < rec["quantiles"]["0.5"] < rec["quantiles"]["0.975"]
    assert rec["tau"]["interval"][0] < rec["tau"]["median"] < rec["tau"]["interval"][1]
    assert set(rec["ess"]) == {"elir", "moment", "morita"}
    assert set(rec["ess_by_prior"]) == {"map", "mixture", "robust"}
    assert all(set(c) == {"weight", "a", "b"} for c in rec["mixture"])
    assert sum(c["weight"] for c in rec["mixture"]) == pytest.approx(1.0)
    assert rec["mixture_max_cdf_error"] < 0.01
    assert [s["events"] for s in rec["studies"]] == [104, 98, 32, 24]
    # robustification lowers every ESS
    for m in ("elir", "moment"):
        assert rec["ess_by_prior"]["robust"][m] < rec["ess_by_prior"]["mixture"][m]


def test_map_record_numbers_match_the_exact_map(trial, report):
    beta = trial.priors["map_control"].control
    pred = mp.derivation_of(beta).predictive
    rec = next(p for p in report["priors"] if p["name"] == "map_control")["map"]["control"]
    assert rec["quantiles"]["0.5"] == pytest.approx(pred.quantile(0.5), abs=1e-10)
    mean, sd = pred.moments()
    assert (rec["mean"], rec["sd"]) == pytest.approx((mean, sd))


def test_arm_conflict_p_matches_a_direct_sum():
    """Box's p under a Beta-mixture-binomial, from scipy.stats.betabinom."""
    beta = mp.robustify(mp.BetaPrior((1.0,), (30.0,), (20.0,)), 0.2)
    n, y = 20, 3
    pmf = sum(w * stats.betabinom.pmf(np.arange(n + 1), n, a, b)
              for w, a, b in zip(beta.weights, beta.a, beta.b))
    ref = pmf[pmf <= pmf[y] * (1 + 1e-9)].sum()
    assert map_checks.arm_conflict_p(beta, y, n) == pytest.approx(ref, rel=1e-10)
    assert ref < 0.05  # 3/20 is far from a prior centred on 0.6


def test_figure_data_spans_studies_and_map(trial):
    data = map_checks.map_figure_data(trial.priors["map_control"].control)
    assert len(data["studies"]) == 4
    for s in data["studies"]:
        assert s["lower"] < s["rate"] < s["upper"]
        assert data["xlim"][0] <= s["lower"] and s["upper"] <= data["xlim"][1]
    assert set(data["curves"]) == {"map", "mixture", "robust"}
    assert data["map"]["lower"] < data["map"]["median"] < data["map"]["upper"]
