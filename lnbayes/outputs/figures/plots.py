"""Publication figures of a re-analysis: each function takes results and returns a Figure.

Nothing here saves, shows or changes global state: every function draws inside
:func:`lnbayes.outputs.figures.style.house_style` (a ``matplotlib.rc_context``) on a
``matplotlib.figure.Figure`` that is not registered with pyplot (ArviZ figures are detached from
pyplot after drawing). The report layer (:mod:`lnbayes.outputs.figures.figure_set`) writes files.

Numbers written on the figures are exact (the exact engine is the reference for every prior);
MCMC draws, when available, are overlaid to show that the sampler agrees with them.

Inputs
------
``analysis``: the dict returned by :func:`lnbayes.analyses.reanalysis.analyze` (``results`` with one entry
per prior: ``prior``, ``prior_info``, ``p_benefit``, ``p_benefit_exact``, ``p_benefit_mcse``,
``estimates`` with their ``exact`` counterparts, and ``datatree`` for PyMC runs).
``curves``: prior name -> :func:`lnbayes.analyses.densities.density_curves` output.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from lnbayes.analyses import densities as densities_mod
from lnbayes.formatting import estimate, probability
from lnbayes.model.effects import MEASURE_OF_EFFECT_SCALE, MEASURE_WORDS, NO_EFFECT
from lnbayes.outputs.figures.style import (
    ARM_COLOURS,
    BENEFIT_ALPHA,
    BENEFIT_FILL,
    DOUBLE_COLUMN,
    PRIOR_CURVE,
    REFERENCE_LINE,
    SEQUENTIAL_CMAP,
    SINGLE_COLUMN,
    house_style,
    prior_colour,
)

EFFECT_MEASURES = ("risk_difference", "odds_ratio")
ARM_MEASURES = ("p_control", "p_treatment")
LEVELS = (0.5, 0.8, 0.95)


# ---------------------------------------------------------------------------------------------
# Words: labels in the trial's language
# ---------------------------------------------------------------------------------------------


def measure_label(trial, measure: str) -> str:
    """Axis label of an effect measure, e.g. ``Risk difference, drug X minus control``."""
    t, c = trial.treatment_name, trial.control_name
    return {
        "risk_difference": f"Risk difference, {t} minus {c}",
        "odds_ratio": f"Odds ratio, {t} vs {c}",
        "risk_ratio": f"Risk ratio, {t} vs {c}",
    }[measure]


def event_label(outcome) -> str:
    """``Probability of remission (partial + complete) at 6 months`` from the outcome label."""
    label = outcome.label or outcome.name
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        label = label[0].lower() + label[1:]
    return f"Probability of {label}"


def benefit_label(trial, outcome) -> str:
    """Legend entry of the shaded benefit region, e.g. ``Benefit (drug X better)``."""
    return f"Benefit ({trial.treatment_name} better)"


def prior_label(result: Mapping[str, Any]) -> str:
    """The prior's label from the trial file (its name when it has none)."""
    info = result.get("prior_info") or {}
    return info.get("label") or result["prior"]


def prior_description(trial, prior) -> str:
    """A prior in one line in the trial's words.

    For example ``log OR ~ Normal(0, 0.668²); control ~ Beta(1, 1)``.
    """
    if prior is None:
        return ""
    if prior.family == "arm":
        c, t = prior.control.describe(), prior.treatment.describe()
        if c == t:
            return f"{c} on each arm's probability"
        return f"{trial.treatment_name} ~ {t}; {trial.control_name} ~ {c}"
    scale = {"log_or": "log OR", "log_rr": "log RR", "rd": "risk difference"}[prior.scale]
    effect = prior.effect.describe().replace("^2)", "\u00b2)")
    return f"{scale} ~ {effect}; {trial.control_name} ~ {prior.control.describe()}"


def p_benefit_text(result: Mapping[str, Any]) -> str:
    """``P(benefit) = 0.310`` or ``P(benefit) > 0.999``: the exact value (the reference)."""
    text = probability(exact_p_benefit(result))
    return f"P(benefit) {text}" if text[0] in "<>" else f"P(benefit) = {text}"


def exact_p_benefit(result: Mapping[str, Any]) -> float:
    """The exact P(benefit) of a result (``p_benefit_exact``, else ``p_benefit``)."""
    p = result.get("p_benefit_exact")
    return float(result["p_benefit"] if p is None else p)


def exact_estimate(result: Mapping[str, Any], measure: str) -> dict[str, float]:
    """The exact median and interval of a measure (the sampled ones when no exact is stored)."""
    est = result["estimates"][measure]
    return est.get("exact", est)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _footnote(fig, text: str) -> None:
    """A small grey note under the figure, wrapped to the figure's width."""
    import textwrap

    width = max(40, int(fig.get_figwidth() * 72 / 3.5))
    lines = [textwrap.fill(part, width) for part in text.split("\n")]
    fig.supxlabel("\n".join(lines), fontsize=6, color="#555555", x=0.01, ha="left",
                  linespacing=1.3)


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _benefit_span(ax, measure: str, lower_is_better: bool, **kwargs):
    """Shade the benefit side of the no-effect value, to the edge of the axes."""
    ref = NO_EFFECT[measure]
    lo, hi = ax.get_xlim()
    if lower_is_better:
        start, stop = lo, ref
    else:
        start, stop = ref, hi
    patch = ax.axvspan(start, stop, color=BENEFIT_FILL, alpha=BENEFIT_ALPHA, lw=0, zorder=0,
                       **kwargs)
    ax.set_xlim(lo, hi)
    return patch


def _draws(result: Mapping[str, Any], var: str) -> np.ndarray | None:
    tree = result.get("datatree")
    if tree is None:
        return None
    post = tree["posterior"]
    if var not in post:
        return None
    return np.asarray(post[var].values).ravel()


def _display_range(curves: Mapping[str, Mapping], measure: str, mass: float = 0.998,
                   pad: float = 0.06) -> tuple[float, float]:
    """Range holding ``mass`` of every posterior curve, padded (on a log scale for ratios)."""
    lows, highs = [], []
    for per_prior in curves.values():
        c = per_prior[measure]
        x = np.log(c["grid"]) if measure in densities_mod.LOG_MEASURES else c["grid"]
        dens = c["posterior"]
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
        cum = cum / cum[-1]
        tail = (1 - mass) / 2
        lows.append(np.interp(tail, cum, x))
        highs.append(np.interp(1 - tail, cum, x))
    lo, hi = min(lows), max(highs)
    span = hi - lo
    lo, hi = lo - pad * span, hi + pad * span
    if measure in densities_mod.LOG_MEASURES:
        return float(np.exp(lo)), float(np.exp(hi))
    if measure == "risk_difference":
        return max(lo, -1.0), min(hi, 1.0)
    return max(lo, 0.0), min(hi, 1.0)


def plain_number(value: float, _pos=None) -> str:
    """A tick or contour label as a plain number (``f"{value:g}"``); a module-level function
    rather than a lambda, so that figures can be pickled to the process that saves them."""
    return f"{value:g}"


def _log_axis(ax, lo: float, hi: float) -> None:
    """A log x axis with plain-number ticks (0.1, 0.2, 0.5, 1, 2, 5, ...; 0.8, 0.9, 1, 1.2, ...
    on a narrow range)."""
    import math

    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    candidates = [b * 10.0**k for k in range(-4, 5) for b in (1, 2, 5)]
    ticks = [t for t in candidates if lo <= t <= hi]
    if len(ticks) > 7:
        ticks = [t for t in ticks if str(t).lstrip("0.").startswith(("1", "5")) or t == 1]
    if len(ticks) > 7:
        ticks = [t for t in candidates if lo <= t <= hi and f"{t:g}".lstrip("0.").startswith("1")]
    if len(ticks) < 3:  # a narrow range (a large trial): finer steps, thinned around 1
        fine = sorted({round(b * 10.0**k, 10) for k in range(-4, 5)
                       for b in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)})
        ticks = [t for t in fine if lo <= t <= hi]
        while len(ticks) > 7:
            keep = ticks.index(min(ticks, key=lambda t: abs(math.log(t))))
            ticks = ticks[keep % 2::2]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(plain_number))


def _hist_overlay(ax, values: np.ndarray, measure: str, lo: float, hi: float, colour: str,
                  bins: int = 40):
    """MCMC draws as a filled histogram (per unit log measure for ratios)."""
    if measure in densities_mod.LOG_MEASURES:
        values = np.log(values[values > 0])
        edges = np.linspace(np.log(lo), np.log(hi), bins + 1)
    else:
        edges = np.linspace(lo, hi, bins + 1)
    counts, _ = np.histogram(values, bins=edges)
    dens = counts / (len(values) * np.diff(edges))
    if measure in densities_mod.LOG_MEASURES:
        edges = np.exp(edges)
    return ax.stairs(dens, edges, fill=True, color=colour, alpha=0.22, lw=0, zorder=1)


# ---------------------------------------------------------------------------------------------
# 1. Prior and posterior of the effect, per prior
# ---------------------------------------------------------------------------------------------


def plot_effect_prior_posterior(trial, outcome, analysis: Mapping[str, Any],
                                curves: Mapping[str, Mapping] | None = None,
                                measures: Sequence[str] = EFFECT_MEASURES):
    """Prior and posterior densities of the effect for each named prior.

    One row per prior, one column per measure (risk difference; odds ratio on a log axis).
    The benefit side of no effect is shaded and each panel states P(benefit). Curves are exact
    (:func:`lnbayes.analyses.densities.density_curves`); MCMC draws, when the results carry a DataTree,
    are overlaid as a histogram.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    results = analysis["results"]
    ranges = {m: _display_range(curves, m) for m in measures}
    n = len(results)
    with house_style():
        fig = _new_figure(DOUBLE_COLUMN, 0.55 + 1.25 * n)
        axes = fig.subplots(n, len(measures), squeeze=False, sharex="col")
        any_draws = False
        for i, result in enumerate(results):
            colour = prior_colour(i)
            c = curves[result["prior"]]
            for j, measure in enumerate(measures):
                ax = axes[i, j]
                lo, hi = ranges[measure]
                grid, prior_d = c[measure]["grid"], c[measure]["prior"]
                post_d = c[measure]["posterior"]
                keep = (grid >= lo) & (grid <= hi)
                draws = _draws(result, measure)
                if draws is not None:
                    any_draws = True
                    _hist_overlay(ax, draws, measure, lo, hi, colour)
                ax.plot(grid[keep], prior_d[keep], color=PRIOR_CURVE, ls="--", lw=1.0, zorder=2,
                        label="prior")
                ax.plot(grid[keep], post_d[keep], color=colour, lw=1.5, zorder=3, label="posterior")
                if measure in densities_mod.LOG_MEASURES:
                    _log_axis(ax, lo, hi)
                else:
                    ax.set_xlim(lo, hi)
                ax.axvline(NO_EFFECT[measure], color=REFERENCE_LINE, lw=0.6, ls=":", zorder=2)
                _benefit_span(ax, measure, outcome.lower_is_better)
                # the implied prior of a risk difference can have an integrable spike at 0
                # (effect priors on the odds-ratio scale); let such a spike run off the top
                post_max, prior_max = post_d[keep].max(), prior_d[keep].max()
                top = max(post_max, prior_max if prior_max < 2.5 * post_max else post_max)
                ax.set_ylim(0, 1.32 * top)
                ax.set_yticks([])
                ax.spines["left"].set_visible(False)
                ax.text(0.02, 0.95, p_benefit_text(result), transform=ax.transAxes, ha="left",
                        va="top", fontsize=7,
                        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))
                if j == 0:
                    ax.set_title(prior_label(result), loc="left", color=colour, pad=2)
                elif j == len(measures) - 1:
                    ax.set_title(prior_description(trial, trial.priors.get(result["prior"])),
                                 loc="right", color="#555555", fontweight="normal",
                                 fontsize=6.5, pad=2)
                if i == n - 1:
                    ax.set_xlabel(measure_label(trial, measure))
        handles = [
            Line2D([], [], color=PRIOR_CURVE, ls="--", lw=1.0, label="Prior"),
            Line2D([], [], color="#333333", lw=1.5, label="Posterior (exact)"),
        ]
        if any_draws:
            handles.append(Patch(color="#333333", alpha=0.22, lw=0, label="Posterior (MCMC draws)"))
        handles.append(Patch(color=BENEFIT_FILL, alpha=BENEFIT_ALPHA * 2.5, lw=0,
                             label=benefit_label(trial, outcome)))
        fig.legend(handles=handles, loc="outside upper center", ncols=len(handles))
        fig.supylabel("Density", fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# 2. Forest plot across priors
# ---------------------------------------------------------------------------------------------


def plot_forest(trial, outcome, analysis: Mapping[str, Any], data_only: Mapping[str, Any],
                measures: Sequence[str] = EFFECT_MEASURES, prob_label: str = "95% interval"):
    """Posterior median and 95% equal-tailed interval of the effect under each prior.

    A P(benefit) column on the right, the no-effect line, and a data-only row (sample estimate
    with Newcombe's interval for the risk difference and Woolf's for the odds ratio) for
    reference. ``data_only``: :func:`lnbayes.analyses.sample_estimates.data_only_estimate` of the
    outcome (``figure_data(...)["data_only"]``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    results = analysis["results"]
    n = len(results)
    rows = n + 1
    y = np.arange(rows)[::-1].astype(float)  # priors top to bottom, data-only last
    y[-1] -= 0.35  # a little gap before the data-only row
    labels = [prior_label(r) for r in results] + ["Data only"]
    with house_style():
        fig = _new_figure(DOUBLE_COLUMN, 0.95 + 0.3 * rows)
        gs = fig.add_gridspec(1, len(measures) + 1, width_ratios=[1] * len(measures) + [0.32])
        axes = [fig.add_subplot(gs[0, j]) for j in range(len(measures))]
        text_ax = fig.add_subplot(gs[0, -1], sharey=axes[0])
        for j, (ax, measure) in enumerate(zip(axes, measures)):
            lows, highs = [], []
            for i, result in enumerate(results):
                est = exact_estimate(result, measure)
                colour = prior_colour(i)
                ax.plot([est["lower"], est["upper"]], [y[i], y[i]], color=colour, lw=1.6,
                        solid_capstyle="butt")
                ax.plot(est["median"], y[i], "o", color=colour, ms=5, mec="white", mew=0.6)
                lows.append(est["lower"])
                highs.append(est["upper"])
            d = data_only[measure]
            ax.plot([d["lower"], d["upper"]], [y[-1], y[-1]], color="#333333", lw=1.0)
            ax.plot(d["estimate"], y[-1], "D", color="white", mec="#333333", mew=1.0, ms=4.5)
            lows.append(d["lower"])
            highs.append(d["upper"])
            ax.axvline(NO_EFFECT[measure], color=REFERENCE_LINE, lw=0.7, ls=":")
            if measure in densities_mod.LOG_MEASURES:
                lo, hi = min(lows) / 1.25, max(highs) * 1.25
                _log_axis(ax, lo, hi)
            else:
                span = max(highs) - min(lows)
                ax.set_xlim(min(lows) - 0.05 * span, max(highs) + 0.05 * span)
            _benefit_span(ax, measure, outcome.lower_is_better)
            ax.set_xlabel(measure_label(trial, measure))
            ax.set_ylim(y[-1] - 0.7, y[0] + 0.7)
            ax.tick_params(axis="y", length=0)
            ax.spines["left"].set_visible(False)
            if j == 0:
                ax.set_yticks(y, labels)
                for tick, i in zip(ax.get_yticklabels(), range(rows)):
                    if i < n:
                        tick.set_color(prior_colour(i))
            else:
                ax.tick_params(axis="y", labelleft=False)
        text_ax.set_axis_off()
        text_ax.set_xlim(0, 1)
        text_ax.text(0.5, y[0] + 0.75, "P(benefit)", ha="center", va="bottom", fontsize=7,
                     fontweight="bold")
        for i, result in enumerate(results):
            text_ax.text(0.5, y[i], probability(exact_p_benefit(result)), ha="center",
                         va="center", fontsize=7)
        text_ax.text(0.5, y[-1], "\u2013", ha="center", va="center", fontsize=7)
        parts = [f"{MEASURE_WORDS[m]} {estimate(data_only[m]['estimate'], 2)}"
                 if m != "risk_difference" else f"risk difference {data_only[m]['estimate']:+.2f}"
                 for m in measures]
        methods = "; ".join(data_only[m]["method"] for m in measures)
        _footnote(
            fig,
            f"Data only: sample estimates from {outcome.treatment_events}/"
            f"{outcome.treatment_n} vs {outcome.control_events}/{outcome.control_n} "
            f"({', '.join(parts)}) with 95% confidence intervals ({methods}).")
        fig.suptitle(f"{outcome.label}: posterior median and {prob_label}", fontsize=8,
                     fontweight="bold", x=0.01, ha="left")
    return fig


# ---------------------------------------------------------------------------------------------
# 3. Posterior of each arm's event probability
# ---------------------------------------------------------------------------------------------


def plot_arm_posteriors(trial, outcome, analysis: Mapping[str, Any],
                        curves: Mapping[str, Mapping] | None = None, ncols: int | None = None):
    """Prior and posterior of each arm's event probability, one panel per prior.

    The observed proportions (events / n) are marked on the axis. Curves are exact (MCMC
    agreement is shown on the effect figure; overlapping histograms of two arms would muddy
    this one).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.lines import Line2D

    results = analysis["results"]
    n = len(results)
    ncols = ncols or min(n, 3)
    nrows = int(np.ceil(n / ncols))
    arms = [
        ("p_treatment", trial.treatment_name, ARM_COLOURS["treatment"],
         outcome.treatment_events, outcome.treatment_n),
        ("p_control", trial.control_name, ARM_COLOURS["control"],
         outcome.control_events, outcome.control_n),
    ]
    with house_style():
        fig = _new_figure(DOUBLE_COLUMN, 0.75 + 1.55 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
        for k, result in enumerate(results):
            ax = axes[k // ncols, k % ncols]
            c = curves[result["prior"]]
            top = 0.0
            for measure, name, colour, events, total in arms:
                grid = c[measure]["grid"]
                ax.plot(grid, c[measure]["prior"], color=colour, ls="--", lw=0.9, alpha=0.8)
                ax.plot(grid, c[measure]["posterior"], color=colour, lw=1.5)
                ax.plot([events / total], [0], marker="^", color=colour, ms=5, clip_on=False,
                        zorder=5)
                top = max(top, c[measure]["posterior"].max())
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.15 * top)
            ax.set_yticks([])
            ax.spines["left"].set_visible(False)
            ax.set_title(prior_label(result), loc="left", color=prior_colour(k), pad=2)
        for k in range(n, nrows * ncols):
            axes[k // ncols, k % ncols].set_axis_off()
        for col in range(ncols):
            bottom = max(r for r in range(nrows) if r * ncols + col < n)
            axes[bottom, col].tick_params(labelbottom=True)
        fig.supxlabel(event_label(outcome), fontsize=8)
        handles = []
        for _, name, colour, events, total in arms:
            handles += [
                Line2D([], [], color=colour, lw=1.5, label=f"{name}: posterior"),
                Line2D([], [], color=colour, ls="--", lw=0.9, label=f"{name}: prior"),
                Line2D([], [], color=colour, marker="^", ls="none", ms=5,
                       label=f"{name}: observed {events}/{total}"),
            ]
        fig.legend(handles=handles, loc="outside upper center", ncols=2)
        fig.supylabel("Density", fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# 4. P(benefit) across priors
# ---------------------------------------------------------------------------------------------


def plot_p_benefit(trial, outcome, analysis: Mapping[str, Any], levels: Sequence[float] = LEVELS):
    """P(benefit) under each named prior as a dot chart with reference levels.

    Dots are exact; for PyMC runs the sampled estimate is shown beside it as a cross with a
    +/- 2 MCSE bar.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.lines import Line2D

    results = analysis["results"]
    n = len(results)
    y = np.arange(n)[::-1]
    sampled = [r for r in results if r.get("engine") == "pymc"]
    with house_style():
        fig = _new_figure(SINGLE_COLUMN, 0.95 + 0.28 * n)
        ax = fig.add_subplot()
        for level in levels:
            ax.axvline(level, color="#999999", lw=0.6, ls="--", zorder=0)
            ax.text(level, 1.0, f"{level:g}", transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=6.5, color="#555555")
        for i, result in enumerate(results):
            p = exact_p_benefit(result)
            colour = prior_colour(i)
            ax.plot([0, p], [y[i], y[i]], color=colour, lw=0.6, alpha=0.5, zorder=1)
            ax.plot(p, y[i], "o", color=colour, ms=5, zorder=3)
            if result.get("engine") == "pymc":
                mcse = result.get("p_benefit_mcse") or 0.0
                ax.errorbar(result["p_benefit"], y[i] - 0.3, xerr=2 * mcse, fmt="x",
                            color=colour, ms=4, lw=0.8, capsize=0, zorder=3)
            ax.text(min(p, 0.97) + 0.03 if p < 0.93 else p - 0.03, y[i] + 0.12,
                    probability(p), ha="left" if p < 0.93 else "right", va="bottom",
                    fontsize=6.5, color=colour)
        ax.set_yticks(y, [prior_label(r) for r in results])
        for tick, i in zip(ax.get_yticklabels(), range(n)):
            tick.set_color(prior_colour(i))
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.75, n - 0.4)
        ax.set_xlabel(f"P(benefit): probability that {trial.treatment_name} is better")
        for text in ax.texts:
            text.set_bbox(dict(boxstyle="square,pad=0.1", fc="white", ec="none"))
        if sampled:
            fig.legend(handles=[
                Line2D([], [], marker="o", color="#333333", ls="none", ms=5, label="exact"),
                Line2D([], [], marker="x", color="#333333", ls="-", lw=0.8, ms=4,
                       label="MCMC \u00b1 2 MCSE"),
            ], loc="outside lower center", ncols=2, fontsize=6.5, handletextpad=0.3)
        fig.suptitle(outcome.label, fontsize=8, fontweight="bold", x=0.01, ha="left")
    return fig


# ---------------------------------------------------------------------------------------------
# 5. Sweep heatmap with tipping contours
# ---------------------------------------------------------------------------------------------


def plot_sweep_heatmap(sweep: Mapping[str, Any], trial, named_priors: Sequence | None = None,
                       levels: Sequence[float] | None = None):
    """P(benefit) over a grid of Normal effect priors, with tipping contours.

    Parameters
    ----------
    sweep : dict
        The ``lnbayes sweep`` JSON: ``scale``, ``outcome``, ``levels`` and ``grid``, a list of
        ``{"prior_mean", "prior_sd", "p_benefit", "p_benefit_exact"?, ...}`` covering a
        rectangular grid (an irregular set of points is triangulated instead).
    trial : lnbayes.model.spec.Trial
    named_priors : sequence of lnbayes.model.spec.Prior, optional
        Priors to mark on the grid: single-component effect priors on the sweep's scale are
        placed at (mean, sd); the others are listed as not representable on this grid.
    levels : sequence of float, optional
        Contour levels (default: the sweep's ``levels``, else 0.5, 0.8, 0.95).

    Returns
    -------
    matplotlib.figure.Figure
    """
    scale = sweep["scale"]
    levels = list(levels or sweep.get("levels") or LEVELS)
    outcome = trial.outcome(sweep.get("outcome"))
    named_priors = list(trial.priors_for(outcome) if named_priors is None else named_priors)
    effect_word = {"log_or": "log odds ratio", "log_rr": "log risk ratio",
                   "rd": "risk difference"}[scale]
    with house_style():
        fig = _new_figure(SINGLE_COLUMN, 3.55)
        ax = fig.add_subplot()
        mesh, cs, um, us = _heatmap_surface(ax, sweep["grid"], levels)
        marked = [(p.effect.means[0], p.effect.sds[0]) for p in named_priors
                  if p.family == "effect" and p.scale == scale and len(p.effect.means) == 1]
        ax.clabel(cs, fmt=plain_number, fontsize=6.5, inline=True,
                  manual=_label_positions(cs, um, us, marked))
        cbar = fig.colorbar(mesh, ax=ax, location="right", shrink=0.9, pad=0.02)
        cbar.set_label("P(benefit)")
        for level in levels:
            cbar.ax.axhline(level, color="white", lw=0.8)
        cbar.outline.set_linewidth(0.4)
        unplaced = _mark_priors_on_heatmap(ax, trial, outcome, named_priors, scale, um, us)
        _heatmap_axes(ax, trial, outcome, scale, effect_word, um, us)
        if unplaced:
            _footnote(fig, "Not on this grid: " + ", ".join(unplaced)
                          + f" (not a single Normal prior on the {effect_word})")
    return fig


def _heatmap_surface(ax, pts, levels):
    """P(benefit) as a shaded surface with its tipping contours; ``(mesh, contours, means, sds)``."""
    means = np.array([r["prior_mean"] for r in pts], float)
    sds = np.array([r["prior_sd"] for r in pts], float)
    probs = np.array([r["p_benefit_exact"] if r.get("p_benefit_exact") is not None
                      else r["p_benefit"] for r in pts], float)
    um, us = np.unique(means), np.unique(sds)
    if len(um) * len(us) == len(pts):  # rectangular
        z = np.full((len(us), len(um)), np.nan)
        z[np.searchsorted(us, sds), np.searchsorted(um, means)] = probs
        mesh = ax.pcolormesh(um, us, z, cmap=SEQUENTIAL_CMAP, vmin=0, vmax=1,
                             shading="gouraud", rasterized=True)
        cs = ax.contour(um, us, z, levels=levels, colors="white", linewidths=1.0)
    else:
        mesh = ax.tripcolor(means, sds, probs, cmap=SEQUENTIAL_CMAP, vmin=0, vmax=1,
                            shading="gouraud", rasterized=True)
        cs = ax.tricontour(means, sds, probs, levels=levels, colors="white", linewidths=1.0)
    return mesh, cs, um, us


def _mark_priors_on_heatmap(ax, trial, outcome, named_priors, scale, um, us) -> list[str]:
    """Mark each single Normal prior on the sweep's scale at (mean, sd); the names not marked."""
    unplaced = []
    for prior in named_priors:
        colour = prior_colour(_index_of(trial, outcome, prior))
        if (prior.family == "effect" and prior.scale == scale
                and len(prior.effect.means) == 1):
            m, s = prior.effect.means[0], prior.effect.sds[0]
            if not (um.min() <= m <= um.max() and us.min() <= s <= us.max()):
                unplaced.append(f"{prior.label or prior.name} (outside the grid)")
                continue
            ax.plot(m, s, marker="o", ms=6, mfc=colour, mec="white", mew=1.0, zorder=5,
                    clip_on=False)
            ax.annotate(prior.label or prior.name, (m, s), xytext=(5, 4),
                        textcoords="offset points", fontsize=6.5, color="white",
                        fontweight="bold", zorder=6,
                        bbox=dict(boxstyle="round,pad=0.15", fc=colour, ec="none",
                                  alpha=0.9))
        else:
            unplaced.append(prior.label or prior.name)
    return unplaced


def _heatmap_axes(ax, trial, outcome, scale, effect_word, um, us) -> None:
    """Limits, labels, the no-effect line and (ratio scales) a top axis in ratio units."""
    measure = MEASURE_WORDS[MEASURE_OF_EFFECT_SCALE[scale]]
    ax.axvline(0, color="white", lw=0.5, ls=":", alpha=0.8)
    ax.set_xlim(um.min(), um.max())
    ax.set_ylim(us.min(), us.max())
    ax.set_xlabel(f"Prior mean of the {effect_word}")
    ax.set_ylabel(f"Prior SD of the {effect_word}")
    if scale in ("log_or", "log_rr"):
        top = ax.secondary_xaxis("top", functions=(np.exp, _safe_log))
        top.set_xlabel(f"Prior median {measure}, {trial.treatment_name} vs "
                       f"{trial.control_name}",
                       fontsize=7)
        from matplotlib.ticker import FixedLocator, FuncFormatter
        cands = [2.0**k for k in range(-6, 7)]
        lo, hi = np.exp(um.min()), np.exp(um.max())
        top.xaxis.set_major_locator(FixedLocator([c for c in cands if lo <= c <= hi]))
        top.xaxis.set_major_formatter(FuncFormatter(plain_number))
        top.tick_params(labelsize=6.5)
    ax.set_title(outcome.label, loc="left", fontsize=8)


def _label_positions(cs, xs, ys, avoid=()) -> list[tuple[float, float]]:
    """One label position per contour level, on its longest line.

    Among points 15% to 85% of the way along the line, the one farthest from the named priors'
    markers (``avoid``) and at least 8% of the axes away from every edge.
    """
    span_x, span_y = xs.max() - xs.min(), ys.max() - ys.min()
    marks = np.array([((x - xs.min()) / span_x, (y - ys.min()) / span_y) for x, y in avoid])
    positions = []
    for segs in cs.allsegs:
        segs = [seg for seg in segs if len(seg) > 1]
        if not segs:
            continue
        seg = max(segs, key=len)
        unit = np.column_stack([(seg[:, 0] - xs.min()) / span_x, (seg[:, 1] - ys.min()) / span_y])
        along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(unit, axis=0).T))])
        frac = along / along[-1] if along[-1] > 0 else along
        edge = np.min(np.column_stack([unit, 1 - unit]), axis=1)
        clear = np.hypot(*(unit[:, None, :] - marks[None, :, :]).transpose(2, 0, 1)).min(axis=1) \
            if len(marks) else np.ones(len(unit))
        score = np.minimum(clear, 0.3) + np.where(edge < 0.08, -1.0, 0.0) \
            + np.where((frac < 0.15) | (frac > 0.85), -0.5, 0.0)
        k = int(np.argmax(score))
        positions.append((float(seg[k, 0]), float(seg[k, 1])))
    return positions


def _safe_log(values):
    return np.log(np.clip(values, 1e-300, None))


def _index_of(trial, outcome, prior) -> int:
    names = [p.name for p in trial.priors_for(outcome)]
    return names.index(prior.name) if prior.name in names else len(names)


# ---------------------------------------------------------------------------------------------
# 6. Power-scaling sensitivity and 7. MCMC diagnostics (ArviZ 1.x plots)
# ---------------------------------------------------------------------------------------------


def _arviz_labeller(trial, prior=None):
    from arviz_base.labels import MapLabeller

    names = {
        "p_control": f"P(event), {trial.control_name}",
        "p_treatment": f"P(event), {trial.treatment_name}",
        "risk_difference": f"Risk difference, {trial.treatment_name} minus {trial.control_name}",
        "odds_ratio": "Odds ratio",
        "risk_ratio": "Risk ratio",
        "log_or": "Log odds ratio",
        "log_odds_ratio": f"Log odds ratio, {trial.treatment_name} vs {trial.control_name}",
        "log_rr": "Log risk ratio",
        "rd": "Risk difference (parameter)",
    }
    return MapLabeller(var_name_map=names, coord_map={"component_group": {
        "prior": "prior power-scaled", "likelihood": "likelihood power-scaled"}})


def _detach(fig):
    """Unregister an ArviZ (pyplot-created) figure from pyplot so nothing global holds it."""
    import matplotlib.pyplot as plt

    plt.close(fig)
    return fig


PSENSE_PLOT_ALPHAS = (0.8, 1.25)
"""Powers at which the power-scaled posteriors are drawn: far enough from 1 to be seen. The
sensitivity values (titles, tables) are ArviZ's, computed at 0.99 and 1.01."""


def plot_psense(trial, outcome, result: Mapping[str, Any], prior,
                var_names: Sequence[str] = ("risk_difference", "log_odds_ratio")):
    """Power-scaling sensitivity of the posterior to the prior and to the likelihood.

    ArviZ ``plot_psense_dist``: the posterior re-weighted as if the prior (left) or the
    likelihood (right) were raised to the power 0.8 or 1.25 (Pareto-smoothed importance
    sampling). Curves that move with the prior but not with the likelihood signal a prior that
    dominates the data. The DataTree gets ``log_prior`` and ``log_likelihood`` groups from
    :func:`lnbayes.analyses.sensitivity.with_log_densities` when it lacks them. The sensitivity
    values in the panel titles are those the analysis stored (``result["power_scaling"]``).

    A constant prior (Beta(1, 1) on both arms) cannot be power-scaled (every weight is equal):
    this function refuses it (the appendix says so once, not every prior's figure).

    References
    ----------
    Kallioinen N, Paananen T, Buerkner P-C, Vehtari A. Detecting and diagnosing prior and
    likelihood sensitivity with power-scaling. Stat Comput 2024;34:57.
    doi:10.1007/s11222-023-10366-5

    Returns
    -------
    matplotlib.figure.Figure
    """
    import arviz as az

    from lnbayes.analyses import sensitivity

    if sensitivity.prior_is_constant(prior):
        raise ValueError(f"prior {prior.name!r} is constant: power-scaling it is undefined")
    tree = sensitivity.with_log_densities(result["datatree"], prior, outcome)
    post = tree["posterior"].to_dataset()
    if "log_odds_ratio" in var_names and "log_odds_ratio" not in post:
        tree["posterior"] = tree["posterior"].to_dataset().assign(
            log_odds_ratio=np.log(post["odds_ratio"]))
    stored = result["power_scaling"]["variables"]  # computed by the analysis, not here
    n = len(var_names)
    with house_style():
        pc = az.plot_psense_dist(
            tree, var_names=list(var_names), labeller=_arviz_labeller(trial),
            point_estimate="median", ci_kind="eti", ci_prob=0.95, alphas=PSENSE_PLOT_ALPHAS,
            figure_kwargs={"figsize": (DOUBLE_COLUMN, 1.1 + 1.5 * n)},
        )
        fig = _detach(pc.get_viz("figure"))
        _tidy_arviz_figure(fig, var_names)
        for legend in fig.legends:
            legend.set_title("Power \u03b1")
        names = _arviz_labeller(trial).var_name_map
        for ax in fig.axes:
            title = ax.get_title()
            for var in var_names:
                label = names.get(var, var)
                for group in ("prior", "likelihood"):
                    if title == f"{label}, {group} power-scaled":
                        value = float(stored[var][group])
                        ax.set_title(f"{group.capitalize()} power-scaled: sensitivity "
                                     f"{value:.3f}", fontsize=7.5)
                        ax.set_xlabel(label, fontsize=7.5)
        fig.suptitle(f"Power-scaling sensitivity: {prior.label or prior.name} prior, "
                     f"{outcome.label}", fontsize=8, x=0.01, ha="left")
        note = ("Posterior re-weighted as if the prior (left) or the likelihood (right) were "
                "raised to the power \u03b1 = 0.8 or 1.25; bars: median and 95% interval.\n"
                "Sensitivity: the power-scaling diagnostic of Kallioinen et al. (2024), the "
                "cumulative Jensen-Shannon distance per unit log \u03b1 at \u03b1 = 0.99 and 1.01; "
                "0.05 or more flags sensitivity.")
        _footnote(fig, note)
    return fig


def _tidy_arviz_figure(fig, var_names=()) -> None:
    """House touches on an ArviZ figure: plain-number odds-ratio axes, layout."""
    fig.set_layout_engine("constrained")
    for ax in fig.axes:
        ax.tick_params(labelsize=7)
        title = ax.get_title()
        if title:
            ax.set_title(title.replace("\n", ", "), fontsize=7.5)


def _hypergeometric_cdf_table(population: int, draws: int, successes: np.ndarray) -> np.ndarray:
    """Row k: arviz-stats's hypergeometric CDF table for ``successes[k]``, padded with 1.

    The values are those of ``arviz_stats.ecdf_utils._build_hypergeom_lookup_table`` (the same
    function computes them), laid out as one matrix so that a lookup is one indexing operation.
    """
    from arviz_stats import ecdf_utils

    width = min(draws, population) + 1
    table = np.ones((len(successes), width))
    for k, s in enumerate(successes.tolist()):
        row = ecdf_utils._build_hypergeom_lookup_table(population, draws, s)
        table[k, :len(row)] = [row[x] for x in range(len(row))]
    return table


def _vectorised_hypergeometric_cdf_lookup(x_val, population, draws, successes):
    """Drop-in for ``arviz_stats.ecdf_utils._hypergeometric_cdf_lookup`` with equal values.

    arviz-stats 1.3 looks each element up through ``np.vectorize`` of a Python function: 48,000
    calls over 36 million elements for one report's rank plots, 5 to 8 s per plot. This version
    takes the same tables from arviz-stats and indexes them at once (about 1 s per plot).
    """
    x, s = np.broadcast_arrays(np.asarray(x_val), np.asarray(successes))
    if x.ndim != 1 or s.ndim != 1 or np.ndim(population) or np.ndim(draws):
        from arviz_stats import ecdf_utils

        return _ORIGINAL_LOOKUP.get("f", ecdf_utils._hypergeometric_cdf_lookup)(
            x_val, population, draws, successes)
    # arviz-stats passes the same ``successes`` array in every call of one simulation: its
    # distinct values are found once (the array itself is kept, so its identity stays valid)
    memo = _LOOKUP_ROWS.get("last")
    if memo is not None and memo[0] is successes and memo[2].shape == s.shape:
        unique, where = memo[1], memo[2]
    else:
        unique, where = np.unique(s, return_inverse=True)
        _LOOKUP_ROWS["last"] = (successes, unique, where)
    key = (int(population), int(draws), unique.tobytes())
    table = _LOOKUP_TABLES.get(key)
    if table is None:
        _LOOKUP_TABLES.clear()  # one (population, draws, successes) per plot: keep the last
        # column j holds the lookup of x = j - 1: 0 for x < 0 (column 0), the table's value for
        # 0 <= x < top, and 1 from x = top on (arviz-stats's rules), so that the lookup is one
        # indexing operation with x + 1 clipped to the columns
        inner = _hypergeometric_cdf_table(int(population), int(draws), unique)
        table = np.zeros((inner.shape[0], inner.shape[1] + 1))
        table[:, 1:] = inner
        top = np.minimum(np.minimum(int(draws), unique), int(population))
        table[np.arange(table.shape[1])[None, :] > top[:, None]] = 1.0
        _LOOKUP_TABLES[key] = table
    return table[where, np.clip(x + 1, 0, table.shape[1] - 1)]


_LOOKUP_TABLES: dict[tuple, np.ndarray] = {}
_LOOKUP_ROWS: dict[str, tuple] = {}
_ORIGINAL_LOOKUP: dict[str, Any] = {}


_ENVELOPES: dict[tuple, tuple] = {}


def _remembered_ecdf_pit(original):
    """arviz-stats's ``ecdf_pit`` remembered across rank plots.

    ``plot_rank`` asks it for the envelope of ``linspace(0, 1, n)`` with its default generator
    (``default_rng(214)``, made afresh in each call), so the envelope depends only on the
    number of (thinned) draws, the chains, the probability and the simulations: priors whose
    draws thin to the same number share one simulation, with the same numbers.
    """
    def ecdf_pit(vals, ci_prob, n_simulations, n_chains=1, rng=None):
        vals = np.asarray(vals)
        if rng is not None:
            return original(vals, ci_prob, n_simulations, n_chains=n_chains, rng=rng)
        key = (vals.dtype.str, vals.shape, vals.tobytes(), float(ci_prob), int(n_simulations),
               int(n_chains))
        if key not in _ENVELOPES:
            if len(_ENVELOPES) >= 8:
                _ENVELOPES.clear()
            _ENVELOPES[key] = _stored_envelope(original, vals, ci_prob, n_simulations, n_chains)
        return tuple(np.array(a, copy=True) for a in _ENVELOPES[key])

    return ecdf_pit


def _stored_envelope(original, vals, ci_prob, n_simulations, n_chains) -> tuple:
    """arviz-stats's envelope from the record cache (folder ``rank_envelope``), or simulated
    and stored: with its fixed generator it is a pure function of the values, the probability,
    the simulations, the chains and the arviz-stats version, and a second report (or another
    prior whose draws thin differently) reads it back exactly instead of ~1 s of simulation."""
    import hashlib

    import arviz_stats

    from lnbayes.io import record_cache

    spec = {"algorithm": "arviz_stats.ecdf_utils.ecdf_pit, default_rng(214)",
            "arviz_stats": arviz_stats.__version__, "dtype": vals.dtype.str,
            "shape": list(vals.shape), "values": hashlib.sha256(vals.tobytes()).hexdigest(),
            "ci_prob": float(ci_prob), "n_simulations": int(n_simulations),
            "n_chains": int(n_chains)}
    stored = record_cache.cached("rank_envelope", spec, lambda: list(
        original(vals, ci_prob, n_simulations, n_chains=n_chains)))
    return tuple(np.asarray(a) for a in stored)


def _fast_rank_envelope():
    """Context manager: arviz-stats's envelope simulation with the vectorised lookup."""
    from contextlib import contextmanager

    from arviz_plots.plots import rank_plot
    from arviz_stats import ecdf_utils

    @contextmanager
    def patched():
        original = ecdf_utils._hypergeometric_cdf_lookup
        original_pit = rank_plot.ecdf_pit
        _ORIGINAL_LOOKUP["f"] = original
        ecdf_utils._hypergeometric_cdf_lookup = _vectorised_hypergeometric_cdf_lookup
        rank_plot.ecdf_pit = _remembered_ecdf_pit(original_pit)
        try:
            yield
        finally:
            ecdf_utils._hypergeometric_cdf_lookup = original
            rank_plot.ecdf_pit = original_pit
            _ORIGINAL_LOOKUP.clear()
            _LOOKUP_TABLES.clear()
            _LOOKUP_ROWS.clear()

    return patched()


def plot_rank(trial, outcome, result: Mapping[str, Any], prior):
    """MCMC rank plots (ArviZ ``plot_rank``) of the sampled parameters, for the supplement.

    Each line is the difference between a chain's empirical CDF of fractional ranks and the
    uniform; chains that mix well stay inside the simultaneous band.

    References
    ----------
    Vehtari A, Gelman A, Simpson D, Carpenter B, Buerkner P-C. Rank-normalization, folding, and
    localization: an improved R-hat for assessing convergence of MCMC. Bayesian Anal
    2021;16:667-718. doi:10.1214/20-BA1221

    Returns
    -------
    matplotlib.figure.Figure
    """
    import arviz as az

    post = result["datatree"]["posterior"]
    if prior.family == "arm":
        var_names = ["p_control", "p_treatment"]
    else:
        var_names = ["p_control", prior.scale]
    var_names = [v for v in var_names if v in post]
    with house_style(), _fast_rank_envelope():
        pc = az.plot_rank(
            result["datatree"], var_names=var_names, labeller=_arviz_labeller(trial),
            method="envelope", envelope_prob=0.95,
            figure_kwargs={"figsize": (DOUBLE_COLUMN, 2.3)},
        )
        fig = _detach(pc.get_viz("figure"))
        _tidy_arviz_figure(fig)
        n_chains = post.sizes.get("chain", 0)
        n_draws = post.sizes.get("draw", 0)
        diag = result.get("diagnostics") or {}
        numbers = ""
        if diag.get("max_r_hat") is not None:
            numbers = (f"; max R-hat {diag['max_r_hat']:.3f}, min bulk ESS "
                       f"{diag['min_ess_bulk']:.0f}, divergences {diag.get('divergences', 0)}")
        fig.suptitle(f"Rank plots: {prior.label or prior.name} prior, {outcome.label}\n"
                     f"{n_chains} chains x {n_draws} draws{numbers}", fontsize=8,
                     x=0.01, ha="left")
        _footnote(fig, "Each line: one chain's rank ECDF minus the uniform (draws thinned by "
                      "ESS). Grey: 95% simultaneous envelope for well-mixed chains.")
    return fig
