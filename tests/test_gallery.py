"""The gallery of published trials in models/: every file validates, covers what the gallery
promises, and gets a report (exact for every file, PyMC for two besides the embedded trial)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from lnbayes.io import trialfile
from tests.conftest import PYMC_GROUP

ROOT = Path(__file__).resolve().parents[1]
GALLERY = sorted((ROOT / "models").glob("*.toml"))
NAMES = [p.stem for p in GALLERY]


def trials():
    return {p.stem: trialfile.load_trial(p) for p in GALLERY}


def test_the_gallery_has_at_least_eight_trials_besides_the_embedded_one():
    assert len([n for n in NAMES if n != "deng2017"]) >= 8


@pytest.mark.parametrize("path", GALLERY, ids=NAMES)
def test_every_count_has_a_source(path):
    trial = trialfile.load_trial(path)
    assert trial.reference.strip(), path.name
    for outcome in trial.outcomes.values():
        assert outcome.source.strip(), (path.name, outcome.name)


def test_the_gallery_covers_what_the_issue_asks():
    ts = trials()
    outcomes = [(t, o) for t in ts.values() for o in t.outcomes.values()]
    priors = [p for t in ts.values() for p in t.priors.values()]

    def ratio(t):
        a, b = t.allocation
        return a / b

    cover = {
        "1,000 or more patients per arm": any(min(o.treatment_n, o.control_n) >= 1000
                                              for _, o in outcomes),
        "rare events (1% or fewer)": any(o.treatment_events / o.treatment_n <= 0.01
                                         or o.control_events / o.control_n <= 0.01
                                         for _, o in outcomes),
        "an arm with zero events": any(0 in (o.treatment_events, o.control_events)
                                       for _, o in outcomes),
        "a primary outcome where lower is better": any(t.primary_outcome.lower_is_better
                                                       for t in ts.values()),
        "1:1 allocation": any(ratio(t) == 1 for t in ts.values()),
        "2:1 allocation": any(ratio(t) in (2, 0.5) for t in ts.values()),
        "3:1 allocation": any(ratio(t) in (3, 1 / 3) for t in ts.values()),
        "log-RR priors": any(p.family == "effect" and p.scale == "log_rr" for p in priors),
        "RD priors": any(p.family == "effect" and p.scale == "rd" for p in priors),
        "a trial stopped early": any(t.stopped_early for t in ts.values()),
        "a trial that ran to completion": any(t.stopped_early is False for t in ts.values()),
        # parsed, not searched: a file may mention "[priors]" in a comment
        "a file without a priors table": any(
            "priors" not in tomllib.loads(p.read_text()) for p in GALLERY),
        "several outcomes": sum(len(t.outcomes) > 1 for t in ts.values()) >= 2,
    }
    missing = [k for k, ok in cover.items() if not ok]
    assert not missing, missing


def by_name(names):
    """Parameters whose tests run in one pytest-xdist worker per trial (they share its report)."""
    return [pytest.param(n, marks=pytest.mark.xdist_group(f"report-{n}")) for n in names]


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("name", by_name(NAMES))
def test_exact_report_of_every_gallery_trial(exact_report, name):
    result, outdir = exact_report(ROOT / "models" / f"{name}.toml", whole_gallery=True)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    results = json.loads((outdir / "results.json").read_text())
    assert results["engine"] == "exact"
    md = (outdir / "appendix.md").read_text()
    assert "without Markov chain Monte Carlo" in md
    trial = trialfile.load_trial(ROOT / "models" / f"{name}.toml")
    assert trial.title in md
    # a section whose exact computation is refused (CRASH-2's 20,000 patients are too many to
    # enumerate) is left out with the reason, and the rest of the report is written
    for section in ("predict", "design"):
        if results[section] is None:
            assert results["omitted"][section] in md
    if name == "crash2_2010":
        assert results["design"] is None
        assert "This section is left out: exact enumeration" in md
    for figure in results["figures"].values():
        assert (outdir / figure["png"]).stat().st_size > 0
    for o in results["outcomes"]:
        for r in o["results"]:
            assert 0.0 <= r["p_benefit"] <= 1.0


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("name", by_name(NAMES))
def test_gallery_latex_compiles(exact_report, name, tmp_path):
    _, outdir = exact_report(ROOT / "models" / f"{name}.toml", whole_gallery=True)
    work = tmp_path / name
    shutil.copytree(outdir, work)
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "appendix.tex"],
                          cwd=work, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (work / "appendix.pdf").stat().st_size > 10_000


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.xdist_group(PYMC_GROUP)
@pytest.mark.parametrize("name", ["cesar2009", "nicesugar2009"])
def test_pymc_report_of_gallery_trials(name, tmp_path):
    """A full report (PyMC checked against exact) on two gallery trials besides the embedded one:
    CESAR (90 + 90 patients, log-OR priors) and NICE-SUGAR (3,000 + 3,000 patients, log-RR
    priors): a small trial and a large one.

    ``lnbayes report`` runs in this process (typer's CliRunner: the command's code, its error
    handler and exit status; the process itself is tested in tests/cli and tests/test_reliability.py),
    so that the models it compiles serve the other PyMC tests of its group (``PYMC_GROUP``:
    tests/test_readme.py and the tests that sample in-process) instead of being compiled again in a new process for each.
    """
    from typer.testing import CliRunner

    from lnbayes.cli.main import app

    outdir = tmp_path / name
    result = CliRunner().invoke(app, ["report", str(ROOT / "models" / f"{name}.toml"),
                                      "--draws", "500", "--tune", "300", "--no-explorer",
                                      "--outdir", str(outdir)])
    assert result.exit_code == 0, result.output
    results = json.loads((outdir / "results.json").read_text())
    assert results["engine"] == "pymc"
    runs = [r for o in results["outcomes"] for r in o["results"]]
    assert runs and all(r["engine"] == "pymc" for r in runs)
    for r in runs:
        assert r["diagnostics"]["converged"], (r["prior"], r["diagnostics"]["problems"])
        # 3 MCSE (the agreement band of the package); with this many runs a few 3-MCSE
        # exceedances are possible by chance, so the test allows one in twenty
    agree = [r["agrees_with_exact"] for r in runs]
    assert sum(agree) >= 0.95 * len(agree), [r["prior"] for r in runs if not r["agrees_with_exact"]]
    assert list((outdir / "posterior").glob("*.nc"))
