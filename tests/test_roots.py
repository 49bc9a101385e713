"""Every root-finder and search of lnbayes, with inputs moved by one ulp and by 1e-12.

The last release crashed on another machine (``ValueError: f(a) and f(b) must have different
signs``) because the flat prior's median of p_treatment is exactly 0.5 and the grid evaluation
(0.5000000000000001) and the one-point evaluation (0.49999999999999994) of its CDF fell on
different sides of it. Each search below is run with its inputs moved by one ulp both ways
(``np.nextafter``) and by a relative 1e-12; it must not raise, and its result must move by a
tiny amount only. The original crash is reproduced twice: with a CDF that rounds like the other
machine did, and (x86-64) by running ``priors_report`` in subprocesses that force the OpenBLAS
kernels (``OPENBLAS_CORETYPE``) under which the old code raised on this machine type.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from scipy import optimize, stats

from lnbayes.analyses import prior_checks
from lnbayes.analyses import sweep as sweep_mod
from lnbayes.engines import exact, prior_grid
from lnbayes.io.trialfile import load_trial
from lnbayes.model.spec import BetaPrior, NormalPrior, Outcome, Prior
from lnbayes.numerics import roots
from lnbayes.priors import elicit

FLAT = Prior("flat", "arm", BetaPrior.single(1, 1), treatment=BetaPrior.single(1, 1))
MIXTURE = Prior("mix", "arm", BetaPrior((0.5, 0.5), (2.0, 9.0), (8.0, 3.0)),
                treatment=BetaPrior((0.3, 0.7), (1.0, 4.0), (1.0, 4.0)))
LOG_OR = Prior("w", "effect", BetaPrior.single(1, 1), scale="log_or",
               effect=NormalPrior.single(0.0, 1.5))
LOG_RR = Prior("rr", "effect", BetaPrior.single(2, 3), scale="log_rr",
               effect=NormalPrior.single(0.0, 0.5))
RD = Prior("rd", "effect", BetaPrior.single(2, 2), scale="rd", effect=NormalPrior.single(0.1, 0.2))
DENG = Outcome("remission", "Remission", 9, 12, 5, 6)
NO_DATA = Outcome("none", "No data", 0, 0, 0, 0)


def moved(x: float) -> list[float]:
    """x one ulp down and up, and moved by a relative 1e-12 both ways (1e-12 if x is 0)."""
    step = 1e-12 * abs(x) if x != 0 else 1e-12
    return [float(np.nextafter(x, -np.inf)), float(np.nextafter(x, np.inf)), x - step, x + step]


# ---------------------------------------------------------------------------------------------
# The helper itself
# ---------------------------------------------------------------------------------------------


def test_zero_at_either_end_is_accepted():
    assert roots.monotone_root(lambda x: x - 1.0, 1.0, 2.0, increasing=True) == 1.0
    assert roots.monotone_root(lambda x: x - 2.0, 1.0, 2.0, increasing=True) == 2.0


def test_bracket_one_ulp_off_is_widened():
    """The crash pattern: the root is at the bracket's end, where f has the wrong sign by 1 ulp."""
    below = float(np.nextafter(0.5, 0.0))

    def f(x):  # increasing, root exactly at 0.5, but evaluates to -1 ulp at 0.5
        return -1e-16 if x == 0.5 else x - 0.5

    assert f(0.4975) < 0 and f(0.5) < 0  # the bracket brentq was given
    with pytest.raises(ValueError, match="different signs"):
        optimize.brentq(f, 0.4975, 0.5)
    root = roots.monotone_root(f, 0.4975, 0.5, increasing=True, limits=(0.0, 1.0))
    assert abs(root - 0.5) <= 1e-12
    assert below <= root


def test_decreasing_function_widens_the_right_way():
    root = roots.monotone_root(lambda x: 3.0 - x, 0.0, 1.0, increasing=False, limits=(0.0, 10.0))
    assert root == pytest.approx(3.0, abs=1e-12)
    root = roots.monotone_root(lambda x: -3.0 - x, 0.0, 1.0, increasing=False,
                               limits=(-np.inf, np.inf))
    assert root == pytest.approx(-3.0, abs=1e-12)


def test_no_sign_change_raises_or_clamps():
    with pytest.raises(roots.NoRootError, match="the answer: no sign change"):
        roots.monotone_root(lambda x: x + 5.0, 0.0, 1.0, increasing=True, limits=(-1.0, 1.0),
                            what="the answer")
    assert roots.monotone_root(lambda x: x + 5.0, 0.0, 1.0, increasing=True, limits=(-1.0, 1.0),
                               at_limit="clamp") == -1.0
    assert roots.monotone_root(lambda x: x - 5.0, 0.0, 1.0, increasing=True, limits=(-1.0, 1.0),
                               at_limit="clamp") == 1.0


def test_nan_is_an_error_not_a_root():
    with pytest.raises(roots.NoRootError, match="NaN"):
        roots.monotone_root(lambda x: float("nan"), 0.0, 1.0, increasing=True)


@pytest.mark.parametrize("target", [0.5, 1e-300, 1 - 2**-53, 0.3])
def test_helper_is_continuous_in_its_target(target):
    base = roots.monotone_root(lambda x: x - target, 0.0, 1.0, increasing=True, xtol=1e-15)
    for t in moved(target):
        if 0 <= t <= 1:
            r = roots.monotone_root(lambda x, t=t: x - t, 0.0, 1.0, increasing=True, xtol=1e-15)
            assert abs(r - base) <= 2e-15 + 1e-11 * target


# ---------------------------------------------------------------------------------------------
# The crash: flat prior, median of p_treatment, and the priors report of the embedded trial
# ---------------------------------------------------------------------------------------------


def test_flat_prior_median_of_p_treatment_is_exactly_half():
    post = exact.posterior(FLAT, NO_DATA)
    assert post.quantile("p_treatment", 0.5) == 0.5
    assert post.quantile("p_control", 0.5) == 0.5
    for q in moved(0.5):
        assert abs(post.quantile("p_treatment", q) - 0.5) <= 1e-11


class _OtherMachine:
    """Wraps an ExactPosterior's CDF to round as the other machine did: grid evaluations one ulp
    up, one-point evaluations one ulp down."""

    def __init__(self, post):
        self.post = post
        self.inner = post.cdf

    def __call__(self, measure, values):
        out = self.inner(measure, values)
        direction = np.inf if np.size(values) > 1 else -np.inf
        return np.nextafter(out, direction)


@pytest.mark.parametrize("measure", ["p_treatment", "risk_difference", "odds_ratio", "risk_ratio"])
def test_quantile_survives_the_other_machines_rounding(measure):
    post = exact.posterior(FLAT, NO_DATA)
    expected = post.quantile(measure, 0.5)
    post.pt_ppf = None  # force the root-finder, which is what crashed
    post.cdf = _OtherMachine(post)
    post.__dict__.pop("_grid_cdf_cache", None)
    got = post.quantile(measure, 0.5)
    scale = abs(expected) if measure in ("odds_ratio", "risk_ratio") else 1.0
    assert abs(got - expected) <= 1e-9 * scale


def test_priors_report_of_the_embedded_trial():
    trial = load_trial()
    report = prior_checks.priors_report(trial)
    flat = next(p for p in report["priors"] if p["name"] == "flat")
    assert flat["prior_estimates"]["p_treatment"]["median"] == 0.5
    assert flat["prior_p_benefit"] == pytest.approx(0.5, abs=1e-12)
    for p in report["priors"]:
        for est in p["prior_estimates"].values():
            assert est["lower"] <= est["median"] <= est["upper"]


_CORE_TYPES = ("Haswell", "Sandybridge")
"""OpenBLAS kernels under which the old code raised here (x86-64; the variable is ignored
elsewhere, and the test then checks the default kernel only)."""


@pytest.mark.parametrize("core", _CORE_TYPES)
def test_priors_report_under_other_blas_kernels(core):
    code = (
        "from lnbayes.analyses import prior_checks\n"
        "from lnbayes.io import trialfile\n"
        "r = prior_checks.priors_report(trialfile.load_trial())\n"
        "flat = [p for p in r['priors'] if p['name'] == 'flat'][0]\n"
        "print(repr(flat['prior_estimates']['p_treatment']['median']))\n"
    )
    env = dict(os.environ, OPENBLAS_CORETYPE=core, OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.strip()) == 0.5


# ---------------------------------------------------------------------------------------------
# Quantiles of the exact engine
# ---------------------------------------------------------------------------------------------

_MEASURES = ("p_control", "p_treatment", "risk_difference", "risk_ratio", "odds_ratio")


def _assert_close(a: float, b: float, measure: str, tol: float = 1e-9):
    scale = max(abs(a), abs(b)) if measure in ("odds_ratio", "risk_ratio") else 1.0
    assert abs(a - b) <= tol * scale, (measure, a, b)


@pytest.mark.parametrize("prior", [FLAT, MIXTURE, LOG_OR, LOG_RR, RD], ids=lambda p: p.name)
@pytest.mark.parametrize("outcome", [DENG, NO_DATA], ids=["deng", "no_data"])
def test_quantiles_are_continuous_in_the_level(prior, outcome):
    post = exact.posterior(prior, outcome)
    for measure in _MEASURES:
        for q in (0.025, 0.5, 0.975):
            base = post.quantile(measure, q)
            for q2 in moved(q):
                _assert_close(post.quantile(measure, q2), base, measure)


def test_quantiles_are_continuous_in_the_prior():
    """Prior parameters moved by one ulp and by 1e-12 move every interval by a tiny amount."""
    base = {m: exact.posterior(LOG_OR, DENG).interval(m) for m in _MEASURES}
    for sd in moved(1.5)[::2]:
        post = exact.posterior(replace(LOG_OR, effect=NormalPrior.single(0.0, sd)), DENG)
        for m in _MEASURES:
            for key, value in post.interval(m).items():
                _assert_close(value, base[m][key], m, tol=1e-8)
    base = {m: exact.posterior(FLAT, DENG).interval(m) for m in _MEASURES}
    for a in moved(1.0):
        prior = replace(FLAT, treatment=BetaPrior.single(a, 1.0), control=BetaPrior.single(1.0, a))
        post = exact.posterior(prior, DENG)
        for m in _MEASURES:
            for key, value in post.interval(m).items():
                _assert_close(value, base[m][key], m, tol=1e-8)


def test_mixture_quantile_against_scipy():
    mix = exact.BetaMix.of(MIXTURE.control)
    for q in (1e-12, 0.025, 0.5, 0.975, 1 - 1e-12):
        x = mix.ppf(q)
        assert float(mix.cdf(x)) == pytest.approx(q, rel=1e-9, abs=1e-15)
        density = float(np.exp(mix.logpdf(x)))
        for q2 in moved(q):
            if 0 < q2 < 1:  # the quantile moves by about |dq| / density
                assert abs(mix.ppf(q2) - x) <= 2 * abs(q2 - q) / density + 1e-13
    single = exact.BetaMix.of(BetaPrior.single(3.5, 7.25))
    assert single.ppf(0.3) == stats.beta.ppf(0.3, 3.5, 7.25)


def test_probabilities_on_their_own_side():
    """Survival functions are computed directly: tiny tails keep their relative accuracy and no
    probability falls below 0 by rounding (``1 - cdf`` gave -2.2e-16)."""
    # flat prior, 0/60 treated and 40/60 controls: P(p_t > p_c) for Beta(1, 61) vs Beta(41, 21)
    # is, by Cook's formula with a whole first shape (one term), B(41, 82) / (61 B(1, 61) B(41, 21))
    from scipy import special

    post = exact.posterior(FLAT, Outcome("x", "x", 0, 60, 40, 60))
    expected = float(np.exp(special.betaln(41, 61 + 21) - np.log(61) - special.betaln(1, 61)
                            - special.betaln(41, 21)))
    assert 1e-30 < expected < 1e-15
    assert post.prob_benefit() == pytest.approx(expected, rel=1e-3, abs=0.0)
    assert post.prob_benefit(lower_is_better=True) == pytest.approx(1.0, abs=1e-15)
    extreme = exact.posterior(FLAT, Outcome("x", "x", 0, 1000, 1000, 1000))
    assert 0.0 <= extreme.prob_benefit() < 1e-300
    assert extreme.prob_benefit(lower_is_better=True) == pytest.approx(1.0, abs=1e-15)


# ---------------------------------------------------------------------------------------------
# Beta from two quantiles
# ---------------------------------------------------------------------------------------------


def test_beta_from_quantiles_is_continuous():
    a, b = elicit.beta_from_quantiles(0.5, 0.56, 0.975, 0.8)
    assert stats.beta.ppf(0.5, a, b) == pytest.approx(0.56, abs=1e-9)
    assert stats.beta.ppf(0.975, a, b) == pytest.approx(0.8, abs=1e-9)
    for v in moved(0.56):
        a2, b2 = elicit.beta_from_quantiles(0.5, v, 0.975, 0.8)
        assert abs(a2 - a) <= 1e-6 * a and abs(b2 - b) <= 1e-6 * b
    for p in moved(0.975):
        a2, b2 = elicit.beta_from_quantiles(0.5, 0.56, p, 0.8)
        assert abs(a2 - a) <= 1e-6 * a and abs(b2 - b) <= 1e-6 * b


def test_beta_from_quantiles_impossible_is_a_statement_error():
    with pytest.raises(elicit.StatementError):
        elicit.beta_from_quantiles(0.5, 0.5, 0.50000001, 0.999999)


# ---------------------------------------------------------------------------------------------
# Sweeps: centre chunks (searchsorted), Hermite medians, arm medians, the likelihood floor
# ---------------------------------------------------------------------------------------------


def test_effect_sweep_is_continuous_in_centres_and_sds():
    engine = prior_grid.EffectSweep(LOG_OR.control, "log_or", DENG, ("odds_ratio", 1.5))
    means = np.linspace(-1.0, 2.5, 8)
    base = engine.evaluate(means, np.full(8, 0.4))
    for k in range(len(means)):
        for m in moved(float(means[k])):
            shifted = means.copy()
            shifted[k] = m
            res = prior_grid.EffectSweep(LOG_OR.control, "log_or", DENG,
                                         ("odds_ratio", 1.5)).evaluate(shifted, np.full(8, 0.4))
            assert np.max(np.abs(res.p_above_zero - base.p_above_zero)) <= 1e-9
            assert np.max(np.abs(res.median - base.median)) <= 1e-9
    for sd in moved(0.4):
        res = engine.evaluate(means, np.full(8, sd))
        assert np.max(np.abs(res.p_above_zero - base.p_above_zero)) <= 1e-9


def test_effect_sweep_results_do_not_depend_on_chunks():
    """Narrow priors over a wide range of centres are split into chunks (a search over the
    sorted centres); each centre's answer is the same as when it is evaluated alone, so a centre
    moved by one ulp across a chunk boundary cannot jump."""
    sd = 0.02
    means = np.linspace(-1.0, 30.0, 40)
    engine = prior_grid.EffectSweep(LOG_OR.control, "log_or", DENG)
    together = engine.evaluate(means, np.full(len(means), sd))
    h = min(sd, engine.s_lik) / prior_grid.NODES_PER_SD
    assert (means[-1] - means[0]) / h > prior_grid.MAX_THETA_NODES  # several chunks
    for k in range(0, len(means), 3):
        for m in [float(means[k]), *moved(float(means[k]))[:2]]:
            alone = prior_grid.EffectSweep(LOG_OR.control, "log_or", DENG).evaluate([m], [sd])
            assert abs(alone.p_above_zero[0] - together.p_above_zero[k]) <= 1e-9
            assert abs(alone.median[0] - together.median[k]) <= 1e-9


def test_hermite_quantile_at_a_node():
    theta = np.linspace(-5, 5, 101)
    h = theta[1] - theta[0]
    dens = stats.norm.pdf(theta)[None, :]
    base = prior_grid._hermite_quantile(theta, dens, h, 0.5)[0]
    assert base == pytest.approx(0.0, abs=1e-6)
    for q in moved(0.5):
        assert abs(prior_grid._hermite_quantile(theta, dens, h, q)[0] - base) <= 1e-9


def test_arm_sweep_median_is_continuous():
    engine = prior_grid.ArmSweep(FLAT.control, DENG, "log_or")
    base = engine.median(np.array([0.5]), np.array([2.0]))[0]
    for m in moved(0.5):
        for e in moved(2.0)[::3]:
            assert abs(engine.median(np.array([m]), np.array([e]))[0] - base) <= 1e-9


def test_likelihood_floor_is_continuous():
    outcome = Outcome("x", "x", 3, 40, 5, 40)
    base = prior_grid.EffectSweep(LOG_RR.control, "log_rr", outcome).lik_lo
    assert np.isfinite(base)
    for a in moved(2.0):
        control = BetaPrior.single(a, 3.0)
        assert abs(prior_grid.EffectSweep(control, "log_rr", outcome).lik_lo - base) <= 1e-6


def test_tipping_centre_is_continuous_in_the_level():
    def p(c):
        return float(stats.norm.cdf(c))

    base = prior_grid.tipping_centre(p, 0.8, -3.0, 3.0)["centre"]
    assert base == pytest.approx(stats.norm.ppf(0.8), abs=1e-8)
    for level in moved(0.8):
        assert abs(prior_grid.tipping_centre(p, level, -3.0, 3.0)["centre"] - base) <= 2e-8
    # the level reached exactly at the most enthusiastic end: a root at the end, not an error
    end = prior_grid.tipping_centre(p, p(3.0), -3.0, 3.0)
    assert end["status"] == "found" and end["centre"] == pytest.approx(3.0, abs=1e-8)
    down = prior_grid.tipping_centre(lambda c: p(-c), p(3.0), -3.0, 3.0, direction=-1)
    assert down["status"] == "found" and down["centre"] == pytest.approx(-3.0, abs=1e-8)


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
