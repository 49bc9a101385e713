"""lnbayes.priors.conflict: prior predictive distributions and Box's p (prior-data conflict)
against scipy.integrate and brute-force enumeration."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, special, stats

from lnbayes.engines import exact
from lnbayes.io import trialfile
from lnbayes.model.spec import BetaPrior, NormalPrior, Outcome, Prior
from lnbayes.priors import conflict

ROOT = Path(__file__).resolve().parents[2]

DENG_FILE = ROOT / "models" / "deng2017.toml"

REMISSION = Outcome("remission", "Remission", 9, 12, 5, 6)



@pytest.fixture(scope="session")
def deng_trial():
    return trialfile.load_trial(DENG_FILE)



PREDICTIVE_PRIORS = {
    "mix_log_or": Prior(
        "a",
        "effect",
        BetaPrior.single(2, 2),
        scale="log_or",
        effect=NormalPrior((0.7, 0.3), (0.5, 0.0), (0.5, 1.5)),
    ),
    "rd": Prior(
        "b", "effect", BetaPrior.single(3, 2), scale="rd", effect=NormalPrior.single(0.1, 0.2)
    ),
    "log_rr": Prior(
        "c",
        "effect",
        BetaPrior((0.5, 0.5), (6, 1), (4, 1)),
        scale="log_rr",
        effect=NormalPrior.single(0.0, 0.4),
    ),
}



@pytest.mark.parametrize("name", sorted(PREDICTIVE_PRIORS))
def test_prior_predictive_matches_exact_evidence(name):
    """Every outcome of a small trial: quadrature predictive vs the exact engine's evidence."""
    prior = PREDICTIVE_PRIORS[name]
    n_t, n_c = 4, 2
    pred = conflict.prior_predictive(prior, n_t, n_c)
    assert pred.sum() == pytest.approx(1.0, abs=1e-12)
    for y_t in range(n_t + 1):
        for y_c in range(n_c + 1):
            o = Outcome("o", "o", y_t, n_t, y_c, n_c)
            # the exact engine's evidence is accurate to about 2e-5 (relative) for log_rr
            assert pred[y_t, y_c] == pytest.approx(
                math.exp(exact.posterior(prior, o).log_evidence), rel=1e-4, abs=1e-9
            )



def test_prior_predictive_log_rr_against_dblquad():
    """The corner where the log-RR truncation matters most, against scipy's dblquad."""
    prior = PREDICTIVE_PRIORS["log_rr"]
    n_t, n_c, y_t, y_c = 4, 2, 4, 2

    def integrand(theta, c):
        t = c * math.exp(theta)
        if t >= 1:
            return 0.0
        p_c = 0.5 * stats.beta.pdf(c, 6, 4) + 0.5
        mass = stats.norm.cdf(-math.log(c), 0, 0.4)  # truncation to p_treatment < 1
        return (
            p_c
            * stats.norm.pdf(theta, 0, 0.4)
            / mass
            * stats.binom.pmf(y_c, n_c, c)
            * stats.binom.pmf(y_t, n_t, t)
        )

    expected = integrate.dblquad(
        integrand, 0, 1, -6, lambda c: -math.log(c), epsabs=1e-13, epsrel=1e-10
    )[0]
    pred = conflict.prior_predictive(prior, n_t, n_c)
    assert pred[y_t, y_c] == pytest.approx(expected, rel=1e-8)



def test_box_p_by_enumeration_for_arm_priors():
    """Beta-binomial pmfs by brute-force integration, then the definition of Box's p."""
    control, treatment = BetaPrior.single(8, 2), BetaPrior.single(2, 8)
    prior = Prior("x", "arm", control, treatment=treatment)

    def bb(beta, y, n):
        return integrate.quad(
            lambda x: stats.binom.pmf(y, n, x) * stats.beta.pdf(x, beta.a[0], beta.b[0]), 0, 1
        )[0]

    m = np.array(
        [[bb(treatment, yt, 12) * bb(control, yc, 6) for yc in range(7)] for yt in range(13)]
    )
    expected = m[m <= m[9, 5] * (1 + 1e-9)].sum()
    got = conflict.conflict(prior, REMISSION)
    assert got["p"] == pytest.approx(expected, abs=1e-9)
    assert got["p"] < 0.05  # a prior that expects the opposite arms flags the conflict



def test_flat_prior_never_conflicts(deng_trial):
    assert conflict.conflict(deng_trial.priors["flat"], REMISSION)["p"] == pytest.approx(1.0)



FLAT = Prior("flat", "arm", BetaPrior.single(1, 1), treatment=BetaPrior.single(1, 1))

WIDE = Prior("wide", "effect", BetaPrior.single(1, 1), scale="log_or",
             effect=NormalPrior.single(0.0, 1.5))

BIG = (50_500, 100_000, 50_000, 100_000)  # y_t, n_t, y_c, n_c: the audit's large trial



def test_box_p_of_a_product_predictive_without_the_matrix():
    from lnbayes.priors import conflict

    prior = Prior("x", "arm", BetaPrior.single(8, 2), treatment=BetaPrior.single(2, 8))
    pmf_t = stats.betabinom.pmf(np.arange(301), 300, 2, 8)
    pmf_c = stats.betabinom.pmf(np.arange(201), 200, 8, 2)
    full = np.outer(pmf_t, pmf_c)
    for y_t, y_c in [(60, 160), (150, 100), (0, 200), (300, 0)]:
        expected = full[full <= full[y_t, y_c] * (1 + 1e-9)].sum()
        assert conflict.box_p_product(pmf_t, pmf_c, y_t, y_c) == pytest.approx(expected, abs=1e-12)
    got = conflict.conflict(prior, Outcome("o", "o", 60, 300, 160, 200))
    assert got["p"] == pytest.approx(full[full <= full[60, 160] * (1 + 1e-9)].sum(), abs=1e-9)



def test_box_p_for_a_large_trial_is_computed_or_declined():
    from lnbayes.priors import conflict

    big = Outcome("o", "o", *BIG)
    assert 0.0 <= conflict.conflict(FLAT, big)["p"] <= 1.0
    declined = conflict.conflict(WIDE, big)
    assert declined["p"] is None and "exceeds" in declined["note"]



def test_prior_predictive_of_a_point_like_effect_prior():
    """sd 1e-12 on the log OR: p_treatment = p_control, so the prior predictive is
    C(n_t, y_t) C(n_c, y_c) B(a + y_t + y_c, b + n - y) / B(a, b) (the common grid would step
    over so narrow a prior: NaN before)."""
    from lnbayes.priors import conflict

    a, b = 2.0, 3.0
    prior = Prior("p", "effect", BetaPrior.single(a, b), scale="log_or",
                  effect=NormalPrior.single(0.0, 1e-12))
    n_t, n_c = 6, 4
    pred = conflict.prior_predictive(prior, n_t, n_c)
    y_t, y_c = np.meshgrid(np.arange(n_t + 1), np.arange(n_c + 1), indexing="ij")
    log_comb = (special.gammaln(n_t + 1) - special.gammaln(y_t + 1) - special.gammaln(n_t - y_t + 1)
                + special.gammaln(n_c + 1) - special.gammaln(y_c + 1)
                - special.gammaln(n_c - y_c + 1))
    expected = np.exp(log_comb + special.betaln(a + y_t + y_c, b + n_t + n_c - y_t - y_c)
                      - special.betaln(a, b))
    assert np.max(np.abs(pred - expected)) < 1e-9



def test_prior_predictive_with_a_logit_normal_control_sums_to_one_and_matches_a_direct_sum():
    """Box's p with a Normal prior on logit(p_control): the prior predictive of every outcome
    sums to 1, and its control-arm margin is the logistic-normal-binomial pmf computed here by
    quad over the logit."""
    from scipy import integrate, special, stats

    from lnbayes.model.spec import LogitNormalPrior, NormalPrior, Outcome, Prior
    from lnbayes.priors.conflict import conflict, prior_predictive

    prior = Prior("ln", "effect", LogitNormalPrior.single(-1.0, 1.5), scale="log_or",
                  effect=NormalPrior.single(0.0, 1.0))
    pred = prior_predictive(prior, 8, 6)
    assert pred.sum() == pytest.approx(1.0, abs=1e-9)
    margin = pred.sum(axis=0)
    for y in range(7):
        want, _ = integrate.quad(lambda u: stats.norm.pdf(u, -1, 1.5)
                                 * stats.binom.pmf(y, 6, special.expit(u)), -15, 15, epsabs=1e-13)
        assert margin[y] == pytest.approx(want, abs=1e-7)
    result = conflict(prior, Outcome("o", "o", 7, 8, 0, 6))
    assert 0 < result["p"] < 1
