"""lnbayes.engines.prior_grid: the vectorised sweep engine over many priors (effect and arm
sweeps, tipping centres, advocacy limits) against per-prior quadrature and closed forms, and its
continuity in centres, sds, levels and chunking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from lnbayes.engines import exact, prior_grid
from lnbayes.model import spec as spec_mod
from lnbayes.model.spec import BetaPrior, NormalPrior, Outcome, Prior


@pytest.fixture(scope="session")
def remission(trial):
    return trial.outcome("remission")


@pytest.fixture(scope="session")
def flat_control():
    return spec_mod.BetaPrior.single(1, 1)


def test_narrow_prior_threshold_against_independent_quadrature(remission, flat_control):
    """A narrow log-OR prior: P(rd > 0.1) by a per-row trapezoid rule that starts at the cut."""
    m, s = 0.92, 0.0227
    u = np.linspace(-12, 30, 1501)
    x = special.expit(u)
    w_u = np.exp(np.log(x) + np.log1p(-x) + stats.binom.logpmf(5, 6, x))

    def row(xi, lo, hi):
        if lo >= hi:
            return 0.0
        th = np.linspace(lo, hi, 2001)
        return np.trapezoid(stats.binom.pmf(9, 12, special.expit(special.logit(xi) + th))
                            * stats.norm.pdf(th, m, s), th)

    lo, hi = m - 12 * s, m + 12 * s
    cut = np.where(x < 0.9, special.logit(np.minimum(x + 0.1, 0.999999)) - u, np.inf)
    total = np.trapezoid(w_u * np.array([row(xi, lo, hi) for xi in x]), u)
    beyond = np.trapezoid(w_u * np.array([row(xi, max(lo, c), hi) for xi, c in zip(x, cut)]), u)
    engine = prior_grid.EffectSweep(flat_control, "log_or", remission, ("risk_difference", 0.1))
    assert abs(engine.evaluate([m], [s]).p_above_threshold[0] - beyond / total) < 1e-4


def test_arm_sweep_matches_conjugate_engine(remission, flat_control):
    arm = prior_grid.ArmSweep(flat_control, remission, "log_or", ("risk_difference", 0.1))
    means, ess = np.array([0.3, 0.8]), np.array([2.0, 30.0])
    pb = arm.prob_benefit_above(means, ess)
    med = arm.median(means, ess)
    for k in range(2):
        post = exact.arm_posterior(flat_control, spec_mod.BetaPrior.single(means[k] * ess[k], (1 - means[k]) * ess[k]),
                                   remission)
        assert abs(pb[k] - post.prob_benefit()) < 1e-8
        assert abs(med[k] - np.log(post.quantile("odds_ratio", 0.5))) < 1e-6


def test_wald_log_or_of_the_2x2_table(remission):
    est, se = prior_grid.wald_log_or(remission)
    assert est == pytest.approx(np.log(9 * 1 / (3 * 5)))
    assert se == pytest.approx(np.sqrt(1 / 9 + 1 / 3 + 1 / 5 + 1 / 1))


def test_normal_tipping_centre_gives_the_level():
    est, se, tau, level = -0.51, 1.28, 0.5, 0.95
    mu = prior_grid.normal_tipping_centre(est, se, tau, level)
    # independent: posterior P(theta > 0) by quadrature of prior x likelihood
    f = lambda th: stats.norm.pdf(th, mu, tau) * stats.norm.pdf(est, th, se)  # noqa: E731
    above = integrate.quad(f, 0, np.inf)[0]
    below = integrate.quad(f, -np.inf, 0)[0]
    assert above / (above + below) == pytest.approx(level, abs=1e-9)


def test_advocacy_limit_closed_form_case():
    # L = -0.2, U = 1.0: AL = -(U + L)(U - L)^2 / (2UL) = -(0.8)(1.44) / (-0.4) = 2.88
    assert prior_grid.advocacy_limit(-0.2, 1.0) == pytest.approx(2.88)
    # its defining property: prior N(AL/2, (AL/(2z))^2) makes the posterior 95% lower limit 0
    z = stats.norm.isf(0.025)
    for lower, upper in [(-0.2, 1.0), (-1.5, 0.3), (-0.05, 3.0)]:
        al = prior_grid.advocacy_limit(lower, upper)
        est, se = (lower + upper) / 2, (upper - lower) / (2 * z)
        # the Normal-Normal posterior written out here (not prior_grid.normal_posterior)
        m0, s0 = al / 2, abs(al) / (2 * z)
        prec = 1 / se**2 + 1 / s0**2
        m, s = (est / se**2 + m0 / s0**2) / prec, math.sqrt(1 / prec)
        assert m - np.sign(al) * z * s == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        prior_grid.advocacy_limit(0.1, 1.0)


FLAT = Prior("flat", "arm", BetaPrior.single(1, 1), treatment=BetaPrior.single(1, 1))

LOG_OR = Prior("w", "effect", BetaPrior.single(1, 1), scale="log_or",
               effect=NormalPrior.single(0.0, 1.5))

LOG_RR = Prior("rr", "effect", BetaPrior.single(2, 3), scale="log_rr",
               effect=NormalPrior.single(0.0, 0.5))

DENG = Outcome("remission", "Remission", 9, 12, 5, 6)


def moved(x: float) -> list[float]:
    """x one ulp down and up, and moved by a relative 1e-12 both ways (1e-12 if x is 0)."""
    step = 1e-12 * abs(x) if x != 0 else 1e-12
    return [float(np.nextafter(x, -np.inf)), float(np.nextafter(x, np.inf)), x - step, x + step]


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



@pytest.mark.parametrize("scale", ["log_or", "rd"])
def test_effect_sweep_with_a_logit_normal_control_matches_the_exact_engine(scale):
    """The sweep's rows are on logit(p_control), so a Normal prior there is taken exactly: the
    sweep's P(effect > 0) equals the exact engine's for the same priors (to 1e-5, the sweep's
    stated accuracy on truncated scales)."""
    from lnbayes.model.spec import LogitNormalPrior

    control = LogitNormalPrior((0.6, 0.4), (1.0, 0.0), (0.7, 2.5))
    means = np.array([-0.5, 0.0, 0.6]) if scale == "log_or" else np.array([-0.1, 0.0, 0.15])
    sds = np.array([1.0, 2.5, 0.5]) if scale == "log_or" else np.array([0.2, 0.3, 0.1])
    res = prior_grid.EffectSweep(control, scale, DENG).evaluate(means, sds)
    for k in range(3):
        prior = Prior("x", "effect", control, scale=scale,
                      effect=NormalPrior.single(float(means[k]), float(sds[k])))
        want = exact.posterior(prior, DENG).prob_benefit()
        assert abs(res.p_above_zero[k] - want) < 1e-5, (k, res.p_above_zero[k], want)


# the explorer's estimate grid: quantiles of RD, OR and RR and the effect's CDF for many priors
# from one lattice, against the per-prior exact engine (polished: the cut-aware quantiles).
# Tolerance 1e-3 (RD; log scale for the ratios) on quantiles and 1e-4 on CDFs: a fifth of the
# explorer's 0.005 interpolation budget (analyses.explorer_data.TOLERANCE), which interpolation
# between nodes must share; the worst seen over whole grids (Deng: all 900 nodes of both
# remission tables; recovery rd, eolia log_rr: every 9th node) is 8.7e-4, on log RR.
ESTIMATE_CASES = [
    ("deng2017.toml", "remission", "log_or", [(2.29, 0.18), (-2.5, 0.1), (0.4, 2.5)]),
    ("eolia2018.toml", "death_60d", "log_rr", [(-1.5, 0.05), (0.0, 0.6), (1.5, 1.5)]),
    ("recovery_dex2021.toml", "death_28d", "rd", [(-0.5, 0.02), (0.1, 0.2), (0.5, 0.5)]),
]


@pytest.mark.parametrize("file, outcome_name, scale, priors", ESTIMATE_CASES)
def test_effect_estimates_match_the_exact_engine(file, outcome_name, scale, priors):
    from dataclasses import replace
    from pathlib import Path

    from lnbayes.io.trialfile import load_trial

    trial = load_trial(Path(__file__).resolve().parents[2] / "models" / file)
    outcome = trial.outcome(outcome_name)
    control = trial.priors_for(outcome)[0].control
    measures = ["risk_difference", "odds_ratio", "risk_ratio"]
    at = np.linspace(-1.0, 1.0, 9) if scale == "rd" else np.linspace(-2.5, 2.5, 9)
    own = {"log_or": "odds_ratio", "log_rr": "risk_ratio", "rd": "risk_difference"}[scale]
    sweep = prior_grid.EffectSweep(control, scale, outcome)
    for mu, sd in priors:
        res = prior_grid.effect_estimates(sweep, [mu], sd, measures, (0.5, 0.025, 0.975), at)
        assert res.ok[0]
        prior = Prior(name="p", family="effect", control=control, scale=scale,
                      effect=NormalPrior.single(mu, sd))
        post = exact.posterior(prior, outcome)
        ivs = post.intervals(measures)
        for m in measures:
            for level, q in enumerate(("median", "lower", "upper")):
                got, want = res.quantiles[m][level, 0], ivs[m][q]
                err = abs(got - want) if m == "risk_difference" else abs(math.log(got / want))
                assert err < 1e-3, (file, mu, sd, m, q, got, want)
        values = at if scale == "rd" else np.exp(at)
        assert np.max(np.abs(res.cdf[0] - post.cdf(own, values))) < 1e-4
        if scale != "log_or":  # the truncated prior: the exact posterior given no data
            empty = replace(outcome, treatment_events=0, treatment_n=0, control_events=0, control_n=0)
            no_data = exact.posterior(prior, empty)
            got, ok = prior_grid.truncated_prior_cdf(control, scale, [mu], sd, at)
            if ok[0]:  # 3e-4: the prior's density has a kink at 0 (drawn only, never read as
                # a number; a prior piled up at the feasible edges is the worst case)
                assert np.max(np.abs(got[0] - no_data.cdf(own, values))) < 3e-4
            else:  # flagged: piled up at the feasible edges, left to the exact engine
                assert (mu - 12 * sd > 0) or (mu + 12 * sd < 0)
