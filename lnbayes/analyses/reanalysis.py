"""Re-analysis of one outcome under a set of priors, with the exact engine and with PyMC.

Plain functions returning plain dicts (the JSON contract of ``lnbayes analyze --json``); the
CLI and the report layer only format and write them.
"""

from __future__ import annotations

import copy
import zlib
from pathlib import Path
from typing import Any, Callable, Mapping

from lnbayes.analyses import bayes_factors
from lnbayes.engines import exact
from lnbayes.io import files
from lnbayes.model.spec import Outcome, Prior, Threshold, Trial

ENGINES = ("exact", "pymc")
AGREEMENT_MCSE = 3.0
"""A sampled probability agrees with the exact one when they differ by at most 3 MCSE."""


def prior_seed(seed: int, outcome: str, prior: str) -> int:
    """A per-(outcome, prior) seed derived from the run's seed, independent of run order."""
    return (seed * 1_000_003 + zlib.crc32(f"{outcome}/{prior}".encode())) % (2**32)


def outcome_record(trial: Trial, outcome: Outcome) -> dict[str, Any]:
    return {
        "name": outcome.name,
        "label": outcome.label,
        "better": outcome.better,
        "primary": outcome.primary,
        "treatment": {"name": trial.treatment_name, "events": outcome.treatment_events,
                      "n": outcome.treatment_n},
        "control": {"name": trial.control_name, "events": outcome.control_events,
                    "n": outcome.control_n},
        "source": outcome.source,
        "thresholds": [{"scale": t.scale, "value": t.value} for t in outcome.thresholds],
        "threshold_consistency": threshold_consistency(outcome),
    }


def threshold_consistency(outcome: Outcome) -> dict[str, Any]:
    """The outcome's thresholds and ROPE restated on every scale at its control rate."""
    from lnbayes.model import thresholds

    p_control, basis = thresholds.control_rate(outcome.control_events, outcome.control_n)
    out = thresholds.consistency([(t.scale, t.value) for t in outcome.thresholds], outcome.rope,
                                 outcome.lower_is_better, p_control)
    out["basis"] = basis
    return out


def prior_record(prior: Prior) -> dict[str, Any]:
    return {
        "name": prior.name,
        "label": prior.label,
        "role": prior.role,
        "family": prior.family,
        "description": prior.describe(),
        "parameters": prior.parameters(),
        "statement": prior.statement,
        "justification": prior.justification,
        "citations": list(prior.citations),
    }


def exact_result(prior: Prior, outcome: Outcome, thresholds: tuple[Threshold, ...]) -> dict[str, Any]:
    post = exact.posterior(prior, outcome)
    summary = exact.summarise(post, outcome, thresholds)
    return {
        "prior": prior.name,
        "engine": "exact",
        "p_benefit": summary["p_benefit"],
        "p_benefit_mcse": None,
        "p_benefit_exact": summary["p_benefit"],
        "agrees_with_exact": None,
        "thresholds": [dict(t, p_mcse=None, p_exact=t["p"]) for t in summary["thresholds"]],
        "estimates": {m: dict(v, exact=dict(v)) for m, v in summary["estimates"].items()},
        "diagnostics": None,
        "log_evidence": post.log_evidence,
        "evidence": bayes_factors.evidence_summary(prior, outcome, post),
    }


def agreement(sampled: float, exact_value: float, mcse: float, n_draws: int) -> dict[str, Any]:
    """Whether a sampled probability lies within 3 MCSE of the exact one.

    When every draw falls on one side the MCSE estimate is 0; then 1 / n_draws stands in for it.
    """
    scale = max(mcse, 1.0 / n_draws)
    z = abs(sampled - exact_value) / scale
    return {"z": z, "agrees": bool(z <= AGREEMENT_MCSE)}


def run_key(prior: Prior, outcome: Outcome, seed: int, settings) -> str:
    """What determines a PyMC run's draws: prior, counts, seed, settings, package versions and
    the form of the PyMC model (:data:`lnbayes.engines.mcmc.MODEL_FORM`)."""
    import hashlib

    from lnbayes.engines.mcmc import MODEL_FORM

    versions = {k: v for k, v in files.versions().items() if k != "lnbayes"}
    blob = files.dumps({
        "prior": prior.parameters(),
        "counts": [outcome.treatment_events, outcome.treatment_n, outcome.control_events,
                   outcome.control_n],
        "seed": seed, "settings": settings.as_dict(), "versions": versions,
        "model_form": MODEL_FORM,
    })
    return hashlib.sha256(blob.encode()).hexdigest()


DIGEST_ATTR = "lnbayes_draws_sha256"
"""Attribute of a saved posterior holding :func:`lnbayes.io.files.datatree_digest` of its draws,
salted with its ``lnbayes_key``."""


def saved_draws_problem(datatree, key: str, prior: Prior, settings) -> str | None:
    """Why saved draws with run key ``key`` cannot stand for a fit of ``prior``; None if they can.

    The draws must be complete (:func:`lnbayes.engines.mcmc.draws_problem`: every variable,
    chains x draws, no NaN, consistent derived effects) and their checksum must match. Files
    written before checksums were added (no ``lnbayes_draws_sha256``) are accepted on the
    completeness checks alone, so that a committed report keeps its draws.
    """
    from lnbayes.engines import mcmc

    problem = mcmc.draws_problem(datatree, prior, settings)
    if problem is not None:
        return f"incomplete draws ({problem})"
    digest = datatree.attrs.get(DIGEST_ATTR)
    if digest is not None and digest != files.datatree_digest(datatree, key):
        return "the draws do not match their checksum (the file was changed or damaged)"
    return None


def _cached_draws(netcdf_path: Path | None, key: str, prior: Prior, settings):
    """Draws saved by an earlier run with the same key (an interrupted run resumes from them).

    A file of another run (another key: other settings, seed, counts or versions) is replaced
    without a word; an unreadable, incomplete or altered one with a warning on stderr.
    """
    if netcdf_path is None or not Path(netcdf_path).exists():
        return None
    try:
        datatree = files.read_netcdf(netcdf_path)
    except OSError as err:  # io.UnreadableFile, or a file that cannot be opened at all
        reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err.strerror or err}"
        files.warn(f"{netcdf_path}: saved draws unreadable ({reason}); sampling again")
        return None
    if datatree.attrs.get("lnbayes_key") != key:
        return None
    problem = saved_draws_problem(datatree, key, prior, settings)
    if problem is not None:
        files.warn(f"{netcdf_path}: saved draws not used: {problem}; sampling again")
        return None
    return datatree


SUMMARY_ALGORITHM = "draw-summaries-2"
"""Version of :func:`draw_summaries`' computation, part of its record-cache key: change it
whenever a change of code (``engines.draws``, ``analyses.sensitivity``) changes a number in
them."""

SUMMARY_PACKAGES = ("numpy", "scipy", "xarray", "arviz-base", "arviz-stats")
"""Packages whose versions are part of the key of :func:`draw_summaries` (the draws' own
digest is salted with the run key, which holds every package version, but the same draws may
be summarised by newer packages)."""


def draw_summaries(datatree, prior: Prior, outcome: Outcome, thresholds: tuple[Threshold, ...],
                   digest: str | None) -> dict[str, Any]:
    """The summaries of a fit's draws: P(benefit) and thresholds with MCSE, intervals
    (``drawn``), convergence ``diagnostics``, ``power_scaling`` and the ROPE (``rope``).

    Pure functions of the draws (with their log densities), the thresholds and the ROPE, which
    take ~0.15 s a fit; with the draws' ``digest`` (:func:`lnbayes.io.files.datatree_digest`
    salted with the run key, as saved in the NetCDF file) they are kept in the record cache
    (folder ``draw_summaries``), so that a report re-run on saved draws reads them back. A fit
    without a digest is summarised afresh.
    """
    from lnbayes.analyses import sensitivity
    from lnbayes.engines import draws

    def compute() -> dict[str, Any]:
        return {
            "drawn": draws.draws_summary(datatree, outcome, thresholds),
            "diagnostics": draws.diagnostics(datatree),
            "power_scaling": sensitivity.power_scaling(datatree, prior, outcome),
            "rope": (None if outcome.rope is None
                     else draws.rope_probability(datatree, outcome.rope)),
        }

    if digest is None:
        return compute()
    from lnbayes.io import record_cache

    versions = files.versions()
    spec = {"algorithm": SUMMARY_ALGORITHM, "draws": digest,
            "thresholds": [[t.scale, t.value] for t in thresholds],
            "rope": None if outcome.rope is None else list(outcome.rope),
            "lower_is_better": bool(outcome.lower_is_better),
            "versions": {k: versions.get(k) for k in SUMMARY_PACKAGES}}
    # the order of the variables in the diagnostics is the order of the appendix's rows (and
    # of ties between sensitivities)
    return record_cache.cached("draw_summaries", spec, compute, keep_order=True)



def pymc_result(
    prior: Prior, outcome: Outcome, thresholds: tuple[Threshold, ...], seed: int, settings,
    netcdf_path: Path | None, provenance: dict[str, Any],
    exact_part: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One prior's PyMC result beside its exact one (``exact_part``: :func:`exact_result` of the
    same prior, outcome and thresholds when the caller has it, else computed here)."""
    from lnbayes.analyses import sensitivity
    from lnbayes.engines import mcmc

    if exact_part is None:
        exact_part = exact_result(prior, outcome, thresholds)
    key = run_key(prior, outcome, seed, settings)
    datatree = _cached_draws(netcdf_path, key, prior, settings)
    from_cache = datatree is not None
    if datatree is None:
        datatree = mcmc.sample(prior, outcome, seed=seed, settings=settings)
    sensitivity.attach_log_densities(datatree, prior, outcome)  # kept in the NetCDF file too
    if from_cache:  # checked against the draws by saved_draws_problem, where there is one
        digest = datatree.attrs.get(DIGEST_ATTR)
    else:  # as it is saved with the draws (computed here only where they are saved)
        digest = None if netcdf_path is None else files.datatree_digest(datatree, key)
    summaries = draw_summaries(datatree, prior, outcome, thresholds, digest)
    drawn, diag = summaries["drawn"], summaries["diagnostics"]
    power_scaling = summaries["power_scaling"]
    n = drawn["n_draws"]
    agree = agreement(drawn["p_benefit"], exact_part["p_benefit"], drawn["p_benefit_mcse"], n)
    rows = []
    for t_draw, t_exact in zip(drawn["thresholds"], exact_part["thresholds"]):
        a = agreement(t_draw["p"], t_exact["p"], t_draw["p_mcse"], n)
        rows.append(dict(t_draw, p_exact=t_exact["p"], agrees_with_exact=a["agrees"], z=a["z"]))
    estimates = {
        m: dict(v, exact=exact_part["estimates"][m]["exact"]) for m, v in drawn["estimates"].items()
    }
    evidence = dict(exact_part["evidence"])
    if outcome.rope is not None:
        rope_exact = evidence["rope"]
        drawn_rope = summaries["rope"]
        a = agreement(drawn_rope["p_inside"], rope_exact["p_inside"],
                      drawn_rope["p_inside_mcse"], n)
        evidence["rope"] = dict(rope_exact, **drawn_rope, p_inside_exact=rope_exact["p_inside"],
                                agrees_with_exact=a["agrees"], z=a["z"])
    all_agree = agree["agrees"] and all(r["agrees_with_exact"] for r in rows)
    if netcdf_path is not None and not from_cache:
        datatree.attrs.update(
            {
                "lnbayes_key": key,
                DIGEST_ATTR: digest,
                "lnbayes_prior": prior.name,
                "lnbayes_outcome": outcome.name,
                "lnbayes_seed": seed,
                "lnbayes_settings": files.dumps(settings.as_dict()),
                "lnbayes_provenance": files.dumps(provenance),
            }
        )
        files.write_netcdf(netcdf_path, datatree)
    return {
        "prior": prior.name,
        "engine": "pymc",
        "seed": seed,
        "p_benefit": drawn["p_benefit"],
        "p_benefit_mcse": drawn["p_benefit_mcse"],
        "p_benefit_exact": exact_part["p_benefit"],
        "agrees_with_exact": all_agree,
        "p_benefit_z": agree["z"],
        "thresholds": rows,
        "estimates": estimates,
        "diagnostics": diag,
        "power_scaling": power_scaling,
        "log_evidence": exact_part["log_evidence"],
        "evidence": evidence,
        "netcdf": str(netcdf_path) if netcdf_path is not None else None,
        "from_cache": from_cache,
        "datatree": datatree,
    }


def analyze(
    trial: Trial,
    outcome_name: str | None = None,
    prior_names: list[str] | None = None,
    engine: str = "pymc",
    seed: int | None = None,
    settings=None,
    outdir: str | Path | None = None,
    thresholds: tuple[Threshold, ...] | None = None,
    on_prior: Callable[[str, int, int], None] | None = None,
    exact_results: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Analyse one outcome of ``trial`` under each prior; returns the JSON-ready result.

    ``outdir`` receives ``<outcome>.json`` and, for PyMC, one NetCDF file per prior under
    ``posterior/``; each file is written atomically as soon as it is complete.
    ``exact_results``: for PyMC, the exact results by prior name of the same outcome and
    thresholds already computed (``engine="exact"``), so that they are not computed again.
    """
    from lnbayes.engines.mcmc import SamplerSettings

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}")
    outcome = trial.outcome(outcome_name)
    priors = trial.priors_for(outcome, prior_names)
    thresholds = outcome.thresholds if thresholds is None else tuple(thresholds)
    seed = trial.seed if seed is None else seed
    settings = settings or SamplerSettings()
    provenance = {
        "command": files.command_line(),
        "trial_file": trial.source_path,
        "trial_file_sha256": files.file_sha256(trial.source_path) if trial.source_path else None,
        "seed": seed,
        "engine": engine,
        "sampler_settings": settings.as_dict() if engine == "pymc" else None,
        "versions": files.versions(),
    }
    if outdir is not None:
        # temporary files of a run that was killed (SIGKILL, power cut): any other stop removes
        # its own, and a write into the folder removes these too, but a resumed run may not
        # write into posterior/ again
        for folder in (Path(outdir), Path(outdir) / "posterior"):
            files.remove_stale_parts(folder)
    results = []
    for i, prior in enumerate(priors):
        if on_prior:
            on_prior(prior.name, i, len(priors))
        if engine == "exact":
            result = exact_result(prior, outcome, thresholds)
        else:
            nc = None if outdir is None else Path(outdir) / "posterior" / f"{outcome.name}__{prior.name}.nc"
            known = (exact_results or {}).get(prior.name)
            result = pymc_result(
                prior, outcome, thresholds, prior_seed(seed, outcome.name, prior.name), settings,
                nc, provenance, exact_part=None if known is None else copy.deepcopy(known),
            )
        result["prior_info"] = prior_record(prior)
        results.append(result)
    out = {
        "trial": trial.id,
        "title": trial.title,
        "outcome": outcome.name,
        "outcome_info": outcome_record(trial, outcome),
        "engine": engine,
        "results": results,
        "provenance": provenance,
    }
    if outdir is not None:
        path = Path(outdir) / f"analysis_{outcome.name}_{engine}.json"
        files.write_json(path, strip_datatrees(out))
        out["written"] = str(path)
    return out


def strip_datatrees(obj: Any) -> Any:
    """The result without the in-memory DataTrees (for JSON)."""
    if isinstance(obj, dict):
        return {k: strip_datatrees(v) for k, v in obj.items() if k != "datatree"}
    if isinstance(obj, list):
        return [strip_datatrees(v) for v in obj]
    return obj


BENEFIT_HARM_NOTE = (
    "Outcomes are analysed separately, one posterior per outcome, and no joint probability of "
    "benefit and no harm is given: the trial reports each outcome's counts only, which cannot "
    "tell how the outcomes depend on each other within patients (a death, for example, is often "
    "also a serious adverse event), and a product of marginal probabilities would assume they "
    "are independent. Each safety outcome is reported under the priors that apply to it."
)


def analyze_all(
    trial: Trial,
    prior_names: list[str] | None = None,
    engine: str = "pymc",
    seed: int | None = None,
    settings=None,
    outdir: str | Path | None = None,
    on_prior: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Analyse every outcome of ``trial`` with the priors that apply to it.

    Each outcome's entry is the single-outcome result of :func:`analyze` (its own direction,
    thresholds and ROPE). ``prior_names`` restricts the priors; each outcome gets those of them
    that apply to it (``Prior.applies_to``). Adds the benefit-harm summary per prior.
    """
    entries = []
    for outcome in trial.outcomes.values():
        names = [p.name for p in trial.priors_for(outcome, prior_names)
                 if p.applies_to(outcome.name)]
        if not names:
            continue
        entries.append(analyze(trial, outcome.name, names, engine=engine, seed=seed,
                               settings=settings, outdir=outdir, on_prior=on_prior))
    out = {
        "trial": trial.id,
        "title": trial.title,
        "engine": engine,
        "outcomes": entries,
        "benefit_harm": benefit_harm(trial, entries),
        "provenance": entries[0]["provenance"] if entries else None,
    }
    if outdir is not None:
        path = Path(outdir) / f"analysis_all_{engine}.json"
        clean = strip_datatrees(out)
        for entry in clean["outcomes"]:
            entry.pop("written", None)
        files.write_json(path, clean)
        out["written"] = str(path)
    return out


def benefit_harm(trial: Trial, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Benefit on the primary outcome and harm on each safety outcome, side by side.

    Benefit: P(benefit) and P(beyond each clinically meaningful threshold) on the primary
    outcome under each of its priors. Harm on a safety outcome: P(any harm), i.e. the treatment
    arm worse (P(p_treatment > p_control) when fewer events are better, = 1 - P(benefit)), and
    P(harm beyond its margin) (:func:`lnbayes.model.spec.harm_margin`), under each prior that
    applies to that outcome, so no row mixes two priors. Exact probabilities are used (for PyMC
    runs too: they are checked against the draws). No joint probability: see
    :data:`BENEFIT_HARM_NOTE`.
    """
    from lnbayes.engines import exact
    from lnbayes.model.effects import MEASURE_OF_SCALE
    from lnbayes.model.spec import harm_margin

    by_outcome = {e["outcome"]: e for e in entries}
    primary = trial.primary_outcome.name
    benefit = []
    for result in by_outcome.get(primary, {}).get("results", []):
        benefit.append({
            "prior": result["prior"],
            "p_benefit": result["p_benefit_exact"],
            "meaningful": [{"scale": t["scale"], "value": t["value"], "p": t["p_exact"]}
                           for t in result["thresholds"]],
        })
    safety = []
    for outcome in trial.outcomes.values():
        if not outcome.safety or outcome.name not in by_outcome:
            continue
        margin, source = harm_margin(outcome)
        rows = []
        for result in by_outcome[outcome.name]["results"]:
            row = {"prior": result["prior"], "p_harm": 1.0 - result["p_benefit_exact"],
                   "p_harm_beyond_margin": None}
            if margin is not None:
                post = exact.posterior(trial.priors[result["prior"]], outcome)
                # Harm lies on the side opposite to benefit: beyond the margin in that direction.
                row["p_harm_beyond_margin"] = post.prob_beyond(
                    MEASURE_OF_SCALE[margin.scale], margin.value,
                    lower_is_better=not outcome.lower_is_better)
            rows.append(row)
        safety.append({
            "outcome": outcome.name,
            "label": outcome.label,
            "margin": None if margin is None else {"scale": margin.scale, "value": margin.value,
                                                   "source": source},
            "by_prior": rows,
        })
    return {
        "primary_outcome": primary,
        "safety_outcomes": [s["outcome"] for s in safety],
        "benefit": benefit,
        "safety": safety,
        "note": BENEFIT_HARM_NOTE,
    }
