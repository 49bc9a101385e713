"""The treatment-effect MAP (binomial-normal random-effects meta-analysis of log ORs): each
trial's integrated likelihood against a Gauss-Legendre product rule, convergence, and its
Normal mixture."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from lnbayes.model.spec import NormalPrior
from lnbayes.priors import map as mp
from lnbayes.priors import map_effect as me

TRIALS = [(15, 40, 8, 40), (22, 60, 14, 58), (9, 30, 9, 31)]


@pytest.fixture(scope="module")
def spec():
    return me.EffectMapSpec(tuple(me.TwoArmStudy(*t) for t in TRIALS),
                            mp.TauPrior("half_normal", 0.5))


def _product_gauss_legendre(log_f, a_box, d_box, panels, nodes=20):
    """Composite Gauss-Legendre product rule (``panels`` equal panels of ``nodes`` nodes on
    each axis) of exp(log_f(d, a)) over the box, vectorised; written here, independent of
    lnbayes's quadrature."""
    x, w = np.polynomial.legendre.leggauss(nodes)

    def axis(lo, hi):
        edges = np.linspace(lo, hi, panels + 1)
        half = np.diff(edges)[:, None] / 2
        pts = (edges[:-1, None] + half * (x + 1)).ravel()
        return pts, (half * w).ravel()

    a, wa = axis(*a_box)
    d, wd = axis(*d_box)
    lf = log_f(d[:, None], a[None, :])
    top = lf.max()
    return float(np.exp(top) * (wd @ np.exp(lf - top) @ wa))


@pytest.mark.parametrize("yt, nt, yc, nc, mu, tau, rel", [
    (9, 12, 5, 6, 0.3, 0.5, 1e-7), (30, 50, 20, 50, 0.5, 0.01, 1e-9),
    (0, 20, 3, 20, -1.0, 1.5, 1e-5),  # a zero-event arm: a skewed integrand
])
@pytest.mark.heavy
def test_two_arm_likelihood_matches_a_product_rule(yt, nt, yc, nc, mu, tau, rel):
    # the reference: the same integral (and box) scipy's dblquad took 5 s a case for, by a
    # 20-node Gauss-Legendre product rule on 48 and 96 panels an axis; the two agree to
    # rel / 100, so the reference's error is far below the tolerance it checks
    def log_f(d, a):
        return (yc * special.log_expit(a) + (nc - yc) * special.log_expit(-a)
                + yt * special.log_expit(a + d) + (nt - yt) * special.log_expit(-(a + d))
                + stats.norm.logpdf(d, mu, tau) + stats.norm.logpdf(a, 0, 10))

    box = (-12, 12), (mu - 10 * tau, mu + 10 * tau)
    coarse, ref = (_product_gauss_legendre(log_f, *box, panels) for panels in (48, 96))
    assert abs(coarse - ref) <= rel / 100 * ref
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


@pytest.mark.heavy
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


def test_robustify_normal_adds_the_vague_component(spec):
    prior = me.map_normal_prior(spec, me.EffectRobust(0.25, 0.0, 2.0))
    fit = prior.derivation.fit.normal
    assert prior.weights[:-1] == pytest.approx(tuple(0.75 * w for w in fit.weights))
    assert (prior.weights[-1], prior.means[-1], prior.sds[-1]) == (0.25, 0.0, 2.0)
    assert sum(prior.weights) == pytest.approx(1.0)
    assert "robust: weight 0.25 on Normal(0, 2²)" in prior.derivation.describe()
    with pytest.raises(ValueError, match="robust weight"):
        me.robustify_normal(fit, 1.5)


def _exact_variance(pred) -> float:
    """The MAP's variance by adaptive quadrature of its exact density (independent of the
    mixture-of-Normals moments effect_summary uses)."""
    lo, hi = pred.logit_quantile(1e-10), pred.logit_quantile(1 - 1e-10)
    f = lambda x, k: x**k * float(pred.logit_pdf(np.array([x]))[0])  # noqa: E731
    m0, m1, m2 = (integrate.quad(f, lo, hi, args=(k,), epsabs=0, epsrel=1e-10, limit=200)[0]
                  for k in range(3))
    return m2 / m0 - (m1 / m0) ** 2


def test_effect_map_ess_is_variance_matched_against_quadrature(spec):
    pred = me.effect_map_predictive(spec)
    normal = me.fit_normal_mixture(pred).normal
    robust = me.robustify_normal(normal, 0.2, 0.0, 2.0)
    nt, nc, rt, rc = 12, 6, 0.75, 5 / 6
    ess = me.effect_map_ess(pred, normal, robust, allocation=(nt, nc), rate_treatment=rt,
                            rate_control=rc, n_treatment=nt, n_control=nc)
    per_n = 1 / ((nt / 18) * rt * (1 - rt)) + 1 / ((nc / 18) * rc * (1 - rc))
    var = _exact_variance(pred)
    assert ess["map"]["method"] == "variance-matched"
    assert ess["map"]["patients_total"] == pytest.approx(per_n / var, rel=1e-6)
    data_info = 1 / (1 / (nt * rt * (1 - rt)) + 1 / (nc * rc * (1 - rc)))
    assert ess["map"]["prior_precision_share"] == pytest.approx(
        (1 / var) / (1 / var + data_info), rel=1e-6)
    # the mixture is within its CDF tolerance, so its variance is close; the robust prior is
    # vaguer, so it is worth fewer patients
    assert ess["mixture"]["patients_total"] == pytest.approx(per_n / var, rel=0.05)
    assert ess["robust"]["patients_total"] < 0.9 * ess["mixture"]["patients_total"]


def test_normal_posterior_weights_against_quadrature():
    normal = me.robustify_normal(NormalPrior((0.6, 0.4), (0.5, 0.9), (0.2, 0.4)), 0.2, 0, 2)
    est, var = 1.1, 0.6
    ref = np.array([w * integrate.quad(lambda d: stats.norm.pdf(est, d, math.sqrt(var))
                                       * stats.norm.pdf(d, m, s), -30, 30, epsrel=1e-12)[0]
                    for w, m, s in zip(normal.weights, normal.means, normal.sds)])
    assert me.normal_posterior_weights(normal, est, var) == pytest.approx(ref / ref.sum(),
                                                                          rel=1e-8)
