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
OutcomeOpt = Annotated[Optional[str], typer.Option("--outcome", help="Outcome name (default: the primary outcome); 'all' analyses every outcome.")]
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
        if outcome == "all" and "all" not in trial.outcomes:
            if thresholds:
                raise LnbayesError("<command line>: --threshold: not with --outcome all (each outcome uses its own thresholds)")
            return _analyze_all(trial, prior, engine, seed, json_out, draws, tune, outdir, strict)
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


@app.command()
def report(
    trial_file: TrialArg = None,
    outdir: Annotated[Optional[Path], typer.Option("--outdir", help="Where the report is written (default reports/<trial>).")] = None,
    seed: SeedOpt = None,
    draws: Annotated[int, typer.Option("--draws", min=100, help="PyMC draws per chain.")] = 2000,
    tune: Annotated[int, typer.Option("--tune", min=100, help="PyMC tuning steps per chain.")] = 1000,
) -> None:
    """The whole re-analysis with figures and a methods appendix (Markdown, LaTeX, HTML)."""
    import time

    try:
        from lnbayes import spec

        trial = spec.load_trial(trial_file)
    except LnbayesError as err:
        _fail(err)
    from lnbayes import io
    from lnbayes import report as report_mod
    from lnbayes.pymc_engine import SamplerSettings

    started = time.time()
    outdir = outdir or default_outdir(trial)
    console = _console(stderr=True)
    with console.status("starting...") as spinner:
        def progress(message: str) -> None:
            spinner.update(f"[{time.time() - started:5.0f} s] {message}")

        rep = report_mod.run_report(
            trial, seed=seed, settings=SamplerSettings(draws=draws, tune=tune), outdir=outdir,
            progress=progress,
        )
        progress("writing the appendix")
        rep["provenance"]["elapsed_seconds"] = time.time() - started
        clean = report_mod.strip_for_json(rep)
        io.write_json(Path(outdir) / "results.json", clean)
        report_mod.write_appendix(clean, outdir)
    console.print(f"Report written to {outdir}/ (results.json, appendix.md, appendix.tex, appendix.html)")
    console.print(f"Elapsed: {time.time() - started:.0f} s")


# --- issue 7: all endpoints, the decision to stop, operating characteristics ---


def _analyze_all(trial, prior, engine, seed, json_out, draws, tune, outdir, strict) -> None:
    """``analyze --outcome all``: every outcome, each with the priors that apply to it."""
    if prior:
        trial.priors_for(trial.primary_outcome, prior)  # unknown names fail before any work
    from lnbayes import analysis, io
    from lnbayes.pymc_engine import SamplerSettings

    settings = SamplerSettings(draws=draws, tune=tune)
    status = _console(stderr=True)
    with status.status("analysing...") as spinner:
        def on_prior(name: str, i: int, n: int) -> None:
            spinner.update(f"prior {i + 1}/{n}: {name} ({engine})")

        result = analysis.analyze_all(
            trial, prior, engine=engine, seed=seed, settings=settings,
            outdir=outdir or default_outdir(trial), on_prior=on_prior,
        )
    clean = analysis.strip_datatrees(result)
    if json_out:
        sys.stdout.write(io.dumps(clean))
    else:
        from lnbayes.tables import print_analysis
        from lnbayes.tables_decision import print_benefit_harm, print_evidence

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

    from lnbayes import io

    buffer = _io.BytesIO()
    fmt = path.suffix.lstrip(".").lower() or "png"
    fig.savefig(buffer, format=fmt, dpi=150, bbox_inches="tight")
    io.write_bytes(path, buffer.getvalue())


@app.command()
def predict(
    trial_file: TrialArg = None,
    prior: PriorOpt = None,
    final: Annotated[Optional[str], typer.Option("--final", help="Final arm sizes T/C (default: the file's planned enrolment at its allocation ratio, 17/8 for Deng).")] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Success: P(benefit) >= this at the end.")] = 0.95,
    outcome: OutcomeOpt = None,
    json_out: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Predictive probability that the completed trial would have shown benefit (exact)."""
    try:
        _check_probability(threshold, "--threshold")
        final_arms = _parse_arms(final, "--final")
        from lnbayes import spec

        trial = spec.load_trial(trial_file)
        from lnbayes import planning

        result = planning.predict(trial, prior, final_arms, threshold, outcome)
    except LnbayesError as err:
        _fail(err)
    from lnbayes import io

    if plot is not None:
        from lnbayes.plots_decision import predictive_figure

        _save_figure(predictive_figure(result), plot)
    if json_out:
        sys.stdout.write(io.dumps(result))
    else:
        from lnbayes.tables_decision import print_predict

        print_predict(result, _console())


@app.command()
def design(
    trial_file: TrialArg = None,
    prior: Annotated[Optional[str], typer.Option("--prior", help="Prior of the analysis (default: flat).")] = None,
    n: Annotated[Optional[str], typer.Option("--n", help="Arm sizes T/C (default: the file's planned enrolment, 17/8 for Deng).")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Declare benefit if P(benefit) >= this (default: the file's [design] threshold, else 0.95).")] = None,
    control_rate: Annotated[Optional[float], typer.Option("--control-rate", help="Expected control rate (default: the file's [design] control_rate).")] = None,
    hoped_for_rate: Annotated[Optional[float], typer.Option("--hoped-for-rate", help="Hoped-for treatment rate (default: from the file's [design]).")] = None,
    outcome: OutcomeOpt = None,
    json_out: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Operating characteristics of 'declare benefit if P(benefit) >= threshold' (exact)."""
    try:
        for value, option in ((threshold, "--threshold"), (control_rate, "--control-rate"),
                              (hoped_for_rate, "--hoped-for-rate")):
            _check_probability(value, option)
        arms = _parse_arms(n, "--n")
        from lnbayes import spec

        trial = spec.load_trial(trial_file)
        from lnbayes import planning

        status = _console(stderr=True)
        with status.status("enumerating all outcomes..."):
            result = planning.design(trial, prior, arms, threshold, control_rate, hoped_for_rate,
                                     outcome)
    except LnbayesError as err:
        _fail(err)
    from lnbayes import io

    if plot is not None:
        from lnbayes.plots_decision import operating_characteristics_figure

        _save_figure(operating_characteristics_figure(result), plot)
    if json_out:
        sys.stdout.write(io.dumps(result))
    else:
        from lnbayes.tables_decision import print_design

        print_design(result, _console())


# --- issue 5: publication figures ---


@app.command()
def plot(
    trial_file: TrialArg = None,
    outcome: OutcomeOpt = None,
    prior: PriorOpt = None,
    outdir: Annotated[Optional[Path], typer.Option("--outdir", help="Where figures are written (default reports/<trial>/figures).")] = None,
    formats: Annotated[str, typer.Option("--format", help="Comma-separated: png (300 dpi), pdf, svg.")] = "png,pdf",
    engine: Annotated[str, typer.Option("--engine", help="pymc (adds MCMC overlays, power-scaling and rank plots) or exact (fast).")] = "pymc",
    seed: SeedOpt = None,
    draws: Annotated[int, typer.Option("--draws", min=100, help="PyMC draws per chain.")] = 2000,
    tune: Annotated[int, typer.Option("--tune", min=100, help="PyMC tuning steps per chain.")] = 1000,
) -> None:
    """Publication figures: prior/posterior, forest, arms, P(benefit), sweep, sensitivity."""
    try:
        if engine not in ("exact", "pymc"):
            raise LnbayesError(f"<command line>: --engine: must be exact or pymc, got {engine!r}")
        from lnbayes.figures import parse_formats

        fmt_list = parse_formats(formats)
        trial = load_trial_or_inline(trial_file, None, None, False)
        outcome_obj = trial.outcome(outcome)
        trial.priors_for(outcome_obj, prior)  # names checked before any work
    except LnbayesError as err:
        _fail(err)
    written = plot_figures(trial, outcome_obj.name, prior, outdir or default_outdir(trial) / "figures",
                           fmt_list, engine=engine, seed=seed, draws=draws, tune=tune)
    for path in written:
        typer.echo(str(path))


def plot_figures(trial, outcome_name, prior_names, outdir, formats, engine="pymc", seed=None,
                 draws=2000, tune=1000, sweep=None) -> list:
    """Analyse (without writing results) and write every figure; returns the paths written."""
    from lnbayes import analysis, figures
    from lnbayes.pymc_engine import SamplerSettings

    status = _console(stderr=True)
    with status.status("analysing...") as spinner:
        def on_prior(name: str, i: int, n: int) -> None:
            spinner.update(f"prior {i + 1}/{n}: {name} ({engine})")

        result = analysis.analyze(
            trial, outcome_name, prior_names, engine=engine, seed=seed,
            settings=SamplerSettings(draws=draws, tune=tune), outdir=None, on_prior=on_prior,
        )
        spinner.update("drawing figures...")
        outcome = trial.outcome(outcome_name)
        figs = figures.make_figures(trial, outcome, result, sweep=sweep)
        spinner.update("writing figures...")
        return figures.save_figures(figs, outdir, formats)


# --- issue 4: lnbayes sweep ---


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
    outdir: Annotated[Optional[Path], typer.Option("--outdir", help="Where results and the cache go (default reports/<trial>).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="PyMC: grid points sampled in parallel processes (each with cores=1); 1 = one process, nutpie chains on 2 cores.")] = 1,
) -> None:
    """Sweep the prior over a grid: P(benefit), tipping points, reverse-Bayes."""
    from lnbayes import sweep as sweep_mod

    try:
        if mode not in sweep_mod.MODES:
            raise LnbayesError(f"<command line>: --mode: must be effect or arm, got {mode!r}")
        if engine not in sweep_mod.ENGINES:
            raise LnbayesError(f"<command line>: --engine: must be exact or pymc, got {engine!r}")
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
        from lnbayes import spec

        trial = spec.load_trial(trial_file)
        outcome_obj = trial.outcome(outcome)
        sweep_mod.control_prior_for(trial, outcome_obj, control_prior)
    except LnbayesError as err:
        _fail(err)
    settings = None
    if engine == "pymc":
        from lnbayes.pymc_engine import SamplerSettings

        settings = SamplerSettings(draws=draws, tune=tune)
    status = _console(stderr=True)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=status,
                  transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task(f"sweep ({engine})", total=None)

        def on_point(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            result = sweep_mod.run_sweep(
                trial, outcome, scale=scale_name, centres=ranges[0], sds=ranges[1], engine=engine,
                seed=seed, mode=mode, settings=settings, outdir=outdir or default_outdir(trial),
                control_prior=control_prior, use_cache=not no_cache, on_point=on_point,
                workers=workers,
            )
        except LnbayesError as err:
            progress.stop()
            _fail(err)
    if json_out:
        from lnbayes import io

        sys.stdout.write(io.dumps(result))
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
