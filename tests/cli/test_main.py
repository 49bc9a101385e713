"""The command line (lnbayes.cli.main): imports kept light, JSON contracts, clean one-line errors
for every kind of bad input, exit codes, and where the commands write."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner  # noqa: E402

from lnbayes.analyses.reanalysis import prior_seed
from lnbayes.cli.main import app  # noqa: E402
from lnbayes.io import trialfile
from tests.conftest import PYMC_GROUP, lnbayes_cli, lnbayes_in_process

ROOT = Path(__file__).resolve().parents[2]

DENG = ROOT / "models" / "deng2017.toml"



def run(*args, cwd=None):
    """``lnbayes ARGS`` in this process (:func:`tests.conftest.lnbayes_in_process`): the
    command's code, its one error handler and its exit status, without a new interpreter's
    0.5 to 2 s of imports for each of the many bad inputs here. What only a process shows (its
    stdout holding nothing but the JSON, the imports a command makes, a bad file refused with
    one line and status 2, saved draws read by a new process) is tested with
    :func:`run_process`."""
    return lnbayes_in_process(*args, cwd=cwd)


run_process = lnbayes_cli
"""``python -m lnbayes ARGS`` in a new process (:func:`tests.conftest.lnbayes_cli`)."""


@pytest.mark.e2e
def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys\n"
        "from lnbayes.cli.main import app\n"
        "try:\n    app(['--help'], prog_name='lnbayes')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'pymc', 'arviz', 'matplotlib', 'nutpie', 'pytensor'})\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr



@pytest.mark.e2e
@pytest.mark.parametrize(("args", "also"), [(["analyze", "--engine", "exact", "--json"], ()),
                                            (["predict", "--json"], ("scipy.optimize",)),
                                            (["design", "--json"], ())])
def test_exact_commands_import_no_sampler_plots_or_scipy_stats(args, also, tmp_path):
    """scipy.stats alone takes 0.6 s to import; pymc, arviz and matplotlib much more;
    scipy.optimize 0.13 s, which predict (target 1 s) never needs (design's minimal detectable
    effects do, when they are not in the record cache)."""
    code = (
        "import sys\n"
        "from lnbayes.cli.main import app\n"
        f"try:\n    app({args + ['--outdir', str(tmp_path)] if args[0] == 'analyze' else args!r},"
        " prog_name='lnbayes')\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = sorted({m for m in sys.modules if m.split('.')[0] in "
        "('pymc', 'arviz', 'matplotlib', 'pytensor', 'nutpie') or m == 'scipy.stats'"
        f" or m in {also!r}}})\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]



@pytest.mark.parametrize("cores, expected", [(2, "1"), (64, None)])
def test_blas_threads_limited_on_few_cores(monkeypatch, cores, expected):
    import lnbayes.cli.main as cli

    for name in cli.BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli.os, "cpu_count", lambda: cores)
    cli._limit_blas_threads()
    assert [cli.os.environ.get(n) for n in cli.BLAS_THREAD_VARIABLES] == [expected] * 3



def test_blas_threads_set_by_the_user_are_kept(monkeypatch):
    import lnbayes.cli.main as cli

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)
    cli._limit_blas_threads()
    assert cli.os.environ["OPENBLAS_NUM_THREADS"] == "2"


def test_freed_memory_kept_by_glibc_unless_the_user_tuned_malloc(monkeypatch):
    """In a child process (mallopt changes the whole process): applied on Linux with glibc,
    skipped when a MALLOC_* variable is set; the command's output is unaffected."""
    import platform

    code = "from lnbayes.cli import options as o; print('APPLIED', o.keep_freed_memory())"
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"):
        monkeypatch.delenv(name, raising=False)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert f"APPLIED {glibc}" in out.stdout, out.stdout + out.stderr
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "APPLIED False" in out.stdout, out.stdout + out.stderr



@pytest.mark.e2e
def test_analyze_exact_json_contract(tmp_path):
    out = run_process("analyze", "--engine", "exact", "--json", "--outdir", tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["trial"] == "deng2017" and data["outcome"] == "remission"
    names = [r["prior"] for r in data["results"]]
    assert "flat" in names
    for r in data["results"]:
        assert r["engine"] == "exact"
        assert r["p_benefit_mcse"] is None and r["diagnostics"] is None
        assert 0 <= r["p_benefit"] <= 1 and r["p_benefit"] == r["p_benefit_exact"]
        for th in r["thresholds"]:
            assert set(th) >= {"scale", "value", "p"}
        for m in ("risk_difference", "risk_ratio", "odds_ratio", "p_control", "p_treatment"):
            assert set(r["estimates"][m]) >= {"median", "lower", "upper"}
    flat = next(r for r in data["results"] if r["prior"] == "flat")
    assert abs(flat["p_benefit"] - 0.405831) < 1e-5
    written = json.loads((tmp_path / "analysis_remission_exact.json").read_text())
    assert written["results"][0]["p_benefit"] == data["results"][0]["p_benefit"]
    assert written["provenance"]["versions"]["numpy"]
    assert written["provenance"]["trial_file_sha256"]



@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.xdist_group(PYMC_GROUP)
def test_analyze_pymc_json_contract_and_netcdf(tmp_path):
    # in this process, in the worker of every in-process PyMC test (PYMC_GROUP), which has the
    # arm-level model compiled
    out = lnbayes_in_process("analyze", "--prior", "flat", "--json", "--draws", "500", "--tune",
                             "300", "--seed", "7", "--outdir", tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    r = json.loads(out.stdout)["results"][0]
    assert r["engine"] == "pymc" and r["prior"] == "flat"
    assert r["p_benefit_mcse"] > 0
    assert abs(r["p_benefit"] - r["p_benefit_exact"]) <= 3 * r["p_benefit_mcse"]
    assert r["seed"] == prior_seed(7, "remission", "flat")
    assert {"r_hat", "ess_bulk", "ess_tail"} <= set(r["diagnostics"]["variables"]["risk_difference"])
    assert r["diagnostics"]["divergences"] == 0
    assert (tmp_path / "posterior" / "remission__flat.nc").exists()
    # a repeated run with the same seed gives identical numbers
    again = run_process("analyze", "--prior", "flat", "--json", "--draws", "500", "--tune", "300",
                "--seed", "7", "--outdir", tmp_path)  # a new process, reading the saved draws
    assert again.returncode == 0, again.stderr
    again = json.loads(again.stdout)["results"][0]
    assert again["from_cache"] and again["p_benefit"] == r["p_benefit"]



def test_inline_trial_and_lower_is_better(tmp_path):
    higher = json.loads(run("analyze", "--treatment", "9/12", "--control", "5/6", "--engine",
                            "exact", "--json", "--outdir", tmp_path).stdout)
    flat = next(r for r in higher["results"] if r["prior"] == "flat")
    assert abs(flat["p_benefit"] - 0.405831) < 1e-5
    lower = json.loads(run("analyze", "--treatment", "9/12", "--control", "5/6", "--engine",
                           "exact", "--lower-is-better", "--json", "--outdir", tmp_path).stdout)
    flat_lower = next(r for r in lower["results"] if r["prior"] == "flat")
    assert abs(flat_lower["p_benefit"] - (1 - 0.405831)) < 1e-5



def test_threshold_option(tmp_path):
    out = run("analyze", "--engine", "exact", "--prior", "flat", "--threshold", "rd:0.2",
              "--json", "--outdir", tmp_path)
    th = json.loads(out.stdout)["results"][0]["thresholds"]
    assert [(t["scale"], t["value"]) for t in th] == [("rd", 0.2)]



BAD_OUTCOME = """
[trial]
id = "bad"
[arms.treatment]
n = 12
[arms.control]
n = 6
[outcomes.remission]
treatment_events = {te}
control_events = {ce}
"""



def write_trial(tmp_path, text, name="bad.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path



def assert_clean_error(out, *needles, outdir=None):
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("error: ") for ln in lines), out.stderr
    for needle in needles:
        assert needle in out.stderr, (needle, out.stderr)
    if outdir is not None:
        assert not Path(outdir).exists() or not any(Path(outdir).iterdir())



@pytest.mark.parametrize(
    "te,ce,needles",
    [
        (13, 5, ["outcomes.remission.treatment_events", "exceed"]),
        (-1, 5, ["outcomes.remission.treatment_events", ">= 0"]),
        (9.5, 5, ["outcomes.remission.treatment_events", "whole number"]),
        ('"nine"', 5, ["outcomes.remission.treatment_events", "whole number"]),
    ],
)
def test_bad_counts(tmp_path, te, ce, needles):
    path = write_trial(tmp_path, BAD_OUTCOME.format(te=te, ce=ce))
    out = run("analyze", path, "--engine", "exact", "--outdir", tmp_path / "out")
    assert_clean_error(out, "bad.toml", *needles, outdir=tmp_path / "out")



def test_n_zero(tmp_path):
    text = BAD_OUTCOME.format(te=0, ce=0).replace("n = 6", "n = 0")
    out = run("analyze", write_trial(tmp_path, text), "--outdir", tmp_path / "out")
    assert_clean_error(out, "arms.control.n", ">= 1", outdir=tmp_path / "out")



def test_every_problem_is_reported(tmp_path):
    text = BAD_OUTCOME.format(te=13, ce=-2) + """
[priors.broken]
family = "effect"
control = { a = 0, b = 1 }
effect = { mean = 0, sd = -1 }
"""
    out = run("validate", write_trial(tmp_path, text))
    assert_clean_error(out, "outcomes.remission.treatment_events", "outcomes.remission.control_events",
                       "priors.broken.control.a: must be > 0", "priors.broken.effect.sd: must be > 0")
    assert len(out.stderr.strip().splitlines()) == 4



def test_bad_beta_parameter(tmp_path):
    text = BAD_OUTCOME.format(te=9, ce=5) + """
[priors.flatish]
family = "arm"
control = { a = 1, b = 1 }
treatment = { a = 1, b = 0 }
"""
    out = run("analyze", write_trial(tmp_path, text), "--outdir", tmp_path / "out")
    assert_clean_error(out, "bad.toml: priors.flatish.treatment.b: must be > 0", outdir=tmp_path / "out")



def test_unknown_prior_and_outcome(tmp_path):
    out = run("analyze", "--prior", "nosuch", "--outdir", tmp_path / "out")
    assert_clean_error(out, "priors.nosuch", "unknown prior", outdir=tmp_path / "out")
    out = run("analyze", "--outcome", "nosuch", "--outdir", tmp_path / "out")
    assert_clean_error(out, "outcomes.nosuch", "unknown outcome", outdir=tmp_path / "out")



@pytest.mark.e2e
def test_malformed_toml_and_missing_file(tmp_path):
    out = run_process("analyze", write_trial(tmp_path, "[trial\nid = 1"), "--outdir", tmp_path / "out")
    assert_clean_error(out, "bad.toml: TOML:", outdir=tmp_path / "out")
    out = run_process("analyze", tmp_path / "missing.toml", "--outdir", tmp_path / "out")
    assert_clean_error(out, "missing.toml: file: no such file", outdir=tmp_path / "out")



def test_bad_inline_counts(tmp_path):
    out = run("analyze", "--treatment", "13/12", "--control", "5/6", "--outdir", tmp_path / "out")
    assert_clean_error(out, "--treatment", "exceed", outdir=tmp_path / "out")
    out = run("analyze", "--treatment", "1/0", "--control", "5/6", "--outdir", tmp_path / "out")
    assert_clean_error(out, "--treatment", "n must be >= 1", outdir=tmp_path / "out")
    out = run("analyze", "--treatment", "9/12", "--outdir", tmp_path / "out")
    assert_clean_error(out, "--control", outdir=tmp_path / "out")



@pytest.mark.e2e
def test_validate_embedded_trial():
    out = run_process("validate", DENG)
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout



def test_a_typo_in_a_key_is_an_error_with_the_nearest_key(tmp_path):
    text = BAD_OUTCOME.format(te=1, ce=3).replace("control_events = 3", 'control_events = 3\nbeter = "lower"')
    text += "\n[desing]\ncontrol_rate = 0.5\nhoped_for_or = 2\n"
    out = run("validate", write_trial(tmp_path, text))
    assert_clean_error(out, "outcomes.remission.beter: unknown key (did you mean `better`?)",
                       "desing: unknown key (did you mean `design`?)")



@pytest.mark.parametrize("body,needle", [
    ('[trial]\nid = "x"\ntitel = "T"\n', "trial.titel: unknown key (did you mean `title`?)"),
    ('[priors.p]\nfamily = "arm"\ncontrol = { a = 1, b = 1 }\ntreatment = { a = 1, bb = 1 }\n',
     "priors.p.treatment.bb: unknown key"),
    ('[priors.p]\nfamily = "effect"\neffect = { mean = 0, sdd = 1 }\n',
     "priors.p.effect.sdd: unknown key (did you mean `sd`?)"),
    ('[priors.p]\nfamily = "effect"\neffect = { convention = "sceptical", hoped_for = { scale = "or", value = 3 }, probb = 0.05 }\n',
     "priors.p.effect.probb: unknown key (did you mean `prob`?)"),
    ('[rationale]\nstoping = "x"\n', "rationale.stoping: unknown key (did you mean `stopping`?)"),
])
def test_unknown_keys_everywhere(tmp_path, body, needle):
    base = BAD_OUTCOME.format(te=1, ce=3)
    if body.startswith("[trial]"):
        base = base.replace('[trial]\nid = "bad"\n', "")
    out = run("validate", write_trial(tmp_path, body + base if body.startswith("[trial]") else base + body))
    assert_clean_error(out, needle)



@pytest.mark.parametrize("trial_id,needle", [
    ('"deng2017\\n"', "trial.id"), ('"a/b"', "trial.id"), ('"x' + "y" * 300 + '"', "at most 64"),
])
def test_ids_are_matched_in_full_and_short(tmp_path, trial_id, needle):
    text = BAD_OUTCOME.format(te=1, ce=3).replace('id = "bad"', f"id = {trial_id}")
    assert_clean_error(run("validate", write_trial(tmp_path, text)), needle)



@pytest.mark.e2e
def test_deep_nesting_is_a_located_error(tmp_path):
    # a new process: how deep the TOML parser may recurse depends on the recursion limit, which
    # libraries imported earlier in a test process may have raised (pymc.sampling.mcmc sets it
    # to 10,000 when it is imported)
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 1000 + "]" * 1000 + "\n")
    assert_clean_error(run_process("validate", path), "deep.toml: TOML: nested too deeply")



def test_impossible_planned_enrolment_is_named(tmp_path):
    """A trial may enrol more than planned (valid), but predict then names the planned size."""
    text = BAD_OUTCOME.format(te=1, ce=3).replace('id = "bad"', 'id = "bad"\nplanned_enrolment = 10')
    path = write_trial(tmp_path, text)
    assert run("validate", path).returncode == 0
    assert_clean_error(run("predict", path), "bad.toml: trial.planned_enrolment",
                       "10 patients at the 2:1 allocation (7/3) is smaller than the data so far")



@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_seed_range(tmp_path, seed):
    out = run("analyze", "--engine", "exact", "--seed", seed, "--outdir", tmp_path / "out")
    assert_clean_error(out, "--seed: must be a whole number from 0 to 4294967295",
                       outdir=tmp_path / "out")
    text = BAD_OUTCOME.format(te=1, ce=3).replace('id = "bad"', f'id = "bad"\nseed = {seed}')
    assert run("validate", write_trial(tmp_path, text)).returncode == 2



def test_bad_outdir_fails_before_any_work(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for outdir, needle in ((blocker, "exists and is not a folder"),
                           (Path("/proc/lnbayes-test/x"), "cannot write to")):
        for command in (["analyze", "--engine", "exact"], ["sweep", "--sd", "0.5:0.5:1"],
                        ["report", "--engine", "exact"]):
            out = run(*command, "--outdir", outdir)
            assert_clean_error(out, "--outdir", needle)



def test_query_commands_write_under_runs_and_never_into_a_report(tmp_path):
    out = run("analyze", DENG, "--engine", "exact", "--prior", "flat", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "runs" / "deng2017" / "analysis_remission_exact.json").exists()
    assert not (tmp_path / "reports").exists()
    report_dir = tmp_path / "rep"
    report_dir.mkdir()
    results = report_dir / "results.json"
    results.write_text('{"schema": "lnbayes.report/1"}')
    for command in (["analyze", "--engine", "exact"], ["sweep"], ["plot", "--engine", "exact"]):
        out = run(*command, "--outdir", report_dir, cwd=tmp_path)
        assert_clean_error(out, "holds a report written by `lnbayes report`")
    assert sorted(p.name for p in report_dir.iterdir()) == ["results.json"]



def _invoke_with(monkeypatch, exc, *args):

    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(trialfile, "load_trial", boom)
    return CliRunner().invoke(app, ["priors", *args])



def test_internal_error_is_one_line_with_exit_1(monkeypatch):
    monkeypatch.delenv("LNBAYES_DEBUG", raising=False)
    result = _invoke_with(monkeypatch, ZeroDivisionError("float division by zero"))
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines == ["internal error: ZeroDivisionError: float division by zero "
                     "(run with --debug for the traceback)"]
    assert "Traceback" not in result.output



def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.delenv("LNBAYES_DEBUG", raising=False)
    result = _invoke_with(monkeypatch, ZeroDivisionError("boom"), "--debug")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.output
    assert "internal error: ZeroDivisionError: boom" in result.output
    assert "Traceback" not in _invoke_with(monkeypatch, ZeroDivisionError("boom")).output



def test_interrupts_exit_130_and_143(monkeypatch):
    from lnbayes.errors import Terminated

    assert _invoke_with(monkeypatch, KeyboardInterrupt()).exit_code == 130
    assert _invoke_with(monkeypatch, Terminated()).exit_code == 143


@pytest.mark.parametrize("obj", [
    {},
    [],
    {"a": 1, "b": [], "c": {}, "d": [{}], "e": [[], [1, 2.5, None, True, "x"]]},
    [{"x": 1.0, "y": "é", "z": None}, {"x": float("nan"), "w": False}, {"only": 3}],
    [{"a": 1}, {}, {"b": 2}],  # an empty row: not a table
    [{"s": "},\n    {"}, {"s": "}, {\\\"q\\\": [1]}"}],  # braces and escapes inside strings
    {"grid": [{"p": 0.1, "nested": {"k": [1, 2]}}, {"p": 0.2, "nested": {}}], "n": 10**20},
    {"t": (1, 2), "path": Path("a/b"), "np": __import__("numpy").arange(3.0),
     "f32": __import__("numpy").float32(0.1), "inf": float("-inf"), 5: "int key"},
    [1, [2, [3, [4, {"deep": [{"x": 1}]}]]]],
])
def test_json_text_is_that_of_json_dumps_with_indent(obj):
    """io.dumps lays tables and scalar containers out with the C encoder: the text must be
    exactly json.dumps(..., indent=2, ensure_ascii=False)'s."""
    from lnbayes.io import files

    plain = files.to_jsonable(obj)
    assert files.dumps(obj) == json.dumps(plain, indent=2, ensure_ascii=False) + "\n"


def test_sweep_json_text_is_that_of_json_dumps_with_indent():
    from lnbayes.analyses import sweep
    from lnbayes.io import files, trialfile

    out = sweep.run_sweep(trialfile.load_trial(DENG), "remission", "log_or",
                          sweep.GridRange(-1, 2.5, 5), sweep.GridRange(0.5, 1.0, 3), outdir=None,
                          check_roots=False)
    assert files.dumps(out) == json.dumps(files.to_jsonable(out), indent=2, ensure_ascii=False) + "\n"

runner = CliRunner()



def invoke(*args):
    return runner.invoke(app, list(args))



def test_cli_analyze_all_json():
    result = invoke("analyze", "--outcome", "all", "--engine", "exact", "--prior", "flat", "--json",
                 "--outdir", "/tmp/lnbayes-endpoints-test")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["trial"] == "deng2017"
    assert {e["outcome"] for e in data["outcomes"]} >= {"remission", "death"}



def test_cli_analyze_all_rejects_unknown_prior():
    result = invoke("analyze", "--outcome", "all", "--engine", "exact", "--prior", "nope")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "priors.nope" in result.stderr



def test_cli_predict_json_flat():
    result = invoke("predict", "--prior", "flat", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    (row,) = data["results"]
    assert row["final"] == {"treatment": 17, "control": 8}
    assert row["threshold"] == 0.95
    assert row["predictive_probability"] == 0.0
    by = {r["threshold"]: r["predictive_probability"] for r in row["by_threshold"]}
    assert by[0.8] == pytest.approx(0.0195, abs=5e-5)
    assert sum(c["probability"] for c in row["completions"]) == pytest.approx(1.0, abs=1e-12)



def test_cli_predict_final_and_threshold_options():
    data = json.loads(invoke("predict", "--prior", "flat", "--final", "30/15", "--threshold", "0.8",
                          "--json").stdout)
    row = data["results"][0]
    assert row["final"] == {"treatment": 30, "control": 15} and row["threshold"] == 0.8
    assert len(row["completions"]) == 19 * 10



@pytest.mark.parametrize("args,needle", [
    (("--final", "10/5"), "--final"),
    (("--final", "x"), "--final"),
    (("--threshold", "1.5"), "--threshold"),
    (("--prior", "nope"), "priors.nope"),
])
def test_cli_predict_bad_input(args, needle):
    result = invoke("predict", *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr
    assert "Traceback" not in result.stderr



def test_cli_design_bad_input():
    for args, needle in [(("--n", "0/3"), "--n"), (("--threshold", "0"), "--threshold"),
                         (("--prior", "nope"), "priors.nope")]:
        result = invoke("design", *args)
        assert result.exit_code == 2 and needle in result.stderr



@pytest.mark.heavy
def test_cli_plot_writes_figures(tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from lnbayes.cli.main import app

    out = tmp_path / "figs"
    result = CliRunner().invoke(app, ["plot", "--engine", "exact", "--prior", "flat",
                                      "--prior", "sceptical", "--outdir", str(out),
                                      "--format", "png,pdf"])
    assert result.exit_code == 0, result.output
    pngs = sorted(out.glob("*.png"))
    pdfs = sorted(out.glob("*.pdf"))
    assert len(pngs) >= 5 and len(pdfs) == len(pngs)
    for png in pngs:
        with Image.open(png) as img:
            assert img.width >= 1200
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    assert not list(out.glob(".*.part"))



def test_cli_plot_bad_format_writes_nothing(tmp_path):
    from typer.testing import CliRunner

    from lnbayes.cli.main import app

    result = CliRunner().invoke(app, ["plot", "--engine", "exact", "--outdir", str(tmp_path / "x"),
                                      "--format", "png,jpg"])
    assert result.exit_code == 2
    assert "--format" in result.output
    assert not (tmp_path / "x").exists()



@pytest.mark.parametrize("args, message", [
    (["--centre", "1:0:5"], "<command line>: --centre: STOP (0) must not be below START (1)"),
    (["--sd", "0:1:3"], "<command line>: --sd: values must be > 0, got START = 0"),
    (["--centre", "a:b:3"], "<command line>: --centre: START and STOP must be numbers, got 'a:b:3'"),
    (["--centre", "0:1"], "<command line>: --centre: expected START:STOP:N such as -1:2.5:36, got '0:1'"),
    (["--sd", "0.1:1:0"], "<command line>: --sd: N must be >= 1, got 0"),
    (["--scale", "hazard"], "<command line>: --scale: must be log-or, log-rr or rd, got 'hazard'"),
    (["--mode", "arm", "--centre", "0:1:3"], "<command line>: --centre: prior means of an arm must lie in (0, 1), got '0:1:3'"),
])
def test_cli_bad_ranges_are_one_line_errors(args, message, tmp_path):
    from typer.testing import CliRunner

    from lnbayes.cli.main import app

    result = CliRunner().invoke(app, ["sweep", *args, "--outdir", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {message}"]
    assert not (tmp_path / "out").exists()



def test_cli_reports_every_bad_range_at_once(tmp_path):
    from typer.testing import CliRunner

    from lnbayes.cli.main import app

    result = CliRunner().invoke(app, ["sweep", "--centre", "2:1:3", "--sd", "-1:1:3"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 2



DENG_FILE = ROOT / "models" / "deng2017.toml"



@pytest.mark.e2e
def test_cli_bad_statement_exits_2_without_traceback(tmp_path):
    text = DENG_FILE.read_text().replace(
        'effect = { statement = { centre = 0.0, tail = { effect = 3.0, scale = "or", prob = 0.05, side = "above" } } }',
        'effect = { statement = { centre = 0.0, tail = { effect = 3.0, scale = "or", prob = 1.05, side = "above" } } }',
    )
    assert "prob = 1.05" in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    for command in ("priors", "validate"):
        out = run_process(command, bad)
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
        assert (
            "priors.sceptical.effect.statement.tail.prob: a tail probability must lie strictly between 0 and 1"
            in out.stderr
        )
        assert out.stdout == "" if command == "priors" else True



SMALL = (Path(__file__).resolve().parents[1] / "data" / "small_trial.toml").read_text()
"""A small two-outcome trial file (tests/data/small_trial.toml)."""



@pytest.mark.e2e
@pytest.mark.slow
def test_report_cli_rejects_bad_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.replace("treatment_events = 7", "treatment_events = 70"))
    out = run_process("report", bad, "--outdir", tmp_path / "out")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "outcomes.response.treatment_events" in out.stderr
    assert not (tmp_path / "out").exists()



@pytest.mark.heavy
def test_priors_json_carries_the_map_record_and_writes_the_figure(tmp_path):
    result = run("priors", ROOT / "models" / "deng2017_map.toml", "--json", "--figures", tmp_path)
    assert result.returncode == 0, result.stderr
    records = {p["name"]: p for p in json.loads(result.stdout)["priors"]}
    rec = records["map_control"]["map"]["control"]
    for key in ("mean", "sd", "quantiles", "tau", "mixture", "mixture_max_cdf_error", "ess"):
        assert key in rec
    assert set(rec["tau"]) == {"median", "interval"}
    assert (tmp_path / "map_map_control_control.png").stat().st_size > 10_000
    assert (tmp_path / "map_map_control_control_robust_sweep.png").stat().st_size > 10_000
    assert [r["weight"] for r in rec["robust_sweep"]][::10] == [0.0, 0.5, 1.0]
