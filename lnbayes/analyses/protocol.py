"""The design as a protocol would state it (issue 14, decision tool 5), for the appendix.

From a :func:`lnbayes.analyses.planning.design` result: the decision rule, the analysis prior and
the priors that borrow information (role ``evidence-based``) beside it, the looks (none: one final
analysis), type I error across common true rates, power across true effects at the expected
control rate, the sample size for the target power, and the curves of the figure. Everything is
the exact binomial sum over the decision tables of :mod:`lnbayes.engines.criteria` (no
simulation), at the planned size and at the size the trial stopped at; it takes about 0.1 s
(the sample size is the design's, under the analysis prior).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lnbayes.analyses.reverse import sizes
from lnbayes.engines import criteria as rules
from lnbayes.engines import enumeration
from lnbayes.model.criteria import Criterion
from lnbayes.model.spec import Trial

CURVE_RATES = np.round(np.linspace(0.01, 0.99, 99), 2)
"""True rates of the figure's curves (type I error at common rates; power at treatment rates)."""
TABLE_RATES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""Common true rates of the type I error table."""
TABLE_ODDS_RATIOS = (1.5, 2.0, 3.0, 5.0, 10.0)
"""True odds ratios of the power table (at the expected control rate)."""
BORROWING_ROLES = ("evidence-based",)
"""Roles of priors that borrow external information, compared with the analysis prior."""


def treatment_rate(p_control: float, odds_ratio: float, lower_is_better: bool = False) -> float:
    """The treatment rate at an odds ratio of benefit (OR below 1 when lower is better)."""
    ratio = 1.0 / odds_ratio if lower_is_better else odds_ratio
    odds = ratio * p_control / (1.0 - p_control)
    return odds / (1.0 + odds)


def protocol(trial: Trial, design: dict[str, Any]) -> dict[str, Any]:
    """The protocol's statement of the design of ``design`` (a planning.design result)."""
    start = time.perf_counter()
    outcome = trial.outcome(design["outcome"])
    lower = outcome.lower_is_better
    criteria = (Criterion(design["threshold"]),)
    analysis = trial.priors[design["prior"]]
    compared = [analysis] + [p for p in trial.priors_for(outcome)
                             if p.role in BORROWING_ROLES and p.name != analysis.name]
    control_rate = (design["power"] or {}).get("p_control") or design["type_i_error"]["control_rate"]
    hoped = design["power"]
    size_list = sizes(trial, outcome)
    priors = []
    for prior in compared:
        by_size = []
        for s in size_list:
            declare = rules.declare_table(prior, s["n_treatment"], s["n_control"], criteria, lower)
            t1 = enumeration.type_i_error(declare)
            entry = {**s,
                     "type_i_max": t1,
                     "type_i_by_rate": [{"rate": r, "p_declare_benefit": float(v)} for r, v in zip(
                         TABLE_RATES, enumeration.prob_declare(declare, TABLE_RATES, TABLE_RATES))],
                     "curve_type_i": enumeration.prob_declare(declare, CURVE_RATES,
                                                              CURVE_RATES).tolist()}
            if control_rate is not None:
                rates_t = [treatment_rate(control_rate, o, lower) for o in TABLE_ODDS_RATIOS]
                entry["power_by_effect"] = [
                    {"odds_ratio": o, "p_treatment": pt, "risk_difference": pt - control_rate,
                     "power": float(v)} for o, pt, v in zip(
                        TABLE_ODDS_RATIOS, rates_t,
                        enumeration.prob_declare(declare, control_rate, rates_t))]
                entry["curve_power"] = enumeration.prob_declare(declare, control_rate,
                                                                CURVE_RATES).tolist()
                if hoped is not None:
                    entry["power_hoped_for"] = float(enumeration.prob_declare(
                        declare, control_rate, hoped["p_treatment"]))
            by_size.append(entry)
        # the sample size is searched for the analysis prior only (the design's search): a
        # borrowing prior's search costs about 2.5-4 s of the report for a comparison that the
        # power table at both sizes already makes
        sample = design.get("sample_size_80") if prior is analysis else None
        priors.append({"prior": prior.name, "label": prior.label or prior.name,
                       "role": prior.role, "family": prior.family, "by_size": by_size,
                       "sample_size": sample})
    return {
        "rule": design["rule"],
        "threshold": design["threshold"],
        "outcome": outcome.name,
        "better": outcome.better,
        "analysis_prior": analysis.name,
        "looks": None,
        "looks_note": ("one analysis at the final size; the trial file plans no interim analysis "
                       "(interim looks: lnbayes design --looks)"),
        "control_rate": control_rate,
        "hoped_for": hoped,
        "sample_size": design.get("sample_size_80"),
        "sizes": size_list,
        "curve_rates": CURVE_RATES.tolist(),
        "priors": priors,
        "seconds": time.perf_counter() - start,
    }
