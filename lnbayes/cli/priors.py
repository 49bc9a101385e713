"""``lnbayes priors``: what each prior says and implies before the data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from lnbayes.cli import options as opt
from lnbayes.cli.options import JsonOpt, OutcomeOpt, PriorOpt, TrialArg

FiguresOpt = Annotated[Optional[Path], typer.Option(
    "--figures", help="Also write the forest figure of every MAP prior into this folder "
                      "(map_<prior>_<arm>.png) and its robust-weight sweep "
                      "(map_<prior>_<arm>_robust_sweep.png).")]


def priors(
    trial_file: TrialArg = None,
    outcome: OutcomeOpt = None,
    prior: PriorOpt = None,
    json_out: JsonOpt = False,
    figures: FiguresOpt = None,
) -> None:
    """What each prior says and implies before the data: P(benefit), interval, ESS, conflict;
    for MAP priors the studies, tau, the MAP, its mixture, ESS and conflict."""
    from lnbayes.analyses import prior_checks
    from lnbayes.io import trialfile

    if figures is not None:
        figures = opt.prepare_outdir(figures, "--figures")
    trial = trialfile.load_trial(trial_file)
    result = prior_checks.priors_report(trial, outcome, prior)
    if figures is not None:
        _write_map_figures(trial, result, figures)
    if json_out:
        from lnbayes.io import files

        sys.stdout.write(files.dumps(result))
    else:
        from lnbayes.outputs.map_tables import print_map_priors
        from lnbayes.outputs.tables import print_priors

        console = opt.console()
        print_priors(result, console)
        print_map_priors(result, console)


def _write_map_figures(trial, result, folder: Path) -> None:
    from lnbayes.analyses.map_checks import map_figure_data
    from lnbayes.outputs.figures.map_plots import map_forest, robust_sweep_figure

    for record in result["priors"]:
        for arm in record.get("map") or {}:
            if arm == "effect":
                from lnbayes.analyses.map_checks import effect_figure_data
                from lnbayes.outputs.figures.map_plots import effect_map_forest

                fig = effect_map_forest(effect_figure_data(trial.priors[record["name"]].effect))
                opt.save_figure(fig, folder / f"map_{record['name']}_effect.png")
                continue
            beta = getattr(trial.priors[record["name"]], arm)
            name = trial.treatment_name if arm == "treatment" else trial.control_name
            fig = map_forest(map_figure_data(beta), arm_label=f"{arm} ({name})")
            opt.save_figure(fig, folder / f"map_{record['name']}_{arm}.png")
            rec = record["map"][arm]
            used = None if rec["robust"] is None else rec["robust"]["weight"]
            fig = robust_sweep_figure(rec["robust_sweep"], used, arm_label=f"{arm} ({name})")
            opt.save_figure(fig, folder / f"map_{record['name']}_{arm}_robust_sweep.png")
