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
    written = plot_figures(trial, outcome_obj.name, prior, target, fmt_list, engine=engine,
                           seed=seed, draws=draws, tune=tune)
    for path in written:
        typer.echo(str(path))


def plot_figures(trial, outcome_name, prior_names, outdir, formats, engine="pymc", seed=None,
                 draws=2000, tune=1000, sweep=None) -> list:
    """Analyse (without writing results) and write every figure; returns the paths written."""
    from lnbayes.analyses import figure_data, reanalysis
    from lnbayes.engines.mcmc import SamplerSettings
    from lnbayes.outputs.figures import figure_set

    status = opt.console(stderr=True)
    with status.status("analysing...") as spinner:
        def on_prior(name: str, i: int, n: int) -> None:
            spinner.update(f"prior {i + 1}/{n}: {name} ({engine})")

        result = reanalysis.analyze(
            trial, outcome_name, prior_names, engine=engine, seed=seed,
            settings=SamplerSettings(draws=draws, tune=tune), outdir=None, on_prior=on_prior,
        )
        spinner.update("drawing figures...")
        outcome = trial.outcome(outcome_name)
        data = figure_data.figure_data(trial, outcome, result, sweep=sweep, seed=seed)
        figs = figure_set.make_figures(trial, outcome, result, data)
        spinner.update("writing figures...")
        return figure_set.save_figures(figs, outdir, formats)
