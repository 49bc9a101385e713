"""Multi-criterion decision rules of a trial file: does each criterion hold (``analyze
--criterion``), and the rule's exact operating characteristics (``design --criterion``).

Plain functions returning JSON-ready dicts; the maths is in :mod:`lnbayes.engines.criteria`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lnbayes.analyses import planning
from lnbayes.engines import criteria as rules
from lnbayes.engines import enumeration
from lnbayes.errors import LnbayesError
from lnbayes.io import files
from lnbayes.model.criteria import rule_text
from lnbayes.model.spec import Trial

TYPE_I_GRID = np.round(np.linspace(0.005, 0.995, 199), 3)
"""Common true rates over which the largest type I error of a design with looks is taken."""


def evaluate(trial: Trial, outcome_name: str | None, prior_names, criteria) -> dict[str, Any]:
    """For each prior: each criterion's posterior probability (or median), whether it holds,
    and whether the rule declares benefit on the observed data (exact engine)."""
    from lnbayes.engines import exact
    from lnbayes.model.effects import MEASURE_OF_SCALE

    outcome = trial.outcome(outcome_name)
    lower = outcome.lower_is_better
    rows = []
    for prior in trial.priors_for(outcome, prior_names):
        post = exact.posterior(prior, outcome)
        checks = []
        for c in criteria:
            entry = {**c.as_dict(), "label": c.label(lower)}
            if c.scale is None:
                p = post.prob_benefit(lower)
            else:
                p = post.prob_beyond(MEASURE_OF_SCALE[c.scale], c.value, lower)
            entry["p"] = p
            if c.median:
                entry["posterior_median"] = post.quantile(MEASURE_OF_SCALE[c.scale], 0.5)
            entry["holds"] = bool(p >= c.prob - enumeration.DECISION_TOL)
            checks.append(entry)
        rows.append({"prior": prior.name, "label": prior.label, "criteria": checks,
                     "declare_benefit": all(e["holds"] for e in checks)})
    return {"outcome": outcome.name, "better": outcome.better,
            "rule": rule_text(criteria, lower), "criteria": [c.as_dict() for c in criteria],
            "results": rows}


def design(
    trial: Trial,
    criteria,
    prior_name: str | None = None,
    n: tuple[int, int] | None = None,
    control_rate: float | None = None,
    hoped_for_rate: float | None = None,
    outcome_name: str | None = None,
    target_power: float | None = None,
    looks: list[tuple[int, int]] | None = None,
    futility: float | None = None,
    reference_prior: str | None = "flat",
    with_reverse: bool = True,
) -> dict[str, Any]:
    """Exact operating characteristics of "declare benefit if every criterion holds".

    Without ``looks``: one analysis at ``n`` (default: the planned size); P(declare) over the
    grid of true rates, the largest type I error over common rates, power at the hoped-for
    effect and the sample size for the target power. With ``looks`` (cumulative arm sizes, the
    last being the final analysis): efficacy stops when the rule holds, futility stops when the
    predictive probability of final success is below ``futility``; P(declare), P(stop for
    futility) and the expected total size. Beside the chosen prior, the same design under
    ``reference_prior`` (flat) shows the type I error that borrowing adds. With
    ``with_reverse``, ``reverse``: the rule's reverse answers under every prior of the outcome
    at the stopped and planned sizes (:func:`lnbayes.analyses.reverse.reverse_questions`).
    """
    d = trial.design
    outcome = trial.outcome(outcome_name or (d.outcome if d else None))
    if d is not None and trial.outcome(d.outcome).name != outcome.name:
        d = None
    prior = _analysis_prior(trial, outcome, prior_name)
    lower = outcome.lower_is_better
    if looks:
        final = tuple(looks[-1])
        if n is not None and tuple(n) != final:
            raise LnbayesError(f"design: the last look {final[0]}/{final[1]} is the final analysis "
                               f"and differs from the arm sizes {n[0]}/{n[1]}")
        n_t, n_c = final
    else:
        n_t, n_c = planning.default_final(trial) if n is None else n
    target = target_power if target_power is not None else (d.target_power if d else 0.8)
    control_rate = control_rate if control_rate is not None else (d.control_rate if d else None)
    if hoped_for_rate is None and d is not None:
        hoped_for_rate = d.hoped_for_rate
    start = time.perf_counter()
    ref = None
    if reference_prior is not None:
        candidates = [p for p in trial.priors_for(outcome) if p.name == reference_prior]
        ref = candidates[0] if candidates and candidates[0].name != prior.name else None
    result: dict[str, Any] = {
        "trial": trial.id, "title": trial.title, "outcome": outcome.name, "better": outcome.better,
        "prior": prior.name, "prior_label": prior.label,
        "n": {"treatment": n_t, "control": n_c},
        "criteria": [c.as_dict() for c in criteria],
        "rule": rule_text(criteria, lower),
    }
    if not looks:
        result.update(_single_look(trial, prior, ref, (n_t, n_c), criteria, lower, control_rate,
                                   hoped_for_rate, target))
    else:
        result.update(_with_looks(prior, ref, looks, criteria, lower, futility, control_rate,
                                  hoped_for_rate))
    result["seconds"] = time.perf_counter() - start
    result["reverse"] = None
    if with_reverse:
        from lnbayes.analyses.reverse import reverse_questions

        result["reverse"] = reverse_questions(trial, outcome, criteria, None, control_rate, target)
    result["provenance"] = {"command": files.command_line(), "trial_file": trial.source_path,
                            "versions": files.versions()}
    return result


def _single_look(trial: Trial, prior, ref, sizes, criteria, lower, control_rate,
                 hoped_for_rate, target) -> dict[str, Any]:
    """One analysis at ``sizes``: the rule's operating characteristics, type I error (beside
    the reference prior's), power, sample size and power curve."""
    n_t, n_c = sizes
    rates = np.array(planning.OC_RATES)
    p_c, p_t = np.meshgrid(rates, rates, indexing="ij")
    tables = rules.rule_tables(prior, n_t, n_c, criteria, lower)
    grid = enumeration.prob_declare(tables.declare, p_c, p_t)
    oc = [{"p_control": float(a), "p_treatment": float(b), "p_declare_benefit": float(v)}
          for a, b, v in zip(p_c.ravel(), p_t.ravel(), grid.ravel())]
    t1 = enumeration.type_i_error(tables.declare)
    by_rate = enumeration.prob_declare(tables.declare, rates, rates)
    ref_by_rate = ref_max = None
    if ref is not None:
        ref_declare = rules.declare_table(ref, n_t, n_c, criteria, lower)
        ref_by_rate = enumeration.prob_declare(ref_declare, rates, rates)
        ref_max = enumeration.type_i_error(ref_declare)
    power = sample = None
    curve: list[dict[str, float]] = []
    if control_rate is not None and hoped_for_rate is not None:
        power = {"p_control": control_rate, "p_treatment": hoped_for_rate,
                 "odds_ratio": _odds_ratio(control_rate, hoped_for_rate),
                 "power": float(enumeration.prob_declare(tables.declare, control_rate,
                                                         hoped_for_rate))}
        allocation = trial.allocation or (n_t, n_c)
        if prior.family == "arm":
            sample = rules.sample_size(prior, allocation, criteria, control_rate,
                                       hoped_for_rate, target=target, lower_is_better=lower)
            sample["allocation"] = list(allocation)
            curve = planning.power_curve(
                lambda total: rules.power_at(prior, total, allocation, criteria, control_rate,
                                             hoped_for_rate, lower), allocation, sample)
        else:
            sample = {"total": None, "omitted": (
                "the sample-size search evaluates many designs; under an effect-level prior "
                "each needs exact posteriors one dataset at a time")}
        sample["target_power"] = target
    declaring = [[int(a), int(b)] for a, b in np.argwhere(tables.declare)]
    return {
        "method": ("exact enumeration of all (n_t + 1) x (n_c + 1) outcomes (no simulation); "
                   f"{tables.exact_datasets} exact posteriors"
                   if tables.exact_datasets else
                   "exact enumeration of all (n_t + 1) x (n_c + 1) outcomes (no simulation)"),
        "declaring_datasets": {"count": len(declaring), "y_control_y_treatment": declaring},
        "operating_characteristics": oc,
        "type_i_error": {"max": t1["max"], "at_rate": t1["at_rate"],
                         "at_control_rate": (None if control_rate is None else float(
                             enumeration.prob_declare(tables.declare, control_rate,
                                                      control_rate))),
                         "control_rate": control_rate},
        "type_i_by_rate": _by_rate(rates, by_rate, ref, ref_by_rate),
        "reference": None if ref is None else {"prior": ref.name, "type_i_error_max": ref_max},
        "power": power,
        "sample_size": sample,
        "power_curve": curve,
    }


def _with_looks(prior, ref, looks, criteria, lower, futility, control_rate,
                hoped_for_rate) -> dict[str, Any]:
    """Interim looks: efficacy and futility stops carried exactly from look to look."""
    rates = np.array(planning.OC_RATES)
    p_c, p_t = np.meshgrid(rates, rates, indexing="ij")
    seq = rules.sequential_design(prior, looks, criteria, lower, futility)
    oc = []
    for a, b in zip(p_c.ravel(), p_t.ravel()):
        r = rules.sequential_oc(seq, a, b)
        oc.append({"p_control": float(a), "p_treatment": float(b),
                   "p_declare_benefit": r["p_declare_benefit"],
                   "p_stop_futility": r["p_stop_futility"], "expected_n": r["expected_n"]})
    null = [rules.sequential_oc(seq, r, r)["p_declare_benefit"] for r in TYPE_I_GRID]
    k = int(np.argmax(null))
    by_rate = np.array([rules.sequential_oc(seq, r, r)["p_declare_benefit"] for r in rates])
    ref_by_rate = ref_max = None
    if ref is not None:
        ref_seq = rules.sequential_design(ref, looks, criteria, lower, futility)
        ref_null = [rules.sequential_oc(ref_seq, r, r)["p_declare_benefit"]
                    for r in TYPE_I_GRID]
        kr = int(np.argmax(ref_null))
        ref_max = {"max": float(ref_null[kr]), "at_rate": float(TYPE_I_GRID[kr])}
        ref_by_rate = np.array([rules.sequential_oc(ref_seq, r, r)["p_declare_benefit"]
                                for r in rates])
    power = None
    if control_rate is not None and hoped_for_rate is not None:
        power = rules.sequential_oc(seq, control_rate, hoped_for_rate)
        power["power"] = power["p_declare_benefit"]
        power["odds_ratio"] = _odds_ratio(control_rate, hoped_for_rate)
    return {
        "method": ("exact: the distribution of the running datasets is carried from look to "
                   "look (no simulation); futility uses the predictive probability of "
                   "success at the final look under the analysis prior"),
        "looks": [{"n_treatment": t, "n_control": c} for t, c in seq.looks],
        "futility": futility,
        "operating_characteristics": oc,
        "type_i_error": {"max": float(null[k]), "at_rate": float(TYPE_I_GRID[k]),
                         "at_control_rate": (None if control_rate is None else
                                             rules.sequential_oc(seq, control_rate,
                                                                 control_rate)
                                             ["p_declare_benefit"]),
                         "control_rate": control_rate},
        "type_i_by_rate": _by_rate(rates, by_rate, ref, ref_by_rate),
        "reference": None if ref is None else {"prior": ref.name, "type_i_error_max": ref_max},
        "power": power,
        "sample_size": None,
        "power_curve": [],
    }


def _odds_ratio(p_control: float, p_treatment: float) -> float | None:
    if not (0 < p_control < 1 and 0 < p_treatment < 1):
        return None
    return p_treatment * (1 - p_control) / (p_control * (1 - p_treatment))


def _by_rate(rates, values, ref, ref_values) -> list[dict[str, Any]]:
    rows = []
    for i, r in enumerate(rates):
        row = {"rate": float(r), "p_declare_benefit": float(values[i])}
        if ref is not None:
            row["reference_p_declare_benefit"] = float(ref_values[i])
            row["inflation"] = float(values[i] - ref_values[i])
        rows.append(row)
    return rows


def _analysis_prior(trial: Trial, outcome, prior_name: str | None):
    """The named prior, else the flat one, else the first that applies to the outcome."""
    applicable = trial.priors_for(outcome, [prior_name] if prior_name else None)
    if not applicable:
        raise LnbayesError(f"{trial.source_path or '<inline>'}: priors: none applies to outcome "
                           f"{outcome.name}")
    if prior_name is None:
        return next((p for p in applicable if p.name == "flat"), applicable[0])
    return applicable[0]
