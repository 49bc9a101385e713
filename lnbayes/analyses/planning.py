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
from lnbayes.model.criteria import rule_text
from lnbayes.model.spec import Trial, is_logit_normal

REPORTED_THRESHOLDS = (0.95, 0.8, 0.5)
"""Thresholds always reported beside the chosen one."""
MEANINGFUL_MAX_COMPLETIONS = 400
"""Largest number of completions whose clinically meaningful success is judged (each costs one
exact posterior, up to ~20 ms for an effect-level prior)."""
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
    design_prior_name: str | None = None,
    meaningful: bool = False,
    criteria=None,
) -> dict[str, Any]:
    """Hybrid predictive probability of ending with P(benefit) >= ``threshold``, per prior.

    The trial is completed to ``final`` = (n_t, n_c); every completion is enumerated exactly. The
    remaining patients are predicted with the *design prior* (``design_prior_name``, default the
    reference prior: the data so far speak for themselves), and each completed trial is judged
    with the *analysis prior* of the row: the hybrid predictive probability (Spiegelhalter,
    Abrams and Myles 2004, section 6.5.3). Where the two priors are the same it is the ordinary
    posterior predictive probability. With ``meaningful``, success is also judged as clinically
    meaningful benefit: P(effect beyond the outcome's first threshold) >= ``threshold``. With
    ``criteria`` (a multi-criterion rule), success is also the rule holding at the end
    (``rule`` in each row): the completed datasets are read off the rule's decision table at the
    final size (:func:`lnbayes.engines.criteria.declare_table`).
    """
    outcome = trial.outcome(outcome_name)
    priors = trial.priors_for(outcome, prior_names)
    design_prior = _design_prior(trial, outcome, design_prior_name)
    for prior in (*priors, design_prior):
        _require_beta_control(trial, prior, "predict")
    final_t, final_c = _final_sizes(trial, outcome, final)
    meaningful_at, meaningful_omitted = _meaningful_setting(outcome, meaningful, final_t, final_c)
    thresholds = sorted({threshold, *REPORTED_THRESHOLDS}, reverse=True)
    args = (outcome.treatment_events, outcome.treatment_n, outcome.control_events,
            outcome.control_n, final_t, final_c, outcome.lower_is_better)
    design_pred = enumeration.predictive(design_prior, *args)
    results = []
    for prior in priors:
        start = time.perf_counter()
        pred = design_pred if prior.name == design_prior.name else enumeration.predictive(prior, *args)
        current = enumeration.prob_benefit(
            prior, outcome.treatment_events, outcome.treatment_n, outcome.control_events,
            outcome.control_n, outcome.lower_is_better,
        )
        final_meaningful = (None if meaningful_at is None else
                            _final_meaningful(prior, outcome, pred, final_t, final_c, meaningful_at))
        rule_success = None
        if criteria:
            rule_success = _rule_success(prior, outcome, pred, final_t, final_c, criteria)
        seconds = time.perf_counter() - start
        result = _predict_row(prior, design_prior, design_pred.prob, pred, (final_t, final_c),
                              threshold, thresholds, current)
        result["completions"] = _completion_rows(outcome, design_pred.prob, pred, thresholds,
                                                 final_meaningful, rule_success)
        result["seconds"] = seconds
        result.update(_rule_and_meaningful(design_pred.prob, pred, thresholds, meaningful_at,
                                           final_meaningful, rule_success))
        results.append(result)
    return {
        "trial": trial.id,
        "title": trial.title,
        "outcome": outcome.name,
        "better": outcome.better,
        "data": {"treatment": {"events": outcome.treatment_events, "n": outcome.treatment_n},
                 "control": {"events": outcome.control_events, "n": outcome.control_n}},
        "final": {"treatment": final_t, "control": final_c},
        "threshold": threshold,
        "design_prior": {"name": design_prior.name, "label": design_prior.label,
                         "role": design_prior.role},
        "meaningful_threshold": (None if meaningful_at is None else
                                 {"scale": meaningful_at.scale, "value": meaningful_at.value}),
        "meaningful_omitted": meaningful_omitted,
        "rule": (None if not criteria else
                 {"rule": rule_text(criteria, outcome.lower_is_better),
                  "criteria": [c.as_dict() for c in criteria]}),
        "definition": _PREDICT_DEFINITION.format(design_prior=design_prior.name),
        "results": results,
        "provenance": {"command": files.command_line(), "trial_file": trial.source_path,
                       "versions": files.versions()},
    }


_PREDICT_DEFINITION = (
    "Hybrid predictive probability = sum over every possible outcome of the remaining "
    "patients (future events 0..final - current in each arm) of its posterior predictive "
    "probability given the data so far under the design prior ({design_prior}), "
    "times 1 if the completed trial's P(benefit) under the analysis prior (the row's "
    "prior, all data) >= threshold. 'same_prior' predicts with the analysis prior too."
)


def _final_sizes(trial: Trial, outcome, final: tuple[int, int] | None) -> tuple[int, int]:
    """The arm sizes the trial is completed to (default: the planned enrolment), checked."""
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
    return final_t, final_c


def _meaningful_setting(outcome, meaningful: bool, final_t: int, final_c: int):
    """(the threshold judged as clinically meaningful or None, why it is omitted or None)."""
    if not meaningful:
        return None, None
    if not outcome.thresholds:
        return None, "the outcome states no clinically meaningful threshold"
    completions_count = (final_t - outcome.treatment_n + 1) * (final_c - outcome.control_n + 1)
    if completions_count > MEANINGFUL_MAX_COMPLETIONS:
        return None, (f"{completions_count:,} completions: more than the "
                      f"{MEANINGFUL_MAX_COMPLETIONS} for which the exact engine judges "
                      "clinically meaningful benefit one completion at a time")
    return outcome.thresholds[0], None


def _predict_row(prior, design_prior, prob, pred, final, threshold, thresholds,
                 current) -> dict[str, Any]:
    """One analysis prior's predictive probabilities: ``prob`` is the design prior's predictive
    distribution of the completions (it predicts), ``pred`` the analysis prior's (it decides)."""
    return {
        "prior": prior.name,
        "label": prior.label,
        "design_prior": design_prior.name,
        "final": {"treatment": final[0], "control": final[1]},
        "threshold": threshold,
        "predictive_probability": _success(prob, pred.final_p_benefit, threshold),
        "by_threshold": [{"threshold": q,
                          "predictive_probability": _success(prob, pred.final_p_benefit, q),
                          "same_prior": pred.success(q)}
                         for q in thresholds],
        "current_p_benefit": current,
        "max_final_p_benefit": float(np.max(pred.final_p_benefit)),
        "success_steps": success_steps(prob, pred.final_p_benefit),
    }


def _rule_and_meaningful(prob, pred, thresholds, meaningful_at, final_meaningful,
                         rule_success) -> dict[str, Any]:
    """A row's success by the multi-criterion rule and as clinically meaningful benefit."""
    result = {}
    if rule_success is not None:
        result["rule"] = {"predictive_probability": float(np.sum(prob[rule_success])),
                          "same_prior": float(np.sum(pred.prob[rule_success])),
                          "reachable": bool(rule_success.any())}
    if final_meaningful is not None:
        result["meaningful"] = {
            "scale": meaningful_at.scale, "value": meaningful_at.value,
            "by_threshold": [{"threshold": q,
                              "predictive_probability": _success(prob, final_meaningful, q)}
                             for q in thresholds],
            "max_final_p_meaningful": float(np.max(final_meaningful)),
        }
    return result


def _completion_rows(outcome, prob, pred, thresholds, final_meaningful,
                     rule_success) -> list[dict[str, Any]]:
    """One row per completion of the trial: its probability and the completed trial's answer."""
    completions = []
    for i, c in enumerate(pred.future_c):
        for j, t in enumerate(pred.future_t):
            row = {
                "future_treatment_events": int(t), "future_control_events": int(c),
                "final_treatment_events": int(outcome.treatment_events + t),
                "final_control_events": int(outcome.control_events + c),
                "probability": float(prob[i, j]),
                "probability_same_prior": float(pred.prob[i, j]),
                "final_p_benefit": float(pred.final_p_benefit[i, j]),
            }
            row["reaches"] = [q for q in thresholds
                              if pred.final_p_benefit[i, j] >= q - enumeration.DECISION_TOL]
            if final_meaningful is not None:
                row["final_p_meaningful"] = float(final_meaningful[i, j])
            if rule_success is not None:
                row["rule_holds"] = bool(rule_success[i, j])
            completions.append(row)
    return completions


def success_steps(prob: np.ndarray, final_p: np.ndarray) -> list[dict[str, float]]:
    """The whole curve q -> P(final P(benefit) >= q): a step function that changes only at the
    completions' final values. One row per distinct final value v (ascending):
    ``{"level": v, "predictive_probability": P(final >= v)}``; below the first it is 1, above
    the last 0."""
    levels = np.unique(final_p)
    # P(final >= v - tol) for every level at once: the completions sorted by final value, and
    # the sums of their probabilities from each level's first completion on (one pass, instead
    # of one sum over all completions per level: 35,000^2 for a trial of 185 patients)
    order = np.argsort(final_p, axis=None, kind="stable")
    finals = final_p.ravel()[order]
    from_here = np.append(np.cumsum(prob.ravel()[order][::-1])[::-1], 0.0)
    first = np.searchsorted(finals, levels - enumeration.DECISION_TOL, side="left")
    return [{"level": float(v), "predictive_probability": float(from_here[i])}
            for v, i in zip(levels, first)]


def _success(prob: np.ndarray, final_p: np.ndarray, threshold: float) -> float:
    """Predictive probability of the completions whose final probability reaches ``threshold``."""
    hit = final_p >= threshold - enumeration.DECISION_TOL
    return float(np.sum(prob[hit]))


def _rule_success(prior, outcome, pred, final_t: int, final_c: int, criteria) -> np.ndarray:
    """Whether the rule holds on every completed trial [future_c, future_t] under ``prior``."""
    from lnbayes.engines import criteria as rules

    declare = rules.declare_table(prior, final_t, final_c, criteria, outcome.lower_is_better)
    y_c, y_t = outcome.control_events, outcome.treatment_events
    return declare[y_c + pred.future_c[:, None], y_t + pred.future_t[None, :]]


def _final_meaningful(prior, outcome, pred, final_t: int, final_c: int, at) -> np.ndarray:
    """P(effect beyond ``at``) of every completed trial under ``prior`` (exact engine)."""
    import dataclasses

    from lnbayes.engines import exact
    from lnbayes.model.effects import MEASURE_OF_SCALE

    out = np.empty(pred.prob.shape)
    for i, c in enumerate(pred.future_c):
        for j, t in enumerate(pred.future_t):
            done = dataclasses.replace(
                outcome, treatment_events=outcome.treatment_events + int(t), treatment_n=final_t,
                control_events=outcome.control_events + int(c), control_n=final_c)
            out[i, j] = exact.posterior(prior, done).prob_beyond(
                MEASURE_OF_SCALE[at.scale], at.value, outcome.lower_is_better)
    return out


def design(
    trial: Trial,
    prior_name: str | None = None,
    n: tuple[int, int] | None = None,
    threshold: float | None = None,
    control_rate: float | None = None,
    hoped_for_rate: float | None = None,
    outcome_name: str | None = None,
    target_power: float | None = None,
    with_reverse: bool = True,
) -> dict[str, Any]:
    """Operating characteristics of "declare benefit if P(benefit) >= threshold".

    By exact enumeration of all outcomes: P(declare) over a grid of true rates, type I error,
    power at the hoped-for effect, and the total sample size for the target power. With
    ``with_reverse``, ``reverse``: the reverse answers of the rule under every prior of the
    outcome (:func:`lnbayes.analyses.reverse.reverse_questions`).
    """
    outcome, prior, (n_t, n_c), threshold, target, control_rate, hoped_for_rate = _design_settings(
        trial, prior_name, n, threshold, control_rate, hoped_for_rate, outcome_name, target_power)
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
        power, sample, curve = _power_and_sample(trial, prior, declare, (n_t, n_c), threshold,
                                                 control_rate, hoped_for_rate, target, lower)
    seconds = time.perf_counter() - start
    reverse_answers = None
    if with_reverse:
        from lnbayes.analyses.reverse import reverse_questions
        from lnbayes.model.criteria import Criterion

        reverse_answers = reverse_questions(trial, outcome, (Criterion(threshold),), None,
                                            control_rate, target)
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
        "reverse": reverse_answers,
        "seconds": seconds,
        "provenance": {"command": files.command_line(), "trial_file": trial.source_path,
                       "versions": files.versions()},
    }


def _design_settings(trial: Trial, prior_name, n, threshold, control_rate, hoped_for_rate,
                     outcome_name, target_power):
    """The design's outcome, prior, arm sizes, threshold, target power and rates: each as given,
    else from the file's ``[design]`` table (when it describes this outcome), else the default."""
    d = trial.design
    outcome = trial.outcome(outcome_name or (d.outcome if d else None))
    design_outcome = trial.outcome(d.outcome) if d is not None else None
    if design_outcome is not None and design_outcome.name != outcome.name:
        d = None  # the file's rates describe another outcome
    prior = _design_prior(trial, outcome, prior_name)
    _require_beta_control(trial, prior, "design")
    sizes = default_final(trial) if n is None else n
    threshold = threshold if threshold is not None else (d.threshold if d else 0.95)
    target = target_power if target_power is not None else (d.target_power if d else 0.8)
    control_rate = control_rate if control_rate is not None else (d.control_rate if d else None)
    if hoped_for_rate is None and d is not None:
        hoped_for_rate = d.hoped_for_rate
    return outcome, prior, sizes, threshold, target, control_rate, hoped_for_rate


def _power_and_sample(trial: Trial, prior, declare, sizes, threshold, control_rate,
                      hoped_for_rate, target, lower):
    """(power at the hoped-for rate, the sample size for ``target`` power, the power curve)."""
    power = {
        "p_control": control_rate, "p_treatment": hoped_for_rate,
        "odds_ratio": (hoped_for_rate * (1 - control_rate)
                       / (control_rate * (1 - hoped_for_rate))),
        "power": float(enumeration.prob_declare(declare, control_rate, hoped_for_rate)),
    }
    allocation = trial.allocation or sizes
    sample = enumeration.sample_size(prior, allocation, threshold, control_rate, hoped_for_rate,
                                     target=target, lower_is_better=lower)
    sample["target_power"] = target
    sample["allocation"] = list(allocation)
    curve = _power_curve(prior, allocation, threshold, control_rate, hoped_for_rate, lower, sample)
    return power, sample, curve


def _require_beta_control(trial: Trial, prior, command: str) -> None:
    """Refuse a Normal prior on logit(p_control): enumerating every dataset relies on the Beta
    control arm's conjugate update (no approximation is substituted silently)."""
    if is_logit_normal(prior.control):
        raise LnbayesError(
            f"{_source(trial)}: priors.{prior.name}.control: {command} enumerates datasets with "
            "a Beta control prior's conjugate update; this prior is Normal on logit(p_control) "
            "(choose another prior with --prior, or state the control arm as a Beta)")


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
    """Power of "P(benefit) >= threshold" against total sample size (:func:`power_curve`)."""
    return power_curve(lambda total: enumeration.power_at(prior, total, allocation, threshold,
                                                          p_control, p_treatment, lower),
                       allocation, sample, points)


def power_curve(power_at_total, allocation, sample, points: int = 16) -> list[dict[str, float]]:
    """Power against total sample size on a regular grid (plus the totals the sample-size
    search met), for any rule's power function of the total."""
    top = sample["total"] or sample["max_total_searched"]
    top = int(max(top * 1.3, 30))
    step = max(1, top // points)
    known = {row["total"]: row["power"] for row in sample["evaluated"]}
    for total in range(6, top + 1, step):
        if total not in known:
            known[total] = power_at_total(total)
    return [{"total": k, "n_treatment": enumeration.arm_sizes(k, allocation)[0],
             "n_control": enumeration.arm_sizes(k, allocation)[1], "power": known[k]}
            for k in sorted(known) if k <= top]
