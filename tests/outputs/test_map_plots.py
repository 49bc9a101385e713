"""The MAP forest figure: structure (a row per study and one for the MAP; the densities)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lnbayes.analyses.map_checks import map_figure_data
from lnbayes.io import trialfile
from lnbayes.outputs.figures.map_plots import map_forest

ROOT = Path(__file__).resolve().parents[2]


def test_map_forest_has_a_row_per_study_and_the_densities():
    trial = trialfile.load_trial(ROOT / "models" / "deng2017_map.toml")
    fig = map_forest(map_figure_data(trial.priors["map_control"].control), arm_label="control")
    top, bottom = fig.axes
    labels = [t.get_text() for t in top.get_yticklabels()]
    assert len(labels) == 5 and labels[-1].startswith("MAP")
    assert labels[0].startswith("ALMS, mycophenolate") and labels[0].endswith("104/185")
    assert [ln.get_label() for ln in bottom.get_lines()][:2] == [
        "MAP (exact)", bottom.get_lines()[1].get_label()]
    assert len(bottom.get_lines()) == 3
    assert bottom.get_xlabel() == "event probability, control arm"


def test_robust_sweep_figure_marks_the_weight_used():
    from lnbayes.outputs.figures.map_plots import robust_sweep_figure

    rows = [{"weight": w / 10, "p_benefit": 0.7 - 0.03 * w} for w in range(11)]
    fig = robust_sweep_figure(rows, used=0.2)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert list(lines[0].get_xdata()) == [r["weight"] for r in rows]
    assert list(lines[1].get_xdata()) == [0.2] and lines[1].get_ydata()[0] == rows[2]["p_benefit"]
    assert ax.get_xlim() == (0, 1)


@pytest.mark.heavy
def test_effect_map_forest_has_a_row_per_trial_and_the_densities():
    from lnbayes.analyses.map_checks import effect_figure_data
    from lnbayes.outputs.figures.map_plots import effect_map_forest
    from lnbayes.priors import map as mp
    from lnbayes.priors import map_effect as me

    spec = me.EffectMapSpec((me.TwoArmStudy(15, 40, 8, 40, "Trial A (2001)"),
                             me.TwoArmStudy(22, 60, 14, 58)), mp.TauPrior("half_normal", 0.5))
    normal = me.map_normal_prior(spec, me.EffectRobust(0.2))
    fig = effect_map_forest(effect_figure_data(normal))
    top, bottom = fig.axes
    labels = [t.get_text() for t in top.get_yticklabels()]
    assert labels == ["Trial A  15/40 vs 8/40", "22/60 vs 14/58  22/60 vs 14/58",
                      "MAP: a new trial (median, 95%)"]
    assert [ln.get_label() for ln in bottom.get_lines()][0] == "MAP (exact)"
    assert len(bottom.get_lines()) == 3
    assert bottom.get_xlabel().startswith("log odds ratio")
