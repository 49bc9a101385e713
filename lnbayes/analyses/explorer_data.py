"""What the interactive explorer shows: exact results on a grid of readers' priors.

``lnbayes explore`` (and ``lnbayes report``) write one self-contained HTML page
(:mod:`lnbayes.outputs.explorer`) in which a reader sets the centre and sd of a Normal prior on
the effect and sees the posterior. The page computes nothing: every number it shows is looked
up in, or interpolated (bilinearly) between, the nodes of the grids computed here with
lnbayes's exact engines. For each outcome, each control-arm prior the trial file uses and each
effect scale (log OR always; log RR and RD where the outcome's priors use them):

* the **probability grid** (:data:`PROB_CENTRES` x :data:`PROB_SDS` nodes, sd log-spaced):
  P(benefit) and P(beyond each threshold of :func:`threshold_set`) from the exact sweep engine
  (:class:`lnbayes.engines.prior_grid.EffectSweep`; priors it flags fall back to
  :func:`lnbayes.engines.exact.posterior`);
* the **estimate grid** (:data:`EST_CENTRES` x :data:`EST_SDS` nodes, sd spaced evenly in
  sqrt(sd), where the posterior quantiles are nearly linear): posterior median and 95% interval
  of RD, OR and RR (ratios interpolated on the log scale) and the posterior CDF of the effect,
  for all the centres of one sd at once, from
  :func:`lnbayes.engines.prior_grid.effect_estimates` (one lattice per sd reweighted by each
  prior; priors whose truncation normaliser underflows fall back to
  :func:`lnbayes.engines.exact.posterior`), and the prior and posterior density of the effect
  at each node (drawn at the nearest node): each CDF differentiated on the drawn grid, the prior
  in closed form on log OR and from :func:`lnbayes.engines.prior_grid.truncated_prior_cdf` on
  log RR and RD;
* the **tipping points**: at each sd of the probability grid, the least enthusiastic centre at
  which P(benefit) reaches each of :data:`LEVELS` (root-finding on the exact sweep,
  :func:`lnbayes.engines.prior_grid.tipping_centre`);
* the trial file's **named priors** and their exact results, for comparison.

Resolution. Linear interpolation between the nodes is within 0.005 of the exact value for
every probability, for the RD quantiles, and for the OR and RR quantiles on the log scale
(``tests/analyses/test_explorer_data.py`` checks 200 random priors against the exact engine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lnbayes.model import dists, effects
from lnbayes.model.spec import BetaPrior, NormalPrior, Prior, Trial

PROB_CENTRES = 201
"""Centres of the probability grid (evenly spaced)."""
PROB_SDS = 40
"""Prior sds of the probability grid (evenly spaced in log sd)."""
EST_CENTRES = 25
"""Centres of the estimate grid (evenly spaced)."""
EST_SDS = 36
"""Prior sds of the estimate grid (evenly spaced in sqrt(sd))."""
DENSITY_POINTS = 121
"""Points of each density curve."""
LEVELS = (0.5, 0.8, 0.9, 0.95)
"""P(benefit) levels of the tipping points."""
TOLERANCE = 0.005
"""Interpolation between nodes is within this of the exact value (tested)."""


@dataclass(frozen=True)
class ScaleRange:
    """The reader's range of prior centres and sds on one effect scale, and the density axis."""

    centre: tuple[float, float]
    sd: tuple[float, float]
    density: tuple[float, float]


RANGES = {
    "log_or": ScaleRange((-2.5, 2.5), (0.1, 2.5), (-4.0, 4.0)),
    "log_rr": ScaleRange((-1.5, 1.5), (0.05, 1.5), (-2.5, 2.5)),
    "rd": ScaleRange((-0.5, 0.5), (0.02, 0.5), (-1.0, 1.0)),
}
"""Log OR -2.5 to 2.5 is an odds ratio of 0.08 to 12; sd 0.1 to 2.5 spans a near-certain prior
to one vaguer than the weakly informative prior (sd 1.5)."""

ESTIMATE_KEYS = ("rd_median", "rd_lower", "rd_upper", "log_or_median", "log_or_lower",
                 "log_or_upper", "log_rr_median", "log_rr_lower", "log_rr_upper")
_EST_MEASURES = (("rd", "risk_difference"), ("log_or", "odds_ratio"), ("log_rr", "risk_ratio"))
_QUANTILE_KEYS = ("median", "lower", "upper")


def axes(scale: str) -> dict[str, dict[str, Any]]:
    """The node axes of the probability and estimate grids on ``scale``.

    Each axis is ``{"values": [...], "transform": "linear" | "log" | "sqrt"}``: interpolation
    is linear in the transformed value.
    """
    r = RANGES[scale]
    return {
        "prob_centre": {"values": np.linspace(*r.centre, PROB_CENTRES), "transform": "linear"},
        "prob_sd": {"values": np.exp(np.linspace(*np.log(r.sd), PROB_SDS)), "transform": "log"},
        "est_centre": {"values": np.linspace(*r.centre, EST_CENTRES), "transform": "linear"},
        "est_sd": {"values": np.linspace(*np.sqrt(r.sd), EST_SDS) ** 2, "transform": "sqrt"},
    }


_TRANSFORMS = {"linear": lambda v: v, "log": np.log, "sqrt": np.sqrt}


def _locate(axis: dict, v: float) -> tuple[int, float]:
    t = _TRANSFORMS[axis["transform"]]
    nodes = t(np.asarray(axis["values"], float))
    x = float(np.clip(t(v), nodes[0], nodes[-1]))
    i = int(np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, len(nodes) - 2))
    return i, (x - nodes[i]) / (nodes[i + 1] - nodes[i])


def interpolate(centre_axis: dict, sd_axis: dict, table, centre: float, sd: float) -> float:
    """Bilinear interpolation of ``table`` (sds x centres) at one prior, as the page does it.

    Outside the grid the prior is clamped to its edge (the page's sliders stay inside).
    """
    i, fc = _locate(centre_axis, centre)
    j, fs = _locate(sd_axis, sd)
    t = np.asarray(table, float)
    return float(t[j, i] * (1 - fc) * (1 - fs) + t[j, i + 1] * fc * (1 - fs)
                 + t[j + 1, i] * (1 - fc) * fs + t[j + 1, i + 1] * fc * fs)


# ---------------------------------------------------------------------------------------------
# What the reader chooses among
# ---------------------------------------------------------------------------------------------


def control_priors(trial: Trial, outcome) -> list[dict[str, Any]]:
    """The distinct control-arm priors of the priors that apply to ``outcome`` (Beta(1, 1) when
    none does), each with the names of the priors that use it."""
    out: list[dict[str, Any]] = []
    for prior in trial.priors_for(outcome):
        for entry in out:
            if entry["prior"] == prior.control:
                entry["used_by"].append(prior.name)
                break
        else:
            out.append({"key": f"c{len(out)}", "prior": prior.control, "used_by": [prior.name]})
    if not out:
        out.append({"key": "c0", "prior": BetaPrior.single(1, 1), "used_by": []})
    for entry in out:
        names = entry["used_by"]
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        entry["label"] = entry["prior"].describe() + (
            f" (as in {', '.join(names[:3])}{more})" if names else "")
    return out


def scales_for(trial: Trial, outcome) -> list[str]:
    """Log OR, then the other effect scales that the outcome's effect-level priors use."""
    used = {p.scale for p in trial.priors_for(outcome) if p.family == "effect"}
    return ["log_or"] + [s for s in ("log_rr", "rd") if s in used]


def threshold_set(outcome) -> list[dict[str, Any]]:
    """The thresholds the reader chooses among: the outcome's own, then RD 0.05, 0.10 and 0.20
    and OR 1.5 and 2 (in the direction of benefit: negative RD, OR below 1, when lower is
    better)."""
    lower = outcome.lower_is_better
    items = [(t.scale, float(t.value), True) for t in outcome.thresholds]
    for scale, values in (("rd", (0.05, 0.10, 0.20)), ("or", (1.5, 2.0))):
        for v in values:
            value = (-v if scale == "rd" else 1 / v) if lower else v
            items.append((scale, float(value), False))
    out: list[dict[str, Any]] = []
    for scale, value, own in items:
        if any(t["scale"] == scale and abs(t["value"] - value) < 1e-12 for t in out):
            continue
        sign = "<" if lower else ">"
        name = {"rd": "RD", "or": "OR", "rr": "RR"}[scale]
        text = f"{value:+.2f}" if scale == "rd" else f"{value:.3g}"
        out.append({"scale": scale, "value": value, "own": own,
                    "label": f"{name} {sign} {text}" + (" (trial file)" if own else "")})
    return out


# ---------------------------------------------------------------------------------------------
# Exact results on the grids
# ---------------------------------------------------------------------------------------------


def reader_prior(control: BetaPrior, scale: str, centre: float, sd: float) -> Prior:
    """The reader's prior: ``control`` on p_control and Normal(centre, sd^2) on ``scale``."""
    return Prior(name="reader", family="effect", control=control, scale=scale,
                 effect=NormalPrior.single(float(centre), float(sd)), label="Your prior")


def exact_at(control: BetaPrior, scale: str, outcome, centre: float, sd: float,
             thresholds: list[dict[str, Any]]) -> dict[str, float]:
    """Every quantity the page shows, from :func:`lnbayes.engines.exact.posterior` at one
    prior (the reference the interpolation is tested against)."""
    from lnbayes.engines import exact

    post = exact.posterior(reader_prior(control, scale, centre, sd), outcome)
    lower = outcome.lower_is_better
    out = {"p_benefit": post.prob_benefit(lower)}
    for k, t in enumerate(thresholds):
        out[f"p_threshold_{k}"] = post.prob_beyond(effects.MEASURE_OF_SCALE[t["scale"]], t["value"], lower)
    ivs = post.intervals([m for _, m in _EST_MEASURES])
    for key, measure in _EST_MEASURES:
        for q in _QUANTILE_KEYS:
            v = ivs[measure][q]
            out[f"{key}_{q}"] = v if key == "rd" else float(np.log(v))
    return out


def _probability_grid(control: BetaPrior, scale: str, outcome, thresholds, ax) -> dict:
    from lnbayes.engines import exact, prior_grid

    lower = outcome.lower_is_better
    c, s = np.meshgrid(ax["prob_centre"]["values"], ax["prob_sd"]["values"])
    c, s = c.ravel(), s.ravel()
    shape = (PROB_SDS, PROB_CENTRES)

    def sweep(threshold):
        res = prior_grid.EffectSweep(control, scale, outcome, threshold).evaluate(c, s, median=False)
        return res.p_above_zero, res.p_above_threshold, res.ok

    above0, _, ok = sweep(None)
    p_thr = []
    fallback = set(np.flatnonzero(~ok).tolist())
    for t in thresholds:
        _, above_t, ok_t = sweep((effects.MEASURE_OF_SCALE[t["scale"]], t["value"]))
        p_thr.append(above_t.copy())
        fallback |= set(np.flatnonzero(~ok_t).tolist())
    for k in sorted(fallback):  # far outside the feasible range: the per-prior exact engine
        post = exact.posterior(reader_prior(control, scale, c[k], s[k]), outcome)
        above0[k] = post.prob_beyond(effects.MEASURE_OF_EFFECT_SCALE[scale],
                                     effects.NO_EFFECT[effects.MEASURE_OF_EFFECT_SCALE[scale]])
        for t, arr in zip(thresholds, p_thr):
            arr[k] = post.prob_beyond(effects.MEASURE_OF_SCALE[t["scale"]], t["value"])
    p_benefit = 1.0 - above0 if lower else above0
    return {
        "p_benefit": p_benefit.reshape(shape),
        "p_threshold": [(1.0 - a if lower else a).reshape(shape) for a in p_thr],
        "exact_fallbacks": len(fallback),
    }


def _estimate_grid(control: BetaPrior, scale: str, outcome, ax) -> dict:
    from lnbayes.engines import exact, prior_grid

    r = RANGES[scale]
    theta = np.linspace(*r.density, DENSITY_POINTS)
    centres, sds = ax["est_centre"]["values"], ax["est_sd"]["values"]
    measures = [m for _, m in _EST_MEASURES]
    est = {k: np.zeros((EST_SDS, EST_CENTRES)) for k in ESTIMATE_KEYS}
    post_cdf = np.zeros((EST_SDS, EST_CENTRES, DENSITY_POINTS))
    prior_cdf = np.zeros((EST_SDS, EST_CENTRES, DENSITY_POINTS))
    sweep = prior_grid.EffectSweep(control, scale, outcome)
    fallback, prior_fallback = [], []
    for j, sd in enumerate(sds):
        res = prior_grid.effect_estimates(sweep, centres, float(sd), measures, (0.5, 0.025, 0.975), theta)
        for key, m in _EST_MEASURES:
            for level, q in enumerate(_QUANTILE_KEYS):
                v = res.quantiles[m][level]
                est[f"{key}_{q}"][j] = v if key == "rd" else np.log(v)
        post_cdf[j] = res.cdf
        fallback += [(j, i) for i in np.flatnonzero(~res.ok)]
        if scale != "log_or":  # truncated to the feasible effects given p_control
            prior_cdf[j], ok = prior_grid.truncated_prior_cdf(control, scale, centres, float(sd), theta)
            prior_fallback += [(j, i) for i in np.flatnonzero(~ok)]
    if prior_fallback:  # a prior piled up at the feasible edges: the exact posterior given no data
        from lnbayes.analyses.densities import no_data

        empty = no_data(outcome)
        values = theta if scale == "rd" else np.exp(theta)
        measure = effects.MEASURE_OF_EFFECT_SCALE[scale]
        step = exact.ExactPosterior.PRECISE_MAX  # the cut-aware CDF: so many values per call
        for j, i in prior_fallback:
            post = exact.posterior(reader_prior(control, scale, centres[i], sds[j]), empty)
            prior_cdf[j, i] = np.concatenate([post.cdf(measure, values[k:k + step])
                                              for k in range(0, len(values), step)])
    for j, i in fallback:  # a truncation normaliser that underflows: the per-prior exact engine
        post = exact.posterior(reader_prior(control, scale, centres[i], sds[j]), outcome)
        ivs = post.intervals(measures, polish=False)
        for key, m in _EST_MEASURES:
            for q in _QUANTILE_KEYS:
                v = ivs[m][q]
                est[f"{key}_{q}"][j, i] = v if key == "rd" else np.log(v)
        post_cdf[j, i] = post.cdf(effects.MEASURE_OF_EFFECT_SCALE[scale],
                                  theta if scale == "rd" else np.exp(theta))
    # densities per unit of the effect (the log ratio): the CDF differentiated on the drawn grid
    post_density = np.clip(np.gradient(post_cdf, theta, axis=2), 0.0, None)
    if scale == "log_or":  # untruncated: the Normal itself
        prior_density = np.exp(dists.norm_logpdf(theta[None, None, :], centres[None, :, None],
                                                 sds[:, None, None]))
    else:
        prior_density = np.clip(np.gradient(prior_cdf, theta, axis=2), 0.0, None)
    return {"estimates": est, "theta": theta, "prior_density": prior_density,
            "posterior_density": post_density, "estimate_fallbacks": len(fallback),
            "prior_density_fallbacks": len(prior_fallback)}


def _tipping(control: BetaPrior, scale: str, outcome, ax) -> dict:
    from lnbayes.engines import exact, prior_grid

    lower = outcome.lower_is_better
    span = RANGES[scale].centre
    engine = prior_grid.EffectSweep(control, scale, outcome)
    direction = -1 if lower else 1
    out = {}
    for level in LEVELS:
        centres = []
        for sd in ax["prob_sd"]["values"]:
            def p_of(c, sd=float(sd)):
                res = engine.evaluate([c], [sd], span=span, median=False)
                if res.ok[0]:
                    above = float(res.p_above_zero[0])
                else:
                    post = exact.posterior(reader_prior(control, scale, c, sd), outcome)
                    above = 1.0 - post.prob_benefit(True)
                return 1.0 - above if lower else above
            found = prior_grid.tipping_centre(p_of, level, span[0], span[1], direction, xtol=1e-6)
            centres.append(found["centre"] if found["status"] == "found" else
                           (None if found["status"] == "not_reached" else "reached"))
        out[str(level)] = centres
    return out


ALGORITHM = "explorer-3"
"""Version of the grids' computation, part of their cache key: change it whenever a change of
code changes a number in them (explorer-2: unpolished quantiles on the estimate grid;
explorer-3: the estimate grid from the vectorised lattice engine, prior_grid.effect_estimates)."""


def table(control: BetaPrior, scale: str, outcome, thresholds) -> dict[str, Any]:
    """Every grid of one outcome, control-arm prior and effect scale.

    A pure function of the control prior, the scale, the counts, the direction of benefit, the
    thresholds, the grids' settings and :data:`ALGORITHM`, so it is kept in the record cache
    (:mod:`lnbayes.io.record_cache`, folder ``explorer``): one table costs a few seconds of
    lattice sweeps, and a report run again on the same trial reads it back exactly.
    """
    from lnbayes.io import record_cache

    spec = {"algorithm": ALGORITHM, "control": control.as_dict(), "scale": scale,
            "counts": [outcome.treatment_events, outcome.treatment_n, outcome.control_events,
                       outcome.control_n], "lower_is_better": bool(outcome.lower_is_better),
            "thresholds": [[t["scale"], t["value"]] for t in thresholds],
            "grids": [PROB_CENTRES, PROB_SDS, EST_CENTRES, EST_SDS, DENSITY_POINTS, list(LEVELS)],
            "range": [list(RANGES[scale].centre), list(RANGES[scale].sd), list(RANGES[scale].density)]}

    def compute() -> dict[str, Any]:
        ax = axes(scale)
        return {"axes": ax, **_probability_grid(control, scale, outcome, thresholds, ax),
                **_estimate_grid(control, scale, outcome, ax),
                "tipping": _tipping(control, scale, outcome, ax)}

    return record_cache.cached("explorer", spec, compute)


def named_results(trial: Trial, outcome, thresholds, controls) -> list[dict[str, Any]]:
    """The exact results of the trial file's priors that apply to ``outcome``."""
    from lnbayes.engines import exact

    lower = outcome.lower_is_better
    rows = []
    for prior in trial.priors_for(outcome):
        post = exact.posterior(prior, outcome)
        ivs = post.intervals([m for _, m in _EST_MEASURES])
        single = prior.family == "effect" and not prior.effect.is_mixture
        rows.append({
            "name": prior.name, "label": prior.label or prior.name, "family": prior.family,
            "scale": prior.scale, "description": prior.describe(),
            "control_key": next(c["key"] for c in controls if c["prior"] == prior.control),
            "centre": prior.effect.means[0] if single else None,
            "sd": prior.effect.sds[0] if single else None,
            "p_benefit": post.prob_benefit(lower),
            "p_threshold": [post.prob_beyond(effects.MEASURE_OF_SCALE[t["scale"]], t["value"], lower)
                            for t in thresholds],
            "estimates": {key: {q: ivs[m][q] for q in _QUANTILE_KEYS}
                          for key, m in (("rd", "risk_difference"), ("or", "odds_ratio"),
                                         ("rr", "risk_ratio"))},
        })
    return rows


def hoped_for(trial: Trial, outcome) -> float | None:
    """The hoped-for odds ratio of the design, for the outcome it is about (else None)."""
    design = trial.design
    if design is None or design.hoped_for_or is None:
        return None
    target = design.outcome or trial.primary_outcome.name
    return float(design.hoped_for_or) if outcome.name == target else None


def explorer_data(trial: Trial, outcomes: list[str] | None = None) -> dict[str, Any]:
    """Everything the explorer page shows, for every outcome of ``trial`` (or ``outcomes``)."""
    out_rows = []
    tables = {}
    for name in outcomes or list(trial.outcomes):
        outcome = trial.outcome(name)
        thresholds = threshold_set(outcome)
        controls = control_priors(trial, outcome)
        scales = scales_for(trial, outcome)
        tables.update(outcome_tables(trial, outcome))
        out_rows.append({
            "name": outcome.name, "label": outcome.label or outcome.name,
            "lower_is_better": outcome.lower_is_better,
            "counts": {"treatment": [outcome.treatment_events, outcome.treatment_n],
                       "control": [outcome.control_events, outcome.control_n]},
            "thresholds": thresholds, "scales": scales,
            "controls": [{"key": c["key"], "label": c["label"], "prior": c["prior"].as_dict()} for c in controls],
            "named": named_results(trial, outcome, thresholds, controls),
            "hoped_for_or": hoped_for(trial, outcome),
        })
    from importlib import metadata

    from lnbayes.io import files

    versions = files.versions()
    try:
        versions["bokeh"] = metadata.version("bokeh")
    except metadata.PackageNotFoundError:
        versions["bokeh"] = "not installed"
    return {
        "provenance": {
            "command": files.command_line(), "trial_file": trial.source_path,
            "trial_file_sha256": files.file_sha256(trial.source_path) if trial.source_path else None,
            "seed": trial.seed, "versions": versions,
            "note": "exact engines only: no random numbers are drawn",
        },
        "trial": {"id": trial.id, "title": trial.title, "treatment": trial.treatment_name,
                  "control": trial.control_name, "source": trial.source_path, "seed": trial.seed},
        "outcomes": out_rows,
        "primary": trial.primary_outcome.name if (outcomes is None or trial.primary_outcome.name in outcomes)
        else out_rows[0]["name"],
        "tables": tables,
        "settings": {"prob_grid": [PROB_CENTRES, PROB_SDS], "estimate_grid": [EST_CENTRES, EST_SDS],
                     "density_points": DENSITY_POINTS, "levels": list(LEVELS), "tolerance": TOLERANCE,
                     "ranges": {k: {"centre": v.centre, "sd": v.sd} for k, v in RANGES.items()},
                     "interpolation": "bilinear; centre linear, sd in log(sd) (probabilities) and "
                                      "sqrt(sd) (estimates); ratios on the log scale",
                     "engines": "lnbayes.engines.prior_grid.EffectSweep (probabilities, tipping "
                                "points), lnbayes.engines.prior_grid.effect_estimates (estimates, "
                                "posterior densities), lnbayes.engines.prior_grid."
                                "truncated_prior_cdf (truncated prior densities), "
                                "lnbayes.engines.exact.posterior (named priors, and grid nodes "
                                "the lattice flags)"},
    }


def outcome_tables(trial: Trial, outcome) -> dict[str, dict[str, Any]]:
    """The tables of one outcome, by ``outcome|control key|scale``."""
    thresholds = threshold_set(outcome)
    return {f"{outcome.name}|{c['key']}|{scale}": table(c["prior"], scale, outcome, thresholds)
            for c in control_priors(trial, outcome) for scale in scales_for(trial, outcome)}


def fill_cache(trial: Trial) -> None:
    """Compute every table of :func:`explorer_data` into the record cache (and return nothing):
    what ``lnbayes report`` runs in a second process while it samples and draws
    (:mod:`lnbayes.io.background`)."""
    for name in trial.outcomes:
        outcome_tables(trial, trial.outcome(name))
