"""lnbayes.analyses.sweep: prior sweeps, tipping points, the sweep cache and outputs, exact and
with PyMC."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from lnbayes.analyses import sweep as sweep_mod
from lnbayes.engines import exact, prior_grid
from lnbayes.errors import LnbayesError
from lnbayes.io import trialfile
from lnbayes.io.trialfile import load_trial
from lnbayes.model import effects
from lnbayes.model import spec as spec_mod
from tests.conftest import PYMC_GROUP

# the tests of this file share module- and session-scoped fixtures (sampled or computed once),
# and some sample with PyMC: pytest-xdist (make test) runs them in the one worker that runs
# every in-process PyMC test (tests/conftest.py: PYMC_GROUP)
pytestmark = pytest.mark.xdist_group(PYMC_GROUP)


@pytest.fixture(scope="session")
def remission(trial):
    return trial.outcome("remission")



@pytest.fixture(scope="session")
def flat_control():
    return spec_mod.BetaPrior.single(1, 1)



def _trial_with_control(a: float, b: float, events=(9, 12, 5, 6)) -> spec_mod.Trial:
    """A trial whose only prior has a Beta(a, b) control arm."""
    te, tn, ce, cn = events
    data = {
        "trial": {"id": "t", "seed": 1},
        "arms": {"treatment": {"n": tn}, "control": {"n": cn}},
        "outcomes": {"y": {"treatment_events": te, "control_events": ce, "primary": True,
                           "thresholds": [{"scale": "rd", "value": 0.1}]}},
        "priors": {"p": {"family": "effect", "scale": "log_or", "control": {"a": a, "b": b},
                         "effect": {"mean": 0.0, "sd": 1.0}}},
    }
    return trialfile.trial_from_dict(data, "test.toml")



def test_10000_point_sweep_rises_with_centre_at_every_sd(trial):
    out = sweep_mod.run_sweep(trial, "remission", "log_or", sweep_mod.GridRange(-1, 2.5, 100),
                          sweep_mod.GridRange(0.1, 2.0, 100), outdir=None, check_roots=False,
                          levels=(0.95,))
    grid = out["grid"]
    assert len(grid) == 10_000
    p = np.array([r["p_benefit"] for r in grid]).reshape(100, 100)  # rows: sd, columns: centre
    assert np.all((p >= 0) & (p <= 1))
    step = np.diff(p, axis=1)
    assert np.all(step >= -1e-15), "P(benefit) must rise with the prior centre at every sd"
    interior = (p[:, 1:] > 1e-12) & (p[:, :-1] < 1 - 1e-12)  # not saturated in floating point
    assert np.all(step[interior] > 0)
    assert interior.sum() > 9000
    assert all(r["method"] == "sweep" for r in grid)


def test_log_or_grids_stay_cached_and_give_the_same_values(remission, flat_control):
    """Log-OR grids keep only their collapsed vectors: a 100-sd sweep's grids all stay cached for
    the tipping-point search (none rebuilt), and a cached grid gives the bits of a fresh one."""
    centres = sweep_mod.GridRange(-1, 2.5, 100).values()
    sds = sweep_mod.GridRange(0.1, 2.0, 100).values()
    threshold = ("risk_difference", 0.1)
    engine = prior_grid.EffectSweep(flat_control, "log_or", remission, threshold)
    engine.evaluate(np.tile(centres, 100), np.repeat(sds, 100))
    assert len(engine._groups) == 100
    built = dict(engine._groups)
    fresh = prior_grid.EffectSweep(flat_control, "log_or", remission, threshold)
    for sd in sds[::33]:
        for c in (-1.0, 0.3, 2.5):
            a = engine.evaluate([c], [sd], span=(-1.0, 2.5))
            b = fresh.evaluate([c], [sd], span=(-1.0, 2.5))
            for name in ("p_above_zero", "p_above_threshold", "median"):
                assert getattr(a, name)[0] == getattr(b, name)[0]
    assert all(engine._groups[k] is g for k, g in built.items())


def test_shared_log_or_likelihood_equals_direct_evaluation(remission, flat_control, monkeypatch):
    """Likelihood values kept per spacing and extended on either side are those computed
    directly, and the kept values stay within LIK_CACHE_BYTES (the newest always kept)."""
    engine = prior_grid.EffectSweep(flat_control, "log_or", remission)
    rows = engine._rows(engine.rows_for_sd(1.0))
    h = engine.s_lik / 8
    for k0, k1 in [(-40, 60), (-10, 20), (-90, 30), (0, 150), (-200, 200)]:
        got = engine._log_or_likelihood(rows, h, k0, k1)
        theta = h * np.arange(k0, k1 + 1, dtype=float)
        expected = engine._likelihood(rows.x[:, None], theta[None, :])[0]
        assert got.shape == expected.shape and np.array_equal(got, expected)
    assert engine._lik_cache[(len(rows.x), h)][:2] == (-200, 200)
    monkeypatch.setattr(prior_grid, "LIK_CACHE_BYTES", 1)
    engine._log_or_likelihood(rows, h / 2, 0, 10)
    assert list(engine._lik_cache) == [(len(rows.x), h / 2)]


@pytest.mark.parametrize("scale, centres, log_sd", [
    ("log_or", (-1.0, 2.5), (np.log(0.02), np.log(2.0))),
    ("log_rr", (-1.0, 1.0), (np.log(0.02), np.log(2.0))),
    ("rd", (-0.5, 0.5), (np.log(0.005), np.log(0.5))),
])
def test_fast_sweep_matches_per_prior_quadrature(scale, centres, log_sd, remission, flat_control):
    rng = np.random.default_rng(7)
    means = rng.uniform(*centres, 5)
    sds = np.exp(rng.uniform(*log_sd, 5))
    trial = _trial_with_control(1, 1)
    problem = sweep_mod._Problem(trial, remission, "effect", scale, "flat", flat_control, remission.thresholds[0])
    points = problem.exact_points(means, sds)  # the fast engine, or its fallback far outside
    measure = effects.MEASURE_OF_EFFECT_SCALE[scale]
    for point, m, s in zip(points, means, sds):
        post = exact.effect_posterior(flat_control, scale, spec_mod.NormalPrior.single(m, s), remission)
        assert abs(point["p_benefit"] - post.prob_benefit(False)) < 1e-4
        if s >= 0.1 or scale != "log_or":
            assert abs(point["p_threshold"] - post.prob_beyond("risk_difference", 0.1)) < 1e-4
        med = post.quantile(measure, 0.5)
        assert abs(point["median_effect"] - (med if scale == "rd" else np.log(med))) < 1e-3
    assert sum(p["method"] == "sweep" for p in points) >= 4



def test_tipping_point_lies_in_its_grid_bracket_and_is_exact(trial):
    out = sweep_mod.run_sweep(trial, "remission", "log_or", sweep_mod.GridRange(-1, 2.5, 71),
                          sweep_mod.GridRange(0.3, 0.9, 3), outdir=None)
    rows = out["tipping_point"]["by_sd"]
    found = [r for r in rows if r["status"] == "found"]
    assert len(found) == 9
    for r in found:
        lo, hi = r["grid_bracket"]
        assert lo <= r["prior_mean"] <= hi  # within the grid's resolution (0.05)
        if "p_benefit_exact_at_root" in r:
            assert abs(r["p_benefit_exact_at_root"] - r["level"]) < 1e-4
        assert "one must have believed beforehand" in r["sentence"]



def test_tipping_point_closed_form_arm_level():
    """Control prior concentrated at 0.5: P(benefit) = 1 - I_0.5(m ess + y, (1 - m) ess + n - y)."""
    trial = _trial_with_control(5e6, 5e6)
    ess, level = 10.0, 0.95
    out = sweep_mod.run_sweep(trial, mode="arm", centres=sweep_mod.GridRange(0.05, 0.95, 10),
                          sds=sweep_mod.GridRange(ess, ess, 1), outdir=None, levels=(level,))
    row = out["tipping_point"]["by_ess"][0]
    f = lambda m: 1 - special.betainc(m * ess + 9, (1 - m) * ess + 3, 0.5) - level  # noqa: E731
    root = optimize.brentq(f, 0.05, 0.95, xtol=1e-12)
    assert row["status"] == "found"
    assert abs(row["prior_mean"] - root) < 1e-5



def test_tipping_point_closed_form_effect_level():
    """Control prior concentrated at 0.5: P(theta > 0) is a 1-D integral (scipy.integrate.quad)."""
    trial = _trial_with_control(5e6, 5e6)
    sd, level = 0.5, 0.8

    def p_benefit(mu):
        f = lambda th: stats.norm.pdf(th, mu, sd) * stats.binom.pmf(9, 12, special.expit(th))  # noqa: E731
        above = integrate.quad(f, 0, mu + 12 * sd + 12, epsabs=1e-13)[0]
        below = integrate.quad(f, mu - 12 * sd - 12, 0, epsabs=1e-13)[0]
        return above / (above + below)

    root = optimize.brentq(lambda mu: p_benefit(mu) - level, -1, 2.5, xtol=1e-10)
    out = sweep_mod.run_sweep(trial, centres=sweep_mod.GridRange(-1, 2.5, 8), sds=sweep_mod.GridRange(sd, sd, 1),
                          outdir=None, levels=(level,), check_roots=False)
    row = out["tipping_point"]["by_sd"][0]
    assert abs(row["prior_mean"] - root) < 1e-4



def test_no_tipping_point_in_range_is_said_plainly(trial):
    out = sweep_mod.run_sweep(trial, centres=sweep_mod.GridRange(-1, 0.5, 4), sds=sweep_mod.GridRange(2, 2, 1),
                          outdir=None, levels=(0.95,), check_roots=False)
    row = out["tipping_point"]["by_sd"][0]
    assert row["status"] == "not_reached" and row["prior_mean"] is None
    assert row["sentence"].startswith("No prior")



def test_no_advocacy_prior_for_benefit_when_estimate_favours_control(remission):
    est, se = prior_grid.wald_log_or(remission)
    z = stats.norm.isf(0.025)
    for a in np.geomspace(1e-3, 1e3, 61):  # advocacy priors with 95% interval (0, a)
        # the Normal-Normal posterior written out here (not prior_grid.normal_posterior)
        m0, s0 = a / 2, a / (2 * z)
        prec = 1 / se**2 + 1 / s0**2
        m, s = (est / se**2 + m0 / s0**2) / prec, prec**-0.5
        assert m - z * s < 0
    rb = sweep_mod.reverse_bayes(remission, [0.5])
    assert rb["estimate_favours"] == "control"
    assert "no advocacy prior for benefit" in rb["analysis_of_credibility"]["sentence"]



def test_cache_keys_equal_cache_key_point_by_point():
    """The batched keys (context hashed once) are the keys of cache_key, so existing caches
    stay valid."""
    from lnbayes.io import cache

    context = {"cache_version": sweep_mod.CACHE_VERSION, "trial": "t", "outcome": ["y", 9, 12, 5, 6, "higher"],
               "threshold": None, "control": {"dist": "beta", "a": 1.0, "b": 1.0},
               "versions": {"python": "3.12", "numpy": "2"}, "path": Path("x")}
    points = [{"engine": "exact", "first": -1.0, "second": 0.1},
              {"second": 0.119191919192, "first": 2.5 + 1e-14, "engine": "exact"},
              {"engine": "pymc", "first": 0.3, "second": 2.0, "seed": 7, "settings": {"draws": 10}},
              {"engine": "exact", "tipping": [[-1.0, 2.5], [0.1], [0.95], True]}]
    assert cache.cache_keys(context, points) == [cache.cache_key(context, **p) for p in points]
    assert cache.cache_keys(context, []) == []


@pytest.fixture(scope="session")
def pymc_settings():
    from lnbayes.engines.mcmc import SamplerSettings

    return SamplerSettings(draws=300, tune=300, chains=4, cores=2)



@pytest.fixture(scope="session")
def pymc_sweep(trial, pymc_settings, tmp_path_factory):
    outdir = tmp_path_factory.mktemp("sweep_pymc")
    kw = dict(outcome="remission", scale="log_or", centres=sweep_mod.GridRange(0.0, 1.5, 2),
              sds=sweep_mod.GridRange(0.5, 1.0, 2), engine="pymc", settings=pymc_settings,
              outdir=outdir, levels=(0.95,), check_roots=False)
    first = sweep_mod.run_sweep(trial, **kw)
    return outdir, kw, first



@pytest.mark.slow
def test_pymc_sweep_agrees_with_exact_at_every_point(pymc_sweep):
    _, _, out = pymc_sweep
    assert out["pymc_check"]["points"] == 4
    for r in out["grid"]:
        assert r["p_benefit_z"] <= 3.0, r
        assert r["p_benefit_mcse"] > 0
    assert out["pymc_check"]["fraction_beyond_3_mcse"] == 0.0



@pytest.mark.slow
def test_repeated_pymc_sweep_is_served_from_the_cache(pymc_sweep, trial, monkeypatch):
    outdir, kw, first = pymc_sweep

    def boom(*args, **kwargs):
        raise AssertionError("a cached point was sampled again")

    monkeypatch.setattr(sweep_mod, "_pymc_point", boom)
    again = sweep_mod.run_sweep(trial, **kw)
    assert again["timing"]["pymc_points_from_cache"] == 4
    assert [r["p_benefit"] for r in again["grid"]] == [r["p_benefit"] for r in first["grid"]]
    written = json.loads(Path(again["written"]["json"]).read_text())
    assert written["grid"][0]["p_benefit"] == first["grid"][0]["p_benefit"]



@pytest.mark.slow
def test_interrupted_pymc_sweep_resumes(trial, pymc_settings, tmp_path, monkeypatch):
    kw = dict(outcome="remission", centres=sweep_mod.GridRange(0.2, 0.8, 3), sds=sweep_mod.GridRange(0.7, 0.7, 1),
              engine="pymc", settings=pymc_settings, outdir=tmp_path, levels=(0.95,), check_roots=False)
    calls = []
    real = sweep_mod._pymc_point

    def counting(*args, **kwargs):
        calls.append(args[1:3])
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_mod, "_pymc_point", counting)

    def interrupt(done, total):
        if done == 2 and len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C after two points were sampled and committed

    with pytest.raises(KeyboardInterrupt):
        sweep_mod.run_sweep(trial, on_point=interrupt, **kw)
    assert len(calls) == 2
    assert not list(tmp_path.glob("sweep_*.json"))  # nothing written for an unfinished sweep
    resumed = sweep_mod.run_sweep(trial, **kw)
    assert len(calls) == 3  # only the missing point was sampled
    assert resumed["timing"]["pymc_points_from_cache"] == 2
    fresh = [real(*_problem_args(trial, pymc_settings, r)) for r in resumed["grid"][:1]]
    assert fresh[0]["p_benefit"] == resumed["grid"][0]["p_benefit"]  # same seed, same draws



def _problem_args(trial, settings, row):
    outcome = trial.outcome("remission")
    name, control = sweep_mod.control_prior_for(trial, outcome)
    problem = sweep_mod._Problem(trial, outcome, "effect", "log_or", name, control, outcome.thresholds[0])
    return problem, row["prior_mean"], row["prior_sd"], row["seed"], settings



def test_exact_sweep_cache_and_outputs(trial, tmp_path):
    kw = dict(centres=sweep_mod.GridRange(-1, 2, 7), sds=sweep_mod.GridRange(0.5, 1.5, 3), outdir=tmp_path)
    first = sweep_mod.run_sweep(trial, **kw)
    again = sweep_mod.run_sweep(trial, **kw)
    assert again["timing"]["exact_points_from_cache"] == 21
    assert again["grid"] == first["grid"]
    assert again["tipping_point"] == first["tipping_point"]
    doc = json.loads(Path(first["written"]["json"]).read_text())
    for key in ("grid", "tipping_point", "scale", "outcome", "levels", "reverse_bayes", "provenance"):
        assert key in doc
    row = doc["grid"][0]
    for key in ("prior_mean", "prior_sd", "p_benefit", "p_benefit_mcse", "p_benefit_exact",
                "p_threshold", "median_effect"):
        assert key in row
    assert doc["tipping_point"]["levels"] == [0.5, 0.8, 0.95]
    assert len(doc["tipping_point"]["by_sd"]) == 9
    csv_lines = Path(first["written"]["csv"]).read_text().splitlines()
    assert len(csv_lines) == 22 and csv_lines[0].startswith("prior_mean,prior_sd,p_benefit")



def test_parse_range_accepts_a_single_point():
    from lnbayes.cli.sweep import parse_range

    r = parse_range("0.5:0.5:1", "--sd", positive=True)
    assert list(r.values()) == [0.5]
    with pytest.raises(LnbayesError):
        parse_range("0.5:0.7:1", "--sd")


def test_the_sweep_library_names_no_option(trial):
    """Checks of the library's own arguments say ``sweep:``; only the CLI names options."""
    with pytest.raises(LnbayesError, match="^sweep: 251251 grid points exceed") as err:
        sweep_mod.run_sweep(trial, "remission", "log_or", sweep_mod.GridRange(-1, 1, 1001),
                            sweep_mod.GridRange(0.1, 2, 251), outdir=None)
    assert "command line" not in str(err.value)
    with pytest.raises(ValueError, match="scale"):
        sweep_mod.run_sweep(trial, "remission", "log-or", outdir=None)



def test_lower_is_better_outcome_direction(trial):
    """For a harmful outcome, benefit is theta < 0: P(benefit) falls as the centre rises."""
    out = sweep_mod.run_sweep(trial, "serious_adverse_events", centres=sweep_mod.GridRange(-2, 1, 7),
                          sds=sweep_mod.GridRange(0.5, 0.5, 1), outdir=None, levels=(0.8,), check_roots=False)
    p = [r["p_benefit"] for r in out["grid"]]
    assert np.all(np.diff(p) < 0)
    outcome = trial.outcome("serious_adverse_events")
    post = exact.effect_posterior(trial.priors["weakly_informative"].control, "log_or",
                                  spec_mod.NormalPrior.single(-2.0, 0.5), outcome)
    assert abs(p[0] - post.prob_benefit(True)) < 1e-4



def moved(x: float) -> list[float]:
    """x one ulp down and up, and moved by a relative 1e-12 both ways (1e-12 if x is 0)."""
    step = 1e-12 * abs(x) if x != 0 else 1e-12
    return [float(np.nextafter(x, -np.inf)), float(np.nextafter(x, np.inf)), x - step, x + step]



@pytest.mark.heavy
def test_tipping_points_on_the_embedded_trial_are_continuous():
    trial = load_trial()
    outcome = trial.outcome(None)
    control_name, control = sweep_mod.control_prior_for(trial, outcome, None, "effect")
    problem = sweep_mod._Problem(trial, outcome, "effect", "log_or", control_name, control, None)
    base = sweep_mod.tipping_points(problem, np.array([0.5]), (-1.0, 2.5), check_exact=False)
    for lo in moved(-1.0)[:2]:
        res = sweep_mod.tipping_points(problem, np.array([0.5]), (lo, 2.5), check_exact=False)
        for r0, r1 in zip(base["by_sd"], res["by_sd"]):
            assert r0["status"] == r1["status"]
            if r0["prior_mean"] is not None:
                assert abs(r0["prior_mean"] - r1["prior_mean"]) <= 1e-7

