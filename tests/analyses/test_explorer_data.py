"""The explorer's grids: interpolation between nodes within 0.005 of the exact engine."""

from __future__ import annotations

import numpy as np
import pytest

from lnbayes.analyses import explorer_data as ed
from lnbayes.io.trialfile import load_trial

N_RANDOM = 200

# one exact table (about 900 exact posteriors and 7 sweeps) and 200 exact posteriors: over a
# minute on a 2-core machine, so out of the fast loop
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def remission():
    trial = load_trial(None)
    outcome = trial.outcomes["remission"]
    thresholds = ed.threshold_set(outcome)
    control = ed.control_priors(trial, outcome)[0]["prior"]
    return outcome, thresholds, control, ed.table(control, "log_or", outcome, thresholds)


def test_interpolation_within_tolerance_at_random_priors(remission):
    outcome, thresholds, control, tab = remission
    ax = tab["axes"]
    r = ed.RANGES["log_or"]
    rng = np.random.default_rng(15)
    centres = rng.uniform(*r.centre, N_RANDOM)
    sds = np.exp(rng.uniform(*np.log(r.sd), N_RANDOM))
    worst = {}
    for c, s in zip(centres, sds):
        exact = ed.exact_at(control, "log_or", outcome, c, s, thresholds)
        got = {"p_benefit": ed.interpolate(ax["prob_centre"], ax["prob_sd"], tab["p_benefit"], c, s)}
        for k, grid in enumerate(tab["p_threshold"]):
            got[f"p_threshold_{k}"] = ed.interpolate(ax["prob_centre"], ax["prob_sd"], grid, c, s)
        for key in ed.ESTIMATE_KEYS:
            got[key] = ed.interpolate(ax["est_centre"], ax["est_sd"], tab["estimates"][key], c, s)
        for key, v in got.items():
            worst[key] = max(worst.get(key, 0.0), abs(v - exact[key]))
    assert set(worst) == {"p_benefit", *(f"p_threshold_{k}" for k in range(len(thresholds))),
                          *ed.ESTIMATE_KEYS}
    print("worst", sorted(worst.items(), key=lambda kv: -kv[1])[:5])
    assert max(worst.values()) <= ed.TOLERANCE, sorted(worst.items(), key=lambda kv: -kv[1])[:4]


def test_nodes_are_exact_values(remission):
    """At a node, interpolation returns the node: the lattice engine's value, within 1e-4 of
    the exact engine's (prior_grid.effect_estimates; its own test bounds it by 1e-3 anywhere,
    and it is within 1e-5 here, away from the unit square's edge)."""
    outcome, thresholds, control, tab = remission
    ax = tab["axes"]
    j, i = 7, 11  # any node
    c, s = ax["est_centre"]["values"][i], ax["est_sd"]["values"][j]
    exact = ed.exact_at(control, "log_or", outcome, c, s, thresholds)
    for key in ed.ESTIMATE_KEYS:
        node = tab["estimates"][key][j, i]
        assert ed.interpolate(ax["est_centre"], ax["est_sd"], tab["estimates"][key], c, s) == \
            pytest.approx(node, abs=1e-12)
        assert node == pytest.approx(exact[key], abs=1e-4), key


def test_tipping_centres_reach_their_level(remission):
    outcome, thresholds, control, tab = remission
    sds = tab["axes"]["prob_sd"]["values"]
    for level in (0.5, 0.95):
        for k in (0, 10, 20):
            c = tab["tipping"][str(level)][k]
            assert isinstance(c, float)
            p = ed.exact_at(control, "log_or", outcome, c, sds[k], [])["p_benefit"]
            assert p == pytest.approx(level, abs=1e-3)


def test_threshold_set_points_towards_benefit():
    trial = load_trial(None)
    death = ed.threshold_set(trial.outcomes["death"])
    assert death[0] == {"scale": "rd", "value": -0.05, "own": True, "label": "RD < -0.05 (trial file)"}
    assert all(t["value"] < 0 for t in death if t["scale"] == "rd")
    assert all(t["value"] < 1 for t in death if t["scale"] == "or")
    remission = ed.threshold_set(trial.outcomes["remission"])
    assert remission[0]["label"] == "RD > +0.10 (trial file)"  # Deng states RD 0.10 only
    assert sum(t["own"] for t in remission) == 1
    assert all(t["value"] > 0 for t in remission if t["scale"] == "rd")


def test_control_priors_are_the_distinct_ones_used():
    trial = load_trial(None)
    controls = ed.control_priors(trial, trial.outcomes["remission"])
    assert len(controls) == 2 and controls[1]["used_by"] == ["evidence_based"]
    assert len(ed.control_priors(trial, trial.outcomes["death"])) == 1
