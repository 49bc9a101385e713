"""``lnbayes explore``: the interactive explorer of readers' own priors, one HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lnbayes.cli import options as opt
from lnbayes.cli.options import TrialArg


def explore(
    trial_file: TrialArg = None,
    outdir: Annotated[Optional[Path], typer.Option("--outdir", help="Where explorer.html is written (default reports/<trial>).")] = None,
    outcome: Annotated[Optional[list[str]], typer.Option("--outcome", help="Outcome to include (repeatable; default every outcome).")] = None,
) -> None:
    """Write explorer.html: a self-contained page where readers set their own prior (no server, no network)."""
    import time

    from lnbayes.io import trialfile

    trial = trialfile.load_trial(trial_file)
    for name in outcome or []:
        trial.outcome(name)  # an unknown outcome: one located line, before any work
    target = opt.prepare_outdir(outdir if outdir is not None else opt.REPORTS / trial.id)
    from lnbayes.analyses import explorer_data
    from lnbayes.outputs import explorer

    started = time.time()
    console = opt.console(stderr=True)
    with console.status("computing the explorer's grids with the exact engine..."):
        data = explorer_data.explorer_data(trial, outcome or None)
        path = explorer.write_explorer(data, target / "explorer.html")
    console.print(f"Explorer written to {path} ({path.stat().st_size / 2**20:.1f} MB)")
    console.print(f"Elapsed: {time.time() - started:.0f} s")
