"""The exact MAP prior (quadrature), its Beta-mixture approximation, robustification and ESS,
checked against references computed here independently (scipy.integrate, closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from lnbayes.model.spec import BetaPrior
from lnbayes.priors import map as mp

AS = [(23, 107), (12, 44), (19, 51), (9, 39), (39, 139), (6, 20), (9, 78), (10, 35)]
"""RBesT's ``AS`` data set: placebo ASAS20 responders in 8 historical ankylosing spondylitis
trials (Baeten et al. Lancet 2013;382:1705-13; RBesT vignette "Getting started")."""


def as_spec(tau=mp.TauPrior("half_normal", 1.0)) -> mp.MapSpec:
    return mp.MapSpec(tuple(mp.Study(y, n) for y, n in AS), tau, 0.0, 2.0)


@pytest.fixture(scope="module")
def as_map():
    return mp.map_predictive(as_spec())


@pytest.fixture(scope="module")
def as_fit(as_map):
    return mp.fit_beta_mixture(as_map)


# -- the study likelihood with its effect integrated out ------------------------------------------


@pytest.mark.parametrize("y, n, mu, tau, rel", [
    (3, 10, 0.0, 0.5, 1e-8), (0, 20, -1.0, 2.0, 1e-7), (20, 20, 3.0, 0.05, 1e-8),
    (104, 185, 0.2, 1e-4, 1e-8), (9, 78, -4.0, 5.0, 1e-8),
    (5, 6, 1.0, 15.0, 1e-5),  # a study of 6 under a very wide Normal: exponential tails
])
def test_study_likelihood_matches_scipy_quad(y, n, mu, tau, rel):
    def integrand(t):
        return math.exp(y * special.log_expit(t) + (n - y) * special.log_expit(-t)
                        + stats.norm.logpdf(t, mu, tau))

    # split the integral at the integrand's peak region so quad sees it
    lo, hi = mu - 12 * tau, mu + 12 * tau
    ref = integrate.quad(integrand, lo, hi, points=[mu, special.logit((y + 0.5) / (n + 1))]
                         if lo < special.logit((y + 0.5) / (n + 1)) < hi else [mu],
                         limit=500, epsabs=0, epsrel=1e-11)[0]
    ours = float(np.exp(mp.study_log_likelihood(y, n, mu, tau)))
    assert ours == pytest.approx(ref, rel=rel)


# -- the predictive against a nested scipy quadrature -----------------------------------------


def gl(lo, hi, n):
    x, w = np.polynomial.legendre.leggauss(n)
    return lo + (hi - lo) / 2 * (x + 1), w * (hi - lo) / 2


@pytest.mark.heavy
def test_small_map_matches_a_brute_force_product_rule():
    """Two studies, half-normal(1) tau, mu ~ N(0, 2^2): P(p* <= 0.4), E[p*] and P(tau <= 0.5) by
    a plain Gauss-Legendre product rule over (tau, mu, each study's logit), 3 x 160 nodes per
    axis (tau split at 0.5, mu at the CDF's point), written here without lnbayes's adaptive rules or Normal mixture."""
    studies = [(3, 10), (6, 12)]
    spec = mp.MapSpec(tuple(mp.Study(y, n) for y, n in studies), mp.TauPrior("half_normal", 1.0),
                      0.0, 2.0)
    t1, w1 = gl(0.0, 0.5, 160)
    t2, w2 = gl(0.5, 6.0, 160)
    taus, tw = np.concatenate([t1, t2]), np.concatenate([w1, w2])
    x = special.logit(0.4)
    m1, v1 = gl(-5.0, x, 160)  # mu split at x, where Phi((x - mu) / tau) steps for small tau
    m2, v2 = gl(x, 4.0, 160)
    mus, mw = np.concatenate([m1, m2]), np.concatenate([v1, v2])
    u, uw = gl(-1.0, 1.0, 160)  # each study's logit: mu + 10 tau u
    tau, mu = taus[:, None, None], mus[None, :, None]
    theta = mu + 10 * tau * u
    log_post = stats.norm.logpdf(mus, 0, 2)[None, :] + (np.log(2) + stats.norm.logpdf(taus, 0, 1))[:, None]
    # the Normal density of theta written out (scipy.stats' generic logpdf on these 16M points
    # cost most of this test's time): (theta - mu) / tau = 10 u
    log_norm = -0.5 * (10 * u) ** 2 - np.log(tau) - 0.5 * np.log(2 * np.pi)
    for y, n in studies:
        f = np.exp(y * special.log_expit(theta) + (n - y) * special.log_expit(-theta) + log_norm)
        log_post = log_post + np.log(np.sum(f * uw * 10 * tau, axis=-1))
    post = np.exp(log_post) * tw[:, None] * mw[None, :]
    post /= post.sum()
    cdf = np.sum(post * stats.norm.cdf((x - mus[None, :]) / taus[:, None]))
    mean_p = np.sum(np.exp(log_norm) * special.expit(theta) * uw * 10 * tau, axis=-1)
    mean = np.sum(post * mean_p)
    tau_cdf = np.sum(post[:160])

    pred = mp.map_predictive(spec)
    # default rules: 3e-5 from this reference (which has converged to 1e-9); 3e-6 with 2x nodes
    assert float(pred.cdf(0.4)[0]) == pytest.approx(cdf, abs=5e-5)
    assert pred.moments()[0] == pytest.approx(mean, abs=5e-5)
    assert pred.tau_cdf(0.5) == pytest.approx(tau_cdf, abs=2e-4)


@pytest.mark.heavy
def test_quadrature_has_converged(as_map):
    """Doubling the nodes in tau and mu moves the quantiles by less than 1e-5."""
    finer = mp.map_predictive(as_spec(), n_tau=201, n_mu=321)
    for q in (0.025, 0.5, 0.975):
        assert as_map.quantile(q) == pytest.approx(finer.quantile(q), abs=1e-5)
    assert as_map.tau_quantile(0.5) == pytest.approx(finer.tau_quantile(0.5), abs=1e-4)


def test_predictive_is_wider_than_pooling_and_centred_on_the_data(as_map):
    mean, sd = as_map.moments()
    pooled = sum(y for y, _ in AS) / sum(n for _, n in AS)
    pooled_sd = math.sqrt(pooled * (1 - pooled) / sum(n for _, n in AS))
    assert abs(mean - pooled) < 0.03
    assert sd > 3 * pooled_sd  # heterogeneity makes a new study far less certain than pooling
    assert 0 < as_map.tau_quantile(0.025) < as_map.tau_quantile(0.5) < as_map.tau_quantile(0.975)


def test_tau_families_give_proper_priors():
    for tau in (mp.TauPrior("half_normal", 0.5), mp.TauPrior("half_t", 0.5, df=3),
                mp.TauPrior("log_normal", 0.3, sd=1.0)):
        grid = np.linspace(1e-9, tau.upper(), 400_001)
        mass = integrate.simpson(np.exp(tau.logpdf(grid)), x=grid)
        ref = {"half_normal": 2 * stats.norm.cdf(grid[-1] / 0.5) - 1,
               "half_t": 2 * stats.t.cdf(grid[-1] / 0.5, 3) - 1,
               "log_normal": stats.lognorm.cdf(grid[-1], 1.0, scale=0.3)}[tau.family]
        assert mass == pytest.approx(ref, abs=2e-6), tau
        assert ref > 1 - 1e-4  # the truncation at TAU_MAX or the 1e-9 quantile is negligible


# -- the Beta mixture ---------------------------------------------------------------------------


def test_mixture_is_within_tolerance_and_has_the_fewest_components(as_map, as_fit):
    assert as_fit.max_cdf_error < mp.CDF_TOLERANCE < 0.01
    ks = [k for k, _ in as_fit.tried]
    assert ks == list(range(1, len(ks) + 1))
    assert all(err >= mp.CDF_TOLERANCE for _, err in as_fit.tried[:-1])
    assert len(as_fit.beta.weights) == ks[-1]
    # the error reported is the error of the returned mixture, checked on another grid
    p = np.linspace(0.001, 0.999, 2999)
    mix = sum(w * stats.beta.cdf(p, a, b) for w, a, b in
              zip(as_fit.beta.weights, as_fit.beta.a, as_fit.beta.b))
    assert np.max(np.abs(mix - as_map.cdf(p))) <= as_fit.max_cdf_error + 1e-4


def test_mixture_ess_is_close_to_the_maps(as_map, as_fit):
    exact, mix = mp.map_ess(as_map), mp.mixture_ess(as_fit.beta)
    assert mix["elir"] == pytest.approx(exact["elir"], rel=0.03)
    assert mix["moment"] == pytest.approx(exact["moment"], rel=0.02)


# -- robustification and posterior weights ------------------------------------------------------


def test_robustify_and_posterior_weights():
    beta = BetaPrior((0.7, 0.3), (20.0, 4.0), (60.0, 10.0))
    rob = mp.robustify(beta, 0.2, 1, 1)
    assert sum(rob.weights) == pytest.approx(1.0)
    assert rob.weights[-1] == 0.2 and rob.a[-1] == 1 and rob.b[-1] == 1
    # posterior weights by numerical integration of each component times the likelihood
    y, n = 9, 12
    marg = [w * integrate.quad(lambda p: stats.beta.pdf(p, a, b) * stats.binom.pmf(y, n, p),
                               0, 1, epsrel=1e-12)[0]
            for w, a, b in zip(rob.weights, rob.a, rob.b)]
    ref = np.array(marg) / sum(marg)
    assert mp.posterior_weights(rob, y, n) == pytest.approx(tuple(ref), rel=1e-8)
    # data far from the informative components move the weight to the vague one
    assert mp.posterior_weights(rob, y, n)[-1] > 0.5 > mp.posterior_weights(rob, 3, 12)[-1]


# -- ESS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("a, b", [(5.0, 15.0), (30.0, 12.0)])
def test_beta_ess(a, b):
    """ELIR and moment ESS of a Beta are a + b; RBesT's Morita at the mode x = (a-1)/(a+b-2):
    (D(x) - D0(x)) / E[i(x)], D = (a-1)/x^2 + (b-1)/(1-x)^2 (closed form)."""
    ess = mp.mixture_ess(BetaPrior.single(a, b))
    assert ess["elir"] == pytest.approx(a + b, rel=1e-6)
    assert ess["moment"] == pytest.approx(a + b, rel=1e-9)
    x, m = (a - 1) / (a + b - 2), a / (a + b)
    d = (a - 1) / x**2 + (b - 1) / (1 - x) ** 2
    d0 = (x / 100 - 1) / x**2 + ((1 - x) / 100 - 1) / (1 - x) ** 2
    assert ess["morita"] == pytest.approx((d - d0) / (m / x**2 + (1 - m) / (1 - x) ** 2), rel=1e-6)


@pytest.mark.heavy
def test_map_ess_of_a_nearly_beta_map_matches_the_beta():
    """One huge study and a tiny tau: the MAP is close to the study's Beta posterior, whose ESS
    is its a + b (ELIR, moment)."""
    spec = mp.MapSpec((mp.Study(300, 1000),), mp.TauPrior("half_normal", 0.001), 0.0, 10.0)
    ess = mp.map_ess(mp.map_predictive(spec))
    assert ess["elir"] == pytest.approx(1000, rel=0.02)
    assert ess["moment"] == pytest.approx(1000, rel=0.02)
