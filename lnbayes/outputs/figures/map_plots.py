"""The MAP forest: each historical study's rate with its 95% interval, and beneath them the MAP
predictive (median and 95% interval) and its density with the Beta mixture (and robust prior)."""

from __future__ import annotations

from typing import Any, Mapping

from lnbayes.outputs.figures.style import DOUBLE_COLUMN, OKABE_ITO, PRIOR_CURVE, house_style


def map_forest(data: Mapping[str, Any], title: str = "", arm_label: str = "control"):
    """A Figure: forest of the studies over the MAP, its density below (from
    :func:`lnbayes.analyses.map_checks.map_figure_data`)."""
    from matplotlib.figure import Figure

    studies = data["studies"]
    with house_style():
        fig = Figure(figsize=(DOUBLE_COLUMN, 2.2 + 0.3 * (len(studies) + 1)))
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[len(studies) + 1.5, 3.0])
        y = list(range(len(studies) + 1, 1, -1))
        for yi, s in zip(y, studies):
            top.plot([s["lower"], s["upper"]], [yi, yi], color=OKABE_ITO["black"], lw=1)
            size = 2 + 4 * (s["n"] / max(t["n"] for t in studies)) ** 0.5
            top.plot(s["rate"], yi, "s", color=OKABE_ITO["black"], ms=size)
        m = data["map"]
        top.plot([m["lower"], m["upper"]], [0.6, 0.6], color=OKABE_ITO["blue"], lw=2.2)
        top.plot(m["median"], 0.6, "D", color=OKABE_ITO["blue"], ms=6)
        top.axhline(1.3, color="#BBBBBB", lw=0.6)
        labels = [f"{_short_label(s['label'])}  {s['events']}/{s['n']}" for s in studies]
        top.set_yticks([*y, 0.6], [*labels, "MAP: a new study (median, 95%)"])
        top.set_ylim(0, len(studies) + 1.8)
        top.set_title(title or f"Meta-analytic-predictive prior of the {arm_label} arm")
        p = data["p"]
        curves = data["curves"]
        bottom.plot(p, curves["map"], color=OKABE_ITO["blue"], lw=1.6, label="MAP (exact)")
        bottom.plot(p, curves["mixture"], color=OKABE_ITO["vermillion"], lw=1.0,
                    ls=(0, (4, 2)), label=f"Beta mixture (max |ΔCDF| {data['max_cdf_error']:.3f})")
        if "robust" in curves:
            bottom.plot(p, curves["robust"], color=PRIOR_CURVE, lw=1.0, ls=(0, (1, 1.5)),
                        label="robust mixture (prior used)")
        bottom.set_ylabel("density")
        bottom.set_xlabel(f"event probability, {arm_label} arm")
        bottom.set_ylim(bottom=0)
        bottom.set_xlim(*data["xlim"])
        bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.text(0.01, -0.02, data["description"], fontsize=6, color="#555555", ha="left",
                 va="top")
    return fig


def effect_map_forest(data: Mapping[str, Any], title: str = ""):
    """A Figure: forest of the earlier trials' log odds ratios (95% Wald intervals) over the
    effect MAP, its density below (from :func:`lnbayes.analyses.map_checks.effect_figure_data`)."""
    from matplotlib.figure import Figure

    studies = data["studies"]
    with house_style():
        fig = Figure(figsize=(DOUBLE_COLUMN, 2.2 + 0.3 * (len(studies) + 1)))
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[len(studies) + 1.5, 3.0])
        y = list(range(len(studies) + 1, 1, -1))
        n_max = max(t["n"] for t in studies)
        for yi, s in zip(y, studies):
            top.plot([s["lower"], s["upper"]], [yi, yi], color=OKABE_ITO["black"], lw=1)
            top.plot(s["log_or"], yi, "s", color=OKABE_ITO["black"],
                     ms=2 + 4 * (s["n"] / n_max) ** 0.5)
        m = data["map"]
        top.plot([m["lower"], m["upper"]], [0.6, 0.6], color=OKABE_ITO["blue"], lw=2.2)
        top.plot(m["median"], 0.6, "D", color=OKABE_ITO["blue"], ms=6)
        top.axhline(1.3, color="#BBBBBB", lw=0.6)
        top.axvline(0.0, color="#BBBBBB", lw=0.6)
        labels = [f"{_short_label(s['label'])}  {s['treatment']} vs {s['control']}"
                  for s in studies]
        top.set_yticks([*y, 0.6], [*labels, "MAP: a new trial (median, 95%)"])
        top.set_ylim(0, len(studies) + 1.8)
        top.set_title(title or "Meta-analytic-predictive prior of the log odds ratio")
        x = data["x"]
        curves = data["curves"]
        bottom.plot(x, curves["map"], color=OKABE_ITO["blue"], lw=1.6, label="MAP (exact)")
        bottom.plot(x, curves["mixture"], color=OKABE_ITO["vermillion"], lw=1.0,
                    ls=(0, (4, 2)),
                    label=f"Normal mixture (max |ΔCDF| {data['max_cdf_error']:.3f})")
        if "robust" in curves:
            bottom.plot(x, curves["robust"], color=PRIOR_CURVE, lw=1.0, ls=(0, (1, 1.5)),
                        label="robust mixture (prior used)")
        bottom.set_ylabel("density")
        bottom.set_xlabel("log odds ratio (treatment vs control)")
        bottom.set_ylim(bottom=0)
        bottom.set_xlim(*data["xlim"])
        bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.text(0.01, -0.02, data["description"], fontsize=6, color="#555555", ha="left",
                 va="top")
    return fig


def _short_label(label: str, width: int = 34) -> str:
    """A study's label for the axis: its text before any parenthesis, at most ``width`` wide."""
    text = label.split(" (")[0].strip() or label
    return text if len(text) <= width else text[: width - 1] + "…"


def robust_sweep_figure(rows, used: float | None = None, arm_label: str = "control",
                        benefit_label: str = "P(benefit)"):
    """A Figure: P(benefit) after the data against the robust weight of a MAP arm (0: the MAP
    mixture alone; 1: the vague component alone), the weight in use marked."""
    from matplotlib.figure import Figure

    from lnbayes.outputs.figures.style import SINGLE_COLUMN

    with house_style():
        fig = Figure(figsize=(SINGLE_COLUMN * 1.4, 2.6))
        ax = fig.subplots()
        w = [r["weight"] for r in rows]
        pb = [r["p_benefit"] for r in rows]
        ax.plot(w, pb, "-o", color=OKABE_ITO["blue"], ms=2.5, label=benefit_label)
        if used is not None:
            y = min(rows, key=lambda r: abs(r["weight"] - used))["p_benefit"]
            ax.plot([used], [y], "D", color=OKABE_ITO["vermillion"], ms=5,
                    label=f"weight used ({used:g})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axhline(0.5, color="#BBBBBB", lw=0.6)
        ax.set_xlabel(f"robust weight on the vague component ({arm_label} arm)")
        ax.set_ylabel(benefit_label + " after the data")
        ax.set_title("Robust-weight sweep of the MAP prior")
        ax.legend(loc="best")
    return fig
