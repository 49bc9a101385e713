"""``lnbayes sweep``: P(benefit) over a grid of priors, tipping points, reverse-Bayes."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Annotated, Optional

import typer

from lnbayes.cli import options as opt
from lnbayes.cli.options import JsonOpt, OutcomeOpt, QueryOutdirOpt, SeedOpt, TrialArg
from lnbayes.errors import LnbayesError


def sweep(
    trial_file: TrialArg = None,
    outcome: OutcomeOpt = None,
    scale: Annotated[str, typer.Option("--scale", help="Effect scale: log-or, log-rr or rd (the prior's scale in effect mode; the median's in both).")] = "log-or",
    centre: Annotated[Optional[str], typer.Option("--centre", help="Prior centres START:STOP:N (arm mode: treatment-arm prior means in (0, 1)). Default per scale, e.g. log-or -1:2.5:36.")] = None,
    sd: Annotated[Optional[str], typer.Option("--sd", help="Prior sds START:STOP:N (arm mode: effective sample sizes). Default per scale, e.g. log-or 0.1:2:20.")] = None,
    engine: Annotated[str, opt.engine_option("exact (fast quadrature) or pymc (one compiled model re-sampled per point, checked against exact).")] = "exact",
    seed: SeedOpt = None,
    json_out: JsonOpt = False,
    mode: Annotated[str, typer.Option("--mode", help="effect: Normal prior on the effect; arm: Beta(m*ess, (1-m)*ess) on the treatment arm.")] = "effect",
    control_prior: Annotated[Optional[str], typer.Option("--control-prior", help="Use the control-arm Beta of this prior in the file (default: the first effect-level prior's).")] = None,
    draws: Annotated[int, typer.Option("--draws", min=100, help="PyMC draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option("--tune", min=100, help="PyMC tuning steps per chain.")] = 500,
    outdir: QueryOutdirOpt = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="PyMC: grid points sampled in parallel processes (each with cores=1); 1 = one process, nutpie chains on 2 cores.")] = 1,
) -> None:
    """Sweep the prior over a grid: P(benefit), tipping points, reverse-Bayes."""
    from lnbayes.analyses import sweep as sweep_mod

    scale_name, ranges = _grid_arguments(mode, scale, centre, sd)
    from lnbayes.io import trialfile

    trial = trialfile.load_trial(trial_file)
    outcome_obj = trial.outcome(outcome)
    sweep_mod.control_prior_for(trial, outcome_obj, control_prior)
    target = opt.query_outdir(trial, outdir)
    settings = None
    if engine == "pymc":
        from lnbayes.engines.mcmc import SamplerSettings

        settings = SamplerSettings(draws=draws, tune=tune)
    else:
        opt.keep_freed_memory()
    with _progress_bar(engine) as on_point:
        result = sweep_mod.run_sweep(
            trial, outcome, scale=scale_name, centres=ranges[0], sds=ranges[1], engine=engine,
            seed=seed, mode=mode, settings=settings, outdir=target,
            control_prior=control_prior, use_cache=not no_cache, on_point=on_point,
            workers=workers,
        )
    if json_out:
        from lnbayes.io import files

        sys.stdout.write(files.dumps(result))
        return
    _print_summary(result)


def _grid_arguments(mode: str, scale: str, centre: str | None, sd: str | None):
    """``(scale name, [centre range or None, sd range or None])``, every problem reported at once."""
    from lnbayes.analyses import sweep as sweep_mod

    if mode not in sweep_mod.MODES:
        raise LnbayesError(f"<command line>: --mode: must be effect or arm, got {mode!r}")
    scale_name = normalise_scale(scale)
    problems = []
    ranges = []
    for text, option, kw in ((centre, "--centre", {"unit": mode == "arm"}), (sd, "--sd", {"positive": True})):
        try:
            ranges.append(None if text is None else parse_range(text, option, **kw))
        except LnbayesError as err:
            problems.extend(err.problems)
    if problems:
        raise LnbayesError(problems)
    if ranges[0] is not None and ranges[1] is not None and \
            ranges[0].n * ranges[1].n > sweep_mod.MAX_POINTS:
        raise LnbayesError(f"<command line>: --centre/--sd: {ranges[0].n * ranges[1].n} grid "
                           f"points exceed {sweep_mod.MAX_POINTS}")
    return scale_name, ranges


@contextmanager
def _progress_bar(engine: str):
    """A progress bar on stderr (when it is a terminal); yields the sweep's ``on_point``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    status = opt.console(stderr=True)
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=status,
                  transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task(f"sweep ({engine})", total=None)

        def on_point(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield on_point


def _print_summary(result: dict) -> None:
    from lnbayes.analyses import sweep as sweep_mod

    console = opt.console()
    t = result["timing"]
    console.print(f"[bold]{result['title']}[/]: {result['outcome_label']} - {len(result['grid'])} priors "
                  f"({result['mode']} mode, {result['scale_label']}, {result['engine']}) in {t['total_s']:.1f} s")
    for line in sweep_mod.summary_lines(result):
        console.print("- " + line)
    if "pymc_check" in result:
        c = result["pymc_check"]
        console.print(f"PyMC vs exact: worst |z| = {c['worst_z']:.2f} MCSE; "
                      f"{100 * c['fraction_beyond_3_mcse']:.1f}% of points beyond 3 MCSE")
    for kind, path in result.get("written", {}).items():
        console.print(f"wrote {path}")


def parse_range(text: str, option: str, *, positive: bool = False, unit: bool = False):
    """Parse ``START:STOP:N`` as typed after ``option``; raise a located one-line error."""
    import math

    from lnbayes.analyses.sweep import GridRange

    where = f"<command line>: {option}"
    parts = (text or "").split(":")
    if len(parts) != 3:
        raise LnbayesError(f"{where}: expected START:STOP:N such as -1:2.5:36, got {text!r}")
    try:
        start, stop = float(parts[0]), float(parts[1])
    except ValueError:
        raise LnbayesError(f"{where}: START and STOP must be numbers, got {text!r}") from None
    try:
        n = int(parts[2])
    except ValueError:
        raise LnbayesError(f"{where}: N must be a whole number, got {parts[2]!r}") from None
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise LnbayesError(f"{where}: START and STOP must be finite, got {text!r}")
    if n < 1:
        raise LnbayesError(f"{where}: N must be >= 1, got {n}")
    if stop < start:
        raise LnbayesError(f"{where}: STOP ({stop:g}) must not be below START ({start:g})")
    if n == 1 and stop != start:
        raise LnbayesError(f"{where}: N = 1 needs START = STOP, got {text!r}")
    if positive and start <= 0:
        raise LnbayesError(f"{where}: values must be > 0, got START = {start:g}")
    if unit and not (0 < start and stop < 1):
        raise LnbayesError(f"{where}: prior means of an arm must lie in (0, 1), got {text!r}")
    return GridRange(start, stop, n)


def normalise_scale(text: str) -> str:
    from lnbayes.model.spec import SCALE_ALIASES

    scale = SCALE_ALIASES.get(str(text).lower())
    if scale is None:
        raise LnbayesError(f"<command line>: --scale: must be log-or, log-rr or rd, got {text!r}")
    return scale
