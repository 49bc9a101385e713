"""The benefit-beside-harm figure draws the report's benefit_harm record, within shared priors."""

from __future__ import annotations

from lnbayes.outputs.figures.benefit_harm import benefit_harm_figure, rows_of

BH = {
    "primary_outcome": "response",
    "safety_outcomes": ["sae", "death"],
    "benefit": [
        {"prior": "flat", "p_benefit": 0.41, "meaningful": [{"scale": "rd", "value": 0.1, "p": 0.23}]},
        {"prior": "sceptical", "p_benefit": 0.50, "meaningful": [{"scale": "rd", "value": 0.1, "p": 0.16}]},
        {"prior": "weak", "p_benefit": 0.49, "meaningful": [{"scale": "rd", "value": 0.1, "p": 0.25}]},
    ],
    "safety": [
        {"outcome": "sae", "label": "SAE", "margin": {"scale": "rd", "value": 0.1, "source": "stated"},
         "by_prior": [{"prior": "flat", "p_harm": 0.21, "p_harm_beyond_margin": 0.09},
                      {"prior": "weak", "p_harm": 0.19, "p_harm_beyond_margin": 0.06}]},
        {"outcome": "death", "label": "Death", "margin": None,
         "by_prior": [{"prior": "weak", "p_harm": 0.42, "p_harm_beyond_margin": None},
                      {"prior": "flat", "p_harm": 0.59, "p_harm_beyond_margin": None}]},
    ],
}


def test_rows_use_only_priors_shared_by_every_outcome():
    common, rows = rows_of(BH, {"sae": "Serious adverse events"}, "Response")
    assert common == ["flat", "weak"]  # sceptical was stated for the primary outcome only
    assert [r["label"] for r in rows] == [
        "Response: any benefit", "Response: benefit beyond RD 0.1",
        "Serious adverse events: any harm", "Serious adverse events: harm beyond RD 0.1",
        "Death: any harm"]  # no margin stated: no 'beyond' row
    assert [r["kind"] for r in rows] == ["benefit"] * 2 + ["harm"] * 3
    assert rows[4]["p"] == {"flat": 0.59, "weak": 0.42}  # matched by prior, not by position


def test_figure_draws_one_dot_per_row_and_prior_at_its_probability():
    fig = benefit_harm_figure(BH, {"flat": "Flat", "weak": "Weakly informative"}, {}, "X", "Y")
    (ax,) = fig.axes
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(dots) == 5 * 2
    xs = sorted(round(float(d.get_xdata()[0]), 6) for d in dots)
    assert xs == sorted([0.41, 0.49, 0.23, 0.25, 0.21, 0.19, 0.09, 0.06, 0.59, 0.42])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["Flat", "Weakly informative"]
