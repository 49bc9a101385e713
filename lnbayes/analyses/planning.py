"""The decision to stop and the design: ``lnbayes predict`` and ``lnbayes design``.

Plain functions returning JSON-ready dicts (the maths is in :mod:`lnbayes.engines.enumeration`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lnbayes.engines import enumeration
from lnbayes.errors import LnbayesError
from lnbayes.io import files
from lnbayes.model.spec import Trial

REPORTED_THRESHOLDS = (0.95, 0.8, 0.5)
"""Thresholds always reported beside the chosen one."""
OC_RATES = tuple(round(0.05 * k, 2) for k in range(1, 20))
"""True rates of the operating-characteristics grid: 0.05, 0.10, ..., 0.95 in both arms."""


def _source(trial: Trial) -> str:
    return trial.source_path or "<inline>"


def default_final(trial: Trial) -> tuple[int, int]:
    """Planned arm sizes from the file's planned enrolment and allocation ratio."""
    if trial.planned_enrolment is None or trial.allocation is None:
        raise LnbayesError(
            f"{_source(trial)}: trial.planned_enrolment: missing; give the final arm sizes with "
            "--final T/C"
        )
    return enumeration.final_counts(trial.planned_enrolment, trial.allocation)


def predict(
    trial: Trial,
    prior_names: list[str] | None = None,
    final: tuple[int, int] | None = None,
    threshold: float = 0.95,
    outcome_name: str | None = None,
) -> dict[str, Any]:
    """Predictive probability of ending with P(benefit) >= ``threshold``, per prior.

    The trial is completed to ``final`` = (n_t, n_c); every completion is enumerated exactly.
    """
    outcome = trial.outcome(outcome_name)
    priors = trial.priors_for(outcome, prior_names)
    final_t, final_c = default_final(trial) if final is None else final
    if final_t < outcome.treatment_n or final_c < outcome.control_n:
        where = ("predict: final arm sizes" if final is not None
                 else f"{_source(trial)}: trial.planned_enrolment")
        given = (f"{final_t}/{final_c}" if final is not None else
                 f"{trial.planned_enrolment} patients at the {trial.allocation[0]}:"
                 f"{trial.allocation[1]} allocation ({final_t}/{final_c})")
        raise LnbayesError(
            f"{where}: {given} is smaller than the data so far "
            f"({outcome.treatment_n}/{outcome.control_n}): nothing is left to predict")
    thresholds = sorted({threshold, *REPORTED_THRESHOLDS}, reverse=True)
    results = []
    for prior in priors:
        start = time.perf_counter()
        pred = enumeration.predictive(
            prior, outcome.treatment_events, outcome.treatment_n, outcome.control_events,
            outcome.control_n, final_t, final_c, outcome.lower_is_better,
        )
        current = enumeration.prob_benefit(
            prior, outcome.treatment_events, outcome.treatment_n, outcome.control_events,
            outcome.control_n, outcome.lower_is_better,
        )
        seconds = time.perf_counter() - start
        completions = [
            {
                "future_treatment_events": int(t), "future_control_events": int(c),
                "final_treatment_events": int(outcome.treatment_events + t),
                "final_control_events": int(outcome.control_events + c),
                "probability": float(pred.prob[i, j]),
                "final_p_benefit": float(pred.final_p_benefit[i, j]),
            }
            for i, c in enumerate(pred.future_c) for j, t in enumerate(pred.future_t)
        ]
        results.append({
            "prior": prior.name,
            "label": prior.label,
            "final": {"treatment": final_t, "control": final_c},
            "threshold": threshold,
            "predictive_probability": pred.success(threshold),
            "by_threshold": [{"threshold": q, "predictive_probability": pred.success(q)}
                             for q in thresholds],
            "current_p_benefit": current,
            "max_final_p_benefit": float(np.max(pred.final_p_benefit)),
            "completions": completions,
            "seconds": seconds,
        })
    return {
        "trial": trial.id,
        "title": trial.title,
        "outcome": outcome.name,
        "better": outcome.better,
        "data": {"treatment": {"events": outcome.treatment_events, "n": outcome.treatment_n},
                 "control": {"events": outcome.control_events, "n": outcome.control_n}},
        "final": {"treatment": final_t, "control": final_c},
        "threshold": threshold,
        "definition": (
            "Predictive probability = sum over every possible outcome of the remaining patients "
            "(future events 0..final - current in each arm) of its posterior predictive "
            "probability given the data so far, times 1 if the completed trial's P(benefit) "
            "(same prior, all data) >= threshold."
        ),
        "results": results,
        "provenance": {"command": files.command_line(), "trial_file": trial.source_path,
                       "versions": files.versions()},
    }


def design(
    trial: Trial,
    prior_name: str | None = None,
    n: tuple[int, int] | None = None,
    threshold: float | None = None,
    control_rate: float | None = None,
    hoped_for_rate: float | None = None,
    outcome_name: str | None = None,
    target_power: float | None = None,
) -> dict[str, Any]:
    """Operating characteristics of "declare benefit if P(benefit) >= threshold".

    By exact enumeration of all outcomes: P(declare) over a grid of true rates, type I error,
    power at the hoped-for effect, and the total sample size for the target power.
    """
    d = trial.design
    outcome = trial.outcome(outcome_name or (d.outcome if d else None))
    design_outcome = trial.outcome(d.outcome) if d is not None else None
    if design_outcome is not None and design_outcome.name != outcome.name:
        d = None  # the file's rates describe another outcome
    prior = _design_prior(trial, outcome, prior_name)
    n_t, n_c = default_final(trial) if n is None else n
    threshold = threshold if threshold is not None else (d.threshold if d else 0.95)
    target = target_power if target_power is not None else (d.target_power if d else 0.8)
    control_rate = control_rate if control_rate is not None else (d.control_rate if d else None)
    if hoped_for_rate is None and d is not None:
        hoped_for_rate = d.hoped_for_rate
    lower = outcome.lower_is_better
    start = time.perf_counter()
    declare = enumeration.declare_table(prior, n_t, n_c, threshold, lower)
    rates = np.array(OC_RATES)
    p_c, p_t = np.meshgrid(rates, rates, indexing="ij")
    grid = enumeration.prob_declare(declare, p_c, p_t)
    oc = [{"p_control": float(a), "p_treatment": float(b), "p_declare_benefit": float(v)}
          for a, b, v in zip(p_c.ravel(), p_t.ravel(), grid.ravel())]
    t1 = enumeration.type_i_error(declare)
    type_i = {"max": t1["max"], "at_rate": t1["at_rate"], "at_control_rate": None,
              "control_rate": control_rate}
    if control_rate is not None:
        at_control = enumeration.prob_declare(declare, control_rate, control_rate)
        type_i["at_control_rate"] = float(at_control)
    power = sample = None
    curve: list[dict[str, float]] = []
    if control_rate is not None and hoped_for_rate is not None:
        power = {
            "p_control": control_rate, "p_treatment": hoped_for_rate,
            "odds_ratio": (hoped_for_rate * (1 - control_rate)
                           / (control_rate * (1 - hoped_for_rate))),
            "power": float(enumeration.prob_declare(declare, control_rate, hoped_for_rate)),
        }
        allocation = trial.allocation or (n_t, n_c)
        sample = enumeration.sample_size(prior, allocation, threshold, control_rate, hoped_for_rate,
                                      target=target, lower_is_better=lower)
        sample["target_power"] = target
        sample["allocation"] = list(allocation)
        curve = _power_curve(prior, allocation, threshold, control_rate, hoped_for_rate, lower,
                             sample)
    seconds = time.perf_counter() - start
    return {
        "trial": trial.id,
        "title": trial.title,
        "outcome": outcome.name,
        "better": outcome.better,
        "prior": prior.name,
        "prior_label": prior.label,
        "n": {"treatment": n_t, "control": n_c},
        "threshold": threshold,
        "rule": f"declare benefit if P(benefit) >= {threshold:g}",
        "method": "exact enumeration of all (n_t + 1) x (n_c + 1) outcomes (no simulation)",
        "operating_characteristics": oc,
        "type_i_error": type_i,
        "power": power,
        "sample_size_80": sample,
        "power_curve": curve,
        "seconds": seconds,
        "provenance": {"command": files.command_line(), "trial_file": trial.source_path,
                       "versions": files.versions()},
    }


def _design_prior(trial: Trial, outcome, prior_name: str | None):
    if prior_name is not None:
        return trial.priors_for(outcome, [prior_name])[0]
    applicable = trial.priors_for(outcome)
    for prior in applicable:
        if prior.name == "flat":
            return prior
    if not applicable:
        raise LnbayesError(f"{_source(trial)}: priors: none applies to outcome {outcome.name}")
    return applicable[0]


def _power_curve(prior, allocation, threshold, p_control, p_treatment, lower, sample,
                 points: int = 16) -> list[dict[str, float]]:
    """Power against total sample size on a regular grid (plus the totals the search met)."""
    top = sample["total"] or sample["max_total_searched"]
    top = int(max(top * 1.3, 30))
    step = max(1, top // points)
    known = {row["total"]: row["power"] for row in sample["evaluated"]}
    for total in range(6, top + 1, step):
        if total not in known:
            known[total] = enumeration.power_at(prior, total, allocation, threshold, p_control,
                                             p_treatment, lower)
    return [{"total": k, "n_treatment": enumeration.arm_sizes(k, allocation)[0],
             "n_control": enumeration.arm_sizes(k, allocation)[1], "power": known[k]}
            for k in sorted(known) if k <= top]
