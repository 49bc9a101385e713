"""The report: files, numbers taken from results.json, hand-written regions, LaTeX and HTML."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lnbayes.analyses import full_report
from lnbayes.io import trialfile
from lnbayes.outputs import report
from tests.conftest import PYMC_GROUP

# the tests of this file share module- and session-scoped fixtures (sampled or computed once),
# and some sample with PyMC: pytest-xdist (make test) runs them in the one worker that runs
# every in-process PyMC test (tests/conftest.py: PYMC_GROUP)
pytestmark = pytest.mark.xdist_group(PYMC_GROUP)

SMALL = (Path(__file__).resolve().parents[1] / "data" / "small_trial.toml").read_text()
"""A small two-outcome trial file (tests/data/small_trial.toml)."""



@pytest.fixture(scope="module")
def small_report(tmp_path_factory, small_settings):
    tmp = tmp_path_factory.mktemp("report")
    path = tmp / "small.toml"
    path.write_text(SMALL)
    trial = trialfile.load_trial(path)
    outdir = tmp / "out"
    rep, extras = full_report.run_report(trial, settings=small_settings, outdir=outdir)
    report.write_beside(trial, report.add_texts(rep), extras, outdir)
    clean = full_report.strip_for_json(rep)
    (outdir / "results.json").write_text(json.dumps(clean))
    report.write_appendix(clean, outdir)
    return outdir, json.loads((outdir / "results.json").read_text())



@pytest.mark.e2e
@pytest.mark.slow
def test_files_written(small_report):
    outdir, results = small_report
    for name in ("results.json", "appendix.md", "appendix.tex", "appendix.html"):
        assert (outdir / name).stat().st_size > 0
    for o in results["outcomes"]:
        for r in o["results"]:
            assert (outdir / r["netcdf"]).exists()
    assert not list(outdir.rglob("*.part"))



@pytest.mark.e2e
@pytest.mark.slow
def test_appendix_numbers_come_from_results(small_report):
    outdir, results = small_report
    md = (outdir / "appendix.md").read_text()
    prim = next(o for o in results["outcomes"] if o["outcome"] == results["primary_outcome"])
    table1 = md.split("**Table 1.**")[1].split("\n\n")[1]
    rows = [ln for ln in table1.splitlines() if ln.startswith("| ") and "---" not in ln][1:]
    assert len(rows) == len(prim["results"])
    for row, r in zip(rows, prim["results"]):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == r["prior_info"]["label"]
        assert cells[1] == f"{r['p_benefit']:.3f} ({r['p_benefit_mcse']:.3f})"
        assert cells[2] == f"{r['p_benefit_exact']:.3f}"
    # every probability printed with three decimals in Table 1 exists in results.json
    sha = results["provenance"]["trial_file_sha256"]
    assert sha[:32] in md and sha[32:] in md
    # the sentence under Table 3 quotes the range of the table's P(in ROPE) column
    table3 = md.split("**Table 3.**")[1].split("\n\n")[1]
    rows3 = [ln for ln in table3.splitlines() if ln.startswith("| ") and "---" not in ln][1:]
    rope_col = [float(ln.strip("|").split("|")[-1]) for ln in rows3]
    exact = [r["evidence"]["rope"]["p_inside_exact"] for r in prim["results"]]
    assert rope_col == [round(p, 3) for p in exact]
    assert (f"inside it ranged from {min(exact):.3f} to {max(exact):.3f}" in md)



@pytest.mark.e2e
@pytest.mark.slow
def test_appendix_lists_each_reference_once(small_report):
    """A prior's abbreviated citation of a work the appendix already cites is not listed again."""
    outdir, _ = small_report
    refs = (outdir / "appendix.md").read_text().split("## References")[1].splitlines()
    refs = [ln for ln in refs if re.match(r"\d+\. ", ln)]
    assert refs[0].startswith("1. Doe J. A small trial.")
    # the prior's abbreviated citation of Spiegelhalter et al. 1994 is not listed again (the
    # appendix also cites Spiegelhalter, Abrams and Myles 2004, another work)
    assert sum("Spiegelhalter" in ln and "1994" in ln for ln in refs) == 1
    assert sum("Roe R. Priors. 2021." in ln for ln in refs) == 1
    assert [int(ln.split(".")[0]) for ln in refs] == list(range(1, len(refs) + 1))



@pytest.mark.e2e
@pytest.mark.slow
def test_appendix_covers_barg_items(small_report):
    outdir, _ = small_report
    md = (outdir / "appendix.md").read_text()
    for needle in ("Aim and rationale", "Likelihood", "Formal specification", "Prior predictive",
                   "Convergence", "effective sample", "Agreement with the exact engine",
                   "equal-tailed", "Posterior predictive check", "Decision criteria",
                   "Sensitivity analysis", "Reproducibility", "Reporting checklist",
                   "References"):
        assert needle in md, needle
    low = md.lower()
    # no claims beyond the numbers: absence of evidence is not stated as absence of effect
    for overclaim in ("had no effect", "showed no effect", "there was no effect", "no effect of",
                      "no difference", " proved ", "demonstrated that", "was ineffective"):
        assert overclaim not in low, overclaim



@pytest.mark.e2e
@pytest.mark.slow
def test_user_region_survives_rerun(small_report):
    outdir, results = small_report
    md_path = outdir / "appendix.md"
    text = md_path.read_text()
    mine = "We note that the trial was stopped by the sponsor. (hand-written)\n"
    text = re.sub(r"(<!-- lnbayes:user-begin notes -->\n).*?(<!-- lnbayes:user-end notes -->)",
                  lambda m: m.group(1) + mine + m.group(2), text, flags=re.S)
    md_path.write_text(text)
    report.write_appendix(results, outdir)
    again = md_path.read_text()
    assert mine in again
    assert "(hand-written)" in (outdir / "appendix.html").read_text()
    assert "(hand-written)" in (outdir / "appendix.tex").read_text()



@pytest.mark.e2e
@pytest.mark.slow
def test_html_is_self_contained(small_report):
    outdir, _ = small_report
    html = (outdir / "appendix.html").read_text()
    assert "<math" in html  # MathML, no external script
    assert not re.search(r'<script[^>]+src="(?!data:)', html)
    assert not re.search(r'<link[^>]+href="(?!data:)', html)
    for src in re.findall(r'<img[^>]+src="([^"]+)"', html):
        assert src.startswith("data:"), src
    assert "max-width: 52em" in html  # the style sheet is embedded too



@pytest.mark.e2e
@pytest.mark.slow
def test_html_from_a_relative_outdir(small_report, monkeypatch):
    """`lnbayes report` passes a relative outdir: figures and style sheet must still be found."""
    outdir, _ = small_report
    monkeypatch.chdir(outdir.parent)
    md = (outdir / "appendix.md").read_text()
    # every file under the working directory (the report folder included), before and after: the
    # style sheet pandoc reads is written to a temporary folder of its own and removed, so no
    # file (hidden or not, .css or other) may be added or left behind next to the report
    before = sorted(p.relative_to(outdir.parent) for p in outdir.parent.rglob("*"))
    html = report.markdown_to_html(md, "t", Path(outdir.name))
    assert "max-width: 52em" in html
    assert re.search(r'<img[^>]+src="data:image/png', html)
    assert sorted(p.relative_to(outdir.parent) for p in outdir.parent.rglob("*")) == before



@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_compiles(small_report, tmp_path):
    outdir, _ = small_report
    work = tmp_path / "tex"
    shutil.copytree(outdir, work)
    out = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "appendix.tex"],
        cwd=work, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert (work / "appendix.pdf").stat().st_size > 10_000



@pytest.mark.slow
def test_committed_report_reproduces():
    """Rerun the primary outcome with the recorded seeds: the committed numbers come back exactly."""
    from lnbayes.analyses import reanalysis
    from lnbayes.engines.mcmc import SamplerSettings
    from lnbayes.io import files

    root = Path(__file__).resolve().parents[2]
    committed = root / "reports" / "deng2017" / "results.json"
    if not committed.exists():
        pytest.fail("reports/deng2017/results.json is not committed")
    results = json.loads(committed.read_text())
    trial = trialfile.load_trial(root / results["trial"]["file"])
    assert results["provenance"]["trial_file_sha256"] == files.file_sha256(
        root / results["trial"]["file"])
    sampler = results["settings"]["sampler"]
    settings = SamplerSettings(draws=sampler["draws"], tune=sampler["tune"],
                               chains=sampler["chains"], cores=sampler["cores"],
                               target_accept=sampler["target_accept"])
    prim = next(o for o in results["outcomes"] if o["outcome"] == results["primary_outcome"])
    outcome = trial.outcome(prim["outcome"])
    for recorded in prim["results"]:
        prior = trial.priors[recorded["prior"]]
        assert recorded["seed"] == reanalysis.prior_seed(results["settings"]["seed"], outcome.name,
                                                       prior.name)
        again = reanalysis.pymc_result(prior, outcome, outcome.thresholds, recorded["seed"],
                                     settings, None, {})
        assert again["p_benefit"] == recorded["p_benefit"], prior.name
        assert again["p_benefit_mcse"] == recorded["p_benefit_mcse"], prior.name
        assert again["p_benefit_exact"] == pytest.approx(recorded["p_benefit_exact"], abs=1e-12)
        for m, est in recorded["estimates"].items():
            for k in ("median", "lower", "upper"):
                assert again["estimates"][m][k] == est[k], (prior.name, m, k)

