"""What a prior implies before any data: the ``lnbayes priors`` analysis (JSON-ready dicts)."""

from __future__ import annotations

from typing import Any

from lnbayes.priors.conflict import conflict
from lnbayes.priors.effective_size import prior_ess

# ---------------------------------------------------------------------------------------------
# What a prior implies before any data
# ---------------------------------------------------------------------------------------------


def no_data(outcome):
    """The outcome with no patients: its exact 'posterior' is the prior."""
    from dataclasses import replace

    return replace(outcome, treatment_events=0, treatment_n=0, control_events=0, control_n=0)


def prior_summary(prior, outcome, prob: float = 0.95) -> dict[str, Any]:
    """Prior P(benefit) (direction from ``outcome``) and prior median / interval of the effects."""
    from lnbayes.engines import exact

    post = exact.posterior(prior, no_data(outcome))
    return {
        "p_benefit": post.prob_benefit(outcome.lower_is_better),
        "estimates": {
            m: post.interval(m, prob)
            for m in ("p_control", "p_treatment", "risk_difference", "odds_ratio")
        },
    }


def prior_report(prior, outcome, control_rate: float | None = None) -> dict[str, Any]:
    """Everything the ``priors`` command shows for one prior and one outcome."""
    from lnbayes.analyses.map_checks import map_records

    summary = prior_summary(prior, outcome)
    record = {
        "name": prior.name,
        "label": prior.label,
        "role": prior.role,
        "family": prior.family,
        "statement": prior.statement,
        "description": prior.describe(),
        "parameters": prior.parameters(),
        "prior_p_benefit": summary["p_benefit"],
        "prior_estimates": summary["estimates"],
        "ess": prior_ess(prior, control_rate, outcome),
        **_conflict_fields(conflict(prior, outcome)),
        "justification": prior.justification,
        "citations": list(prior.citations),
        "outcomes": list(prior.outcomes) if prior.outcomes is not None else None,
    }
    maps = map_records(prior, outcome)
    if maps is not None:
        record["map"] = maps
    return record


def _conflict_fields(result: dict[str, Any]) -> dict[str, Any]:
    return {"conflict_p": result["p"], "conflict_note": result.get("note")}


def priors_report(trial, outcome_name: str | None = None, prior_names: list[str] | None = None):
    """The ``lnbayes priors`` result: a :func:`prior_report` for each prior of an outcome.

    Returns ``{"trial", "title", "outcome", "outcome_info", "priors": [...]}``; the priors are
    those named, or all that apply to the outcome (its primary outcome by default).
    """
    from lnbayes.analyses.reanalysis import outcome_record

    outcome = trial.outcome(outcome_name)
    reports = []
    for prior in trial.priors_for(outcome, prior_names):
        report = prior_report(prior, outcome)
        if prior.grid:
            report["grid"] = prior.grid
        reports.append(report)
    return {
        "trial": trial.id,
        "title": trial.title,
        "outcome": outcome.name,
        "outcome_info": outcome_record(trial, outcome),
        "priors": reports,
    }
