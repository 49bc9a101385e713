"""``lnbayes report``: the whole re-analysis with figures and a methods appendix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lnbayes.cli import options as opt
from lnbayes.cli.options import SeedOpt, TrialArg


def report(
    trial_file: TrialArg = None,
    outdir: Annotated[Optional[Path], typer.Option("--outdir", help="Where the report is written (default reports/<trial>).")] = None,
    seed: SeedOpt = None,
    engine: Annotated[str, opt.engine_option("pymc (the full report: PyMC checked against exact) or exact (a draft without MCMC, for checking a trial file quickly).")] = "pymc",
    draws: Annotated[int, typer.Option("--draws", min=100, help="PyMC draws per chain.")] = 2000,
    tune: Annotated[int, typer.Option("--tune", min=100, help="PyMC tuning steps per chain.")] = 1000,
    explorer: Annotated[bool, typer.Option("--explorer/--no-explorer", help="Also write explorer.html, the interactive explorer (minutes of exact grids; lnbayes explore writes it alone).")] = True,
) -> None:
    """The whole re-analysis with figures and a methods appendix (Markdown, LaTeX, HTML)."""
    import time

    from lnbayes.io import trialfile

    trial = trialfile.load_trial(trial_file)
    from lnbayes.analyses import full_report
    from lnbayes.outputs import report as report_mod

    full_report.preflight(trial)
    target = opt.prepare_outdir(outdir if outdir is not None else opt.REPORTS / trial.id)
    from lnbayes.engines.mcmc import SamplerSettings

    started = time.time()
    console = opt.console(stderr=True)
    with console.status("starting...") as spinner:
        def progress(message: str) -> None:
            spinner.update(f"[{time.time() - started:5.0f} s] {message}")

        report_mod.write_report(
            trial, target, seed=seed, settings=SamplerSettings(draws=draws, tune=tune),
            engine=engine, progress=progress, explorer=explorer,
        )
    console.print(f"Report written to {target}/ (results.json, appendix.md, appendix.tex, appendix.html)")
    console.print(f"Elapsed: {time.time() - started:.0f} s")
