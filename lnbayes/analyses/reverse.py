"""Reverse questions of a decision rule (issue 14, decision tool 4), for ``lnbayes design`` and
the appendix: under each analysis prior, at the size the trial stopped at and at its planned size,

- the data that would have been needed: with the observed control rate held, the least extreme
  treatment count at which the rule declares benefit, and the observed RD and OR it implies;
- the smallest true effect the design detects: the treatment rate (RD, OR) at which the rule has
  the target power, at the design's expected control rate and at the observed one.

Plain functions returning JSON-ready dicts; the maths is :mod:`lnbayes.engines.reverse` on the
decision tables of :mod:`lnbayes.engines.criteria` (exact enumeration, no simulation).
"""

from __future__ import annotations

import time
from typing import Any

from lnbayes.engines import criteria as rules
from lnbayes.engines import reverse as rev
from lnbayes.model.criteria import Criterion, rule_text
from lnbayes.model.spec import Trial, planned_arms

DEFINITIONS = {
    "needed": "with the observed control rate held (the control counts nearest it at that arm "
              "size), the least extreme treatment count at which the rule declares benefit (the "
              "smallest count when higher is better), and the observed risk difference and odds "
              "ratio of those counts; null: no treatment count declares benefit",
    "minimal_detectable": "the true treatment rate at which the rule's exact power equals the "
                          "target, at a true control rate (the design's expected rate and the "
                          "observed rate): the smallest true effect the design detects with that "
                          "power; null: not reached even at a certain treatment response",
}


def held_control_counts(events: int, n: int, n_c: int) -> list[int]:
    """Control counts of n_c nearest the observed rate events/n: the one count when it is exact,
    else the two neighbours (integer arithmetic, no rounding of a float)."""
    low = events * n_c // n
    high = -(-events * n_c // n)
    return [low] if low == high else [low, high]


def sizes(trial: Trial, outcome) -> list[dict[str, Any]]:
    """The sizes to answer for: where the trial stopped (the observed arms) and its planned size
    (from ``planned_enrolment`` and the allocation), once each."""
    out = [{"label": "stopped" if trial.stopped_early else "observed",
            "n_treatment": outcome.treatment_n, "n_control": outcome.control_n}]
    if trial.planned_enrolment is not None and trial.allocation is not None:
        n_t, n_c = planned_arms(trial.planned_enrolment, trial.allocation)
        if (n_t, n_c) != (outcome.treatment_n, outcome.control_n):
            out.append({"label": "planned", "n_treatment": n_t, "n_control": n_c})
    return out


def reverse_questions(trial: Trial, outcome, criteria=None, prior_names=None,
                      control_rate: float | None = None, target_power: float | None = None
                      ) -> dict[str, Any]:
    """The reverse answers of the rule (default: P(benefit) >= the design's threshold, else 0.95)
    under each analysis prior (default: every prior of the outcome), for each of :func:`sizes`.

    Priors whose decision table cannot be computed within the engines' budget are listed in
    ``refused`` with the reason instead of failing the whole answer.
    """
    from lnbayes.engines.datasets import PlanError

    d = trial.design
    if not criteria:
        criteria = (Criterion(d.threshold if d else 0.95),)
    target = target_power if target_power is not None else (d.target_power if d else 0.8)
    if control_rate is None and d is not None:
        control_rate = d.control_rate
    lower = outcome.lower_is_better
    y_c_obs, n_c_obs = outcome.control_events, outcome.control_n
    observed_rate = y_c_obs / n_c_obs
    rates = [("expected", control_rate)] if control_rate is not None else []
    rates.append(("observed", observed_rate))
    start = time.perf_counter()
    rows, refused = [], []
    for prior in trial.priors_for(outcome, prior_names):
        by_size = []
        try:
            for s in sizes(trial, outcome):
                n_t, n_c = s["n_treatment"], s["n_control"]
                declare = rules.declare_table(prior, n_t, n_c, criteria, lower)
                needed = [rev.needed_count(declare, y, lower)
                          for y in held_control_counts(y_c_obs, n_c_obs, n_c)]
                mde = [dict(rev.minimal_detectable_rate(declare, r, target, lower),
                            control_rate_source=src) for src, r in rates]
                by_size.append({**s, "needed": needed, "minimal_detectable": mde})
        except PlanError as e:
            refused.append({"prior": prior.name, "reason": str(e)})
            continue
        rows.append({"prior": prior.name, "label": prior.label, "role": prior.role,
                     "by_size": by_size})
    return {
        "rule": rule_text(criteria, lower),
        "criteria": [c.as_dict() for c in criteria],
        "observed": {"treatment_events": outcome.treatment_events,
                     "n_treatment": outcome.treatment_n, "control_events": y_c_obs,
                     "n_control": n_c_obs},
        "target_power": target,
        "control_rates": {src: r for src, r in rates},
        "results": rows,
        "refused": refused,
        "definitions": DEFINITIONS,
        "seconds": time.perf_counter() - start,
    }
