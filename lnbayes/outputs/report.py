"""The full re-analysis of a trial and its methods appendix (Markdown, LaTeX, self-contained HTML).

``run_report`` computes everything into one JSON-ready dict (``results.json``); ``write_appendix``
renders the appendix from templates with every number taken from that dict. The Markdown is the
source: hand-written sections between ``<!-- lnbayes:user-begin NAME -->`` and
``<!-- lnbayes:user-end NAME -->`` survive a re-run, and the LaTeX and HTML are converted from it
with pandoc (pypandoc-binary), so they carry the same text.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lnbayes.analyses import reanalysis
from lnbayes.io import files
from lnbayes.model import spec as spec_mod
from lnbayes.model.spec import Trial

SCHEMA = "lnbayes.report/1"
STANDARD_REFERENCES = (
    "Spiegelhalter DJ, Freedman LS, Parmar MKB. Bayesian approaches to randomized trials. "
    "J R Stat Soc A 1994;157:357-416.",
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
TEMPLATES = Path(__file__).resolve().parent / "templates"
USER_REGION = re.compile(
    r"<!-- lnbayes:user-begin (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- lnbayes:user-end (?P=name) -->",
    re.S,
)


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


def posterior_predictive(datatree, outcome) -> dict[str, Any]:
    """Posterior predictive tail probabilities of each arm's observed count.

    Rao-Blackwellised over the draws: P(y_rep <= y_obs) = mean over draws of the binomial CDF,
    and the two-sided posterior predictive p-value is 2 min(P(y_rep <= y), P(y_rep >= y)), capped at 1.
    """
    from scipy import stats

    post = datatree["posterior"].to_dataset()
    out = {}
    for arm, p_name in (("treatment", "p_treatment"), ("control", "p_control")):
        y = getattr(outcome, f"{arm}_events")
        n = getattr(outcome, f"{arm}_n")
        p = post[p_name].values.ravel()
        below = float(np.mean(stats.binom.cdf(y, n, p)))
        above = float(np.mean(stats.binom.sf(y - 1, n, p)))
        out[arm] = {"observed": y, "n": n, "p_le": below, "p_ge": above,
                    "ppp": min(1.0, 2 * min(below, above)),
                    "mean": float(np.mean(n * p))}
    return out


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
) -> dict[str, Any]:
    """Run the whole re-analysis: every outcome, every applicable prior, exact and PyMC.

    Everything exact is computed first and the appendix is rendered from it in memory, so that a
    problem with the trial file surfaces before the first PyMC fit. With ``engine="exact"`` the
    report stops there: a draft without MCMC (the appendix says so).
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
    from lnbayes.analyses import figure_data, planning
    from lnbayes.analyses import prior_checks as prior_checks_mod
    from lnbayes.analyses import sweep as sweep_mod
    from lnbayes.engines.datasets import PlanError

    say("exact posteriors of every outcome")
    outcomes = _analyse_outcomes(trial, "exact", seed, settings, None, say)
    say("prior checks: a-priori summaries, effective sample sizes, prior-data conflict")
    prior_checks = prior_checks_mod.priors_report(trial)
    for row in prior_checks["priors"]:
        row["ess_text"] = ess_text(row["ess"])
    omitted = {}
    say("predictive probability of success, operating characteristics")
    predict = None
    why = predict_status(trial)
    if why is None:
        try:
            predict = planning.predict(trial)
        except PlanError as e:
            omitted["predict"] = refused(e)
    else:
        omitted["predict"] = OMITTED[why]
    design = None
    if trial.design is not None and trial.planned_enrolment is not None:
        try:
            design = planning.design(trial)
        except PlanError as e:
            omitted["design"] = refused(e)
    else:
        omitted["design"] = OMITTED["design"]
    say("prior sweep, tipping points and reverse-Bayes")
    scale = figure_data.sweep_scale(trial)
    centres, sds = figure_data.sweep_axes(trial, scale)
    swept = sweep_mod.run_sweep(trial, None, scale=scale, centres=centres, sds=sds, engine="exact",
                            seed=seed, outdir=None)
    slim_sweep = _slim_sweep(swept)
    source = swept["control_prior"]["from"]
    slim_sweep["control_prior"]["description"] = (
        trial.priors[source].control.describe() if source in trial.priors else "Beta(1, 1)")
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
        "sweep": slim_sweep,
        "omitted": omitted,
        "settings": {"seed": seed, "sampler": settings.as_dict() if engine == "pymc" else None,
                     "agreement_mcse": reanalysis.AGREEMENT_MCSE},
        "provenance": _provenance(outcomes, seed, engine, settings),
    }
    # a problem with this trial's report surfaces now, not after the sampling: the appendix is
    # rendered from the exact results (the PyMC-only parts depend on no trial-specific field)
    render_markdown(strip_for_json(dict(report, engine="exact")))
    if engine == "pymc":
        outcomes = _analyse_outcomes(trial, "pymc", seed, settings, outdir, say)
        report["outcomes"] = outcomes
        report["benefit_harm"] = _benefit_harm(trial, outcomes, omitted)
        report["provenance"] = _provenance(outcomes, seed, engine, settings)
    report["provenance"]["elapsed_seconds_analysis"] = time.time() - started
    if outdir is not None:
        report["sweep"]["files"] = write_sweep(swept, outdir)
        say("drawing figures")
        report["figures"] = write_figures(trial, report, predict, design, outdir, sweep=swept)
    return report


def write_sweep(swept: dict[str, Any], outdir: Path) -> dict[str, str]:
    """The sweep's grid as CSV and its whole result as JSON, beside results.json."""
    from lnbayes.analyses import sweep as sweep_mod

    stem = f"sweep_{swept['outcome']}_{swept['scale']}_exact"
    files.write_text(outdir / f"{stem}.csv", sweep_mod.grid_csv(swept["grid"]))
    files.write_json(outdir / f"{stem}.json", swept)
    return {"json": f"{stem}.json", "csv": f"{stem}.csv"}


def _analyse_outcomes(trial, engine, seed, settings, outdir, say) -> list[dict[str, Any]]:
    """Every outcome under the priors that apply to it (outcomes with none are left out)."""
    out = []
    for outcome in trial.outcomes.values():
        if not trial.priors_for(outcome):
            continue

        def on_prior(name: str, i: int, n: int, _o=outcome) -> None:
            say(f"{_o.name}: prior {i + 1}/{n} ({name}, {engine})")

        result = reanalysis.analyze(trial, outcome.name, None, engine=engine, seed=seed,
                                  settings=settings, outdir=outdir, on_prior=on_prior)
        for r in result["results"]:
            if r.get("datatree") is not None:
                r["posterior_predictive"] = posterior_predictive(r["datatree"], outcome)
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


def write_report(trial: Trial, outdir: str | Path, seed: int | None = None, settings=None,
                 engine: str = "pymc", progress: Callable[[str], None] | None = None
                 ) -> dict[str, Any]:
    """Run the report and write results.json and the appendix (Markdown, LaTeX, HTML)."""
    started = time.time()
    outdir = Path(outdir)
    report = run_report(trial, seed=seed, settings=settings, outdir=outdir, progress=progress,
                        engine=engine)
    if progress:
        progress("writing the appendix")
    report["provenance"]["elapsed_seconds"] = time.time() - started
    clean = strip_for_json(report)
    files.write_json(outdir / "results.json", clean)
    write_appendix(clean, outdir)
    return clean


def ess_text(ess: dict[str, Any]) -> str:
    """A short reading of a prior's effective sample size, in patients."""
    head = ess.get("headline", {})
    if "effect_per_arm" in head:
        return (f"control {head['control']:.1f}; effect ≈ {head['effect_per_arm']:.1f} "
                "patients per arm")
    return f"control {head.get('control', float('nan')):.1f}; treatment {head.get('treatment', float('nan')):.1f}"


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


MEASURE_WORDS = {"risk_difference": "risk difference", "odds_ratio": "odds ratio",
                 "risk_ratio": "risk ratio"}
SCALE_WORDS = {"log_or": "log odds ratio", "log_rr": "log risk ratio", "rd": "risk difference"}


def figure_captions(trial: Trial, report: dict[str, Any]) -> dict[str, str]:
    """Captions that describe this report's figures (measures, scale, engine) and nothing else."""
    ratio = MEASURE_WORDS[report["ratio_measure"]]
    sampled = report["engine"] == "pymc"
    primary = trial.primary_outcome
    log_or_priors = any(p.family == "effect" and p.scale == "log_or"
                        for p in trial.priors_for(primary))
    effect = (f"Prior (dashed) and posterior (solid) of the risk difference and the {ratio} "
              "under each prior" + (", with the MCMC draws as histograms" if sampled else "")
              + "; the shaded region is benefit, and each panel gives the posterior probability "
              "of benefit.")
    if log_or_priors:
        effect += (" A Normal prior on the log odds ratio implies a sharp peak at a risk "
                   "difference of 0, because the risk difference shrinks to 0 as the control "
                   "rate approaches 0 or 1.")
    sw = report["sweep"]
    grid_priors = [p for p in trial.priors_for(primary) if p.role == "grid"]
    heatmap = (f"Posterior probability of benefit across a grid of Normal priors on the "
               f"{SCALE_WORDS[sw['scale']]} (centre by standard deviation), with contours at "
               f"{', '.join(f'{v:g}' for v in sw['levels'])}; the named priors on this scale "
               "are marked" + (" (members of the prior grid with role = \"grid\" are not)"
                               if grid_priors else "") + ".")
    return {
        "effect_prior_posterior": effect,
        "forest": f"Posterior median and 95% equal-tailed interval of the risk difference and "
                  f"the {ratio} under each prior, with the posterior probability of benefit; "
                  "the data-only estimate is shown for reference.",
        "arm_posteriors": "Posterior distribution of the event probability in each arm under "
                          "each prior.",
        "p_benefit": "Posterior probability of benefit under each named prior, with the 0.5, "
                     "0.8 and 0.95 levels.",
        "sweep_heatmap": heatmap,
        "predictive": "Left: predictive probability, under each prior, that the trial completed "
                      "to its planned size would have ended with the posterior probability of "
                      "benefit at or above each level. Right (first prior): for each possible "
                      "completion, the final posterior probability of benefit and the predictive "
                      "probability of that completion.",
        "operating_characteristics": "Operating characteristics of the rule 'declare benefit if "
                                     "P(benefit) >= threshold' at the planned sample size, by "
                                     "exact enumeration.",
    }


def write_figures(trial: Trial, report: dict[str, Any], predict, design, outdir: Path,
                  sweep: dict | None = None) -> dict[str, Any]:
    """Draw the primary outcome's figures and the decision figures; PNG (300 dpi) and PDF."""
    from lnbayes.analyses import figure_data
    from lnbayes.outputs.figures import figure_set, planning_plots

    outcome = trial.primary_outcome
    prim = next(o for o in report["outcomes"] if o["outcome"] == outcome.name)
    # power-scaling and rank figures for the named priors; members of a grid of priors
    # (role = "grid") are in the tables only
    named = [p.name for p in trial.priors.values() if p.role != "grid"]
    measures = ("risk_difference", report["ratio_measure"])
    analysis = {"results": prim["results"]}
    data = figure_data.figure_data(trial, outcome, analysis, measures=measures, sweep=sweep)
    figs = figure_set.make_figures(trial, outcome, analysis, data, diagnostic_priors=named,
                                   heatmap_priors=named, measures=measures)
    if predict is not None:
        figs["predictive"] = planning_plots.predictive_figure(predict)
    if design is not None:
        figs["operating_characteristics"] = planning_plots.operating_characteristics_figure(design)
    figure_set.save_figures(figs, Path(outdir) / "figures", ("png", "pdf"))
    captions = figure_captions(trial, report)
    out = {}
    for stem in figs:
        kind = stem.split("_")[0] if stem.startswith(("psense_", "rank_")) else stem
        prior = stem.split("_", 1)[1] if kind in ("psense", "rank") else None
        label = trial.priors[prior].label or prior if prior else None
        out[stem] = {"png": f"figures/{stem}.png", "pdf": f"figures/{stem}.pdf", "kind": kind,
                     "prior": prior, "prior_label": label, "caption": captions.get(kind, "")}
    return out


def strip_for_json(report: dict[str, Any]) -> dict[str, Any]:
    return reanalysis.strip_datatrees(report)


# ---------------------------------------------------------------------------------------------
# Appendix rendering
# ---------------------------------------------------------------------------------------------


def fixed(x: float, digits: int) -> str:
    """Fixed-point text without a minus sign on values that round to zero ("-0.00")."""
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Markdown uses "{#" for heading anchors
        comment_start_string="<#--",
        comment_end_string="--#>",
    )
    env.filters["p"] = probability
    env.filters["f"] = lambda x, d=2: "–" if x is None else fixed(x, d)
    env.filters["g"] = lambda x: "–" if x is None else f"{x:.4g}"
    env.filters["n"] = lambda x: "–" if x is None else f"{x:,.0f}"
    env.filters["extract"] = lambda key, mapping: mapping[key]
    env.filters["lcfirst"] = lcfirst
    # a sampled probability's exact value where there is one (the appendix reports exact values)
    env.filters["exact_p"] = lambda d, key: d.get(f"{key}_exact", d[key])
    env.filters["pct"] = lambda x, d=0: "–" if x is None else f"{100 * x:.{d}f}%"
    env.filters["interval"] = lambda e: (
        f"{estimate(e['median'])} ({estimate(e['lower'])} to {estimate(e['upper'])})"
    )
    return env


def probability(x: float | None, digits: int = 3) -> str:
    """A probability with ``digits`` decimals on every row; bounds where that would print 0 or 1.

    ``probability(0.4058) == "0.406"``, ``probability(2e-6) == "< 0.001"``, and exactly 0 or 1
    print as such.
    """
    if x is None:
        return "–"
    floor = 10.0 ** -digits
    if 0 < x < floor / 2:
        return f"< {floor:.{digits}f}"
    if 1 - floor / 2 < x < 1:
        return f"> {1 - floor:.{digits}f}"
    return fixed(x, digits)


def estimate(x: float) -> str:
    """An estimate to three significant digits (0.600, -0.0386, 12.3), no "-0.00"."""
    from lnbayes.model.effects import format_estimate

    if x == 0:
        return "0"
    text = format_estimate(x)
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def lcfirst(text: str) -> str:
    """Lower-case a label's first letter for use mid-sentence, but not an acronym's ("COVID")."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def merge_user_regions(new_text: str, old_text: str | None) -> str:
    """Carry the hand-written regions of the previous Markdown into the new one."""
    if not old_text:
        return new_text
    kept = {m.group("name"): m.group("body") for m in USER_REGION.finditer(old_text)}

    def put_back(m: re.Match) -> str:
        name = m.group("name")
        body = kept.get(name, m.group("body"))
        return f"<!-- lnbayes:user-begin {name} -->\n{body}<!-- lnbayes:user-end {name} -->"

    return USER_REGION.sub(put_back, new_text)


def render_markdown(report: dict[str, Any]) -> str:
    return _env().get_template("appendix.md.j2").render(r=report)


LATEX_UNICODE = {
    "≈": r"\ensuremath{\approx}", "≥": r"\ensuremath{\geq}", "≤": r"\ensuremath{\leq}",
    "×": r"\ensuremath{\times}", "−": r"\ensuremath{-}", "±": r"\ensuremath{\pm}",
    "→": r"\ensuremath{\rightarrow}", "θ": r"\ensuremath{\theta}", "μ": r"\ensuremath{\mu}",
    "σ": r"\ensuremath{\sigma}", "τ": r"\ensuremath{\tau}", "α": r"\ensuremath{\alpha}",
    "β": r"\ensuremath{\beta}", "γ": r"\ensuremath{\gamma}", "χ": r"\ensuremath{\chi}",
    "\u2009": r"\,", "\u2011": "-", "′": r"\ensuremath{'}", "²": r"\ensuremath{^2}",
    "·": r"\ensuremath{\cdot}", "✓": "yes",
    **{sup: rf"\ensuremath{{^{{{d}}}}}" for d, sup in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")},
}
"""Characters outside pdflatex's default T1/utf8 set that the appendix may contain."""

LATEX_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{lmodern}
\usepackage[margin=2.2cm]{geometry}
\usepackage{amsmath,amssymb}
\usepackage{graphicx}
\usepackage{longtable,booktabs,array}
\usepackage{calc}
\usepackage[hidelinks]{hyperref}
\usepackage{textcomp}
\usepackage{float}
\floatplacement{figure}{H}
%(unicode)s
\newcommand{\tightlist}{\setlength{\itemsep}{0pt}\setlength{\parskip}{0pt}}
\makeatletter
%% figures scaled to fit both the line width and most of the page height (as pandoc's template)
\newsavebox\pandoc@box
\newcommand*\pandocbounded[1]{%%
  \sbox\pandoc@box{#1}%%
  \Gscale@div\@tempa{0.82\textheight}{\dimexpr\ht\pandoc@box+\dp\pandoc@box\relax}%%
  \Gscale@div\@tempb{\linewidth}{\wd\pandoc@box}%%
  \ifdim\@tempb\p@<\@tempa\p@\let\@tempa\@tempb\fi
  \ifdim\@tempa\p@<\p@\scalebox{\@tempa}{\usebox\pandoc@box}%%
  \else\usebox{\pandoc@box}%%
  \fi}
%% the appendix numbers its figures itself ("Figure 1. ..."), so captions print only their text
\long\def\@makecaption#1#2{\vskip\abovecaptionskip\small #2\par\vskip\belowcaptionskip}
\makeatother
\setcounter{secnumdepth}{0}
\setlength{\parindent}{0pt}
\setlength{\parskip}{5pt plus 2pt}
\title{%(title)s}
\date{}
\begin{document}
\maketitle
"""


def markdown_to_latex(markdown: str, title: str) -> str:
    import pypandoc

    body = pypandoc.convert_text(
        _latex_figures(markdown), "latex", format="markdown",
        extra_args=["--wrap=preserve", "--shift-heading-level-by=-1"],
    )
    # anything else beyond what utf8 inputenc knows (Latin, dashes, quotes) prints as its name
    # rather than stopping pdflatex
    known_ok = set("–—‘’“”…")
    extra = {ch: f"[U+{ord(ch):04X}]" for ch in sorted(set(body) | set(title))
             if ord(ch) > 0x17F and ch not in LATEX_UNICODE and ch not in known_ok}
    unicode = "\n".join(
        f"\\DeclareUnicodeCharacter{{{ord(ch):04X}}}{{{tex}}}"
        for ch, tex in {**LATEX_UNICODE, **extra}.items()
    )
    preamble = LATEX_PREAMBLE % {"title": _latex_escape(title), "unicode": unicode}
    return preamble + body + "\n\\end{document}\n"


def _latex_figures(markdown: str) -> str:
    # vector PDF figures in LaTeX, PNG elsewhere
    return re.sub(r"\]\((figures/[^)]+)\.png\)", r"](\1.pdf)", markdown)


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"),
                 ("#", r"\#"), ("_", r"\_"), ("{", r"\{"), ("}", r"\}")):
        text = text.replace(a, b)
    return text


HTML_CSS = """
body { max-width: 52em; margin: 2em auto; padding: 0 1em; font-family: Georgia, 'Times New Roman', serif;
       line-height: 1.45; color: #222; }
h1, h2, h3 { font-family: Helvetica, Arial, sans-serif; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #444; }
img { max-width: 100%; }
figure { margin: 1.5em 0; }
figcaption { font-size: 0.9em; color: #444; }
code { font-size: 0.9em; }
"""


def markdown_to_html(markdown: str, title: str, resource_dir: Path) -> str:
    """Self-contained HTML: figures from ``resource_dir`` and the style sheet embedded."""
    import tempfile

    import pypandoc

    resource_dir = Path(resource_dir).resolve()  # pandoc runs in resource_dir: no relative paths
    with tempfile.TemporaryDirectory(prefix="lnbayes-") as tmp:
        css = Path(tmp) / "appendix.css"
        css.write_text(HTML_CSS, encoding="utf-8")
        return pypandoc.convert_text(
            markdown, "html5", format="markdown",
            extra_args=[
                "--standalone", "--embed-resources", "--mathml",
                f"--resource-path={resource_dir}", f"--css={css}",
                "--metadata", f"title={title}", "--metadata", "lang=en",
            ],
            cworkdir=str(resource_dir),
        )


def write_appendix(report: dict[str, Any], outdir: str | Path) -> dict[str, str]:
    """Write appendix.md (keeping hand-written regions), appendix.tex and appendix.html."""
    outdir = Path(outdir)
    md_path = outdir / "appendix.md"
    old = md_path.read_text(encoding="utf-8") if md_path.exists() else None
    markdown = merge_user_regions(render_markdown(report), old)
    files.write_text(md_path, markdown)
    title = f"Methods appendix: Bayesian re-analysis of {report['trial']['title']}"
    files.write_text(outdir / "appendix.tex", markdown_to_latex(markdown, title))
    files.write_text(outdir / "appendix.html", markdown_to_html(markdown, title, outdir))
    return {"md": "appendix.md", "tex": "appendix.tex", "html": "appendix.html"}
