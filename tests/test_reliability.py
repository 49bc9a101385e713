"""Reliability: interrupts, damaged caches and draws, temporary files (issue 11).

Fault injection runs the command line as a subprocess (``python -m lnbayes``), sends SIGINT or
SIGTERM at a chosen moment (while nutpie samples, while a file is being written) and reruns the
command (in this process: see ``_rerun_command``);
the rerun must give the numbers of an uninterrupted run, computed here in-process with the same
seeds and settings. Damaged caches and draws are made by truncating files, zeroing them,
writing random bytes or editing values in place; each must be detected, reported on one line and
recomputed, never used.

The moments are observed, not guessed: nutpie samples in threads named ``nutpie-worker-N``
(listed in /proc on Linux), and atomic writes go through a temporary ``.NAME.PID.XXXX.part``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from lnbayes.analyses import reanalysis
from lnbayes.analyses import sweep as sweep_mod
from lnbayes.errors import Terminated
from lnbayes.io import files as io
from lnbayes.io import trialfile
from tests.conftest import PYMC_GROUP, lnbayes_in_process

# the tests of this file share module- and session-scoped fixtures (sampled or computed once),
# and some sample with PyMC: pytest-xdist (make test) runs them in the one worker that runs
# every in-process PyMC test (tests/conftest.py: PYMC_GROUP)
pytestmark = pytest.mark.xdist_group(PYMC_GROUP)

ROOT = Path(__file__).resolve().parents[1]
LINUX_PROC = Path("/proc/self/task").is_dir()
needs_proc = pytest.mark.skipif(not LINUX_PROC, reason="watches sampler threads in /proc (Linux)")

TRIAL_TOML = """\
schema_version = 1

[trial]
id = "faults"
title = "Fault injection"
seed = 11

[arms.treatment]
n = 12

[arms.control]
n = 6

[outcomes.remission]
label = "Remission"
primary = true
better = "higher"
treatment_events = 9
control_events = 5
thresholds = [{ scale = "rd", value = 0.1 }]

[priors.a]
family = "arm"
control = { a = 1, b = 1 }
treatment = { a = 1, b = 1 }

[priors.b]
family = "arm"
control = { a = 2, b = 2 }
treatment = { a = 3, b = 2 }

[priors.c]
family = "arm"
control = { a = 2, b = 2 }
treatment = { a = 2, b = 3 }
"""
"""Three priors of one structure: one compilation serves every fit, in every process."""

DRAWS, TUNE = 4000, 200
"""Fits long enough to be caught while sampling (~0.3 s) and while written (~3.7 MB)."""
REPORT_DRAWS = 1000
"""The report draws rank plots, whose time grows fast with the number of draws."""
SWEEP_ARGS = ("--mode", "arm", "--centre", "0.3:0.7:3", "--sd", "4:4:1")
SWEEP_DRAWS, SWEEP_TUNE = 1000, 200
COMPARED = ("p_benefit", "p_benefit_mcse", "thresholds", "estimates", "diagnostics",
            "power_scaling", "agrees_with_exact")
SWEEP_COMPARED = ("p_benefit", "p_benefit_mcse", "p_threshold", "p_threshold_mcse",
                  "median_effect", "seed", "diagnostics")


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _jsonable(obj):
    return json.loads(io.dumps(reanalysis.strip_datatrees(obj)))


def _thread_names(pid: int) -> list[str]:
    names = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return names
    for tid in tasks:
        try:
            names.append(Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip())
        except OSError:
            continue
    return names


def _sampling(pid: int) -> bool:
    return any(name.startswith("nutpie-worker") for name in _thread_names(pid))


class _NthFit:
    """True once process ``pid`` has started sampling its ``n``-th fit."""

    def __init__(self, n: int):
        self.n, self.seen, self.was = n, 0, False

    def __call__(self, proc) -> bool:
        now = _sampling(proc.pid)
        if now and not self.was:
            self.seen += 1
        self.was = now
        return self.seen >= self.n


def _default_sigint() -> None:
    # A process started in the background by a non-interactive shell inherits SIGINT ignored,
    # and Python then leaves it ignored; the child must see Ctrl-C as a terminal user would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _lnbayes(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "lnbayes", *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def _signal_when(proc, ready, signum):
    """Send ``signum`` to ``proc`` as soon as ``ready(proc)``; returns (status, stdout, stderr)."""
    sent = False
    while proc.poll() is None:
        if ready(proc):
            proc.send_signal(signum)
            sent = True
            break
        time.sleep(0.002)
    out, err = proc.communicate(timeout=600)
    assert sent, f"the run ended before the signal could be sent:\n{err}"
    return proc.returncode, out, err


def _rerun_command(*args, cwd):
    """The rerun after an interrupted ``lnbayes`` run: the same command, in this process
    (:func:`tests.conftest.lnbayes_in_process`; returns (status, stdout, stderr)). Resuming is
    the command's work on the files the killed process left, not the process's: in-process, the
    rerun uses the models this worker compiled for the uninterrupted reference instead of
    importing PyMC and compiling them again.
    """
    done = lnbayes_in_process(*args, cwd=cwd)
    return done.returncode, done.stdout, done.stderr


def _assert_clean_stop(status, err, signum):
    expected = {signal.SIGINT: (130, "interrupted:"), signal.SIGTERM: (143, "terminated")}[signum]
    lines = err.strip().splitlines()
    assert status == expected[0], err
    assert len(lines) == 1 and lines[0].startswith(expected[1]), err  # no traceback, no warning


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.part"))


@pytest.fixture(scope="module")
def trial_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("trial") / "faults.toml"
    path.write_text(TRIAL_TOML, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trial(trial_file):
    return trialfile.load_trial(trial_file)


@pytest.fixture(scope="module")
def settings():
    from lnbayes.engines.mcmc import SamplerSettings

    return SamplerSettings(draws=DRAWS, tune=TUNE)


def _uninterrupted(trial, settings):
    """The analysis of every prior, run in one go in this process (no files)."""
    result = reanalysis.analyze(trial, "remission", None, engine="pymc", settings=settings)
    return {r["prior"]: r for r in _jsonable(result)["results"]}


@pytest.fixture(scope="module")
def uninterrupted(trial, settings):
    return _uninterrupted(trial, settings)


# ---------------------------------------------------------------------------------------------
# Atomic writes and temporary files (no sampling)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", [Terminated, KeyboardInterrupt, OSError])
def test_interrupted_write_leaves_no_temporary_file_and_keeps_the_old_one(tmp_path, stop):
    target = tmp_path / "results.json"
    io.write_text(target, "old\n")
    with pytest.raises(stop):
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b"x" * 1_000_000)  # half-written
            raise stop()
    assert target.read_text() == "old\n"
    assert _parts(tmp_path) == []


def test_signal_while_a_netcdf_file_is_opened_leaves_no_file_and_prints_nothing(tmp_path,
                                                                               monkeypatch):
    """Nothing is printed when an interrupt stops h5netcdf opening a file.

    h5netcdf leaves a half-built File behind; its clean-up used to print
    'Exception ignored in ... File.close' on stderr.
    """
    import gc

    import h5netcdf.core
    import xarray as xr

    def interrupted(*args, **kwargs):
        raise Terminated()  # SIGTERM arriving while HDF5 opens the temporary file

    tree = xr.DataTree.from_dict(
        {"posterior": xr.Dataset({"x": (("chain", "draw"), np.zeros((1, 3)))})})
    monkeypatch.setattr(h5netcdf.core, "_open_h5py", interrupted)
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(Terminated):
        io.write_netcdf(tmp_path / "x.nc", tree)
    gc.collect()
    assert unraisable == []
    assert list(tmp_path.iterdir()) == []


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.e2e
def test_temporary_files_of_killed_processes_are_removed_by_the_next_write(tmp_path):
    """SIGKILL or a power cut cannot clean up; the next write into the folder does."""
    dead = tmp_path / f".appendix.md.{_dead_pid()}.abcd1234.part"
    legacy = tmp_path / ".results.json.k2j4h5g6.part"  # the pre-pid naming of earlier versions
    live = tmp_path / f".figure.png.{os.getppid()}.zzzz9999.part"  # a running process's
    fresh_legacy = tmp_path / ".forest.png.q1w2e3r4.part"
    for path in (dead, legacy, live, fresh_legacy):
        path.write_bytes(b"\0" * 1000)
    old = time.time() - 3600
    os.utime(legacy, (old, old))
    io.write_text(tmp_path / "other.txt", "x")
    assert not dead.exists() and not legacy.exists()
    assert live.exists() and fresh_legacy.exists()  # possibly still being written
    assert (tmp_path / "other.txt").read_text() == "x"


@pytest.mark.e2e
def test_a_resumed_analysis_removes_temporary_files_of_a_killed_run(trial, tmp_path):
    """A resumed run removes the .part files of a run killed while writing draws.

    It does so even when it has nothing to write into posterior/ (here: the exact engine).
    """
    posterior = tmp_path / "posterior"
    posterior.mkdir()
    left = posterior / f".remission__b.nc.{_dead_pid()}.abcd1234.part"
    left.write_bytes(bytes(10_000))
    reanalysis.analyze(trial, "remission", ["a"], engine="exact", outdir=tmp_path)
    assert _parts(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# The sweep cache (exact sweeps: no sampling)
# ---------------------------------------------------------------------------------------------


def _exact_sweep(trial, outdir):
    return sweep_mod.run_sweep(trial, "remission", centres=sweep_mod.GridRange(-0.5, 1.5, 5),
                           sds=sweep_mod.GridRange(0.5, 1.0, 2), outdir=outdir, levels=(0.8,),
                           check_roots=False)


def _damage_file(path: Path, how: str) -> None:
    size = path.stat().st_size
    if how == "truncated":
        with path.open("r+b") as f:
            f.truncate(size // 2)
    elif how == "random_bytes":
        path.write_bytes(np.random.default_rng(1).bytes(size))
    elif how == "zeroed":
        path.write_bytes(bytes(size))
    elif how == "zeroed_middle":
        with path.open("r+b") as f:
            f.seek(size // 3)
            f.write(bytes(size // 3))
    else:
        raise ValueError(how)


@pytest.mark.parametrize("how", ["truncated", "random_bytes", "zeroed", "zeroed_middle"])
def test_unreadable_sweep_cache_is_set_aside_and_rebuilt(trial, tmp_path, capsys, how):
    first = _exact_sweep(trial, tmp_path)
    db = tmp_path / "cache" / "sweep.sqlite"
    _damage_file(db, how)
    capsys.readouterr()
    again = _exact_sweep(trial, tmp_path)
    err = capsys.readouterr().err
    assert again["grid"] == first["grid"]
    assert again["tipping_point"] == first["tipping_point"]
    assert again["timing"]["exact_points_from_cache"] == 0  # nothing damaged was used
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "set aside" in warnings[0], err
    aside = list((tmp_path / "cache").glob("sweep.sqlite.corrupt-*"))
    assert len(aside) == 1 and aside[0].name in warnings[0]
    third = _exact_sweep(trial, tmp_path)  # the rebuilt cache serves every point
    assert third["timing"]["exact_points_from_cache"] == len(first["grid"])
    assert "warning" not in capsys.readouterr().err


def _records_table(db: sqlite3.Connection) -> str:
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert len(names) == 1, names
    return names[0]


def _assert_same_grid(grid, expected):
    """Assert equal rows, floats to a relative 1e-12.

    A point recomputed alone may differ from its batch in the last bits only: the exact sweep
    engine evaluates points in vectorised batches.
    """
    assert len(grid) == len(expected)
    for row, ref in zip(grid, expected):
        assert row.keys() == ref.keys()
        for key, value in ref.items():
            if isinstance(value, float):
                np.testing.assert_allclose(row[key], value, rtol=1e-12, atol=1e-15, err_msg=key)
            else:
                assert row[key] == value, key


@pytest.mark.parametrize("how", ["cut_short", "not_json", "changed_number"])
def test_damaged_sweep_cache_record_is_recomputed(trial, tmp_path, capsys, how):
    first = _exact_sweep(trial, tmp_path)
    path = tmp_path / "cache" / "sweep.sqlite"
    # closing(): a Connection's own `with` commits but does not close (Python 3.13 warns)
    with closing(sqlite3.connect(path)) as db, db:
        table = _records_table(db)
        key, text = db.execute(f"SELECT key, record FROM {table} WHERE record LIKE "
                               "'%\"p_benefit\"%' LIMIT 1").fetchone()
        record = json.loads(text)
        damaged = {"cut_short": text[: len(text) // 2], "not_json": "\0\0garbage",
                   "changed_number": json.dumps(dict(record, p_benefit=0.5))}[how]
        db.execute(f"UPDATE {table} SET record = ? WHERE key = ?", (damaged, key))
    capsys.readouterr()
    again = _exact_sweep(trial, tmp_path)
    err = capsys.readouterr().err
    _assert_same_grid(again["grid"], first["grid"])
    assert again["timing"]["exact_points_from_cache"] == len(first["grid"]) - 1
    assert len([x for x in err.splitlines() if x.startswith("warning:")]) == 1, err
    third = _exact_sweep(trial, tmp_path)
    assert third["timing"]["exact_points_from_cache"] == len(first["grid"])


# ---------------------------------------------------------------------------------------------
# The committed report's draws
# ---------------------------------------------------------------------------------------------


@pytest.mark.heavy
def test_committed_report_draws_pass_the_completeness_checks(deng):
    """The report's NetCDF files predate checksums: complete draws are accepted as they are."""
    from lnbayes.engines.mcmc import SamplerSettings

    files = sorted((ROOT / "reports" / "deng2017" / "posterior").glob("*.nc"))
    assert files
    for path in files:
        outcome, prior = path.stem.split("__")
        tree = io.read_netcdf(path)
        assert tree.attrs["lnbayes_outcome"] == outcome
        problem = reanalysis.saved_draws_problem(tree, tree.attrs["lnbayes_key"], deng.priors[prior],
                                               SamplerSettings())
        assert problem is None, (path.name, problem)


# ---------------------------------------------------------------------------------------------
# Sampling interrupted in-process, damaged draws (PyMC)
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@needs_proc
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_sampling_stops_the_sampler_and_returns_nothing(trial, signum):
    """Ctrl-C or SIGTERM raises (nutpie's blocking sample returned NaN-padded draws)."""
    from lnbayes.engines import mcmc
    from lnbayes.engines.mcmc import SamplerSettings

    prior, outcome = trial.priors["b"], trial.outcome("remission")
    mcmc.compiled_model(prior, outcome)  # compiled before the clock starts

    def send_when_sampling():
        deadline = time.monotonic() + 300
        while not _sampling(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(os.getpid(), signum)

    def raise_terminated(signum, frame):
        raise Terminated()

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, raise_terminated),  # as the CLI
                signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler)}
    watcher = threading.Thread(target=send_when_sampling, daemon=True)
    try:
        watcher.start()
        with pytest.raises(KeyboardInterrupt) as caught:
            mcmc.sample(prior, outcome, seed=1,
                               settings=SamplerSettings(draws=200_000, tune=200))
        watcher.join()
    finally:
        for signum_, handler in previous.items():
            signal.signal(signum_, handler)
    assert isinstance(caught.value, Terminated) == (signum == signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _sampling(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _sampling(os.getpid())  # the chains were stopped, not left running


def _zero_draws(path: Path, n: int, var: str = "p_treatment") -> None:
    import h5py

    with h5py.File(path, "r+") as f:
        data = f[f"posterior/{var}"]
        data[0, :n] = 0.0


def _nan_pad(path: Path, keep: int) -> None:
    """What nutpie's aborted sample returned: every chain's draws after ``keep`` are NaN."""
    import h5py

    with h5py.File(path, "r+") as f:
        for name, data in f["posterior"].items():
            if data.ndim == 2 and data.dtype.kind == "f":
                data[:, keep:] = np.nan


def _drop_checksum(path: Path) -> None:
    import h5py

    with h5py.File(path, "r+") as f:
        del f.attrs[reanalysis.DIGEST_ATTR]


@pytest.fixture(scope="module")
def small():
    from lnbayes.engines.mcmc import SamplerSettings

    return SamplerSettings(draws=500, tune=200)


@pytest.fixture(scope="module")
def saved_fit(trial, small, tmp_path_factory):
    """One fit of prior b saved to NetCDF, and its result."""
    path = tmp_path_factory.mktemp("saved") / "posterior" / "remission__b.nc"
    result = reanalysis.pymc_result(trial.priors["b"], trial.outcome("remission"), (), 5, small,
                                  path, {})
    return path, _jsonable(result)


def _rerun(trial, small, path):
    return _jsonable(reanalysis.pymc_result(trial.priors["b"], trial.outcome("remission"), (), 5,
                                          small, path, {}))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["zeroed_draws", "nan_padded", "truncated", "random_bytes",
                                 "zeroed_middle"])
def test_damaged_saved_draws_are_sampled_again_with_a_warning(trial, small, saved_fit, tmp_path,
                                                              capsys, how):
    original, first = saved_fit
    path = tmp_path / original.name
    path.write_bytes(original.read_bytes())
    assert _rerun(trial, small, path)["from_cache"]  # intact: reused
    if how == "zeroed_draws":
        _zero_draws(path, 150)  # 150 of the 500 draws of chain 0
    elif how == "nan_padded":
        _nan_pad(path, keep=300)
    else:
        _damage_file(path, how)
    capsys.readouterr()
    again = _rerun(trial, small, path)
    err = capsys.readouterr().err
    assert not again["from_cache"]
    for key in COMPARED:
        assert again[key] == first[key], key  # the same seed gives the same draws
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning:") and str(path) in lines[0], err
    assert _rerun(trial, small, path)["from_cache"]  # the file was written anew, intact


@pytest.mark.slow
def test_files_without_checksum_are_checked_for_completeness(trial, small, saved_fit, tmp_path,
                                                             capsys):
    """Files of earlier versions have no checksum: complete draws are used, altered ones not."""
    original, first = saved_fit
    path = tmp_path / original.name
    path.write_bytes(original.read_bytes())
    _drop_checksum(path)
    legacy = _rerun(trial, small, path)
    assert legacy["from_cache"] and legacy["p_benefit"] == first["p_benefit"]
    _zero_draws(path, 150)  # no checksum to catch it: the derived effects no longer match
    capsys.readouterr()
    again = _rerun(trial, small, path)
    assert not again["from_cache"] and again["p_benefit"] == first["p_benefit"]
    assert "does not match p_control and p_treatment" in capsys.readouterr().err


@pytest.mark.slow
def test_checksum_catches_a_change_the_completeness_checks_cannot(trial, small, saved_fit,
                                                                 tmp_path, capsys):
    """Swapping two draws of one chain keeps every draw complete and consistent."""
    import h5py

    original, first = saved_fit
    path = tmp_path / original.name
    path.write_bytes(original.read_bytes())
    with h5py.File(path, "r+") as f:
        for name, data in f["posterior"].items():
            if data.ndim == 2:
                row = data[0, :]
                row[[0, 1]] = row[[1, 0]]
                data[0, :] = row
    tree = io.read_netcdf(path)
    from lnbayes.engines import mcmc

    assert mcmc.draws_problem(tree, trial.priors["b"], small) is None
    capsys.readouterr()
    again = _rerun(trial, small, path)
    assert not again["from_cache"]
    assert "checksum" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Fault injection on the command line
# ---------------------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.slow
@needs_proc
def test_analyze_interrupted_while_sampling_resumes(trial_file, uninterrupted, tmp_path):
    out = tmp_path / "out"
    args = ("analyze", trial_file, "--engine", "pymc", "--draws", DRAWS, "--tune", TUNE,
            "--outdir", out, "--json")
    posterior = out / "posterior"

    # Ctrl-C while the second prior is sampled: the first is kept, nothing of the second
    status, _, err = _signal_when(_lnbayes(*args, cwd=tmp_path), _NthFit(2), signal.SIGINT)
    _assert_clean_stop(status, err, signal.SIGINT)
    assert sorted(p.name for p in posterior.iterdir()) == ["remission__a.nc"]

    # the rerun resumes and gives the numbers of an uninterrupted run
    status, stdout, err = _rerun_command(*args, cwd=tmp_path)
    assert status == 0 and "warning" not in err.lower(), err
    results = {r["prior"]: r for r in json.loads(stdout)["results"]}
    assert [results[p]["from_cache"] for p in "abc"] == [True, False, False]
    for name, expected in uninterrupted.items():
        for key in COMPARED:
            assert results[name][key] == expected[key], (name, key)
    assert _parts(out) == []


@pytest.mark.e2e
@pytest.mark.slow
@needs_proc
def test_sweep_terminated_while_sampling_resumes(trial, trial_file, tmp_path):
    from lnbayes.engines.mcmc import SamplerSettings

    out = tmp_path / "out"
    args = ("sweep", trial_file, "--engine", "pymc", *SWEEP_ARGS, "--draws", SWEEP_DRAWS,
            "--tune", SWEEP_TUNE, "--outdir", out, "--json")
    status, _, err = _signal_when(_lnbayes(*args, cwd=tmp_path), _NthFit(2), signal.SIGTERM)
    _assert_clean_stop(status, err, signal.SIGTERM)
    assert not list(out.glob("sweep_*"))  # no result files for an unfinished sweep

    status, stdout, err = _rerun_command(*args, cwd=tmp_path)
    assert status == 0 and "warning" not in err.lower(), err
    resumed = json.loads(stdout)
    assert resumed["timing"]["pymc_points_from_cache"] == 1  # the point finished before Ctrl-C
    reference = sweep_mod.run_sweep(
        trial, "remission", mode="arm", centres=sweep_mod.GridRange(0.3, 0.7, 3),
        sds=sweep_mod.GridRange(4, 4, 1), engine="pymc",
        settings=SamplerSettings(draws=SWEEP_DRAWS, tune=SWEEP_TUNE), outdir=None)
    for row, expected in zip(resumed["grid"], _jsonable(reference)["grid"]):
        for key in SWEEP_COMPARED:
            assert row[key] == expected[key], key
    assert _parts(out) == []


@pytest.mark.e2e
@pytest.mark.slow
@needs_proc
def test_report_terminated_while_writing_draws_resumes(tmp_path):
    from lnbayes.engines.mcmc import SamplerSettings

    trial_file = tmp_path / "two_priors.toml"  # two fits: each adds figures to every run
    trial_file.write_text(TRIAL_TOML.split("[priors.c]")[0], encoding="utf-8")
    trial = trialfile.load_trial(trial_file)
    out = tmp_path / "report"
    posterior = out / "posterior"
    args = ("report", trial_file, "--draws", REPORT_DRAWS, "--tune", TUNE, "--no-explorer",
            "--outdir", out)

    def writing_b(proc):
        return posterior.is_dir() and bool(list(posterior.glob(".remission__b.nc.*.part")))

    # SIGTERM while the second fit's draws are written (a 19 MB .part file was left behind)
    status, _, err = _signal_when(_lnbayes(*args, cwd=tmp_path), writing_b, signal.SIGTERM)
    _assert_clean_stop(status, err, signal.SIGTERM)
    assert sorted(p.name for p in posterior.iterdir()) == ["remission__a.nc"]
    assert _parts(out) == []
    assert not (out / "results.json").exists()

    status, _, err = _rerun_command(*args, cwd=tmp_path)
    assert status == 0 and "warning" not in err.lower(), err
    report = json.loads((out / "results.json").read_text())
    results = {r["prior"]: r for r in report["outcomes"][0]["results"]}
    uninterrupted = _uninterrupted(trial, SamplerSettings(draws=REPORT_DRAWS, tune=TUNE))
    for name, expected in uninterrupted.items():
        for key in COMPARED:
            assert results[name][key] == expected[key], (name, key)
    assert _parts(out) == []


def _cache_fillers(parent: int) -> list[int]:
    """Children of ``parent`` that run :func:`lnbayes.io.background.run_job` or
    :func:`lnbayes.io.background.run_worker` (the report's second processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and ("run_job" in cmd or "run_worker" in cmd):
            found.append(int(entry.name))
    return found


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the child")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_report_stops_its_second_process(trial_file, tmp_path, monkeypatch, signum):
    """The report's second process (the explorer's grids, io.background) ends with the report:
    it is in its own session, so only the report can stop it."""
    monkeypatch.setenv("LNBAYES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LNBAYES_BACKGROUND", raising=False)
    from lnbayes.io import background

    if background.cores() < 2:
        pytest.skip("one core: no second process is started")
    proc = _lnbayes("report", trial_file, "--engine", "exact", "--outdir", tmp_path / "out",
                    cwd=tmp_path)
    seen: list[int] = []

    def filler_started(p):
        seen.extend(_cache_fillers(p.pid))
        return bool(seen)

    status, _, err = _signal_when(proc, filler_started, signum)
    _assert_clean_stop(status, err, signum)
    for pid in seen:  # every second process it had started when stopped
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            try:
                state = (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                break
            if state == "Z":  # ended, not yet reaped (its parent is gone: init reaps it)
                break
            time.sleep(0.05)
        still = Path(f"/proc/{pid}/stat")
        try:
            assert not still.exists() or still.read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            pass  # gone between the two looks
