"""Benefit beside harm: one dot chart of the report's ``benefit_harm`` record (returns a Figure).

Each row is one probability: benefit on the primary outcome (any, and beyond each clinically
meaningful threshold), then harm on each safety outcome (any, and beyond its margin). Each prior
under which the primary outcome and every safety outcome were analysed is one colour, so benefit
and harm are compared within a prior; no joint probability is drawn (the counts are marginal).
Nothing is computed here.
"""

from __future__ import annotations

from typing import Any, Mapping

from lnbayes.formatting import probability
from lnbayes.outputs.figures.style import DOUBLE_COLUMN, house_style, prior_colour

BENEFIT_SHADE = "#e5f5ef"
HARM_SHADE = "#fbeae5"


def _margin_text(scale: str, value: float) -> str:
    return f"{scale.upper()} {value:g}"


def rows_of(bh: Mapping[str, Any], labels: Mapping[str, str],
            primary_label: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The priors shared by every row, and the rows: ``{"label", "kind", "p": {prior: p}}``."""
    common = [b["prior"] for b in bh["benefit"]]
    for s in bh["safety"]:
        present = {r["prior"] for r in s["by_prior"]}
        common = [p for p in common if p in present]
    benefit = {b["prior"]: b for b in bh["benefit"]}
    rows = [{"label": f"{primary_label}: any benefit", "kind": "benefit",
             "p": {p: benefit[p]["p_benefit"] for p in common}}]
    first = bh["benefit"][0] if bh["benefit"] else {"meaningful": []}
    for k, t in enumerate(first.get("meaningful", [])):
        rows.append({"label": f"{primary_label}: benefit beyond {_margin_text(t['scale'], t['value'])}",
                     "kind": "benefit", "p": {p: benefit[p]["meaningful"][k]["p"] for p in common}})
    for s in bh["safety"]:
        by = {r["prior"]: r for r in s["by_prior"]}
        label = labels.get(s["outcome"], s.get("label") or s["outcome"])
        rows.append({"label": f"{label}: any harm", "kind": "harm",
                     "p": {p: by[p]["p_harm"] for p in common}})
        if s.get("margin"):
            rows.append({"label": f"{label}: harm beyond {_margin_text(s['margin']['scale'], s['margin']['value'])}",
                         "kind": "harm", "p": {p: by[p]["p_harm_beyond_margin"] for p in common}})
    return common, rows


def benefit_harm_figure(bh: Mapping[str, Any], prior_labels: Mapping[str, str],
                        outcome_labels: Mapping[str, str], treatment: str, control: str):
    """Posterior probabilities of benefit and of harm, side by side, one colour per prior."""
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    primary_label = outcome_labels.get(bh["primary_outcome"], bh["primary_outcome"])
    common, rows = rows_of(bh, outcome_labels, primary_label)
    order = [b["prior"] for b in bh["benefit"]]  # colours as in the other figures' prior order
    colour = {p: prior_colour(order.index(p)) for p in common}
    n = len(rows)
    y = np.arange(n)[::-1]
    offsets = (np.arange(len(common)) - (len(common) - 1) / 2) * 0.22
    with house_style():
        fig = Figure(figsize=(DOUBLE_COLUMN, 1.0 + 0.34 * n), layout="constrained")
        ax = fig.add_subplot()
        for i, row in enumerate(rows):
            ax.axhspan(y[i] - 0.5, y[i] + 0.5, color=BENEFIT_SHADE if row["kind"] == "benefit"
                       else HARM_SHADE, zorder=0, lw=0)
            for j, prior in enumerate(common):
                p = row["p"][prior]
                ax.plot(p, y[i] + offsets[j], "o", color=colour[prior], ms=4.5, zorder=3)
                ax.text(p + 0.015 if p < 0.9 else p - 0.015, y[i] + offsets[j], probability(p),
                        ha="left" if p < 0.9 else "right", va="center", fontsize=6,
                        color=colour[prior], zorder=4)
        ax.set_yticks(y, [r["label"] for r in rows], fontsize=7)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.5, n - 0.5)
        ax.set_xlabel(f"Posterior probability ({treatment} vs {control}; exact)")
        fig.legend(handles=[Line2D([], [], marker="o", color=colour[p], ls="none", ms=4.5,
                                   label=prior_labels.get(p, p)) for p in common],
                   loc="outside lower center", ncols=max(1, len(common)), fontsize=6.5,
                   handletextpad=0.3)
        fig.suptitle("Benefit (green rows) beside harm (red rows); no joint probability",
                     fontsize=8, fontweight="bold", x=0.01, ha="left")
    return fig
