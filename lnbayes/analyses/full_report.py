"""The whole re-analysis of a trial, as one JSON-ready dict: what ``lnbayes report`` writes.

:func:`run_report` computes every outcome under every applicable prior (exact, then PyMC), the
prior checks, the predictive probability and the design, and the prior sweep. The writing (the
sweep's files, the figures, ``results.json`` and the appendix) is :mod:`lnbayes.outputs.report`.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable

from lnbayes.analyses import reanalysis
from lnbayes.model import spec as spec_mod
from lnbayes.model.spec import Trial

SCHEMA = "lnbayes.report/1"
STANDARD_REFERENCES = (
    "Spiegelhalter DJ, Freedman LS, Parmar MKB. Bayesian approaches to randomized trials. "
    "J R Stat Soc A 1994;157:357-416.",
    "Spiegelhalter DJ, Abrams KR, Myles JP. Bayesian Approaches to Clinical Trials and Health-Care "
    "Evaluation. Chichester: Wiley; 2004.",
    "Kruschke JK. Bayesian analysis reporting guidelines. Nat Hum Behav 2021;5:1282-1291. "
    "doi:10.1038/s41562-021-01177-7",
    "Sung L, Hayden J, Greenberg ML, Koren G, Feldman BM, Tomlinson GA. Seven items were "
    "identified for inclusion when reporting a Bayesian analysis of a clinical study. J Clin Epidemiol "
    "2005;58:261-268.",
    "Abril-Pla O, Andreani V, Carroll C, et al. PyMC: a modern, and comprehensive probabilistic "
    "programming framework in Python. PeerJ Comput Sci 2023;9:e1516. doi:10.7717/peerj-cs.1516",
    "Hoffman MD, Gelman A. The No-U-Turn sampler: adaptively setting path lengths in Hamiltonian "
    "Monte Carlo. J Mach Learn Res 2014;15:1593-1623.",
    "Kumar R, Carroll C, Hartikainen A, Martin O. ArviZ a unified library for exploratory analysis "
    "of Bayesian models in Python. J Open Source Softw 2019;4(33):1143. doi:10.21105/joss.01143",
    "Vehtari A, Gelman A, Simpson D, Carpenter B, Bürkner P-C. Rank-normalization, folding, and "
    "localization: an improved $\\hat R$ for assessing convergence of MCMC. Bayesian Anal "
    "2021;16:667-718. doi:10.1214/20-BA1221",
    "Matthews RAJ. J R Stat Soc A 2001;164:77-79.",
    "Matthews RAJ. Moving towards the post p < 0.05 era via the analysis of credibility. Am Stat "
    "2019;73(sup1):202-212.",
    "Matthews RAJ. Beyond 'significance': principles and practice of the Analysis of Credibility. "
    "R Soc Open Sci 2018;5:171047. doi:10.1098/rsos.171047",
    "Held L, Matthews R, Ott M, Pawel S. Reverse-Bayes methods for evidence assessment and "
    "research synthesis. Res Synth Methods 2022;13:295-314.",
    "Kallioinen N, Paananen T, Bürkner P-C, Vehtari A. Detecting and diagnosing prior and "
    "likelihood sensitivity with power-scaling. Stat Comput 2024;34:57. "
    "doi:10.1007/s11222-023-10366-5",
    "Neuenschwander B, Weber S, Schmidli H, O'Hagan A. Predictively consistent prior effective "
    "sample sizes. Biometrics 2020;76:578-587.",
    "Box GEP. Sampling and Bayes' inference in scientific modelling and robustness. J R Stat Soc A "
    "1980;143:383-430.",
    "Newcombe RG. Interval estimation for the difference between independent proportions: "
    "comparison of eleven methods. Stat Med 1998;17:873-890.",
    "Woolf B. On estimating the relation between blood group and disease. Ann Hum Genet "
    "1955;19:251-253.",
)
"""Works the appendix's own text cites (methods, software, guidelines), after the trial itself."""
def trial_record(trial: Trial) -> dict[str, Any]:
    return {
        "id": trial.id,
        "title": trial.title,
        "reference": trial.reference,
        "registration": trial.registration,
        "planned_enrolment": trial.planned_enrolment,
        "allocation": list(trial.allocation) if trial.allocation else None,
        "notes": trial.notes,
        "condition": trial.condition,
        "population": trial.population,
        "blinding": trial.blinding,
        "comparator": trial.comparator,
        "stopped_early": trial.stopped_early,
        "arms": {
            "treatment": {"name": trial.treatment_name, "description": trial.treatment_description},
            "control": {"name": trial.control_name, "description": trial.control_description},
        },
        "file": trial.source_path,
        "rationale": dict(trial.rationale),
    }


def _work(citation: str) -> tuple[str, str]:
    """A citation's first author's surname and its first year: enough to spot one work twice."""
    year = re.search(r"\b(19|20)\d\d\b", citation)
    return citation.split(maxsplit=1)[0].strip(",.").lower(), year.group(0) if year else citation


def references(trial: Trial) -> list[str]:
    """The appendix's reference list: the trial, the standard works, then the priors' citations.

    A prior's citation of a work already listed (same first author and year, however it is
    abbreviated) is left out, so no work is listed twice.
    """
    listed = [*([trial.reference] if trial.reference.strip() else []), *STANDARD_REFERENCES]
    seen = {_work(c) for c in listed}
    extra = []
    for citation in sorted({c for p in trial.priors.values() for c in p.citations}):
        work = _work(citation)
        if work not in seen:
            seen.add(work)
            extra.append(citation)
    return listed + extra


ENGINES = ("pymc", "exact")
OMITTED = {
    "predict": "Give the planned enrolment (`planned_enrolment` in `[trial]`, with `allocation` "
               "when the arms are not 1:1) to get the predictive probability that the trial, "
               "completed to its planned size, would have shown benefit.",
    "predict_complete": "The trial enrolled its planned size (or more), so there is no "
                        "completion to predict.",
    "design": "Add a `[design]` table (`control_rate` and `hoped_for_rate` or `hoped_for_or`; "
              "docs/endpoints.md) and `planned_enrolment` in `[trial]` to get the operating "
              "characteristics of the decision rule.",
    "benefit_harm": "Mark safety outcomes with `safety = true` in their `[outcomes.NAME]` table "
                    "to get the benefit-harm summary.",
}
"""What to add to a trial file to get a section the report leaves out (one sentence each)."""


def refused(error: Exception) -> str:
    """The sentence that replaces a section whose exact computation was refused (too large for
    exact enumeration, or a posterior beyond what the quadrature resolves): the report goes on
    without it rather than failing after the exact work is done."""
    reason = str(error).split(": ", 1)[-1].rstrip(".")
    return f"This section is left out: {reason}."


def preflight(trial: Trial) -> None:
    """Check that the report can be written for ``trial`` before any work is done.

    The primary outcome needs at least one prior. The rest of the report adapts to what the
    file gives (sections whose inputs are missing are left out with a sentence saying what to
    add); :func:`run_report` also renders the appendix from the exact results before the first
    PyMC fit, so that a report fails, if at all, in seconds rather than after the sampling.
    """
    from lnbayes.errors import LnbayesError

    primary = trial.primary_outcome
    if not trial.priors_for(primary):
        raise LnbayesError(
            f"{trial.source_path or '<inline>'}: priors: no prior applies to the primary outcome "
            f"{primary.name}; add it to a prior's `outcomes` or add a prior without `outcomes`")


def predict_status(trial: Trial) -> str | None:
    """None when the predictive probability of success can be computed, else why not."""
    if trial.planned_enrolment is None:
        return "predict"
    outcome = trial.primary_outcome
    final_t, final_c = spec_mod.planned_arms(trial.planned_enrolment, trial.allocation)
    if final_t <= outcome.treatment_n or final_c <= outcome.control_n:
        return "predict_complete"
    return None


def ratio_measure(scale: str) -> str:
    """The ratio measure that goes with a scale: risk ratio for log RR priors, else odds ratio."""
    return "risk_ratio" if scale == "log_rr" else "odds_ratio"


def run_report(
    trial: Trial,
    seed: int | None = None,
    settings=None,
    outdir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    engine: str = "pymc",
    check: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the whole re-analysis: every outcome, every applicable prior, exact and PyMC.

    Returns ``(report, extras)``: the JSON-ready report (``results.json``) and what the outputs
    draw and write beside it (``sweep``: the whole sweep with its grid; ``predict`` and
    ``design``: the planning results, or None). Everything exact is computed first and ``check``
    (the appendix renderer, :mod:`lnbayes.outputs.report`) is called with it before the first
    PyMC fit, so that a problem with the trial file surfaces in seconds. With ``engine="exact"``
    the report stops there: a draft without MCMC (the appendix says so). ``outdir``: where the
    PyMC draws are saved (NetCDF), and read back on a re-run.
    """
    from lnbayes.engines.mcmc import SamplerSettings

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}")
    preflight(trial)
    started = time.time()
    seed = trial.seed if seed is None else seed
    settings = settings or SamplerSettings()
    outdir = Path(outdir) if outdir is not None else None
    say = progress or (lambda message: None)
    # the planning results (exact enumerations, seconds) are computed by a second process,
    # where there is a second core, while this one computes the outcomes and the prior checks
    from lnbayes.io import background

    helper = background.start_worker()
    try:
        return _run_report(trial, seed, settings, outdir, say, engine, check, started, helper)
    finally:
        if helper is not None:
            helper.stop()


def _run_report(trial, seed, settings, outdir, say, engine, check, started, helper):
    """:func:`run_report`'s work, with ``helper`` (a :class:`lnbayes.io.background.Worker` or
    None) computing the predictive probability and the design meanwhile."""
    from lnbayes.analyses import prior_checks as prior_checks_mod
    from lnbayes.io import record_cache

    why = predict_status(trial)
    plans_design = trial.design is not None and trial.planned_enrolment is not None
    jobs = {}
    if helper is not None:
        if why is None:
            jobs["predict"] = helper.submit(_predict, trial)
        if plans_design:
            jobs["design"] = helper.submit(_design_and_protocol, trial)

    say("exact posteriors of every outcome")
    outcomes = _analyse_outcomes(trial, "exact", seed, settings, None, say)
    say("prior checks: a-priori summaries, effective sample sizes, prior-data conflict")
    # a-priori summaries, ESS and conflict: ~1 s for a dozen priors, read back on a rerun
    prior_checks, _ = record_cache.cached_for_trial(
        "prior_checks", trial, lambda: prior_checks_mod.priors_report(trial))
    say("predictive probability of success, operating characteristics")
    predict, design, protocol, omitted = _planning_results(trial, helper, jobs, why, plans_design)
    say("prior sweep, tipping points and reverse-Bayes")
    scale, swept, slim_sweep = _report_sweep(trial, seed)
    report = {
        "schema": SCHEMA,
        "engine": engine,
        "trial": trial_record(trial),
        "primary_outcome": trial.primary_outcome.name,
        "effect_scale": scale,
        "ratio_measure": ratio_measure(scale),
        "priors": [reanalysis.prior_record(p) for p in trial.priors.values()],
        "prior_checks": prior_checks,
        "prior_labels": {p.name: p.label or p.name for p in trial.priors.values()},
        "outcome_labels": {o.name: o.label for o in trial.outcomes.values()},
        "references": references(trial),
        "outcomes": outcomes,
        "benefit_harm": _benefit_harm(trial, outcomes, omitted),
        "predict": _slim_predict(predict) if predict else None,
        "design": design,
        "protocol": protocol,
        "sweep": slim_sweep,
        "omitted": omitted,
        "settings": {"seed": seed, "sampler": settings.as_dict() if engine == "pymc" else None,
                     "agreement_mcse": reanalysis.AGREEMENT_MCSE},
        "provenance": _provenance(outcomes, seed, engine, settings),
    }
    # a problem with this trial's report surfaces now, not after the sampling: the appendix is
    # rendered from the exact results (the PyMC-only parts depend on no trial-specific field)
    if check is not None:
        check(dict(report, engine="exact"))
    if engine == "pymc":
        exact = {o["outcome"]: {r["prior"]: r for r in o["results"]} for o in outcomes}
        outcomes = _analyse_outcomes(trial, "pymc", seed, settings, outdir, say, exact)
        report["outcomes"] = outcomes
        report["benefit_harm"] = _benefit_harm(trial, outcomes, omitted)
        report["provenance"] = _provenance(outcomes, seed, engine, settings)
    report["provenance"]["elapsed_seconds_analysis"] = time.time() - started
    return report, {"sweep": swept, "predict": predict, "design": design}


def _planning_results(trial: Trial, helper, jobs: dict, why, plans_design: bool):
    """(predict, design, protocol, omitted): the helper's results where it finished them without
    error, else computed here (an error such as PlanError is then raised here, as without the
    helper, and the section is omitted with the reason); the helper is then closed."""
    from lnbayes.engines.datasets import PlanError

    def planned(kind: str, compute: Callable[[Trial], Any]) -> Any:
        if helper is not None:
            ok, value = helper.result(jobs.get(kind))
            if ok:
                return value
        return compute(trial)

    omitted = {}
    predict = None
    if why is None:
        try:
            predict = planned("predict", _predict)
        except PlanError as e:
            omitted["predict"] = refused(e)
    else:
        omitted["predict"] = OMITTED[why]
    design = protocol = None
    if plans_design:
        try:
            design, protocol = planned("design", _design_and_protocol)
        except PlanError as e:
            omitted["design"] = refused(e)
    else:
        omitted["design"] = OMITTED["design"]
    if helper is not None:
        helper.close()  # its work is done: it ends
    return predict, design, protocol, omitted


def _report_sweep(trial: Trial, seed):
    """(scale, the whole sweep, its slim copy for results.json) on the report's axes."""
    from lnbayes.analyses import figure_data
    from lnbayes.analyses import sweep as sweep_mod

    scale = figure_data.sweep_scale(trial)
    centres, sds = figure_data.sweep_axes(trial, scale)
    swept = sweep_mod.run_sweep(trial, None, scale=scale, centres=centres, sds=sds, engine="exact",
                                seed=seed, outdir=None)
    slim_sweep = _slim_sweep(swept)
    source = swept["control_prior"]["from"]
    slim_sweep["control_prior"]["description"] = (
        trial.priors[source].control.describe() if source in trial.priors else "Beta(1, 1)")
    return scale, swept, slim_sweep


def _predict(trial: Trial) -> dict[str, Any]:
    """The predictive probability of success (``lnbayes predict``'s result), computed or read
    back from the record cache (:func:`_planned`)."""
    from lnbayes.analyses import planning

    predict, hit = _planned("predict", trial, lambda: planning.predict(trial, meaningful=True))
    _current_provenance(predict, trial, hit)
    return predict


def _design_and_protocol(trial: Trial) -> tuple[dict[str, Any], dict[str, Any]]:
    """The design's operating characteristics and the protocol's rule, with how long both
    took; computed or read back from the record cache (:func:`_planned`)."""

    def compute() -> list[dict[str, Any]]:
        from lnbayes.analyses import planning
        from lnbayes.analyses.protocol import protocol as protocol_of

        started = time.perf_counter()
        design = planning.design(trial)
        protocol = protocol_of(trial, design)
        protocol["seconds_with_design"] = time.perf_counter() - started
        return [design, protocol]

    (design, protocol), hit = _planned("design", trial, compute)
    _current_provenance(design, trial, hit)
    return design, protocol


def _planned(what: str, trial: Trial, compute: Callable[[], Any]) -> tuple[Any, bool]:
    """``compute()`` or its record from an earlier report of the same trial, and whether it was
    read back (:func:`lnbayes.io.record_cache.cached_for_trial`): predict and design are exact
    enumerations of seconds to a minute on large trials. Run times in a record are those of the
    run that computed it."""
    from lnbayes.io import record_cache

    return record_cache.cached_for_trial(what, trial, compute)


def _current_provenance(result: dict[str, Any], trial: Trial, from_cache: bool) -> None:
    """The command and trial file of this run (a record may come from another run or folder)."""
    from lnbayes.io import files

    result["provenance"] = {**result["provenance"], "command": files.command_line(),
                            "trial_file": trial.source_path, "from_cache": from_cache}


def _analyse_outcomes(trial, engine, seed, settings, outdir, say,
                      exact_results=None) -> list[dict[str, Any]]:
    """Every outcome under the priors that apply to it (outcomes with none are left out).
    ``exact_results``: the exact pass's results by outcome and prior, reused by the PyMC pass."""
    out = []
    for outcome in trial.outcomes.values():
        if not trial.priors_for(outcome):
            continue

        def on_prior(name: str, i: int, n: int, _o=outcome) -> None:
            say(f"{_o.name}: prior {i + 1}/{n} ({name}, {engine})")

        result = reanalysis.analyze(trial, outcome.name, None, engine=engine, seed=seed,
                                    settings=settings, outdir=outdir, on_prior=on_prior,
                                    exact_results=(exact_results or {}).get(outcome.name))
        for r in result["results"]:
            if r.get("netcdf") and outdir is not None:
                r["netcdf"] = str(Path(r["netcdf"]).relative_to(outdir))
        out.append({"outcome": outcome.name, "info": result["outcome_info"],
                    "results": result["results"], "provenance": result["provenance"]})
    return out


def _provenance(outcomes, seed, engine, settings) -> dict[str, Any]:
    provenance = dict(outcomes[0]["provenance"])
    provenance.update({"seed": seed, "engine": engine,
                       "sampler_settings": settings.as_dict() if engine == "pymc" else None})
    for o in outcomes:
        o.pop("provenance", None)
    return provenance


def _benefit_harm(trial, outcomes, omitted) -> dict[str, Any] | None:
    if not any(o.safety for o in trial.outcomes.values()):
        omitted["benefit_harm"] = OMITTED["benefit_harm"]
        return None
    omitted.pop("benefit_harm", None)
    return reanalysis.benefit_harm(
        trial, [{"outcome": o["outcome"], "results": o["results"]} for o in outcomes])


REPORTED_SDS = {"log_or": (0.2, 0.5, 1.0, 2.0), "log_rr": (0.2, 0.5, 1.0, 2.0),
                "rd": (0.05, 0.1, 0.2, 0.5)}
"""Prior sds of the sweep whose tipping points the appendix tabulates, per scale."""


def _slim_sweep(swept: dict[str, Any]) -> dict[str, Any]:
    """The sweep without its grid (written beside results.json as its own JSON and CSV)."""
    out = {k: v for k, v in swept.items() if k not in ("grid", "provenance", "written")}
    tp = dict(swept["tipping_point"])
    sds = swept["axes"]["prior_sd"]
    wanted = [min(sds, key=lambda s: abs(s - w)) for w in REPORTED_SDS[swept["scale"]]]
    tp["reported"] = [row for row in tp.get("by_sd", []) if row["prior_sd"] in set(wanted)]
    top = max(swept["levels"])
    tp["headline"] = next((row for row in tp["reported"] if row["level"] == top
                           and row["prior_sd"] == wanted[1]), None)
    out["tipping_point"] = tp
    out["n_priors"] = len(swept["grid"])
    return out


def _slim_predict(predict: dict[str, Any]) -> dict[str, Any]:
    """The predictive-probability result without the per-completion table (kept in memory)."""
    out = dict(predict)
    out["results"] = [{k: v for k, v in r.items() if k != "completions"} for r in predict["results"]]
    return out


def strip_for_json(report: dict[str, Any]) -> dict[str, Any]:
    return reanalysis.strip_datatrees(report)


