"""What the commands share: option types, the checks of command-line values, output folders.

Every check here raises :class:`lnbayes.errors.LnbayesError` with a ``<command line>: OPTION:``
location; the library below the CLI never names an option.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from lnbayes.errors import LnbayesError

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT); after SIGTERM it is 143 (128 + SIGTERM)."""
EXIT_TERMINATED = 143


ENGINES = ("exact", "pymc")
SEED_MAX = 2**32 - 1


MALLOC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20


def keep_freed_memory() -> bool:
    """Let glibc keep freed memory for reuse instead of handing it back at once (Linux only).

    The exact engines allocate and free many arrays of 1 to 30 MB. By default glibc returns
    them to the system (unmapped, or trimmed from the heap) and the next allocation of the same
    size faults its pages in again: in a 10,000-prior sweep that was 210,000 page faults and
    1.2 s of system time, half as much again as its compute. With blocks up to 32 MB taken
    from the heap and up to 256 MB of free heap kept, the same sweep faults 42,000 times; its
    peak memory is unchanged. Called by the exact commands (predict, design, the exact sweep);
    skipped when the user set any of ``MALLOC_VARIABLES``. Returns whether it was applied.
    """
    if not sys.platform.startswith("linux") or any(v in os.environ for v in MALLOC_VARIABLES):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, MMAP_THRESHOLD)) and bool(
        mallopt(m_trim_threshold, TRIM_THRESHOLD))


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise LnbayesError(f"<command line>: --engine: must be exact or pymc, got {engine!r}")
    return engine


def check_seed(seed: int | None) -> int | None:
    """A seed must lie in 0 .. 2**32 - 1 (trial files are held to the same range)."""
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise LnbayesError(f"<command line>: --seed: must be a whole number from 0 to {SEED_MAX}, got {seed}")
    return seed


def engine_option(default_help: str):
    """The ``--engine`` option of a command: exact or pymc, checked once, here."""
    return typer.Option("--engine", callback=check_engine, help=default_help)


TrialArg = Annotated[
    Optional[Path],
    typer.Argument(help="Trial file (TOML). Default: the embedded trial, models/deng2017.toml."),
]
OutcomeOpt = Annotated[Optional[str], typer.Option("--outcome", help="Outcome name (default: the primary outcome); 'all' analyses every outcome.")]
PriorOpt = Annotated[Optional[list[str]], typer.Option("--prior", help="Prior name; repeat for several (default: all).")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", callback=check_seed, help="Random seed, 0 to 4294967295 (default: the trial file's).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]
QueryOutdirOpt = Annotated[Optional[Path], typer.Option("--outdir", help="Where results are written (default runs/<trial>/; never a report's folder).")]

RUNS = Path("runs")
"""Query commands (analyze, sweep, plot) write under runs/<trial id>/ unless --outdir is given;
only ``lnbayes report`` writes reports/<trial id>/."""
REPORTS = Path("reports")


def console(stderr: bool = False):
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
        return trialfile.inline_trial(parse_counts(treatment, "--treatment"),
                                      parse_counts(control, "--control"), lower_is_better)
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


def parse_formats(text: str) -> list[str]:
    """``png,pdf`` -> ["png", "pdf"]; raises LnbayesError naming the option on a bad format."""
    from lnbayes.outputs.figures.figure_set import FORMATS

    formats = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise LnbayesError(f"<command line>: --format: expected a comma-separated list of "
                           f"{', '.join(FORMATS)}, got {text!r}")
    return list(dict.fromkeys(formats))


def parse_counts(text: str, option: str) -> tuple[int, int]:
    """Parse ``events/n`` as typed on the command line."""
    m = re.fullmatch(r"\s*(-?\d+)\s*/\s*(-?\d+)\s*", text or "")
    if not m:
        raise LnbayesError(f"<command line>: {option}: expected events/n such as 9/12, got {text!r}")
    events, n = int(m.group(1)), int(m.group(2))
    if n <= 0:
        raise LnbayesError(f"<command line>: {option}: n must be >= 1, got {n}")
    if events < 0:
        raise LnbayesError(f"<command line>: {option}: events must be >= 0, got {events}")
    if events > n:
        raise LnbayesError(f"<command line>: {option}: {events} events exceed n = {n}")
    return events, n


def parse_arms(text: str | None, option: str) -> tuple[int, int] | None:
    """``T/C`` arm sizes such as 17/8."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise LnbayesError(f"<command line>: {option}: expected treatment/control arm sizes such as 17/8, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def check_probability(value: float | None, option: str) -> None:
    if value is not None and not 0 < value < 1:
        raise LnbayesError(f"<command line>: {option}: must lie strictly between 0 and 1, got {value:g}")


PlotOpt = Annotated[Optional[Path], typer.Option("--plot", help="Also save the figure to this file (PNG, PDF or SVG).")]


def save_figure(fig, path: Path) -> None:
    import io as _io

    from lnbayes.io import files

    buffer = _io.BytesIO()
    fmt = path.suffix.lstrip(".").lower() or "png"
    fig.savefig(buffer, format=fmt, dpi=150, bbox_inches="tight")
    files.write_bytes(path, buffer.getvalue())


CriterionOpt = Annotated[Optional[list[str]], typer.Option("--criterion", help="A criterion of the decision rule, [SCALE:VALUE:]PROB: 0.95 is P(benefit) >= 0.95, or:1.5:0.5 is P(OR beyond 1.5) >= 0.5 (rd, rr, or; beyond in the direction of benefit), median:rd:0.1 is posterior median RD beyond 0.1; repeat to require several (benefit is declared when all hold).")]


def parse_criteria(texts: list[str] | None):
    """``--criterion`` values as :class:`lnbayes.model.criteria.Criterion` (None if none)."""
    from lnbayes.model import criteria

    out = criteria.parse_criteria(texts, "<command line>: --criterion")
    return out or None


def parse_looks(text: str | None) -> list[tuple[int, int]] | None:
    """``--looks 12/6,17/8``: cumulative treatment/control sizes at each analysis (growing)."""
    if text is None:
        return None
    looks = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", part)
        if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
            raise LnbayesError(f"<command line>: --looks: expected cumulative treatment/control "
                               f"sizes such as 12/6,17/8, got {part.strip()!r} in {text!r}")
        looks.append((int(m.group(1)), int(m.group(2))))
    if len(looks) < 2:
        raise LnbayesError(f"<command line>: --looks: give at least two looks (the last is the "
                           f"final analysis), got {text!r}")
    for (t0, c0), (t1, c1) in zip(looks, looks[1:]):
        if t1 < t0 or c1 < c0 or (t1, c1) == (t0, c0):
            raise LnbayesError(f"<command line>: --looks: {t1}/{c1} does not follow {t0}/{c0}; "
                               "the sizes are cumulative and must grow")
    return looks
