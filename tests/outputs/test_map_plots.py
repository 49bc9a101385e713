"""The MAP forest figure: structure (a row per study and one for the MAP; the densities)."""

from __future__ import annotations

from pathlib import Path

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
