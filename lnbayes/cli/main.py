"""The ``lnbayes`` command line: thin typer wrappers over plain functions.

Heavy libraries (pymc, arviz, matplotlib) are imported inside the functions that need them, so
``lnbayes --help`` answers at once.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from lnbayes.errors import LnbayesError, Terminated

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
FEW_CORES = 4


def _limit_blas_threads() -> None:
    """One BLAS thread on machines with few cores, unless the user set the variables.

    lnbayes's exact computations are many small vector operations; on a 2-core machine BLAS
    threads fight over the cores (and with nutpie's chains) and slowed the RD and log-RR sweeps
    2 to 3 times. The variables must be set before NumPy is first imported, which the CLI
    does only inside its commands.
    """
    if (os.cpu_count() or 1) <= FEW_CORES:
        for name in BLAS_THREAD_VARIABLES:
            os.environ.setdefault(name, "1")


_limit_blas_threads()

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT); after SIGTERM it is 143 (128 + SIGTERM)."""
EXIT_TERMINATED = 143


class LnbayesGroup(TyperGroup):
    """The command group with lnbayes's one error handler.

    * :class:`LnbayesError` (bad input): one line per problem on stderr, exit status 2;
    * Ctrl-C: ``interrupted`` and exit status 130; SIGTERM: exit status 143 (a handler turns
      SIGTERM into :class:`lnbayes.errors.Terminated`, so the same clean-up runs);
    * anything else: ``internal error: ... (run with --debug for the traceback)``, exit status 1;
      with ``--debug`` (anywhere on the command line) or ``LNBAYES_DEBUG=1`` the traceback is
      printed too.
    """

    debug = False

    def main(self, args=None, *pos, **kwargs):
        args = list(sys.argv[1:] if args is None else args)
        self.debug = "--debug" in args or bool(os.environ.get("LNBAYES_DEBUG"))
        args = [a for a in args if a != "--debug"]
        return super().main(args, *pos, **kwargs)

    def invoke(self, ctx):
        restore = _on_sigterm_raise()
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except LnbayesError as err:
            for line in err.problems:
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except Terminated:
            typer.echo("terminated (SIGTERM): stopped; what was completed is saved", err=True)
            raise typer.Exit(EXIT_TERMINATED) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: stopped; what was completed is saved", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as err:  # noqa: BLE001 - the one place that turns bugs into one line
            if self.debug:
                traceback.print_exc()
            detail = " ".join(str(err).split())[:300]
            typer.echo(f"internal error: {type(err).__name__}: {detail} "
                       "(run with --debug for the traceback)", err=True)
            raise typer.Exit(EXIT_INTERNAL) from None
        finally:
            restore()


def _on_sigterm_raise():
    """Turn SIGTERM into :class:`Terminated` while a command runs; returns the restorer."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


app = typer.Typer(
    cls=LnbayesGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Bayesian sensitivity analysis of small two-arm trials with a binary outcome.",
)


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="On an internal error, print the Python traceback (accepted anywhere on the command line).")] = False,
) -> None:
    """Bayesian sensitivity analysis of small two-arm trials with a binary outcome."""

TrialArg = Annotated[
    Optional[Path],
    typer.Argument(help="Trial file (TOML). Default: the embedded trial, models/deng2017.toml."),
]
OutcomeOpt = Annotated[Optional[str], typer.Option("--outcome", help="Outcome name (default: the primary outcome); 'all' analyses every outcome.")]
PriorOpt = Annotated[Optional[list[str]], typer.Option("--prior", help="Prior name; repeat for several (default: all).")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed, 0 to 4294967295 (default: the trial file's).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]
EngineOpt = Annotated[str, typer.Option("--engine", help="pymc (PyMC, checked against exact) or exact (no sampling).")]
QueryOutdirOpt = Annotated[Optional[Path], typer.Option("--outdir", help="Where results are written (default runs/<trial>/; never a report's folder).")]

ENGINES = ("exact", "pymc")
SEED_MAX = 2**32 - 1
RUNS = Path("runs")
"""Query commands (analyze, sweep, plot) write under runs/<trial id>/ unless --outdir is given;
only ``lnbayes report`` writes reports/<trial id>/."""
REPORTS = Path("reports")


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, highlight=False, width=width)


def load_trial_or_inline(
    trial_file: Path | None, treatment: str | None, control: str | None, lower_is_better: bool
):
    from lnbayes.io import trialfile

    if treatment is not None or control is not None:
        if trial_file is not None:
            raise LnbayesError("<command line>: TRIAL_FILE: give a trial file or --treatment/--control, not both")
        if treatment is None or control is None:
            missing = "--control" if control is None else "--treatment"
            raise LnbayesError(f"<command line>: {missing}: an inline trial needs both --treatment and --control")
        return trialfile.inline_trial(treatment, control, lower_is_better)
    trial = trialfile.load_trial(trial_file)
    if lower_is_better:
        raise LnbayesError("<command line>: --lower-is-better: only for inline trials; a trial file says `better` per outcome")
    return trial


def parse_thresholds(texts: list[str] | None):
    from lnbayes.model.spec import THRESHOLD_SCALES, Threshold

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


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise LnbayesError(f"<command line>: --engine: must be exact or pymc, got {engine!r}")
    return engine


def check_seed(seed: int | None) -> int | None:
    """A seed must lie in 0 .. 2**32 - 1 (trial files are held to the same range)."""
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise LnbayesError(f"<command line>: --seed: must be a whole number from 0 to {SEED_MAX}, got {seed}")
    return seed


def is_report_folder(path: Path) -> bool:
    """True when ``path`` holds a report written by ``lnbayes report`` (its results.json)."""
    import json

    results = path / "results.json"
    if not results.is_file():
        return False
    try:
        with results.open(encoding="utf-8") as f:
            return str(json.load(f).get("schema", "")).startswith("lnbayes.report/")
    except (OSError, ValueError, AttributeError):
        return False


def prepare_outdir(path: Path, option: str = "--outdir") -> Path:
    """Create the output folder (before any work) and check that it can be written.

    Raises a located one-line error for a path that is a file, cannot be created (no such parent,
    a read-only or virtual file system, a name too long) or cannot be written.
    """
    import tempfile

    where = f"<command line>: {option}"
    if path.exists() and not path.is_dir():
        raise LnbayesError(f"{where}: {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".lnbayes-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise LnbayesError(f"{where}: cannot write to {path}: {err.strerror or err}") from None
    return path


def query_outdir(trial, outdir: Path | None, sub: str | None = None) -> Path:
    """Where a query command (analyze, sweep, plot) writes: ``--outdir``, else runs/<trial id>/.

    A folder holding a report of ``lnbayes report`` is refused, so that a query with other
    settings or seeds cannot overwrite the report's draws and numbers.
    """
    if outdir is None:
        path = RUNS / trial.id
        if sub:
            path = path / sub
    else:
        path = outdir
    for candidate in (path, path.parent):
        if is_report_folder(candidate):
            raise LnbayesError(
                f"<command line>: --outdir: {candidate} holds a report written by `lnbayes report`; "
                "query commands write elsewhere (default runs/<trial>/), so choose another folder")
    return prepare_outdir(path)


def check_plot_path(path: Path | None) -> None:
    """``--plot FILE``: a known format and a folder that exists, checked before any work."""
    if path is None:
        return
    if path.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise LnbayesError(f"<command line>: --plot: the file name must end in .png, .pdf or .svg, got {path}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise LnbayesError(f"<command line>: --plot: no folder {parent} to write {path.name} into")
    if path.is_dir():
        raise LnbayesError(f"<command line>: --plot: {path} is a folder, not a file name")


@app.command()
def analyze(
    trial_file: TrialArg = None,
    outcome: OutcomeOpt = None,
    prior: PriorOpt = None,
    engine: EngineOpt = "pymc",
    seed: SeedOpt = None,
    json_out: JsonOpt = False,
    treatment: Annotated[Optional[str], typer.Option("--treatment", help="Inline trial: treatment arm events/n, e.g. 9/12.")] = None,
    control: Annotated[Optional[str], typer.Option("--control", help="Inline trial: control arm events/n, e.g. 5/6.")] = None,
    lower_is_better: Annotated[bool, typer.Option("--lower-is-better", help="Inline trial: the outcome is harmful (fewer events is benefit).")] = False,
    threshold: Annotated[Optional[list[str]], typer.Option("--threshold", help="Clinically meaningful effect SCALE:VALUE (rd, rr, or), e.g. rd:0.1; repeatable. Default: the file's.")] = None,
    draws: Annotated[int, typer.Option("--draws", min=100, help="PyMC draws per chain.")] = 2000,
    tune: Annotated[int, typer.Option("--tune", min=100, help="PyMC tuning steps per chain.")] = 1000,
    outdir: QueryOutdirOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit with status 1 if a PyMC run fails its diagnostics or disagrees with exact.")] = False,
) -> None:
    """Posterior probability of benefit and effect estimates, for each prior."""
    check_engine(engine)
    check_seed(seed)
    trial = load_trial_or_inline(trial_file, treatment, control, lower_is_better)
    thresholds = parse_thresholds(threshold)
    if outcome == "all" and "all" not in trial.outcomes:
        if thresholds:
            raise LnbayesError("<command line>: --threshold: not with --outcome all (each outcome uses its own thresholds)")
        if prior:
            trial.priors_for(trial.primary_outcome, prior)  # unknown names fail before any work
        return _analyze_all(trial, prior, engine, seed, json_out, draws, tune,
                            query_outdir(trial, outdir), strict)
    outcome_obj = trial.outcome(outcome)
    trial.priors_for(outcome_obj, prior)  # names checked before any work
    target = query_outdir(trial, outdir)
    from lnbayes.analyses import reanalysis
    from lnbayes.engines.mcmc import SamplerSettings
    from lnbayes.io import files

    settings = SamplerSettings(draws=draws, tune=tune)
    status = _console(stderr=True)
    with status.status("analysing...") as spinner:
        def on_prior(name: str, i: int, n: int) -> None:
            spinner.update(f"prior {i + 1}/{n}: {name} ({engine})")

        result = reanalysis.analyze(
            trial, outcome, prior, engine=engine, seed=seed, settings=settings,
            outdir=target, thresholds=thresholds, on_prior=on_prior,
        )
    clean = reanalysis.strip_datatrees(result)
    if json_out:
        sys.stdout.write(files.dumps(clean))
    else:
        from lnbayes.outputs.tables import print_analysis

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
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def report(
    trial_file: TrialArg = None,
    outdir: Annotated[Optional[Path], typer.Option("--outdir", help="Where the report is written (default reports/<trial>).")] = None,
    seed: SeedOpt = None,
    engine: Annotated[str, typer.Option("--engine", help="pymc (the full report: PyMC checked against exact) or exact (a draft without MCMC, for checking a trial file quickly).")] = "pymc",
    draws: Annotated[int, typer.Option("--draws", min=100, help="PyMC draws per chain.")] = 2000,
    tune: Annotated[int, typer.Option("--tune", min=100, help="PyMC tuning steps per chain.")] = 1000,
) -> None:
    """The whole re-analysis with figures and a methods appendix (Markdown, LaTeX, HTML)."""
    import time

    from lnbayes.io import trialfile

    check_engine(engine)
    check_seed(seed)
    trial = trialfile.load_trial(trial_file)
    from lnbayes.outputs import report as report_mod

    report_mod.preflight(trial)
    target = prepare_outdir(outdir if outdir is not None else REPORTS / trial.id)
    from lnbayes.engines.mcmc import SamplerSettings

    started = time.time()
    console = _console(stderr=True)
    with console.status("starting...") as spinner:
        def progress(message: str) -> None:
            spinner.update(f"[{time.time() - started:5.0f} s] {message}")

        report_mod.write_report(
            trial, target, seed=seed, settings=SamplerSettings(draws=draws, tune=tune),
            engine=engine, progress=progress,
        )
    console.print(f"Report written to {target}/ (results.json, appendix.md, appendix.tex, appendix.html)")
    console.print(f"Elapsed: {time.time() - started:.0f} s")


def _analyze_all(trial, prior, engine, seed, json_out, draws, tune, outdir, strict) -> None:
    """``analyze --outcome all``: every outcome, each with the priors that apply to it."""
    from lnbayes.analyses import reanalysis
    from lnbayes.engines.mcmc import SamplerSettings
    from lnbayes.io import files

    settings = SamplerSettings(draws=draws, tune=tune)
    status = _console(stderr=True)
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

        console = _console()
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


def _parse_arms(text: str | None, option: str) -> tuple[int, int] | None:
    """``T/C`` arm sizes such as 17/8."""
    import re

    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise LnbayesError(f"<command line>: {option}: expected treatment/control arm sizes such as 17/8, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _check_probability(value: float | None, option: str) -> None:
    if value is not None and not 0 < value < 1:
        raise LnbayesError(f"<command line>: {option}: must lie strictly between 0 and 1, got {value:g}")


PlotOpt = Annotated[Optional[Path], typer.Option("--plot", help="Also save the figure to this file (PNG, PDF or SVG).")]


def _save_figure(fig, path: Path) -> None:
    import io as _io

    from lnbayes.io import files

    buffer = _io.BytesIO()
    fmt = path.suffix.lstrip(".").lower() or "png"
    fig.savefig(buffer, format=fmt, dpi=150, bbox_inches="tight")
    files.write_bytes(path, buffer.getvalue())


@app.command()
def predict(
    trial_file: TrialArg = None,
    prior: PriorOpt = None,
    final: Annotated[Optional[str], typer.Option("--final", help="Final arm sizes T/C (default: the file's planned enrolment at its allocation ratio).")] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Success: P(benefit) >= this at the end.")] = 0.95,
    outcome: OutcomeOpt = None,
    json_out: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Predictive probability that the completed trial would have shown benefit (exact)."""
    _check_probability(threshold, "--threshold")
    final_arms = _parse_arms(final, "--final")
    check_plot_path(plot)
    from lnbayes.analyses import planning
    from lnbayes.io import trialfile

    trial = trialfile.load_trial(trial_file)
    result = planning.predict(trial, prior, final_arms, threshold, outcome)
    from lnbayes.io import files

    if plot is not None:
        from lnbayes.outputs.figures.planning_plots import predictive_figure

        _save_figure(predictive_figure(result), plot)
    if json_out:
        sys.stdout.write(files.dumps(result))
    else:
        from lnbayes.outputs.decision_tables import print_predict

        print_predict(result, _console())


@app.command()
def design(
    trial_file: TrialArg = None,
    prior: Annotated[Optional[str], typer.Option("--prior", help="Prior of the analysis (default: flat).")] = None,
    n: Annotated[Optional[str], typer.Option("--n", help="Arm sizes T/C (default: the file's planned enrolment at its allocation ratio).")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Declare benefit if P(benefit) >= this (default: the file's [design] threshold, else 0.95).")] = None,
    control_rate: Annotated[Optional[float], typer.Option("--control-rate", help="Expected control rate (default: the file's [design] control_rate).")] = None,
    hoped_for_rate: Annotated[Optional[float], typer.Option("--hoped-for-rate", help="Hoped-for treatment rate (default: from the file's [design]).")] = None,
    outcome: OutcomeOpt = None,
    json_out: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Operating characteristics of 'declare benefit if P(benefit) >= threshold' (exact)."""
    for value, option in ((threshold, "--threshold"), (control_rate, "--control-rate"),
                          (hoped_for_rate, "--hoped-for-rate")):
        _check_probability(value, option)
    arms = _parse_arms(n, "--n")
    check_plot_path(plot)
    from lnbayes.analyses import planning
    from lnbayes.io import trialfile

    trial = trialfile.load_trial(trial_file)
    status = _console(stderr=True)
    with status.status("enumerating all outcomes..."):
        result = planning.design(trial, prior, arms, threshold, control_rate, hoped_for_rate,
                                 outcome)
    from lnbayes.io import files

    if plot is not None:
        from lnbayes.outputs.figures.planning_plots import operating_characteristics_figure

        _save_figure(operating_characteristics_figure(result), plot)
    if json_out:
        sys.stdout.write(files.dumps(result))
    else:
        from lnbayes.outputs.decision_tables import print_design

        print_design(result, _console())


@app.command()
def plot(
    trial_file: TrialArg = None,
    outcome: OutcomeOpt = None,
    prior: PriorOpt = None,
    outdir: Annotated[Optional[Path], typer.Option("--outdir", help="Where figures are written (default runs/<trial>/figures).")] = None,
    formats: Annotated[str, typer.Option("--format", help="Comma-separated: png (300 dpi), pdf, svg.")] = "png,pdf",
    engine: Annotated[str, typer.Option("--engine", help="pymc (adds MCMC overlays, power-scaling and rank plots) or exact (fast).")] = "pymc",
    seed: SeedOpt = None,
    draws: Annotated[int, typer.Option("--draws", min=100, help="PyMC draws per chain.")] = 2000,
    tune: Annotated[int, typer.Option("--tune", min=100, help="PyMC tuning steps per chain.")] = 1000,
) -> None:
    """Publication figures: prior/posterior, forest, arms, P(benefit), sweep, sensitivity."""
    check_engine(engine)
    check_seed(seed)
    from lnbayes.outputs.figures.figure_set import parse_formats

    fmt_list = parse_formats(formats)
    trial = load_trial_or_inline(trial_file, None, None, False)
    outcome_obj = trial.outcome(outcome)
    trial.priors_for(outcome_obj, prior)  # names checked before any work
    target = query_outdir(trial, outdir, sub="figures")
    written = plot_figures(trial, outcome_obj.name, prior, target, fmt_list, engine=engine,
                           seed=seed, draws=draws, tune=tune)
    for path in written:
        typer.echo(str(path))


def plot_figures(trial, outcome_name, prior_names, outdir, formats, engine="pymc", seed=None,
                 draws=2000, tune=1000, sweep=None) -> list:
    """Analyse (without writing results) and write every figure; returns the paths written."""
    from lnbayes.analyses import reanalysis
    from lnbayes.engines.mcmc import SamplerSettings
    from lnbayes.outputs.figures import figure_set

    status = _console(stderr=True)
    with status.status("analysing...") as spinner:
        def on_prior(name: str, i: int, n: int) -> None:
            spinner.update(f"prior {i + 1}/{n}: {name} ({engine})")

        result = reanalysis.analyze(
            trial, outcome_name, prior_names, engine=engine, seed=seed,
            settings=SamplerSettings(draws=draws, tune=tune), outdir=None, on_prior=on_prior,
        )
        spinner.update("drawing figures...")
        outcome = trial.outcome(outcome_name)
        figs = figure_set.make_figures(trial, outcome, result, sweep=sweep)
        spinner.update("writing figures...")
        return figure_set.save_figures(figs, outdir, formats)


@app.command()
def sweep(
    trial_file: TrialArg = None,
    outcome: OutcomeOpt = None,
    scale: Annotated[str, typer.Option("--scale", help="Effect scale: log-or, log-rr or rd (the prior's scale in effect mode; the median's in both).")] = "log-or",
    centre: Annotated[Optional[str], typer.Option("--centre", help="Prior centres START:STOP:N (arm mode: treatment-arm prior means in (0, 1)). Default per scale, e.g. log-or -1:2.5:36.")] = None,
    sd: Annotated[Optional[str], typer.Option("--sd", help="Prior sds START:STOP:N (arm mode: effective sample sizes). Default per scale, e.g. log-or 0.1:2:20.")] = None,
    engine: Annotated[str, typer.Option("--engine", help="exact (fast quadrature) or pymc (one compiled model re-sampled per point, checked against exact).")] = "exact",
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

    if mode not in sweep_mod.MODES:
        raise LnbayesError(f"<command line>: --mode: must be effect or arm, got {mode!r}")
    check_engine(engine)
    check_seed(seed)
    scale_name = sweep_mod.normalise_scale(scale)
    problems = []
    ranges = []
    for text, option, kw in ((centre, "--centre", {"unit": mode == "arm"}), (sd, "--sd", {"positive": True})):
        try:
            ranges.append(None if text is None else sweep_mod.parse_range(text, option, **kw))
        except LnbayesError as err:
            problems.extend(err.problems)
    if problems:
        raise LnbayesError(problems)
    from lnbayes.io import trialfile

    trial = trialfile.load_trial(trial_file)
    outcome_obj = trial.outcome(outcome)
    sweep_mod.control_prior_for(trial, outcome_obj, control_prior)
    target = query_outdir(trial, outdir)
    settings = None
    if engine == "pymc":
        from lnbayes.engines.mcmc import SamplerSettings

        settings = SamplerSettings(draws=draws, tune=tune)
    status = _console(stderr=True)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=status,
                  transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task(f"sweep ({engine})", total=None)

        def on_point(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

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
    console = _console()
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


@app.command()
def priors(
    trial_file: TrialArg = None,
    outcome: OutcomeOpt = None,
    prior: PriorOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """What each prior says and implies before the data: P(benefit), interval, ESS, conflict."""
    from lnbayes.analyses import prior_checks
    from lnbayes.io import trialfile

    trial = trialfile.load_trial(trial_file)
    result = prior_checks.priors_report(trial, outcome, prior)
    if json_out:
        from lnbayes.io import files

        sys.stdout.write(files.dumps(result))
    else:
        from lnbayes.outputs.tables import print_priors

        print_priors(result, _console())


def main() -> None:  # pragma: no cover - console script entry point
    app(prog_name="lnbayes")
