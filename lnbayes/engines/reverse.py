"""Reverse questions of a decision rule, answered from its exact decision table (NumPy/SciPy).

Given which datasets [y_c, y_t] declare benefit (:func:`lnbayes.engines.criteria.declare_table`
or :func:`lnbayes.engines.enumeration.declare_table`):

- :func:`needed_count`: with the control count held, the least extreme treatment count that
  declares benefit (the data that would have been needed), with its observed RD and OR;
- :func:`minimal_detectable_rate`: the true treatment rate at which P(declare benefit) reaches
  a target power at a given true control rate (the minimal detectable effect).

Nothing new is integrated: the first reads the table, the second is the exact binomial sum of
:func:`lnbayes.engines.enumeration.prob_declare` solved for the treatment rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lnbayes.engines import enumeration
from lnbayes.numerics.roots import monotone_root


def _monotone_rows(declare: np.ndarray, lower_is_better: bool) -> bool:
    """Whether every row declares on a run of counts that reaches the favourable end (once a
    count declares, every more favourable one does too)."""
    d = declare[:, ::-1] if lower_is_better else declare
    # along y_t (towards the favourable end) a row may switch from False to True, never back
    return bool(np.all(np.diff(d.astype(np.int8), axis=1) >= 0))


def observed_effects(y_t: int, n_t: int, y_c: int, n_c: int) -> dict[str, float | None]:
    """Observed rates, RD and OR of counts (OR None when a cell is 0 or full)."""
    r_t, r_c = y_t / n_t, y_c / n_c
    den = (n_t - y_t) * y_c
    num = y_t * (n_c - y_c)
    return {"rate_treatment": r_t, "rate_control": r_c, "risk_difference": r_t - r_c,
            "odds_ratio": None if den == 0 or num == 0 else num / den}


def needed_count(declare: np.ndarray, y_c: int, lower_is_better: bool = False) -> dict[str, Any]:
    """With y_c control events held: the least extreme treatment count declaring benefit.

    "Least extreme" is the smallest count when higher is better (the largest when lower is
    better). ``treatment_events`` is None when no treatment count declares benefit. ``monotone``
    says whether every more favourable count declares too (as expected of a sensible rule).
    """
    n_c, n_t = declare.shape[0] - 1, declare.shape[1] - 1
    row = declare[y_c]
    hits = np.flatnonzero(row)
    out: dict[str, Any] = {"n_treatment": n_t, "n_control": n_c, "control_events": int(y_c),
                           "treatment_events": None, "monotone": _monotone_rows(declare[[y_c]],
                                                                                lower_is_better)}
    if hits.size == 0:
        return out
    y_t = int(hits[-1] if lower_is_better else hits[0])
    out["treatment_events"] = y_t
    out.update(observed_effects(y_t, n_t, y_c, n_c))
    return out


def minimal_detectable_rate(declare: np.ndarray, p_control: float, target: float = 0.8,
                            lower_is_better: bool = False) -> dict[str, Any]:
    """The true treatment rate at which P(declare benefit) = ``target`` at true ``p_control``.

    P(declare) is non-decreasing in the treatment rate (towards benefit) when every row of the
    table is monotone (``monotone``), so the crossing is unique and found by Brent's method on
    the exact binomial sum (to 1e-10). ``p_treatment`` is None when even a certain treatment
    response (rate 1, or 0 when lower is better) leaves the power below the target;
    ``max_power`` is the power there.
    """
    end = 0.0 if lower_is_better else 1.0

    def power(p_t: float) -> float:
        return float(enumeration.prob_declare(declare, p_control, p_t))

    best = power(end)
    out: dict[str, Any] = {"p_control": float(p_control), "target_power": float(target),
                           "p_treatment": None, "risk_difference": None, "odds_ratio": None,
                           "max_power": best,
                           "monotone": _monotone_rows(declare, lower_is_better)}
    if best < target or power(p_control) >= target:
        return out
    lo, hi = (end, p_control) if lower_is_better else (p_control, end)
    p_t = monotone_root(lambda x: power(x) - target, lo, hi, increasing=not lower_is_better,
                        xtol=1e-10, what="the minimal detectable treatment rate")
    out["p_treatment"] = p_t
    out["risk_difference"] = p_t - p_control
    if 0.0 < p_t < 1.0 and 0.0 < p_control < 1.0:
        out["odds_ratio"] = p_t * (1 - p_control) / (p_control * (1 - p_t))
    return out
