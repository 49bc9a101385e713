"""Shared fixtures: the embedded trial, small PyMC settings and the exact reports of trial files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lnbayes.io import trialfile

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Fitted MAP mixtures are cached on disk (lnbayes.io.map_cache): the tests use a fresh folder
    of their own (inherited by xdist workers and CLI subprocesses), not the user's cache."""
    import tempfile

    os.environ.setdefault("LNBAYES_CACHE_DIR", tempfile.mkdtemp(prefix="lnbayes-test-cache-"))
    _blas_threads_as_the_command_line()
    _no_second_processes_when_the_workers_fill_the_cores(config)


def _no_second_processes_when_the_workers_fill_the_cores(config) -> None:
    """Under pytest-xdist with a worker per core, a report's second processes (lnbayes.io.
    background: the explorer's grids, predict and design, figure saving) find no free core: each
    costs its imports and pickling (about 3 s of CPU a report, 25 reports) and saves nothing.
    The tests then run reports in one process, as lnbayes does on one core
    (``LNBAYES_BACKGROUND=off``, unless set); the tests of the second processes turn them on
    themselves, and tests/test_reliability.py checks that a report made with them writes the
    same files as one made without."""
    workers = getattr(config.option, "numprocesses", None)
    if isinstance(workers, int) and workers >= (os.cpu_count() or 1):
        os.environ.setdefault("LNBAYES_BACKGROUND", "off")


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _blas_threads_as_the_command_line() -> None:
    """One BLAS thread on a machine with few cores, unless the user set the variables, as
    ``lnbayes`` does (lnbayes.cli.main._limit_blas_threads): the tests that compute in-process
    then run as the command does, instead of two BLAS threads per pytest-xdist worker fighting
    over the two cores. The variables reach the workers and subprocesses started from here; in
    this process NumPy is already loaded (by pytest plugins), so its pool is limited directly."""
    if (os.cpu_count() or 1) > 4:
        return
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    try:
        threads = int(os.environ["OPENBLAS_NUM_THREADS"])
    except ValueError:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


GALLERY = sorted((ROOT / "models").glob("*.toml"))

PYMC_GROUP = "pymc"
"""The pytest-xdist group (``xdist_group``) of the tests that sample with PyMC in the test
process: one worker runs them all, so that each model structure is compiled once per test run
(5 to 10 s each; :mod:`lnbayes.engines.mcmc` keeps them per process), and the group starts first
(:func:`pytest_collection_modifyitems`): it is the longest."""


@pytest.fixture(scope="session")
def deng():
    return trialfile.load_trial()


@pytest.fixture(scope="session")
def trial(deng):
    """The embedded trial (Deng et al. 2017), under the name most test modules use."""
    return deng


@pytest.fixture(scope="session")
def small_settings():
    from lnbayes.engines.mcmc import SamplerSettings

    # 4 chains x 1000 draws: MCSE of a probability near 0.5 is about 0.01
    return SamplerSettings(draws=1000, tune=500)


SMALL_TRIAL = ROOT / "tests" / "data" / "small_trial.toml"
SMALL_DESIGN = """
[design]
control_rate = 0.40
hoped_for_or = 3.0
threshold = 0.95
target_power = 0.80
"""
"""A ``[design]`` table to append to SMALL_TRIAL: its report then has predict and design."""


def without_run_times(obj):
    """A result with its run times left out (keys naming seconds, elapsed times or ``*_s``),
    to compare two runs that must give the same numbers."""
    if isinstance(obj, dict):
        return {k: without_run_times(v) for k, v in obj.items()
                if not ("seconds" in k or "elapsed" in k or k.endswith("_s"))}
    if isinstance(obj, list):
        return [without_run_times(v) for v in obj]
    return obj


def lnbayes_cli(*args, cwd=None, timeout=1800):
    """``python -m lnbayes ARGS`` in a subprocess (from the checkout unless ``cwd`` is given)."""
    return subprocess.run([sys.executable, "-m", "lnbayes", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=timeout)


def lnbayes_in_process(*args, cwd=None) -> subprocess.CompletedProcess:
    """``lnbayes ARGS`` run in this process (typer's CliRunner), as :func:`lnbayes_cli` runs it
    in a new one: the command's code, its one error handler and its exit status, with
    ``sys.argv`` as the command's (the provenance records it) and ``LNBAYES_DEBUG`` on, so that
    an internal error's traceback reaches stderr. For commands that sample: the PyMC models
    compiled in this process serve them (a new process compiles its own, 5 to 10 s each); the
    process itself is tested by the commands run with :func:`lnbayes_cli`."""
    from typer.testing import CliRunner

    from lnbayes.cli.main import app

    args = [str(a) for a in args]
    argv, here = sys.argv, os.getcwd()
    sys.argv = ["lnbayes", *args]
    try:
        os.chdir(cwd or ROOT)
        result = CliRunner().invoke(app, args, env={"LNBAYES_DEBUG": "1"})
    finally:
        sys.argv = argv
        os.chdir(here)
    return subprocess.CompletedProcess(["lnbayes", *args], result.exit_code, result.stdout,
                                       result.stderr)


@pytest.fixture(scope="session")
def exact_report(tmp_path_factory):
    """``lnbayes report --engine exact`` of a trial file, run once per test session.

    ``exact_report(path)`` returns ``(CompletedProcess, outdir)``; the gallery tests and the
    appendix-prose tests share these runs (each takes tens of seconds). In a plain ``pytest`` run
    the gallery tests' first call (``whole_gallery=True``) starts the reports of every gallery
    file, one subprocess per core (each report is single-threaded); under pytest-xdist (``make
    test``) each report runs in the worker that runs its tests, which share an ``xdist_group``
    so that it is made once. A report made on its own runs in the test process
    (:func:`lnbayes_in_process`: the command's code, error handler and exit status): a new process
    would import NumPy, SciPy and matplotlib again, about 1 s of a gallery report's 4 to 15 s
    (measured on five gallery trials: 23-24 s in subprocesses, 18 s in one process). The command
    in its own process is tested by tests/cli, tests/test_reliability.py and
    tests/test_second_core.py.
    """
    from concurrent.futures import ThreadPoolExecutor

    base = tmp_path_factory.mktemp("exact_reports")
    done: dict[Path, tuple] = {}

    def one(path: Path, in_process: bool = False):
        outdir = base / path.stem
        run = lnbayes_in_process if in_process else lnbayes_cli
        # the explorer has its own tests (tests/outputs/test_explorer.py): minutes per trial here
        return path, (run("report", path, "--engine", "exact", "--no-explorer", "--outdir", outdir),
                      outdir)

    def get(path, whole_gallery: bool = False) -> tuple:
        path = Path(path).resolve()
        if path not in done:
            if whole_gallery and "PYTEST_XDIST_WORKER" not in os.environ:
                todo = [p for p in GALLERY if p not in done]
                with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
                    done.update(pool.map(one, todo))
            else:
                done.update([one(path, in_process=True)])
        return done[path]

    return get


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own hook (see _tag_xdist_groups)
def pytest_collection_modifyitems(config, items):
    """Longest first (stable order otherwise): the PyMC group, the groups that make a whole
    report, the other groups, the tests marked slow, e2e or heavy, then the rest. pytest-xdist
    hands out work in this order, so the long units start at once and the many short tests fill
    the end of the run on both workers, instead of one long test ending it on one busy worker."""
    def rank(item):
        group = item.get_closest_marker("xdist_group")
        name = str(group.args[0]) if group and group.args else ""
        if name:
            return 0 if name == PYMC_GROUP else 1 if name.startswith("report-") else 2
        long = any(item.get_closest_marker(m) for m in ("slow", "e2e", "heavy"))
        return 3 if long else 4

    items.sort(key=rank)
    _tag_xdist_groups(config, items)


def _tag_xdist_groups(config, items) -> None:
    """Give each test marked ``xdist_group`` its ``@group`` node-id suffix in a pytest-xdist
    worker, when pytest-xdist could not.

    ``--dist loadgroup`` learns the groups from that suffix, which pytest-xdist (3.8) writes into
    ``item._nodeid``; pytest 9.2 builds node ids from ``item._id`` instead, so the suffix is lost
    and every test is scheduled alone (pytest-dev/pytest-xdist#1386): tests sharing a
    module-scoped report or fit then run in both workers, each making it again. Does nothing
    when the suffix is already there (older pytest, or a fixed pytest-xdist) or outside a
    loadgroup worker.
    """
    if not getattr(config.option, "loadgroup", False):  # set by pytest-xdist in its workers
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if not names:
            continue
        suffix = "@" + "_".join(names)
        if item.nodeid.endswith(suffix):
            continue
        from _pytest.nodeid import NodeId  # pytest >= 9.2, whose node ids are structured

        item._id = NodeId.parse(item.nodeid + suffix)
