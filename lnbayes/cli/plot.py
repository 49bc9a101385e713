"""``lnbayes plot``: publication figures of a re-analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lnbayes.cli import options as opt
from lnbayes.cli.options import OutcomeOpt, PriorOpt, SeedOpt, TrialArg


def plot(
    trial_file: TrialArg = None,
    outcome: OutcomeOpt = None,
    prior: PriorOpt = None,
    outdir: Annotated[Optional[Path], typer.Option("--outdir", help="Where figures are written (default runs/<trial>/figures).")] = None,
    formats: Annotated[str, typer.Option("--format", help="Comma-separated: png (300 dpi), pdf, svg.")] = "png,pdf",
    engine: Annotated[str, opt.engine_option("pymc (adds MCMC overlays, power-scaling and rank plots) or exact (fast).")] = "pymc",
    seed: SeedOpt = None,
    draws: Annotated[int, typer.Option("--draws", min=100, help="PyMC draws per chain.")] = 2000,
    tune: Annotated[int, typer.Option("--tune", min=100, help="PyMC tuning steps per chain.")] = 1000,
) -> None:
    """Publication figures: prior/posterior, forest, arms, P(benefit), sweep, sensitivity."""
    fmt_list = opt.parse_formats(formats)
    trial = opt.load_trial_or_inline(trial_file, None, None, False)
    outcome_obj = trial.outcome(outcome)
    trial.priors_for(outcome_obj, prior)  # names checked before any work
    target = opt.query_outdir(trial, outdir, sub="figures")
    from lnbayes.engines.mcmc import SamplerSettings
    from lnbayes.outputs.figures import figure_set

    with opt.console(stderr=True).status("analysing...") as spinner:
        written = figure_set.write_figures(
            trial, outcome_obj.name, prior, target, fmt_list, engine=engine, seed=seed,
            settings=SamplerSettings(draws=draws, tune=tune), progress=spinner.update)
    for path in written:
        typer.echo(str(path))
