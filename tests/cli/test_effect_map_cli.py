"""A trial whose effect prior is a (robust) MAP of the log odds ratio, end to end: ``lnbayes
priors --json --figures`` carries the record and writes the forest, and the exact-engine report's
appendix has the effect-MAP paragraph, its table and its figure."""

from __future__ import annotations

import json

import pytest

from tests.conftest import lnbayes_cli

TRIAL = """
[trial]
id = "t"

[arms.treatment]
n = 12

[arms.control]
n = 6

[outcomes.o]
treatment_events = 9
control_events = 5

[priors.e]
family = "effect"
scale = "log_or"
control = { a = 1, b = 1 }

[priors.e.effect.map]
data = [{ treatment_events = 15, treatment_n = 40, control_events = 8, control_n = 40, source = "Trial A" },
        { treatment_events = 22, treatment_n = 60, control_events = 14, control_n = 58, source = "Trial B" }]
tau = { half_normal = 0.5 }
mu = { mean = 0, sd = 2 }
robust = { weight = 0.2, sd = 2 }
"""


@pytest.mark.e2e
def test_effect_map_in_priors_and_the_appendix(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(TRIAL)
    out = lnbayes_cli("priors", path, "--json", "--figures", tmp_path / "figs")
    assert out.returncode == 0, out.stderr
    prior = json.loads(out.stdout)["priors"][0]
    rec = prior["map"]["effect"]
    assert rec["robust"] == {"weight": 0.2, "mean": 0.0, "sd": 2.0}
    assert rec["ess"]["method"] == "variance-matched"
    # the priors table's headline ESS of the prior used is the robust mixture's
    assert prior["ess"]["headline"]["effect_total"] == pytest.approx(
        rec["ess_by_prior"]["robust"]["patients_total"], rel=1e-9)
    assert (tmp_path / "figs" / "map_e_effect.png").stat().st_size > 10_000
    out = lnbayes_cli("report", path, "--engine", "exact", "--outdir", tmp_path / "rep", "--no-explorer")
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "rep" / "appendix.md").read_text()
    assert "**Meta-analytic-predictive prior of the effect: e.**" in text
    assert "| Trial B | 22/60 | 14/58 |" in text
    assert "figures/mapforest_e_effect.png" in text
    assert (tmp_path / "rep" / "figures" / "mapforest_e_effect.png").exists()
