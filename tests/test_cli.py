"""The command line: JSON contract, inline trials, bad input, a fast --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lnbayes.analysis import prior_seed

ROOT = Path(__file__).resolve().parents[1]
DENG = ROOT / "models" / "deng2017.toml"


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "lnbayes", *map(str, args)],
        capture_output=True, text=True, cwd=cwd or ROOT, timeout=600,
    )


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys\n"
        "from lnbayes.cli import app\n"
        "try:\n    app(['--help'], prog_name='lnbayes')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'pymc', 'arviz', 'matplotlib', 'nutpie', 'pytensor'})\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_analyze_exact_json_contract(tmp_path):
    out = run("analyze", "--engine", "exact", "--json", "--outdir", tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["trial"] == "deng2017" and data["outcome"] == "remission"
    names = [r["prior"] for r in data["results"]]
    assert "flat" in names
    for r in data["results"]:
        assert r["engine"] == "exact"
        assert r["p_benefit_mcse"] is None and r["diagnostics"] is None
        assert 0 <= r["p_benefit"] <= 1 and r["p_benefit"] == r["p_benefit_exact"]
        for th in r["thresholds"]:
            assert set(th) >= {"scale", "value", "p"}
        for m in ("risk_difference", "risk_ratio", "odds_ratio", "p_control", "p_treatment"):
            assert set(r["estimates"][m]) >= {"median", "lower", "upper"}
    flat = next(r for r in data["results"] if r["prior"] == "flat")
    assert abs(flat["p_benefit"] - 0.405831) < 1e-5
    written = json.loads((tmp_path / "analysis_remission_exact.json").read_text())
    assert written["results"][0]["p_benefit"] == data["results"][0]["p_benefit"]
    assert written["provenance"]["versions"]["numpy"]
    assert written["provenance"]["trial_file_sha256"]


@pytest.mark.slow
def test_analyze_pymc_json_contract_and_netcdf(tmp_path):
    out = run("analyze", "--prior", "flat", "--json", "--draws", "500", "--tune", "300",
              "--seed", "7", "--outdir", tmp_path)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)["results"][0]
    assert r["engine"] == "pymc" and r["prior"] == "flat"
    assert r["p_benefit_mcse"] > 0
    assert abs(r["p_benefit"] - r["p_benefit_exact"]) <= 3 * r["p_benefit_mcse"]
    assert r["seed"] == prior_seed(7, "remission", "flat")
    assert {"r_hat", "ess_bulk", "ess_tail"} <= set(r["diagnostics"]["variables"]["risk_difference"])
    assert r["diagnostics"]["divergences"] == 0
    assert (tmp_path / "posterior" / "remission__flat.nc").exists()
    # a repeated run with the same seed gives identical numbers
    again = json.loads(run("analyze", "--prior", "flat", "--json", "--draws", "500", "--tune",
                           "300", "--seed", "7", "--outdir", tmp_path).stdout)["results"][0]
    assert again["p_benefit"] == r["p_benefit"]


def test_inline_trial_and_lower_is_better(tmp_path):
    higher = json.loads(run("analyze", "--treatment", "9/12", "--control", "5/6", "--engine",
                            "exact", "--json", "--outdir", tmp_path).stdout)
    flat = next(r for r in higher["results"] if r["prior"] == "flat")
    assert abs(flat["p_benefit"] - 0.405831) < 1e-5
    lower = json.loads(run("analyze", "--treatment", "9/12", "--control", "5/6", "--engine",
                           "exact", "--lower-is-better", "--json", "--outdir", tmp_path).stdout)
    flat_lower = next(r for r in lower["results"] if r["prior"] == "flat")
    assert abs(flat_lower["p_benefit"] - (1 - 0.405831)) < 1e-5


def test_threshold_option(tmp_path):
    out = run("analyze", "--engine", "exact", "--prior", "flat", "--threshold", "rd:0.2",
              "--json", "--outdir", tmp_path)
    th = json.loads(out.stdout)["results"][0]["thresholds"]
    assert [(t["scale"], t["value"]) for t in th] == [("rd", 0.2)]


BAD_OUTCOME = """
[trial]
id = "bad"
[arms.treatment]
n = 12
[arms.control]
n = 6
[outcomes.remission]
treatment_events = {te}
control_events = {ce}
"""


def write_trial(tmp_path, text, name="bad.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_clean_error(out, *needles, outdir=None):
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("error: ") for ln in lines), out.stderr
    for needle in needles:
        assert needle in out.stderr, (needle, out.stderr)
    if outdir is not None:
        assert not Path(outdir).exists() or not any(Path(outdir).iterdir())


@pytest.mark.parametrize(
    "te,ce,needles",
    [
        (13, 5, ["outcomes.remission.treatment_events", "exceed"]),
        (-1, 5, ["outcomes.remission.treatment_events", ">= 0"]),
        (9.5, 5, ["outcomes.remission.treatment_events", "whole number"]),
        ('"nine"', 5, ["outcomes.remission.treatment_events", "whole number"]),
    ],
)
def test_bad_counts(tmp_path, te, ce, needles):
    path = write_trial(tmp_path, BAD_OUTCOME.format(te=te, ce=ce))
    out = run("analyze", path, "--engine", "exact", "--outdir", tmp_path / "out")
    assert_clean_error(out, "bad.toml", *needles, outdir=tmp_path / "out")


def test_n_zero(tmp_path):
    text = BAD_OUTCOME.format(te=0, ce=0).replace("n = 6", "n = 0")
    out = run("analyze", write_trial(tmp_path, text), "--outdir", tmp_path / "out")
    assert_clean_error(out, "arms.control.n", ">= 1", outdir=tmp_path / "out")


def test_every_problem_is_reported(tmp_path):
    text = BAD_OUTCOME.format(te=13, ce=-2) + """
[priors.broken]
family = "effect"
control = { a = 0, b = 1 }
effect = { mean = 0, sd = -1 }
"""
    out = run("validate", write_trial(tmp_path, text))
    assert_clean_error(out, "outcomes.remission.treatment_events", "outcomes.remission.control_events",
                       "priors.broken.control.a: must be > 0", "priors.broken.effect.sd: must be > 0")
    assert len(out.stderr.strip().splitlines()) == 4


def test_bad_beta_parameter(tmp_path):
    text = BAD_OUTCOME.format(te=9, ce=5) + """
[priors.flatish]
family = "arm"
control = { a = 1, b = 1 }
treatment = { a = 1, b = 0 }
"""
    out = run("analyze", write_trial(tmp_path, text), "--outdir", tmp_path / "out")
    assert_clean_error(out, "bad.toml: priors.flatish.treatment.b: must be > 0", outdir=tmp_path / "out")


def test_unknown_prior_and_outcome(tmp_path):
    out = run("analyze", "--prior", "nosuch", "--outdir", tmp_path / "out")
    assert_clean_error(out, "priors.nosuch", "unknown prior", outdir=tmp_path / "out")
    out = run("analyze", "--outcome", "nosuch", "--outdir", tmp_path / "out")
    assert_clean_error(out, "outcomes.nosuch", "unknown outcome", outdir=tmp_path / "out")


def test_malformed_toml_and_missing_file(tmp_path):
    out = run("analyze", write_trial(tmp_path, "[trial\nid = 1"), "--outdir", tmp_path / "out")
    assert_clean_error(out, "bad.toml: TOML:", outdir=tmp_path / "out")
    out = run("analyze", tmp_path / "missing.toml", "--outdir", tmp_path / "out")
    assert_clean_error(out, "missing.toml: file: no such file", outdir=tmp_path / "out")


def test_bad_inline_counts(tmp_path):
    out = run("analyze", "--treatment", "13/12", "--control", "5/6", "--outdir", tmp_path / "out")
    assert_clean_error(out, "--treatment", "exceed", outdir=tmp_path / "out")
    out = run("analyze", "--treatment", "1/0", "--control", "5/6", "--outdir", tmp_path / "out")
    assert_clean_error(out, "--treatment", "n must be >= 1", outdir=tmp_path / "out")
    out = run("analyze", "--treatment", "9/12", "--outdir", tmp_path / "out")
    assert_clean_error(out, "--control", outdir=tmp_path / "out")


def test_validate_embedded_trial():
    out = run("validate", DENG)
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_embedded_trial_has_every_outcome_with_direction(deng):
    expected = {
        "remission": ("higher", 9, 5), "complete_remission": ("higher", 5, 3),
        "serious_adverse_events": ("lower", 2, 2), "death": ("lower", 1, 0),
        "sledai_above_8": ("lower", 3, 4), "bilag_a_or_b": ("lower", 8, 5),
        "raised_anti_dsdna": ("lower", 1, 3),
    }
    for name, (better, te, ce) in expected.items():
        o = deng.outcomes[name]
        assert (o.better, o.treatment_events, o.control_events) == (better, te, ce)
        assert (o.treatment_n, o.control_n) == (12, 6)
        assert o.source
    assert deng.primary_outcome.name == "remission"
    assert deng.planned_enrolment == 25
