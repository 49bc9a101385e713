"""``lnbayes validate``: check trial files and report every problem with its location."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lnbayes.cli import options as opt
from lnbayes.errors import LnbayesError


def validate(
    trial_files: Annotated[list[Path], typer.Argument(help="Trial files to check.")],
) -> None:
    """Check trial files and report every problem with its location."""
    from lnbayes.io import trialfile

    failed = False
    for path in trial_files:
        try:
            trial = trialfile.load_trial(path)
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
        raise typer.Exit(opt.EXIT_BAD_INPUT)
