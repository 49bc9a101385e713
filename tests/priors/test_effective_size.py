"""lnbayes.priors.effective_size: prior effective sample sizes (moment, ELIR, Morita) against
closed forms, numerical integration and finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

from lnbayes.engines import exact
from lnbayes.model.spec import BetaPrior, NormalPrior
from lnbayes.priors import effective_size


@pytest.mark.parametrize("a, b", [(1, 1), (0.5, 0.5), (5, 15), (2.5, 7.3), (40, 3)])
def test_ess_of_beta_is_a_plus_b_under_all_methods(a, b):
    ess = effective_size.arm_ess(BetaPrior.single(a, b))
    for method in ("elir", "moment", "morita"):
        assert ess[method] == pytest.approx(a + b, rel=1e-6), method



MIX = BetaPrior((0.8, 0.2), (10.0, 1.0), (2.0, 1.0))



def test_moment_ess_of_mixture_by_integration():
    mean = integrate.quad(lambda x: x * math.exp(exact.BetaMix.of(MIX).logpdf(x)), 0, 1)[0]
    second = integrate.quad(lambda x: x * x * math.exp(exact.BetaMix.of(MIX).logpdf(x)), 0, 1)[0]
    var = second - mean**2
    assert effective_size.ess_moment(MIX) == pytest.approx(mean * (1 - mean) / var - 1, rel=1e-8)



def test_elir_is_predictively_consistent_for_a_mixture():
    """Neuenschwander et al. 2020: E over the prior predictive of ESS(posterior after n) = ESS + n."""
    n = 10
    prior = exact.BetaMix.of(MIX)
    total = 0.0
    for y in range(n + 1):
        post, log_m = exact.update_beta(prior, y, n)
        post_prior = BetaPrior(tuple(post.w), tuple(post.a), tuple(post.b))
        total += math.exp(log_m) * effective_size.ess_elir(post_prior)
    assert total - n == pytest.approx(effective_size.ess_elir(MIX), abs=1e-6)



def test_elir_by_finite_differences():
    """Independent route: numerical second derivative of the logit-scale log density."""
    w, a, b = np.array(MIX.weights), np.array(MIX.a), np.array(MIX.b)

    def log_p_eta(eta):  # Beta mixture carried to eta = logit(theta), Jacobian included
        log_t, log_1mt = special.log_expit(eta)[:, None], special.log_expit(-eta)[:, None]
        return special.logsumexp(np.log(w) + a * log_t + b * log_1mt - special.betaln(a, b), axis=1)

    h = 1e-3
    eta = np.linspace(-40, 25, 130_001)
    v = np.exp(special.log_expit(eta) + special.log_expit(-eta))  # Fisher information per patient
    info = -(log_p_eta(eta + h) - 2 * log_p_eta(eta) + log_p_eta(eta - h)) / h**2
    value = np.trapezoid(np.exp(log_p_eta(eta)) * info / v, eta)
    assert effective_size.ess_elir(MIX) == pytest.approx(value, rel=1e-6)



def test_variance_matched_ess_of_the_sceptical_prior_on_deng():
    """Deng's sceptical prior, Normal(0, 0.668^2) on the log OR, at the trial's 2:1 allocation and
    observed rates 9/12 and 5/6: the delta-method variance of the log OR from N patients is
    (1/(2/3 * 0.75 * 0.25) + 1/(1/3 * 5/6 * 1/6)) / N = 29.6 / N, so N = 29.6 / 0.668^2 = 66;
    the trial's own data carry 1 / (1/(12 * 0.1875) + 1/(6 * 5/36)) of information."""
    from lnbayes.model.spec import Outcome, Prior

    prior = Prior(name="s", family="effect", scale="log_or", control=BetaPrior.single(1, 1),
                  effect=NormalPrior.single(0, 0.668))
    outcome = Outcome("r", "r", 9, 12, 5, 6)
    ess = effective_size.prior_ess(prior, outcome=outcome)
    assert ess["method"] == "variance-matched"
    unit = 1 / ((2 / 3) * 0.75 * 0.25) + 1 / ((1 / 3) * (5 / 6) * (1 / 6))
    assert ess["effect"]["patients_total"] == pytest.approx(unit / 0.668**2, rel=1e-12)
    assert round(ess["effect"]["patients_total"]) == 66
    data_info = 1 / (1 / (12 * 0.75 * 0.25) + 1 / (6 * (5 / 6) * (1 / 6)))
    share = (1 / 0.668**2) / (1 / 0.668**2 + data_info)
    assert ess["headline"]["prior_precision_share"] == pytest.approx(share, rel=1e-12)
    assert 0.78 < share < 0.80
    # without the trial: 1:1 at the control prior's mean, both arms at that rate
    plain = effective_size.prior_ess(prior)
    assert plain["effect"]["patients_total"] == pytest.approx(2 / (0.5 * 0.25) / 0.668**2, rel=1e-12)
    assert plain["headline"]["prior_precision_share"] is None


def test_variance_matched_ess_other_scales_and_empty_arms():
    # RD: per-patient information 1 / (p (1 - p)); log RR: p / (1 - p); 0 events use (0.5)/(n + 1)
    e = NormalPrior.single(0.0, 0.1)
    vm = effective_size.variance_matched_ess(e, "rd", (1, 1), 0.2, 0.2)
    assert vm["patients_total"] == pytest.approx(2 * 2 * 0.16 / 0.01, rel=1e-12)
    vm = effective_size.variance_matched_ess(e, "log_rr", (1, 1), 0.5, 0.5)
    assert vm["patients_total"] == pytest.approx(2 * 2 * 1.0 / 0.01, rel=1e-12)
    assert effective_size.observed_rate(0, 20) == pytest.approx(0.5 / 21)


@pytest.mark.parametrize("m,s", [(0.0, 2.5), (-3.0, 1.0), (1.0, 0.3)])
def test_logit_normal_elir_closed_form(m, s):
    """For logit p ~ Normal(m, s^2), ELIR = E[1 / (s^2 p (1 - p))] = (2 + e^{m + s^2/2} +
    e^{-m + s^2/2}) / s^2 (lognormal moments); moment ESS from the logistic-normal mean and
    variance by quad."""
    from lnbayes.model.spec import LogitNormalPrior

    got = effective_size.logit_normal_ess(LogitNormalPrior.single(m, s))
    want = (2 + math.exp(m + s * s / 2) + math.exp(-m + s * s / 2)) / s**2
    assert got["elir"] == pytest.approx(want, rel=1e-8)

    def moment(k):
        return integrate.quad(lambda u: special.expit(u) ** k * math.exp(-0.5 * ((u - m) / s) ** 2)
                              / (s * math.sqrt(2 * math.pi)), m - 12 * s, m + 12 * s,
                              epsabs=1e-14, limit=200)[0]
    mean, second = moment(1), moment(2)
    assert got["moment"] == pytest.approx(mean * (1 - mean) / (second - mean**2) - 1, rel=1e-7)
    assert effective_size.arm_mean(LogitNormalPrior.single(m, s)) == pytest.approx(mean, abs=1e-12)
    assert got["morita"] > 0
