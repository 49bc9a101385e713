"""Figures for the decision to stop and the design (return Figures; never save or show).

Inputs are the JSON-ready results of :func:`lnbayes.analyses.planning.predict` and
:func:`lnbayes.analyses.planning.design`; nothing is computed here beyond rearranging them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lnbayes.outputs.figures.style import (
    DOUBLE_COLUMN,
    OKABE_ITO,
    house_style,
    prior_colour,
    prior_linestyle,
)

GRID = {"axes.grid": True, "grid.alpha": 0.25, "grid.linewidth": 0.5}
"""The house style, plus a light grid for reading probabilities off the curves."""


MAX_LABELLED_CELLS = 144
"""Completions up to which each cell of the predictive grid is labelled (a 12 x 12 grid); a
larger trial's grid shows the cells where nearly all the predictive probability lies, unlabelled,
with the outline of those reaching the mark as one line."""
TAIL = 0.0005
"""Predictive probability left out at each end of each axis of a large grid."""


def _plus_count(value: float, _pos=None) -> str:
    """A tick label as a count added (``+3``); a module-level function rather than a lambda, so
    that figures can be pickled to the process that saves them."""
    return f"+{value:.0f}"


def _central_range(marginal: np.ndarray) -> tuple[int, int]:
    """First and last index of the central 1 - 2 TAIL of a probability vector."""
    c = np.cumsum(marginal) / max(float(np.sum(marginal)), 1e-300)
    lo = int(np.searchsorted(c, TAIL, side="left"))
    hi = int(np.searchsorted(c, 1.0 - TAIL, side="left"))
    return lo, max(lo, min(hi, len(c) - 1))


def _outline(mask: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> list:
    """Segments of the boundary between marked and unmarked cells in rows r0..r1, columns
    c0..c1 (cell (i, j) spans j +- 0.5, i +- 0.5); the window's edge is no boundary (the
    region goes on beyond it)."""
    m = np.pad(mask[r0:r1 + 1, c0:c1 + 1], 1, mode="edge")
    segments = []
    inner = m[:, 1:-1]  # horizontal edges below padded row i + 1, inside the window's columns
    for i, j in zip(*np.nonzero(inner[1:, :] != inner[:-1, :])):
        y, x = r0 + i - 0.5, c0 + j
        segments.append(((x - 0.5, y), (x + 0.5, y)))
    inner = m[1:-1, :]  # vertical edges right of padded column j, inside the window's rows
    for i, j in zip(*np.nonzero(inner[:, 1:] != inner[:, :-1])):
        y, x = r0 + i, c0 + j - 0.5
        segments.append(((x, y - 0.5), (x, y + 0.5)))
    return segments


def predictive_figure(result: dict[str, Any]):
    """Predictive probability of success: a Figure with two panels.

    Left: for each prior, P(final P(benefit) >= q) against q. Right: for the first prior,
    every completion of the trial with its probability and final P(benefit).
    """
    import matplotlib.pyplot as plt

    with house_style(), plt.rc_context(GRID):
        fig, (ax, ax_grid) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN, 3.6),
                                          gridspec_kw={"width_ratios": [1.1, 1]})
        _success_panel(fig, ax, result)
        _completions_panel(fig, ax_grid, result)
    return fig


def _success_panel(fig, ax, result: dict[str, Any]) -> None:
    """Left panel: for each prior, P(final P(benefit) >= q) against q, and the legend."""
    for k, row in enumerate(result["results"]):
        # the analysis's step function: 1 up to the first level, then each step's value
        # until the next level, 0 after the last
        steps = row["success_steps"]
        q = [0.0] + [s["level"] for s in steps] + [1.0]
        success = [1.0] + [s["predictive_probability"] for s in steps] + [0.0]
        ax.plot(q, success, color=prior_colour(k), ls=prior_linestyle(k), lw=1.3,
                drawstyle="steps-pre",
                label=f"{row.get('label') or row['prior']} "
                      f"(now {row['current_p_benefit']:.2f})")
    for v, style in ((0.5, ":"), (0.8, "--"), (result["threshold"], "-")):
        ax.axvline(v, color="0.45", lw=0.8, ls=style, zorder=0)
        ax.text(v - 0.01, 0.97, f"q = {v:g}", ha="right", va="top", fontsize=6.5,
                color="0.3", rotation=90)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("Threshold q for P(benefit) at the end of the trial")
    ax.set_ylabel("Predictive probability that P(benefit) ≥ q")
    f = result["final"]
    ax.set_title(
        f"If the trial had continued to {f['treatment']} + {f['control']} patients",
        loc="left")
    ncols = 3 if len(result["results"]) > 4 else len(result["results"])
    fig.legend(*ax.get_legend_handles_labels(), title="Prior (current P(benefit))",
               loc="outside lower center", ncols=ncols, handlelength=2.6)


def _completions_panel(fig, ax_grid, result: dict[str, Any]) -> None:
    """Right panel: the first prior's completions of the trial, each with its final
    P(benefit) and its predictive probability (the likeliest cells when there are many)."""
    from matplotlib import colors

    d = result["data"]
    first = result["results"][0]
    comps = first["completions"]
    n_ft = max(c["future_treatment_events"] for c in comps) + 1
    n_fc = max(c["future_control_events"] for c in comps) + 1
    pb = np.full((n_fc, n_ft), np.nan)
    pr = np.zeros((n_fc, n_ft))
    outlined = np.zeros((n_fc, n_ft), dtype=bool)
    mark = 0.8
    reach = 0
    for c in comps:
        cell = c["future_control_events"], c["future_treatment_events"]
        pb[cell] = c["final_p_benefit"]
        pr[cell] = c["probability"]
        outlined[cell] = mark in c["reaches"]
        reach += result["threshold"] in c["reaches"]
    cmap = colors.LinearSegmentedColormap.from_list("pb", ["#FFFFFF", OKABE_ITO["blue"]])
    if pb.size <= MAX_LABELLED_CELLS:  # every completion labelled and outlined
        image = ax_grid.imshow(pb, origin="lower", cmap=cmap, vmin=0, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(pb):
            dark = value > 0.6
            ax_grid.text(j, i, f"{value:.2f}\n({pr[i, j]:.1%})", ha="center", va="center",
                         fontsize=5.5, color="white" if dark else "black")
        ax_grid.set_xticks(range(n_ft))
        ax_grid.set_yticks(range(n_fc))
        ax_grid.set_xticklabels([f"+{j}" for j in range(n_ft)])
        ax_grid.set_yticklabels([f"+{i}" for i in range(n_fc)])
        from matplotlib.patches import Rectangle

        for (i, j), value in np.ndenumerate(outlined):
            if value:
                ax_grid.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                            ec=OKABE_ITO["vermillion"], lw=1.6))
        shown = ""
    else:  # too many completions to label: the cells carrying nearly all the probability
        (r0, r1), (c0, c1) = (_central_range(pr.sum(axis=1)), _central_range(pr.sum(axis=0)))
        image = ax_grid.imshow(pb[r0:r1 + 1, c0:c1 + 1], origin="lower", cmap=cmap, vmin=0,
                               vmax=1, aspect="auto", interpolation="nearest",
                               extent=(c0 - 0.5, c1 + 0.5, r0 - 0.5, r1 + 0.5))
        from matplotlib.collections import LineCollection
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        ax_grid.add_collection(LineCollection(
            _outline(outlined, r0, r1, c0, c1), colors=OKABE_ITO["vermillion"], lw=1.2))
        ax_grid.set_xlim(c0 - 0.5, c1 + 0.5)
        ax_grid.set_ylim(r0 - 0.5, r1 + 0.5)
        for axis in (ax_grid.xaxis, ax_grid.yaxis):
            axis.set_major_locator(MaxNLocator(6, integer=True))
            axis.set_major_formatter(FuncFormatter(_plus_count))
        shown = f"\n(shown: the central {1 - 2 * TAIL:.1%} of each axis)"
    ax_grid.grid(False)
    m_t, m_c = n_ft - 1, n_fc - 1
    event = result.get("outcome", "event").replace("_", " ")
    ax_grid.set_xlabel(f"Further {event} events among {m_t}\nmore treated patients "
                       f"(now {d['treatment']['events']}/{d['treatment']['n']})")
    ax_grid.set_ylabel(f"Further {event} events\namong {m_c} more controls "
                       f"(now {d['control']['events']}/{d['control']['n']})")
    ax_grid.set_title(f"{first.get('label') or first['prior']} prior: each completion's final "
                      f"P(benefit)\n(predictive probability); outlined if ≥ {mark:g}; "
                      f"{reach:,} of {pb.size:,} reach {result['threshold']:g}{shown}",
                      loc="left")
    fig.colorbar(image, ax=ax_grid, label="P(benefit) of the completed trial", shrink=0.9)


def operating_characteristics_figure(result: dict[str, Any]):
    """Operating characteristics: a Figure with two panels.

    Left: P(declare benefit) against the true treatment rate at a few control rates. Right:
    power at the hoped-for effect against total sample size. ``result``: a
    :func:`lnbayes.analyses.planning.design` or :func:`lnbayes.analyses.decisions.design`
    result (multi-criterion rules, with or without looks; the right panel needs a power curve,
    which designs with looks or effect-level priors do not have).
    """
    import matplotlib.pyplot as plt

    oc = result["operating_characteristics"]
    power = result.get("power")
    control_rates = sorted({r["p_control"] for r in oc})
    wanted = [0.4, 0.6, 0.8]
    if power is not None:
        wanted[1] = min(control_rates, key=lambda c: abs(c - power["p_control"]))
    shown = [min(control_rates, key=lambda c, w=w: abs(c - w)) for w in wanted]
    with house_style(), plt.rc_context(GRID):
        fig, (ax, ax_n) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN, 3.2))
        _declare_panel(ax, result, shown)
        _sample_size_panel(ax_n, result)
    return fig


def _declare_panel(ax, result: dict[str, Any], shown) -> None:
    """Left panel: P(declare benefit) against the true treatment rate at the ``shown``
    control rates, type I error and power marked."""
    oc = result["operating_characteristics"]
    power = result.get("power")
    for k, c in enumerate(dict.fromkeys(shown)):
        rows = sorted((r for r in oc if r["p_control"] == c), key=lambda r: r["p_treatment"])
        x = [r["p_treatment"] for r in rows]
        y = [r["p_declare_benefit"] for r in rows]
        colour = prior_colour(k)
        ax.plot(x, y, color=colour, lw=1.3, marker="o", ms=2.5, label=f"control rate {c:.2f}")
        same = next(r for r in rows if abs(r["p_treatment"] - c) < 1e-9)
        ax.plot(same["p_treatment"], same["p_declare_benefit"], marker="s", ms=5, mfc="white",
                mec=colour, mew=1.2, ls="none")
    t1 = result["type_i_error"]
    ax.plot([], [], marker="s", ms=5, mfc="white", mec="0.3", ls="none",
            label=f"equal rates: type I error (max {t1['max']:.3f} at rate "
                  f"{t1['at_rate']:.2f})")
    if power is not None:
        ax.plot(power["p_treatment"], power["power"], marker="*", ms=10,
                color=OKABE_ITO["orange"],
                mec="black", mew=0.6, ls="none",
                label=(f"hoped-for effect (OR {power['odds_ratio']:.1f}): power "
                   if power.get("odds_ratio") is not None else "hoped-for effect: power ")
            + f"{power['power']:.2f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("True treatment-arm rate")
    ax.set_ylabel("P(declare benefit)")
    n = result["n"]
    rule = result["rule"].replace(">=", "≥")
    looks = result.get("looks")
    sizes = [f"{x['n_treatment']} + {x['n_control']}" for x in looks or ()]
    plan = (f"looks at {', '.join(sizes)}" if looks
            else f"{n['treatment']} + {n['control']} patients")
    ax.set_title(f"{rule[:1].upper()}{rule[1:]}\n{plan}, "
                 f"{result.get('prior_label') or result['prior']} prior", loc="left")
    ax.legend(loc="upper left", frameon=False)


def _sample_size_panel(ax_n, result: dict[str, Any]) -> None:
    """Right panel: power at the hoped-for effect against the total sample size (or why
    there is none)."""
    power = result.get("power")
    n = result["n"]
    curve = result.get("power_curve") or []
    if curve:
        totals = [r["total"] for r in curve]
        ax_n.plot(totals, [r["power"] for r in curve], color=OKABE_ITO["blue"], lw=1.2,
                  marker="o", ms=2)
        s = result.get("sample_size_80") or result.get("sample_size")
        target = s["target_power"]
        ax_n.axhline(target, color="0.45", lw=0.8, ls="--")
        planned = n["treatment"] + n["control"]
        ax_n.axvline(planned, color=OKABE_ITO["vermillion"], lw=1, ls=":")
        label = f" planned {planned}"
        if power is not None:
            label += f": power {power['power']:.2f}"
            ax_n.plot(planned, power["power"], marker="o", ms=4.5,
                      color=OKABE_ITO["vermillion"], ls="none")
        ax_n.text(planned, 0.02, label, color=OKABE_ITO["vermillion"], va="bottom")
        if s["total"] is not None:
            ax_n.plot(s["total"], s["power"], marker="*", ms=10, color=OKABE_ITO["orange"],
                      mec="black", mew=0.6, ls="none")
            ax_n.annotate(f"{s['total']} patients ({s['n_treatment']} + {s['n_control']}):\n"
                          f"power {s['power']:.3f}",
                          (s["total"], s["power"]), xytext=(0.97, 0.3),
                          textcoords="axes fraction", ha="right",
                          arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.6})
        ax_n.set_ylim(-0.02, 1.02)
        ax_n.set_xlim(0, max(totals) * 1.02)
        a_t, a_c = s["allocation"]
        ax_n.set_xlabel(f"Total sample size (allocation {a_t}:{a_c})")
        ax_n.set_ylabel("Power at the hoped-for effect")
        ax_n.set_title(f"Sample size for {target:.0%} power", loc="left")
    else:
        ax_n.set_axis_off()
        why = ("no hoped-for effect given\n(add a [design] table)" if power is None else
               "no sample-size search for this design\n(interim looks or an effect-level "
               "prior)")
        ax_n.text(0.5, 0.5, why, ha="center", va="center", transform=ax_n.transAxes)


def protocol_figure(protocol: dict[str, Any]):
    """The design as a protocol states it: a Figure with two panels, from
    :func:`lnbayes.analyses.protocol.protocol` (its exact curves; nothing is computed here).

    Left: type I error (P(declare benefit) when both arms share a true rate) against that rate.
    Right: power against the true treatment rate at the expected control rate. One colour per
    prior (the analysis prior and the priors that borrow), solid at the planned size, dashed at
    the size the trial stopped at.
    """
    import matplotlib.pyplot as plt

    rates = np.asarray(protocol["curve_rates"])
    styles = {"planned": "-"}  # the stopped (or observed) size is dashed
    control = protocol["control_rate"]
    hoped = protocol["hoped_for"]
    with house_style(), plt.rc_context(GRID):
        fig, (ax, ax_p) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN, 3.4), layout="constrained")
        for k, prior in enumerate(protocol["priors"]):
            colour = prior_colour(k)
            for size in prior["by_size"]:
                label = (f"{prior['label']}, {size['label']} {size['n_treatment']} + "
                         f"{size['n_control']}")
                ls = styles.get(size["label"], "--")
                ax.plot(rates, size["curve_type_i"], color=colour, ls=ls, lw=1.3, label=label)
                t1 = size["type_i_max"]
                ax.plot(t1["at_rate"], t1["max"], marker="o", ms=3.5, color=colour, ls="none")
                if "curve_power" in size:
                    ax_p.plot(rates, size["curve_power"], color=colour, ls=ls, lw=1.3)
        alpha = 1.0 - protocol["threshold"]
        ax.axhline(alpha, color="0.45", lw=0.8, ls=":")
        ax.text(0.02, alpha, f" {alpha:.2g}", va="bottom", ha="left", fontsize=7, color="0.3",
                transform=ax.get_yaxis_transform())
        top = max(max(s["curve_type_i"]) for p in protocol["priors"] for s in p["by_size"])
        ax.set_xlim(0, 1)
        ax.set_ylim(0, max(0.1, 1.15 * top))
        ax.set_xlabel("True event rate, the same in both arms")
        ax.set_ylabel("P(declare benefit) = type I error")
        ax.set_title("Type I error (dots: largest)", loc="left")
        if control is not None:
            target = protocol["sample_size"]["target_power"] if protocol["sample_size"] else 0.8
            ax_p.axhline(target, color="0.45", lw=0.8, ls=":")
            ax_p.text(0.02, target, f" {target:.0%} power", va="bottom", ha="left", fontsize=7,
                      color="0.3", transform=ax_p.get_yaxis_transform())
            # the two reference lines are labelled above the frame, clear of the curves
            top = ax_p.get_xaxis_transform()
            ax_p.axvline(control, color="0.45", lw=0.8, ls="--")
            ax_p.text(control, 1.01, "no effect", ha="center", va="bottom", fontsize=7,
                      color="0.3", transform=top)
            if hoped is not None:
                ax_p.axvline(hoped["p_treatment"], color=OKABE_ITO["orange"], lw=0.9, ls="-.")
                ax_p.text(hoped["p_treatment"], 1.01, f"hoped for (OR {hoped['odds_ratio']:.3g})",
                          ha="center", va="bottom", fontsize=7, color="0.3", transform=top)
            # the side of benefit, from a little on the side of harm (power is ~0 beyond)
            if protocol["better"] == "lower":
                ax_p.set_xlim(0, min(1.0, control + 0.2))
            else:
                ax_p.set_xlim(max(0.0, control - 0.2), 1)
            ax_p.set_ylim(-0.02, 1.02)
            ax_p.set_xlabel(f"True treatment-arm rate (control rate {control:g})")
            ax_p.set_ylabel("P(declare benefit) = power")
            ax_p.set_title("Power", loc="left")
        else:
            ax_p.set_axis_off()
            ax_p.text(0.5, 0.5, "no expected control rate given\n(add a [design] table)",
                      ha="center", va="center", transform=ax_p.transAxes)
        rule = protocol["rule"].replace(">=", "≥")
        fig.suptitle(f"{rule[:1].upper()}{rule[1:]}: exact operating characteristics",
                     x=0.01, ha="left", fontsize=9)
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2,
                   frameon=False, handlelength=2.8)
    return fig
