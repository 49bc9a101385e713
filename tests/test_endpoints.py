"""All endpoints, evidence in analyze results, and the predict/design commands."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import special, stats
from typer.testing import CliRunner

from lnbayes.analyses import planning, reanalysis
from lnbayes.cli.main import app
from lnbayes.errors import LnbayesError
from lnbayes.io.trialfile import load_trial, trial_from_dict

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


@pytest.fixture(scope="session")
def trial():
    return load_trial()


@pytest.fixture(scope="session")
def all_flat(trial, tmp_path_factory):
    return reanalysis.analyze_all(trial, ["flat"], engine="exact",
                                outdir=tmp_path_factory.mktemp("all"))


def flat_p_greater(y1, n1, y2, n2):
    """P(p1 > p2) under Beta(1, 1) priors (Cook's closed form)."""
    a1, b1, a2, b2 = 1 + y1, 1 + n1 - y1, 1 + y2, 1 + n2 - y2
    i = np.arange(a1)
    return float(np.sum(np.exp(special.betaln(a2 + i, b1 + b2) - np.log(b1 + i)
                               - special.betaln(1 + i, b1) - special.betaln(a2, b2))))


def test_all_outcomes_with_their_direction(trial, all_flat):
    names = [e["outcome"] for e in all_flat["outcomes"]]
    assert names == list(trial.outcomes)
    by_name = {e["outcome"]: e for e in all_flat["outcomes"]}
    # death: 1/12 vs 0/6, lower is better, so benefit is P(p_t < p_c)
    death = by_name["death"]["results"][0]
    assert by_name["death"]["outcome_info"]["better"] == "lower"
    assert death["p_benefit"] == pytest.approx(1 - flat_p_greater(1, 12, 0, 6), abs=1e-6)
    remission = by_name["remission"]["results"][0]
    assert remission["p_benefit"] == pytest.approx(flat_p_greater(9, 12, 5, 6), abs=1e-6)


def test_single_outcome_contract_kept(all_flat):
    entry = all_flat["outcomes"][0]
    for key in ("trial", "title", "outcome", "outcome_info", "engine", "results", "provenance"):
        assert key in entry
    result = entry["results"][0]
    for key in ("prior", "engine", "p_benefit", "p_benefit_mcse", "p_benefit_exact",
                "agrees_with_exact", "thresholds", "estimates", "diagnostics", "log_evidence",
                "evidence", "prior_info"):
        assert key in result


def test_benefit_harm_summary(all_flat):
    bh = all_flat["benefit_harm"]
    assert bh["safety_outcomes"] == ["serious_adverse_events", "death"]
    assert "independent" in bh["assumption"]
    row = bh["by_prior"][0]
    harm = {h["outcome"]: h["p_harm"] for h in row["harm"]}
    assert harm["serious_adverse_events"] == pytest.approx(flat_p_greater(2, 12, 2, 6), abs=1e-6)
    assert harm["death"] == pytest.approx(flat_p_greater(1, 12, 0, 6), abs=1e-6)
    joint = row["p_benefit_primary"] * (1 - harm["serious_adverse_events"]) * (1 - harm["death"])
    assert row["p_benefit_and_no_harm"] == pytest.approx(joint, abs=1e-12)
    assert 0 <= row["p_benefit_and_no_harm"] <= min(row["p_benefit_primary"], row["p_no_harm_any"])


def test_all_written_atomically(all_flat):
    from pathlib import Path

    data = json.loads(Path(all_flat["written"]).read_text())
    assert [e["outcome"] for e in data["outcomes"]] == [e["outcome"] for e in all_flat["outcomes"]]


def test_rope_and_bayes_factors_in_results(all_flat):
    by_name = {e["outcome"]: e for e in all_flat["outcomes"]}
    ev = by_name["remission"]["results"][0]["evidence"]
    assert ev["rope"]["scale"] == "rd" and 0 < ev["rope"]["p_inside"] < 1
    assert by_name["death"]["results"][0]["evidence"]["rope"] is None
    p = ev["posterior_p_benefit"]
    assert ev["bf_benefit"] == pytest.approx((p / (1 - p)) / 1.0, abs=1e-9)


def test_cli_analyze_all_json():
    result = run("analyze", "--outcome", "all", "--engine", "exact", "--prior", "flat", "--json",
                 "--outdir", "/tmp/lnbayes-endpoints-test")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["trial"] == "deng2017"
    assert {e["outcome"] for e in data["outcomes"]} >= {"remission", "death"}


def test_cli_analyze_all_rejects_unknown_prior():
    result = run("analyze", "--outcome", "all", "--engine", "exact", "--prior", "nope")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "priors.nope" in result.stderr


# --- predict ----------------------------------------------------------------------------------


def test_cli_predict_json_flat():
    result = run("predict", "--prior", "flat", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    (row,) = data["results"]
    assert row["final"] == {"treatment": 17, "control": 8}
    assert row["threshold"] == 0.95
    assert row["predictive_probability"] == 0.0
    by = {r["threshold"]: r["predictive_probability"] for r in row["by_threshold"]}
    assert by[0.8] == pytest.approx(0.0195, abs=5e-5)
    assert sum(c["probability"] for c in row["completions"]) == pytest.approx(1.0, abs=1e-12)


def test_cli_predict_final_and_threshold_options():
    data = json.loads(run("predict", "--prior", "flat", "--final", "30/15", "--threshold", "0.8",
                          "--json").stdout)
    row = data["results"][0]
    assert row["final"] == {"treatment": 30, "control": 15} and row["threshold"] == 0.8
    assert len(row["completions"]) == 19 * 10


@pytest.mark.parametrize("args,needle", [
    (("--final", "10/5"), "--final"),
    (("--final", "x"), "--final"),
    (("--threshold", "1.5"), "--threshold"),
    (("--prior", "nope"), "priors.nope"),
])
def test_cli_predict_bad_input(args, needle):
    result = run("predict", *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr
    assert "Traceback" not in result.stderr


# --- design -----------------------------------------------------------------------------------


def test_design_table_in_file(trial):
    d = trial.design
    assert d.control_rate == 0.6 and d.hoped_for_or == 3.0
    assert d.hoped_for_rate == pytest.approx(1.8 / 2.2)


@pytest.fixture(scope="session")
def design_flat(trial):
    return planning.design(trial, "flat")


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


def test_cli_design_bad_input():
    for args, needle in [(("--n", "0/3"), "--n"), (("--threshold", "0"), "--threshold"),
                         (("--prior", "nope"), "priors.nope")]:
        result = run("design", *args)
        assert result.exit_code == 2 and needle in result.stderr


def _minimal(design):
    return {
        "trial": {"id": "t"},
        "arms": {"treatment": {"n": 10}, "control": {"n": 10}},
        "outcomes": {"o": {"treatment_events": 3, "control_events": 4}},
        "design": design,
    }


@pytest.mark.parametrize("design,field", [
    ({"control_rate": 1.5, "hoped_for_or": 2}, "design.control_rate"),
    ({"control_rate": 0.5}, "design: give the hoped-for effect"),
    ({"control_rate": 0.5, "hoped_for_or": 2, "hoped_for_rate": 0.6}, "design: give"),
    ({"control_rate": 0.5, "hoped_for_or": -1}, "design.hoped_for_or"),
    ({"control_rate": 0.5, "hoped_for_rate": 0.7, "outcome": "x"}, "design.outcome"),
])
def test_bad_design_table(design, field):
    with pytest.raises(LnbayesError) as err:
        trial_from_dict(_minimal(design), "x.toml")
    assert any(p.startswith(f"x.toml: {field}") for p in err.value.problems)


def test_design_hoped_for_rate_gives_or():
    trial = trial_from_dict(_minimal({"control_rate": 0.5, "hoped_for_rate": 0.75}), "x.toml")
    assert trial.design.hoped_for_or == pytest.approx(3.0)
    assert math.isclose(trial.design.threshold, 0.95)


# --- PyMC: the ROPE probability with its MCSE -------------------------------------------------


@pytest.mark.slow
def test_pymc_rope_within_3_mcse(trial):
    from lnbayes.engines.mcmc import SamplerSettings

    settings = SamplerSettings(draws=500, tune=500, chains=2, cores=1)
    outcome = trial.outcomes["remission"]
    result = reanalysis.pymc_result(trial.priors["flat"], outcome, outcome.thresholds, 11,
                                  settings, None, {})
    rope = result["evidence"]["rope"]
    assert rope["p_inside_mcse"] > 0
    assert abs(rope["p_inside"] - rope["p_inside_exact"]) <= 3 * rope["p_inside_mcse"]
    assert rope["agrees_with_exact"]


# --- figures (structure; they were also looked at) --------------------------------------------


def test_predictive_figure(trial):
    import matplotlib.pyplot as plt

    from lnbayes.outputs.figures.planning_plots import predictive_figure

    result = planning.predict(trial, ["flat", "sceptical"])
    fig = predictive_figure(result)
    curves, grid = fig.axes[0], fig.axes[1]
    assert len([line for line in curves.get_lines() if line.get_drawstyle() == "steps-post"]) == 2
    assert "P(benefit)" in curves.get_ylabel()
    assert len(grid.images) == 1 and grid.images[0].get_array().shape == (3, 6)
    assert len(grid.texts) == 18
    assert curves.get_legend() is None and len(fig.legends[0].get_texts()) == 2
    plt.close(fig)


def test_predictive_figure_tells_every_prior_apart(trial):
    """With more priors than colours, line styles keep each curve distinct (one look per prior)."""
    import matplotlib.pyplot as plt

    from lnbayes.outputs.figures.planning_plots import predictive_figure

    result = planning.predict(trial, list(trial.priors))
    assert len(result["results"]) > 8
    fig = predictive_figure(result)
    steps = [line for line in fig.axes[0].get_lines() if line.get_drawstyle() == "steps-post"]
    assert len(steps) == len(result["results"])
    # colour and dash pattern (matplotlib has no public getter for a custom dash pattern)
    looks = {(line.get_color(), repr(line._unscaled_dash_pattern)) for line in steps}
    assert len(looks) == len(steps)
    plt.close(fig)


def test_operating_characteristics_figure(design_flat):
    import matplotlib.pyplot as plt

    from lnbayes.outputs.figures.planning_plots import operating_characteristics_figure

    fig = operating_characteristics_figure(design_flat)
    oc, power = fig.axes[0], fig.axes[1]
    assert oc.get_xlabel() == "True treatment-arm rate"
    assert len(oc.get_legend().get_texts()) == 5
    assert power.get_ylabel() == "Power at the hoped-for effect"
    plt.close(fig)
