"""What the figures of one outcome draw: density curves of every prior, and the prior sweep.

The figures (:mod:`lnbayes.outputs.figures`) compute nothing; :func:`figure_data` computes what
they draw. The sweep is the exact sweep of ``lnbayes sweep`` (:func:`lnbayes.analyses.sweep.run_sweep`)
on the report's grid, so ``lnbayes plot`` and ``lnbayes report`` draw the same heatmap.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from lnbayes.analyses import densities, sample_estimates
from lnbayes.model.spec import Trial

EFFECT_MEASURES = ("risk_difference", "odds_ratio")
ARM_MEASURES = ("p_control", "p_treatment")

CURVE_POINTS = 401
"""Points of each density curve across the whole range, and as many across the posterior's own
range (1,601 before: 40 s of a report went into curves no figure could tell apart)."""

CURVE_RANGES = {"risk_difference": (-1.0, 1.0), "odds_ratio": (1e-3, 1e3),
                "risk_ratio": (1e-3, 1e3), "p_control": (1e-4, 1 - 1e-4),
                "p_treatment": (1e-4, 1 - 1e-4)}


CURVES_ALGORITHM = "density_curves/2: 1,001 logistic Simpson nodes, curves on CURVE_RANGES"
"""Names the computation of the curves in the record cache's keys: change it whenever
:func:`lnbayes.analyses.densities.density_curves` or the exact engine would draw other curves."""


def curves(trial, outcome, analysis: Mapping[str, Any],
           measures: Sequence[str] = EFFECT_MEASURES + ARM_MEASURES) -> dict[str, dict]:
    """Exact prior and posterior density curves of each prior in ``analysis``, by prior name.

    Each prior's curves are a pure function of the prior's parameters, the counts, the
    measures, the grid settings and :data:`CURVES_ALGORITHM`, and are kept in the record cache
    (:mod:`lnbayes.io.record_cache`, folder ``curves``): a report run again reads them back
    (the same floats) instead of the ~0.3 s per prior of integrals.
    """
    from lnbayes.io import record_cache

    measures = list(measures)

    def one(prior):
        spec = {"algorithm": CURVES_ALGORITHM, "prior": prior.parameters(),
                "counts": [outcome.treatment_events, outcome.treatment_n,
                           outcome.control_events, outcome.control_n],
                "measures": measures, "n": CURVE_POINTS,
                "ranges": {m: list(CURVE_RANGES[m]) for m in measures}}
        return record_cache.cached("curves", spec, lambda: densities.density_curves(
            prior, outcome, measures, ranges=CURVE_RANGES, n=CURVE_POINTS))

    return {r["prior"]: one(trial.priors[r["prior"]]) for r in analysis["results"]}


def sweep_scale(trial: Trial) -> str:
    """The effect scale of the report's sweep: that of most of the primary outcome's
    single-Normal effect priors (log_or when it has none)."""
    scales = [p.scale for p in trial.priors_for(trial.primary_outcome)
              if p.family == "effect" and len(p.effect.means) == 1]
    if not scales:
        return "log_or"
    return max(dict.fromkeys(scales), key=scales.count)


DEFAULT_SWEEP = {"log_or": ((-1.0, 2.5, 36), (0.1, 2.0, 20)),
                 "log_rr": ((-1.0, 1.0, 41), (0.1, 2.0, 20)),
                 "rd": ((-0.5, 0.5, 41), (0.05, 0.5, 10))}
"""The report's sweep grid per scale, (START, STOP, N) of centres and sds, for outcomes where
higher is better; mirrored for outcomes where lower is better, so that most of the grid lies on
the side of benefit."""


def sweep_axes(trial: Trial, scale: str = "log_or"):
    """The report's sweep grid on ``scale``: the defaults (mirrored when lower is better),
    widened to hold every named single-Normal prior on that scale, on the same spacing."""
    from lnbayes.analyses.sweep import GridRange

    (c0, c1, cn), (s0, s1, sn) = DEFAULT_SWEEP[scale]
    if trial.primary_outcome.lower_is_better:
        c0, c1 = -c1, -c0
    named = [p.effect for p in trial.priors_for(trial.primary_outcome)
             if p.family == "effect" and p.scale == scale and len(p.effect.means) == 1]
    step = (c1 - c0) / (cn - 1)
    unit = 0.1 if scale == "rd" else 0.5
    lo = min([c0, *(e.means[0] for e in named)])
    hi = max([c1, *(e.means[0] for e in named)])
    lo, hi = np.floor(round(lo / unit, 9)) * unit, np.ceil(round(hi / unit, 9)) * unit
    if scale == "rd":
        lo, hi = max(lo, -0.9), min(hi, 0.9)
    sd_step = (s1 - s0) / (sn - 1)
    top = max([s1, *(e.sds[0] for e in named)])
    top = round(float(np.ceil(round(top / sd_step, 9)) * sd_step), 10)
    return (GridRange(float(round(lo, 10)), float(round(hi, 10)),
                      int(round((hi - lo) / step)) + 1),
            GridRange(s0, float(top), int(round((top - s0) / sd_step)) + 1))


def figure_data(trial, outcome, analysis: Mapping[str, Any],
                measures: Sequence[str] = EFFECT_MEASURES, sweep: Mapping | None = None,
                include_sweep: bool = True, seed: int | None = None) -> dict[str, Any]:
    """Everything the figures of ``outcome`` draw: ``{"curves", "sweep", "data_only"}``.

    ``sweep``: a sweep already computed (the report's); otherwise, with ``include_sweep``, the
    exact sweep of the primary outcome on the report's grid (:func:`sweep_axes`).
    """
    out: dict[str, Any] = {
        "curves": curves(trial, outcome, analysis, tuple(measures) + ARM_MEASURES),
        "sweep": sweep,
        "data_only": sample_estimates.data_only_estimate(outcome),
    }
    if sweep is None and include_sweep:
        from lnbayes.analyses.sweep import run_sweep

        scale = sweep_scale(trial)
        centres, sds = sweep_axes(trial, scale)
        out["sweep"] = run_sweep(trial, None, scale=scale, centres=centres, sds=sds,
                                 engine="exact", seed=seed, outdir=None)
    return out
