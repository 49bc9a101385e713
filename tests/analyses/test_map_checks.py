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


def _p_benefit_reference(control_beta, y_c, n_c, a_t, b_t):
    """P(p_t > p_c) with p_t ~ Beta(a_t, b_t) (posterior) and p_c's posterior Beta mixture, by
    scipy quadrature: sum_k w_k' int Beta_k'(p) P(p_t > p) dp."""
    from scipy import integrate

    w = mp.posterior_weights(control_beta, y_c, n_c)
    total = 0.0
    for wk, a, b in zip(w, control_beta.a, control_beta.b):
        total += wk * integrate.quad(lambda p: stats.beta.pdf(p, a + y_c, b + n_c - y_c)
                                     * stats.beta.sf(p, a_t, b_t), 0, 1, epsrel=1e-11,
                                     limit=200)[0]
    return total


@pytest.mark.heavy
def test_robust_weight_sweep_against_quadrature(trial):
    prior, outcome = trial.priors["map_control"], trial.primary_outcome
    rows = map_checks.robust_weight_sweep(prior, outcome, "control", weights=(0.0, 0.2, 0.5, 1.0))
    fit = mp.derivation_of(prior.control).fit.beta
    a_t, b_t = 1 + outcome.treatment_events, 1 + outcome.treatment_n - outcome.treatment_events
    for row in rows:
        w = row["weight"]
        beta = (fit if w == 0 else mp.BetaPrior.single(1, 1) if w == 1
                else mp.robustify(fit, w, 1, 1))
        ref = _p_benefit_reference(beta, outcome.control_events, outcome.control_n, a_t, b_t)
        assert row["p_benefit"] == pytest.approx(ref, abs=1e-6), w
    # the more weight on the vague component, the less the MAP's lower control rate helps
    assert [r["p_benefit"] for r in rows] == sorted((r["p_benefit"] for r in rows), reverse=True)
    assert rows[1]["p_benefit"] == pytest.approx(next(
        r for r in map_checks.map_records(prior, outcome)["control"]["robust_sweep"]
        if r["weight"] == 0.2)["p_benefit"])


@pytest.mark.heavy
def test_effect_map_record_and_figure_data():
    from lnbayes.priors import map_effect as me

    spec = me.EffectMapSpec((me.TwoArmStudy(15, 40, 8, 40, "A"), me.TwoArmStudy(0, 30, 4, 31)),
                            mp.TauPrior("half_normal", 0.5))
    normal = me.map_normal_prior(spec, me.EffectRobust(0.3, 0.0, 2.0))
    rec = map_checks.effect_map_record(normal)  # no outcome: 1:1 at the pooled control rate
    rate = (8 + 4 + 0.5) / (71 + 1)
    assert rec["ess"]["allocation"] == [1, 1] and rec["ess"]["rate_control"] == rate
    assert set(rec["ess_by_prior"]) == {"map", "mixture", "robust"}
    assert rec["robust"] == {"weight": 0.3, "mean": 0.0, "sd": 2.0}
    assert len(rec["robust_mixture"]) == len(rec["mixture"]) + 1
    assert "posterior_weights" not in rec
    data = map_checks.effect_figure_data(normal)
    a, b = data["studies"]
    assert a["log_or"] == pytest.approx(np.log(15 / 25) - np.log(8 / 32))
    # a zero cell: 0.5 added to every cell
    assert b["log_or"] == pytest.approx(np.log(0.5 / 30.5) - np.log(4.5 / 27.5))
    assert b["upper"] - b["log_or"] == pytest.approx(
        stats.norm.ppf(0.975) * np.sqrt(1 / 0.5 + 1 / 30.5 + 1 / 4.5 + 1 / 27.5))
    x = data["x"]
    assert np.trapezoid(data["curves"]["map"], x) == pytest.approx(1.0, abs=2e-3)
    assert set(data["curves"]) == {"map", "mixture", "robust"}
    assert x[0] < min(a["lower"], b["lower"]) and x[-1] > data["map"]["upper"]
