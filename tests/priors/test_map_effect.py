"""The treatment-effect MAP (binomial-normal random-effects meta-analysis of log ORs): each
trial's integrated likelihood against scipy's dblquad, convergence, and its Normal mixture."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from lnbayes.priors import map as mp
from lnbayes.priors import map_effect as me

TRIALS = [(15, 40, 8, 40), (22, 60, 14, 58), (9, 30, 9, 31)]


@pytest.fixture(scope="module")
def spec():
    return me.EffectMapSpec(tuple(me.TwoArmStudy(*t) for t in TRIALS),
                            mp.TauPrior("half_normal", 0.5))


@pytest.mark.parametrize("yt, nt, yc, nc, mu, tau, rel", [
    (9, 12, 5, 6, 0.3, 0.5, 1e-7), (30, 50, 20, 50, 0.5, 0.01, 1e-9),
    (0, 20, 3, 20, -1.0, 1.5, 1e-5),  # a zero-event arm: a skewed integrand
])
@pytest.mark.heavy
def test_two_arm_likelihood_matches_dblquad(yt, nt, yc, nc, mu, tau, rel):
    def f(d, a):
        return math.exp(yc * special.log_expit(a) + (nc - yc) * special.log_expit(-a)
                        + yt * special.log_expit(a + d) + (nt - yt) * special.log_expit(-(a + d))
                        + stats.norm.logpdf(d, mu, tau) + stats.norm.logpdf(a, 0, 10))

    ref = integrate.dblquad(f, -12, 12, mu - 10 * tau, mu + 10 * tau, epsabs=0, epsrel=1e-10)[0]
    ours = float(np.exp(me.two_arm_log_likelihood(yt, nt, yc, nc, mu, tau)))
    assert ours == pytest.approx(ref, rel=rel)


@pytest.mark.heavy
def test_effect_map_has_converged_and_is_sensible(spec):
    pred = me.effect_map_predictive(spec)
    finer = me._effect_map_predictive(spec, 201, 401)
    for q in (0.025, 0.5, 0.975):
        assert pred.logit_quantile(q) == pytest.approx(finer.logit_quantile(q), abs=2e-5)
    summary = me.effect_summary(pred)
    # pooled log OR of the three trials lies near the MAP's median; the predictive is wider
    # than the pooled estimate's standard error
    yt, nt, yc, nc = (np.array(c, float) for c in zip(*TRIALS))
    log_or = np.log(yt / (nt - yt)) - np.log(yc / (nc - yc))
    v = 1 / yt + 1 / (nt - yt) + 1 / yc + 1 / (nc - yc)
    pooled = np.sum(log_or / v) / np.sum(1 / v)
    assert abs(summary["quantiles"]["0.5"] - pooled) < 0.1
    assert summary["sd"] > math.sqrt(1 / np.sum(1 / v))


def test_normal_mixture_fit_is_within_tolerance(spec):
    pred = me.effect_map_predictive(spec)
    fit = me.fit_normal_mixture(pred)
    assert fit.max_cdf_error < mp.CDF_TOLERANCE
    assert all(err >= mp.CDF_TOLERANCE for _, err in fit.tried[:-1])
    x = np.linspace(-3, 4, 1401)
    mix = sum(w * stats.norm.cdf(x, m, s) for w, m, s in
              zip(fit.normal.weights, fit.normal.means, fit.normal.sds))
    assert np.max(np.abs(mix - pred.logit_cdf(x))) <= fit.max_cdf_error + 1e-4
    prior = me.map_normal_prior(spec)
    assert prior.weights == fit.normal.weights and prior.derivation.spec == spec
