"""``lnbayes design --criterion/--looks/--futility`` and ``lnbayes analyze --criterion``: JSON
contracts and located one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lnbayes.cli.main import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


@pytest.mark.heavy
def test_design_criteria_json():
    result = invoke("design", "--criterion", "0.95", "--criterion", "or:1.5:0.5", "--prior",
                    "flat", "--hoped-for-rate", "0.95", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rule"] == "declare benefit if P(benefit) >= 0.95 and P(OR > 1.5) >= 0.5"
    assert [c["criterion"] for c in data["criteria"]] == ["0.95", "or:1.5:0.5"]
    row = data["operating_characteristics"][0]
    assert set(row) == {"p_control", "p_treatment", "p_declare_benefit"}
    assert data["power"]["p_treatment"] == 0.95


@pytest.mark.heavy
def test_design_looks_json_and_table():
    result = invoke("design", "--criterion", "0.95", "--looks", "12/6,17/8", "--futility", "0.05",
                    "--prior", "flat", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"p_stop_futility", "expected_n"} <= set(data["operating_characteristics"][0])
    assert data["futility"] == 0.05
    table = invoke("design", "--looks", "12/6,17/8", "--prior", "flat")
    assert table.exit_code == 0, table.output
    assert "look 1 (12/6)" in table.stdout and "Largest type I error" in table.stdout


def test_analyze_criteria_is_additive(tmp_path):
    result = invoke("analyze", "--engine", "exact", "--prior", "flat", "--criterion", "0.4",
                    "--criterion", "median:rd:0.1", "--json", "--outdir", str(tmp_path))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "results" in data  # the analyze contract is kept
    rule = data["decision_rule"]
    (row,) = rule["results"]
    assert [c["holds"] for c in row["criteria"]] == [True, False]
    assert row["declare_benefit"] is False
    table = invoke("analyze", "--engine", "exact", "--prior", "flat", "--criterion", "0.4",
                   "--outdir", str(tmp_path))
    assert "Decision rule" in table.stdout and "P(benefit) >= 0.4" in table.stdout


@pytest.mark.parametrize("args,message", [
    (["design", "--criterion", "or:1.5"], "<command line>: --criterion: expected PROB"),
    (["design", "--criterion", "0.9", "--threshold", "0.9"], "<command line>: --threshold: not with --criterion"),
    (["design", "--futility", "0.1"], "<command line>: --futility: needs interim looks"),
    (["design", "--looks", "12/6"], "<command line>: --looks: give at least two looks"),
    (["design", "--looks", "12/6,a"], "<command line>: --looks: expected cumulative"),
    (["design", "--looks", "12/6,17/8", "--n", "20/10"], "<command line>: --n: 20/10 differs"),
    (["design", "--looks", "12/6,17/8", "--futility", "1.5"], "<command line>: --futility: must lie"),
    (["analyze", "--outcome", "all", "--criterion", "0.9"], "<command line>: --criterion: not with --outcome all"),
])
def test_bad_options_are_one_line_errors(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.heavy
def test_design_reverse_questions_json_and_text():
    result = invoke("design", "--json")
    assert result.exit_code == 0, result.output
    rev = json.loads(result.stdout)["reverse"]
    assert set(rev) == {"rule", "criteria", "observed", "target_power", "control_rates",
                        "results", "refused", "definitions", "seconds"}
    flat = next(r for r in rev["results"] if r["prior"] == "flat")
    stopped, planned = flat["by_size"]
    assert (stopped["label"], stopped["n_treatment"], stopped["n_control"]) == ("stopped", 12, 6)
    assert (planned["label"], planned["n_treatment"], planned["n_control"]) == ("planned", 17, 8)
    assert set(planned["needed"][0]) == {"n_treatment", "n_control", "control_events",
                                         "treatment_events", "monotone", "rate_treatment",
                                         "rate_control", "risk_difference", "odds_ratio"}
    assert {m["control_rate_source"] for m in planned["minimal_detectable"]} == {"expected",
                                                                                 "observed"}
    assert set(planned["minimal_detectable"][0]) == {
        "p_control", "target_power", "p_treatment", "risk_difference", "odds_ratio",
        "max_power", "monotone", "control_rate_source"}
    rule = invoke("design", "--criterion", "0.95", "--criterion", "or:1.5:0.5", "--json")
    assert json.loads(rule.stdout)["reverse"]["rule"].endswith("and P(OR > 1.5) >= 0.5")
    text = invoke("design", "--prior", "flat")
    assert text.exit_code == 0, text.output
    assert "Data needed to declare benefit" in text.stdout
    assert "Minimal detectable effect" in text.stdout


@pytest.mark.parametrize("extra", [["--criterion", "0.95", "--criterion", "or:1.5:0.5"],
                                   ["--looks", "12/6,17/8", "--futility", "0.1"]])
@pytest.mark.heavy
def test_design_rule_plot_is_drawn(tmp_path, extra):
    out = tmp_path / "oc.png"
    result = invoke("design", "--prior", "flat", *extra, "--plot", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_rule_json_and_table():
    result = invoke("predict", "--prior", "flat", "--criterion", "0.8", "--criterion",
                    "or:1.5:0.5", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rule"]["rule"] == "declare benefit if P(benefit) >= 0.8 and P(OR > 1.5) >= 0.5"
    (row,) = data["results"]
    assert set(row["rule"]) == {"predictive_probability", "same_prior", "reachable"}
    assert "rule_holds" in row["completions"][0]
    table = invoke("predict", "--prior", "flat", "--criterion", "0.8")
    assert table.exit_code == 0, table.output
    assert "Success as the decision rule at the end" in table.stdout
