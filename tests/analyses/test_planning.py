"""lnbayes.analyses.planning: predictive probability of success (predict) and design tables
(design) of a trial file."""

from __future__ import annotations

import pytest
from scipy import stats

from lnbayes.analyses import planning
from lnbayes.errors import LnbayesError
from lnbayes.io.trialfile import load_trial
from tests.references import cook_p_greater, flat_p_greater


def test_design_table_in_file(trial):
    d = trial.design
    assert d.control_rate == 0.6 and d.hoped_for_or == 3.0
    assert d.hoped_for_rate == pytest.approx(1.8 / 2.2)



@pytest.fixture(scope="session")
def design_flat(trial):
    # without the reverse questions (under every prior; tested in tests/analyses/test_reverse.py)
    return planning.design(trial, "flat", with_reverse=False)



def test_design_result(design_flat):
    result = design_flat
    assert result["n"] == {"treatment": 17, "control": 8}
    oc = result["operating_characteristics"]
    assert len(oc) == 19 * 19
    cell = next(r for r in oc if r["p_control"] == 0.3 and r["p_treatment"] == 0.7)
    # brute force over all 18 x 9 outcomes with closed-form decisions
    brute = sum(
        stats.binom.pmf(c, 8, 0.3) * stats.binom.pmf(t, 17, 0.7)
        for c in range(9) for t in range(18) if flat_p_greater(t, 17, c, 8) >= 0.95
    )
    assert cell["p_declare_benefit"] == pytest.approx(brute, abs=1e-12)
    assert result["type_i_error"]["max"] >= result["type_i_error"]["at_control_rate"]
    assert result["power"]["p_treatment"] == pytest.approx(1.8 / 2.2)
    s = result["sample_size_80"]
    assert s["power"] >= 0.8 and s["n_treatment"] + s["n_control"] == s["total"]



def test_impossible_planned_size_names_the_trial_field(tmp_path):
    """Issue 11 item 13: a planned enrolment below the data so far blames the file's field, not
    an option that was never given."""
    from lnbayes.analyses import planning

    path = tmp_path / "t.toml"
    path.write_text('[trial]\nid = "sp"\nplanned_enrolment = 10\nallocation = [1, 1]\n'
                    '[arms.treatment]\nn = 12\n[arms.control]\nn = 6\n'
                    '[outcomes.r]\ntreatment_events = 9\ncontrol_events = 5\n')
    with pytest.raises(LnbayesError, match="trial.planned_enrolment: 10") as err:
        planning.predict(load_trial(str(path)))
    assert "--final" not in str(err.value)
    with pytest.raises(LnbayesError, match="final arm sizes: 5/5 is smaller") as err:
        planning.predict(load_trial(str(path)), final=(5, 5))
    assert "command line" not in str(err.value)  # the library names no option; the CLI does
    from typer.testing import CliRunner

    from lnbayes.cli.main import app

    out = CliRunner().invoke(app, ["predict", str(path), "--final", "5/5"])
    assert out.exit_code == 2
    assert "<command line>: --final: 5/5 is smaller than the data so far" in out.output



HYBRID = """
[trial]
id = "hybrid"
planned_enrolment = 24
allocation = [1, 1]
[arms.treatment]
n = 8
[arms.control]
n = 8
[outcomes.response]
treatment_events = 5
control_events = 2
thresholds = [{ scale = "rd", value = 0.1 }]
[priors.flat]
family = "arm"
control = { a = 1, b = 1 }
treatment = { a = 1, b = 1 }
[priors.sceptical_arms]
family = "arm"
control = { a = 4, b = 4 }
treatment = { a = 2, b = 6 }
"""


def test_hybrid_predictive_against_independent_enumeration(tmp_path):
    """Predict the 4 + 4 remaining patients under the flat prior (beta-binomial), judge each
    completed trial under the analysis prior (Cook's closed form), sum: scipy only."""
    path = tmp_path / "hybrid.toml"
    path.write_text(HYBRID)
    result = planning.predict(load_trial(str(path)), design_prior_name="flat", meaningful=True)
    assert result["design_prior"]["name"] == "flat"
    rows = {r["prior"]: r for r in result["results"]}
    y_t, y_c, n, m = 5, 2, 8, 4
    pred_t = stats.betabinom(m, 1 + y_t, 1 + n - y_t)
    pred_c = stats.betabinom(m, 1 + y_c, 1 + n - y_c)
    for name, (a_c, b_c, a_t, b_t) in {"flat": (1, 1, 1, 1), "sceptical_arms": (4, 4, 2, 6)}.items():
        def final_p(t, c):
            return cook_p_greater(a_t + y_t + t, b_t + n + m - y_t - t, a_c + y_c + c,
                                  b_c + n + m - y_c - c)
        for row in rows[name]["by_threshold"]:
            q = row["threshold"]
            expected = sum(pred_t.pmf(t) * pred_c.pmf(c) for t in range(m + 1)
                           for c in range(m + 1) if final_p(t, c) >= q - 1e-9)  # ties count
            assert row["predictive_probability"] == pytest.approx(expected, abs=1e-10), (name, q)
    # judged under the sceptical prior, completions look worse than under the flat one
    flat_by = {r["threshold"]: r["predictive_probability"] for r in rows["flat"]["by_threshold"]}
    scep_by = {r["threshold"]: r["predictive_probability"]
               for r in rows["sceptical_arms"]["by_threshold"]}
    assert all(scep_by[q] <= flat_by[q] for q in flat_by)
    assert scep_by[0.5] < flat_by[0.5]
    # clinically meaningful success: P(RD > 0.1) of each completion, by 1-D quadrature
    from scipy import integrate

    for c in rows["flat"]["completions"][:4]:
        yt, yc = c["final_treatment_events"], c["final_control_events"]
        post_t, post_c = stats.beta(1 + yt, 1 + 12 - yt), stats.beta(1 + yc, 1 + 12 - yc)
        ref, _ = integrate.quad(lambda pc: post_c.pdf(pc) * post_t.sf(min(pc + 0.1, 1.0)), 0, 1,
                                epsabs=1e-12, limit=200)
        assert c["final_p_meaningful"] == pytest.approx(ref, abs=1e-7)
    m_by = rows["flat"]["meaningful"]["by_threshold"]
    assert all(m["predictive_probability"] <= b["predictive_probability"] + 1e-12
               for m, b in zip(m_by, rows["flat"]["by_threshold"]))


def test_predict_with_a_rule_matches_an_independent_sum(trial):
    """Success as a multi-criterion rule (P(benefit) >= 0.8 and P(OR > 1.5) >= 0.5): the
    predictive probability under flat priors equals a sum written here over the 8 x 3
    completions of 9/12 vs 5/6 to 17/8 (beta-binomial predictive, final probabilities by quad),
    and the rule P(benefit) >= 0.95 alone reproduces the threshold's column."""
    import numpy as np
    from scipy import integrate

    from lnbayes.model.criteria import parse_criteria

    rule = parse_criteria(["0.8", "or:1.5:0.5"])
    got = planning.predict(trial, ["flat"], threshold=0.95, criteria=rule)
    (row,) = got["results"]
    assert got["rule"]["rule"] == "declare benefit if P(benefit) >= 0.8 and P(OR > 1.5) >= 0.5"

    def p_final(y_t, y_c, odds_ratio):
        post_c, post_t = stats.beta(1 + y_c, 9 - y_c), stats.beta(1 + y_t, 18 - y_t)

        def edge(x):
            o = odds_ratio * x / (1 - x)
            return o / (1 + o)

        return integrate.quad(lambda x: post_c.pdf(x) * post_t.sf(edge(x)), 0, 1,
                              epsabs=1e-13, epsrel=1e-12, limit=200)[0]

    want = 0.0
    for f_t in range(6):  # 5 more treated patients
        for f_c in range(3):  # 2 more controls
            w = (stats.betabinom.pmf(f_t, 5, 1 + 9, 1 + 3)
                 * stats.betabinom.pmf(f_c, 2, 1 + 5, 1 + 1))
            if p_final(9 + f_t, 5 + f_c, 1.0) >= 0.8 and p_final(9 + f_t, 5 + f_c, 1.5) >= 0.5:
                want += w
    assert row["rule"]["predictive_probability"] == pytest.approx(want, abs=1e-12)
    assert row["rule"]["same_prior"] == pytest.approx(want, abs=1e-12)
    assert sum(c["rule_holds"] for c in row["completions"]) >= 1
    alone = planning.predict(trial, ["flat"], threshold=0.95,
                             criteria=parse_criteria(["0.95"]))["results"][0]
    assert alone["rule"]["predictive_probability"] == pytest.approx(
        alone["predictive_probability"], abs=1e-15)
    assert np.isclose(alone["rule"]["predictive_probability"],
                      next(b["predictive_probability"] for b in alone["by_threshold"]
                           if b["threshold"] == 0.95))


def test_predict_and_design_refuse_a_logit_normal_control_with_a_located_error():
    """Dataset enumeration uses the Beta control arm's conjugate update: a Normal prior on
    logit(p_control) is refused, naming the prior's field, never approximated silently."""
    from lnbayes.analyses import planning
    from lnbayes.errors import LnbayesError
    from lnbayes.io.trialfile import trial_from_dict

    trial = trial_from_dict({
        "trial": {"id": "t", "planned_enrolment": 24},
        "arms": {"treatment": {"n": 8}, "control": {"n": 8}},
        "outcomes": {"o": {"treatment_events": 3, "control_events": 4}},
        "priors": {"ln": {"control": {"logit_normal": {"mean": 0, "sd": 2.5}},
                          "effect": {"mean": 0, "sd": 1}}},
    }, "x.toml")
    with pytest.raises(LnbayesError, match=r"x.toml: priors.ln.control: predict"):
        planning.predict(trial)
    with pytest.raises(LnbayesError, match=r"x.toml: priors.ln.control: design"):
        planning.design(trial)


def test_success_steps_equal_a_sum_per_level():
    """The whole success curve (one pass over sorted completions) against a plain sum of the
    completions reaching each level, with ties and values within the decision tolerance of a
    level (which count as reaching it)."""
    import numpy as np

    from lnbayes.engines.enumeration import DECISION_TOL

    rng = np.random.default_rng(7)
    prob = rng.dirichlet(np.ones(40 * 30)).reshape(40, 30)
    final = rng.choice(rng.uniform(0, 1, 200), size=(40, 30))  # many ties
    final.flat[::7] = 0.9
    final.flat[1::7] = 0.9 - 0.4 * DECISION_TOL  # within the tolerance: reaches 0.9
    final.flat[2::7] = 0.9 - 3 * DECISION_TOL  # beyond it: a level of its own
    steps = planning.success_steps(prob, final)
    levels = sorted(set(final.ravel().tolist()))
    assert [s["level"] for s in steps] == levels
    for s in steps:
        expected = sum(p for p, f in zip(prob.ravel(), final.ravel())
                       if f >= s["level"] - DECISION_TOL)
        assert abs(s["predictive_probability"] - expected) <= 1e-13, s
    at = {s["level"]: s["predictive_probability"] for s in steps}
    # the same completions reach 0.9 and 0.9 - 0.4 tol; 0.9 - 3 tol adds those at that value
    assert at[0.9 - 0.4 * DECISION_TOL] == pytest.approx(at[0.9], abs=1e-15)
    assert at[0.9 - 3 * DECISION_TOL] > at[0.9] + 0.01
    assert steps[0]["predictive_probability"] == pytest.approx(1.0, abs=1e-13)
