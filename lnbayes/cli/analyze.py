"""``lnbayes analyze``: P(benefit) and effect estimates for each prior, both engines."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from lnbayes.cli import options as opt
from lnbayes.cli.options import JsonOpt, OutcomeOpt, PriorOpt, QueryOutdirOpt, SeedOpt, TrialArg
from lnbayes.errors import LnbayesError


def analyze(
    trial_file: TrialArg = None,
    outcome: OutcomeOpt = None,
    prior: PriorOpt = None,
    engine: Annotated[str, opt.engine_option("pymc (PyMC, checked against exact) or exact (no sampling).")] = "pymc",
    seed: SeedOpt = None,
    json_out: JsonOpt = False,
    treatment: Annotated[Optional[str], typer.Option("--treatment", help="Inline trial: treatment arm events/n, e.g. 9/12.")] = None,
    control: Annotated[Optional[str], typer.Option("--control", help="Inline trial: control arm events/n, e.g. 5/6.")] = None,
    lower_is_better: Annotated[bool, typer.Option("--lower-is-better", help="Inline trial: the outcome is harmful (fewer events is benefit).")] = False,
    threshold: Annotated[Optional[list[str]], typer.Option("--threshold", help="Clinically meaningful effect SCALE:VALUE (rd, rr, or), e.g. rd:0.1; repeatable. Default: the file's.")] = None,
    draws: Annotated[int, typer.Option("--draws", min=100, help="PyMC draws per chain.")] = 2000,
    tune: Annotated[int, typer.Option("--tune", min=100, help="PyMC tuning steps per chain.")] = 1000,
    outdir: QueryOutdirOpt = None,
    criterion: opt.CriterionOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit with status 1 if a PyMC run fails its diagnostics or disagrees with exact.")] = False,
) -> None:
    """Posterior probability of benefit and effect estimates, for each prior."""
    trial = opt.load_trial_or_inline(trial_file, treatment, control, lower_is_better)
    thresholds = opt.parse_thresholds(threshold)
    criteria = opt.parse_criteria(criterion)
    if outcome == "all" and "all" not in trial.outcomes:
        if criteria:
            raise LnbayesError("<command line>: --criterion: not with --outcome all (a decision rule is for one outcome)")
        if thresholds:
            raise LnbayesError("<command line>: --threshold: not with --outcome all (each outcome uses its own thresholds)")
        if prior:
            trial.priors_for(trial.primary_outcome, prior)  # unknown names fail before any work
        return _analyze_all(trial, prior, engine, seed, json_out, draws, tune,
                            opt.query_outdir(trial, outdir), strict)
    outcome_obj = trial.outcome(outcome)
    trial.priors_for(outcome_obj, prior)  # names checked before any work
    target = opt.query_outdir(trial, outdir)
    from lnbayes.analyses import reanalysis
    from lnbayes.engines.mcmc import SamplerSettings
    from lnbayes.io import files

    settings = SamplerSettings(draws=draws, tune=tune)
    status = opt.console(stderr=True)
    with status.status("analysing...") as spinner:
        def on_prior(name: str, i: int, n: int) -> None:
            spinner.update(f"prior {i + 1}/{n}: {name} ({engine})")

        result = reanalysis.analyze(
            trial, outcome, prior, engine=engine, seed=seed, settings=settings,
            outdir=target, thresholds=thresholds, on_prior=on_prior,
        )
    clean = reanalysis.strip_datatrees(result)
    if criteria:
        from lnbayes.analyses import decisions

        clean["decision_rule"] = decisions.evaluate(trial, outcome, prior, criteria)
    if json_out:
        sys.stdout.write(files.dumps(clean))
    else:
        from lnbayes.outputs.tables import print_analysis

        print_analysis(clean, opt.console())
        if criteria:
            from lnbayes.outputs.criteria_tables import print_criteria

            print_criteria(clean["decision_rule"], opt.console())
    bad = [r for r in clean["results"] if r["engine"] == "pymc" and (
        not r["diagnostics"]["converged"] or not r["agrees_with_exact"])]
    for r in bad:
        problems = r["diagnostics"]["problems"] or []
        if not r["agrees_with_exact"]:
            problems = problems + [f"disagrees with the exact engine (|z| = {r['p_benefit_z']:.1f} MCSE)"]
        status.print(f"[bold red]WARNING[/]: prior {r['prior']}: " + "; ".join(problems))
    if bad and strict:
        raise typer.Exit(1)



def _analyze_all(trial, prior, engine, seed, json_out, draws, tune, outdir, strict) -> None:
    """``analyze --outcome all``: every outcome, each with the priors that apply to it."""
    from lnbayes.analyses import reanalysis
    from lnbayes.engines.mcmc import SamplerSettings
    from lnbayes.io import files

    settings = SamplerSettings(draws=draws, tune=tune)
    status = opt.console(stderr=True)
    with status.status("analysing...") as spinner:
        def on_prior(name: str, i: int, n: int) -> None:
            spinner.update(f"prior {i + 1}/{n}: {name} ({engine})")

        result = reanalysis.analyze_all(
            trial, prior, engine=engine, seed=seed, settings=settings,
            outdir=outdir, on_prior=on_prior,
        )
    clean = reanalysis.strip_datatrees(result)
    if json_out:
        sys.stdout.write(files.dumps(clean))
    else:
        from lnbayes.outputs.decision_tables import print_benefit_harm, print_evidence
        from lnbayes.outputs.tables import print_analysis

        console = opt.console()
        for entry in clean["outcomes"]:
            print_analysis(entry, console)
            print_evidence(entry, console)
        print_benefit_harm(clean, console)
    bad = [
        (e["outcome"], r) for e in clean["outcomes"] for r in e["results"]
        if r["engine"] == "pymc" and (not r["diagnostics"]["converged"] or not r["agrees_with_exact"])
    ]
    for name, r in bad:
        problems = list(r["diagnostics"]["problems"] or [])
        if not r["agrees_with_exact"]:
            problems.append("disagrees with the exact engine")
        status.print(f"[bold red]WARNING[/]: {name} / prior {r['prior']}: " + "; ".join(problems))
    if bad and strict:
        raise typer.Exit(1)
