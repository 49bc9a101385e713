"""lnbayes.analyses.reverse: the reverse questions of the embedded trial (stopped 12/6, planned
25 at 2:1 = 17/8), checked against an independent brute force written here (Beta posteriors
integrated with scipy.integrate.quad, its own search over counts)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from lnbayes.analyses import reverse
from lnbayes.model.criteria import parse_criteria
from lnbayes.model.spec import planned_arms


def flat_p(y_t, n_t, y_c, n_c, scale=None, value=None):
    """Flat Beta(1, 1) arms: P(p_t > p_c), or P(OR > value) when scale == "or"."""
    post_c = stats.beta(1 + y_c, 1 + n_c - y_c)
    post_t = stats.beta(1 + y_t, 1 + n_t - y_t)

    def edge(x):  # the treatment rate at which the effect equals the value
        if scale == "or":
            o = value * x / (1 - x)
            return o / (1 + o)
        return x

    value_, _ = integrate.quad(lambda x: post_c.pdf(x) * post_t.sf(edge(x)), 0, 1,
                               epsabs=1e-13, epsrel=1e-12, limit=200)
    return value_


def brute_needed(n_t, n_c, y_c, rule):
    """Smallest treatment count at which every (probability) criterion holds, or None."""
    for y_t in range(n_t + 1):
        if all(flat_p(y_t, n_t, y_c, n_c, c.scale, c.value) >= c.prob for c in rule):
            return y_t
    return None


@pytest.fixture(scope="module")
def answers(trial):
    return reverse.reverse_questions(trial, trial.outcome("remission"))


def test_sizes_are_the_stopped_and_the_planned(trial, answers):
    sizes = [(s["label"], s["n_treatment"], s["n_control"])
             for s in answers["results"][0]["by_size"]]
    assert sizes == [("stopped", 12, 6), ("planned", *planned_arms(25, (2, 1)))]
    assert planned_arms(25, (2, 1)) == (17, 8)
    assert reverse.held_control_counts(5, 6, 6) == [5]
    assert reverse.held_control_counts(5, 6, 8) == [6, 7]  # 8 x 5/6 = 6.67
    assert reverse.held_control_counts(3, 6, 8) == [4]
    names = [r["prior"] for r in answers["results"]] + [r["prior"] for r in answers["refused"]]
    assert names == [p.name for p in trial.priors_for(trial.outcome("remission"))]
    assert answers["control_rates"] == {"expected": 0.6, "observed": 5 / 6}


def test_flat_answers_match_brute_force(answers):
    rule = parse_criteria(["0.95"])
    flat = next(r for r in answers["results"] if r["prior"] == "flat")
    for size in flat["by_size"]:
        for x in size["needed"]:
            want = brute_needed(size["n_treatment"], size["n_control"], x["control_events"], rule)
            assert x["treatment_events"] == want
    stopped, planned = flat["by_size"]
    assert [x["treatment_events"] for x in stopped["needed"]] == [None]
    assert [x["treatment_events"] for x in planned["needed"]] == [17, None]


def test_dual_rule_matches_brute_force(trial):
    rule = parse_criteria(["0.9", "or:1.5:0.5"])
    got = reverse.reverse_questions(trial, trial.outcome("remission"), rule, ["flat"])
    (flat,) = got["results"]
    assert got["rule"] == "declare benefit if P(benefit) >= 0.9 and P(OR > 1.5) >= 0.5"
    for size in flat["by_size"]:
        for x in size["needed"]:
            assert x["treatment_events"] == brute_needed(size["n_treatment"], size["n_control"],
                                                         x["control_events"], rule)


def test_minimal_detectable_effect_has_target_power(answers):
    """At the found treatment rate (flat, planned 17/8, control 0.6), an independent binomial
    sum over the brute-force decision set gives the target power."""
    flat = next(r for r in answers["results"] if r["prior"] == "flat")
    planned = flat["by_size"][1]
    m = next(m for m in planned["minimal_detectable"] if m["control_rate_source"] == "expected")
    assert m["p_treatment"] is not None
    decl = np.array([[flat_p(yt, 17, yc, 8) >= 0.95 for yt in range(18)] for yc in range(9)])
    power = float(np.outer(stats.binom.pmf(np.arange(9), 8, 0.6),
                           stats.binom.pmf(np.arange(18), 17, m["p_treatment"]))[decl].sum())
    assert power == pytest.approx(0.8, abs=1e-7)
    assert m["risk_difference"] == pytest.approx(m["p_treatment"] - 0.6, abs=1e-15)
    # borrowing from the enthusiastic prior lowers what the stopped trial needs
    enth = next(r for r in answers["results"] if r["prior"] == "enthusiastic")
    assert enth["by_size"][0]["needed"][0]["treatment_events"] is not None


def test_needed_count_where_the_second_criterion_binds(trial):
    """Beyond the observed control count: P(benefit) >= 0.6 and P(OR > 3) >= 0.5 at 17/8, where
    the OR criterion asks for more treated responders than P(benefit) alone."""
    from lnbayes.engines import criteria as rules
    from lnbayes.engines import reverse as rev

    flat = trial.priors["flat"]
    dual, single = parse_criteria(["0.6", "or:3:0.5"]), parse_criteria(["0.6"])
    binds = False
    for y_c in (2, 4):
        got = rev.needed_count(rules.declare_table(flat, 17, 8, dual), y_c)["treatment_events"]
        alone = rev.needed_count(rules.declare_table(flat, 17, 8, single), y_c)
        assert got == brute_needed(17, 8, y_c, dual)
        assert alone["treatment_events"] == brute_needed(17, 8, y_c, single)
        binds |= got > alone["treatment_events"]
    assert binds
