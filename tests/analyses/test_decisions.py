"""lnbayes.analyses.decisions: multi-criterion rules of the embedded trial (analyze --criterion,
design --criterion / --looks)."""

from __future__ import annotations

import numpy as np
import pytest

from lnbayes.analyses import decisions, planning
from lnbayes.engines import exact
from lnbayes.model.criteria import parse_criteria

RULE = parse_criteria(["0.95", "or:1.5:0.5"])

# the designs here leave out the reverse questions (with_reverse=False): they answer them under
# every prior of the trial, seconds per design, and are tested in tests/analyses/test_reverse.py
# and tests/cli/test_criteria_cli.py
NO_REVERSE = {"with_reverse": False}


@pytest.fixture(scope="module")
def borrowing(trial):
    return decisions.design(trial, RULE, "evidence_based", **NO_REVERSE)


@pytest.mark.heavy
def test_design_rows_and_borrowing_inflation(borrowing):
    r = borrowing
    assert r["prior"] == "evidence_based" and r["n"] == {"treatment": 17, "control": 8}
    assert r["rule"] == "declare benefit if P(benefit) >= 0.95 and P(OR > 1.5) >= 0.5"
    oc = r["operating_characteristics"]
    assert len(oc) == 19 * 19
    assert set(oc[0]) == {"p_control", "p_treatment", "p_declare_benefit"}
    at = {(row["p_control"], row["p_treatment"]): row["p_declare_benefit"] for row in oc}
    assert r["type_i_error"]["at_control_rate"] == pytest.approx(at[(0.6, 0.6)], abs=1e-12)
    # the robust MAP control arm borrows a control rate near 0.5: when the true common rate is
    # high, the rule declares benefit far more often than under the flat prior
    ref = r["reference"]
    assert ref["prior"] == "flat"
    assert r["type_i_error"]["max"] > 2 * ref["type_i_error_max"]["max"]
    high = next(row for row in r["type_i_by_rate"] if row["rate"] == 0.9)
    assert high["inflation"] == pytest.approx(
        high["p_declare_benefit"] - high["reference_p_declare_benefit"])
    assert high["inflation"] > 0.05
    s = r["sample_size"]
    assert s["power"] >= s["target_power"] and s["total"] > 25
    assert r["power"]["power"] < s["power"]


@pytest.mark.heavy
def test_one_criterion_reproduces_the_threshold_design(trial):
    """``--criterion 0.95`` alone is the existing single-threshold design."""
    old = planning.design(trial, "flat", threshold=0.95)
    new = decisions.design(trial, parse_criteria(["0.95"]), "flat", **NO_REVERSE)
    a = [row["p_declare_benefit"] for row in old["operating_characteristics"]]
    b = [row["p_declare_benefit"] for row in new["operating_characteristics"]]
    assert np.array_equal(a, b)
    assert new["type_i_error"]["max"] == old["type_i_error"]["max"]
    assert new["sample_size"]["total"] == old["sample_size_80"]["total"]


@pytest.mark.heavy
def test_design_with_looks(trial):
    r = decisions.design(trial, RULE, "flat", looks=[(12, 6), (17, 8)], futility=0.1,
                          **NO_REVERSE)
    assert r["looks"] == [{"n_treatment": 12, "n_control": 6}, {"n_treatment": 17, "n_control": 8}]
    for row in r["operating_characteristics"]:
        assert {"p_declare_benefit", "p_stop_futility", "expected_n"} <= set(row)
        assert 18 - 1e-9 <= row["expected_n"] <= 25 + 1e-9
        assert row["p_declare_benefit"] + row["p_stop_futility"] <= 1 + 1e-12
    p = r["power"]
    assert p["p_stop_futility"] > 0 and p["expected_n"] < 25
    assert sum(look["p_declare_benefit"] for look in p["by_look"]) == pytest.approx(p["power"])
    # an extra look can only add chances to declare when nothing stops for futility
    no_fut = decisions.design(trial, RULE, "flat", looks=[(12, 6), (17, 8)], **NO_REVERSE)
    fixed = decisions.design(trial, RULE, "flat", n=(17, 8), **NO_REVERSE)
    assert no_fut["type_i_error"]["max"] >= fixed["type_i_error"]["max"] - 1e-12
    assert all(row["p_stop_futility"] == 0 for row in no_fut["operating_characteristics"])


def test_evaluate_matches_the_exact_posterior(trial):
    rule = parse_criteria(["0.4", "or:1.5:0.5", "median:rd:0.05"])
    r = decisions.evaluate(trial, None, ["flat", "enthusiastic"], rule)
    outcome = trial.primary_outcome
    for row in r["results"]:
        prior = trial.priors_for(outcome, [row["prior"]])[0]
        post = exact.posterior(prior, outcome)
        benefit, ratio, median = row["criteria"]
        assert benefit["p"] == pytest.approx(post.prob_benefit())
        assert ratio["p"] == pytest.approx(post.prob_beyond("odds_ratio", 1.5))
        assert median["holds"] == (post.quantile("risk_difference", 0.5) >= 0.05)
        assert row["declare_benefit"] == all(c["holds"] for c in row["criteria"])
    flat = r["results"][0]
    assert flat["criteria"][0]["holds"] and not flat["declare_benefit"]  # 0.406 >= 0.4; OR fails
