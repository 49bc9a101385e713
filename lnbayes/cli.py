"""The ``lnbayes`` command line: thin typer wrappers over plain functions.

Heavy libraries (pymc, arviz, matplotlib) are imported inside the functions that need them, so
``lnbayes --help`` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from lnbayes.errors import LnbayesError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Bayesian sensitivity analysis of small two-arm trials with a binary outcome.",
)

TrialArg = Annotated[
    Optional[Path],
    typer.Argument(help="Trial file (TOML). Default: the embedded trial, models/deng2017.toml."),
]
OutcomeOpt = Annotated[Optional[str], typer.Option("--outcome", help="Outcome name (default: the primary outcome).")]
PriorOpt = Annotated[Optional[list[str]], typer.Option("--prior", help="Prior name; repeat for several (default: all).")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed (default: the trial file's).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]


def _fail(err: LnbayesError) -> None:
    for line in err.problems:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(2)


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, highlight=False, width=width)


def load_trial_or_inline(
    trial_file: Path | None, treatment: str | None, control: str | None, lower_is_better: bool
):
    from lnbayes import spec

    if treatment is not None or control is not None:
        if trial_file is not None:
            raise LnbayesError("<command line>: TRIAL_FILE: give a trial file or --treatment/--control, not both")
        if treatment is None or control is None:
            missing = "--control" if control is None else "--treatment"
            raise LnbayesError(f"<command line>: {missing}: an inline trial needs both --treatment and --control")
        return spec.inline_trial(treatment, control, lower_is_better)
    trial = spec.load_trial(trial_file)
    if lower_is_better:
        raise LnbayesError("<command line>: --lower-is-better: only for inline trials; a trial file says `better` per outcome")
    return trial


def parse_thresholds(texts: list[str] | None):
    from lnbayes.spec import THRESHOLD_SCALES, Threshold

    out = []
    for text in texts or []:
        scale, _, value = text.partition(":")
        scale = scale.strip().lower()
        try:
            number = float(value)
        except ValueError:
            raise LnbayesError(f"<command line>: --threshold: expected SCALE:VALUE such as rd:0.1, got {text!r}") from None
        if scale not in THRESHOLD_SCALES:
            raise LnbayesError(f"<command line>: --threshold: scale must be rd, rr or or, got {scale!r}")
        if scale in ("rr", "or") and number <= 0:
            raise LnbayesError(f"<command line>: --threshold: a ratio threshold must be > 0, got {number}")
        out.append(Threshold(scale, number))
    return tuple(out) if out else None


def default_outdir(trial) -> Path:
    return Path("reports") / trial.id


@app.command()
def analyze(
    trial_file: TrialArg = None,
    outcome: OutcomeOpt = None,
    prior: PriorOpt = None,
    engine: Annotated[str, typer.Option("--engine", help="exact or pymc (PyMC, checked against exact).")] = "pymc",
    seed: SeedOpt = None,
    json_out: JsonOpt = False,
    treatment: Annotated[Optional[str], typer.Option("--treatment", help="Inline trial: treatment arm events/n, e.g. 9/12.")] = None,
    control: Annotated[Optional[str], typer.Option("--control", help="Inline trial: control arm events/n, e.g. 5/6.")] = None,
    lower_is_better: Annotated[bool, typer.Option("--lower-is-better", help="Inline trial: the outcome is harmful (fewer events is benefit).")] = False,
    threshold: Annotated[Optional[list[str]], typer.Option("--threshold", help="Clinically meaningful effect SCALE:VALUE (rd, rr, or), e.g. rd:0.1; repeatable. Default: the file's.")] = None,
    draws: Annotated[int, typer.Option("--draws", min=100, help="PyMC draws per chain.")] = 2000,
    tune: Annotated[int, typer.Option("--tune", min=100, help="PyMC tuning steps per chain.")] = 1000,
    outdir: Annotated[Optional[Path], typer.Option("--outdir", help="Where results are written (default reports/<trial>).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit with status 1 if a PyMC run fails its diagnostics or disagrees with exact.")] = False,
) -> None:
    """Posterior probability of benefit and effect estimates, for each prior."""
    try:
        if engine not in ("exact", "pymc"):
            raise LnbayesError(f"<command line>: --engine: must be exact or pymc, got {engine!r}")
        trial = load_trial_or_inline(trial_file, treatment, control, lower_is_better)
        thresholds = parse_thresholds(threshold)
        outcome_obj = trial.outcome(outcome)
        trial.priors_for(outcome_obj, prior)  # names checked before any work
    except LnbayesError as err:
        _fail(err)
    from lnbayes import analysis, io
    from lnbayes.pymc_engine import SamplerSettings

    settings = SamplerSettings(draws=draws, tune=tune)
    status = _console(stderr=True)
    with status.status("analysing...") as spinner:
        def on_prior(name: str, i: int, n: int) -> None:
            spinner.update(f"prior {i + 1}/{n}: {name} ({engine})")

        result = analysis.analyze(
            trial, outcome, prior, engine=engine, seed=seed, settings=settings,
            outdir=outdir or default_outdir(trial), thresholds=thresholds, on_prior=on_prior,
        )
    clean = analysis.strip_datatrees(result)
    if json_out:
        sys.stdout.write(io.dumps(clean))
    else:
        from lnbayes.tables import print_analysis

        print_analysis(clean, _console())
    bad = [r for r in clean["results"] if r["engine"] == "pymc" and (
        not r["diagnostics"]["converged"] or not r["agrees_with_exact"])]
    for r in bad:
        problems = r["diagnostics"]["problems"] or []
        if not r["agrees_with_exact"]:
            problems = problems + [f"disagrees with the exact engine (|z| = {r['p_benefit_z']:.1f} MCSE)"]
        status.print(f"[bold red]WARNING[/]: prior {r['prior']}: " + "; ".join(problems))
    if bad and strict:
        raise typer.Exit(1)


@app.command()
def validate(
    trial_files: Annotated[list[Path], typer.Argument(help="Trial files to check.")],
) -> None:
    """Check trial files and report every problem with its location."""
    from lnbayes import spec

    failed = False
    for path in trial_files:
        try:
            trial = spec.load_trial(path)
        except LnbayesError as err:
            failed = True
            for line in err.problems:
                typer.echo(f"error: {line}", err=True)
            continue
        typer.echo(
            f"{path}: ok: trial {trial.id}, {len(trial.outcomes)} outcomes "
            f"(primary: {trial.primary_outcome.name}), {len(trial.priors)} priors"
        )
    if failed:
        raise typer.Exit(2)


# --- issue 3: priors ---


@app.command()
def priors(
    trial_file: TrialArg = None,
    outcome: OutcomeOpt = None,
    prior: PriorOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """What each prior says and implies before the data: P(benefit), interval, ESS, conflict."""
    from lnbayes import priorlib, spec

    try:
        trial = spec.load_trial(trial_file)
        result = priorlib.priors_report(trial, outcome, prior)
    except LnbayesError as err:
        _fail(err)
    if json_out:
        from lnbayes import io

        sys.stdout.write(io.dumps(result))
    else:
        from lnbayes.tables import print_priors

        print_priors(result, _console())


def main() -> None:  # pragma: no cover - console script entry point
    app()
