"""lnbayes.engines.enumeration: P(benefit) tables over every dataset, predictive probabilities
and operating characteristics (type I error, power, sample size).

Independent routes used here: Cook's closed form for P(X > Y) of two Betas with an integer
shape, scipy.integrate.quad, tensor Gauss-Legendre rules on (p_control, theta) (not the module's
rules), brute-force enumeration of the predictive, and simulation of trials."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from lnbayes.engines import enumeration, exact
from lnbayes.io.trialfile import load_trial
from lnbayes.model.spec import BetaPrior, NormalPrior, Outcome, Prior
from tests.references import cook_p_greater, flat_p_benefit, gauss_2d

FLAT = Prior("flat", "arm", BetaPrior.single(1, 1), treatment=BetaPrior.single(1, 1))

LOG_OR = Prior("w", "effect", BetaPrior.single(1, 1), scale="log_or",
               effect=NormalPrior.single(0.0, 1.5))

RD = Prior("rd", "effect", BetaPrior.single(2, 2), scale="rd", effect=NormalPrior.single(0.1, 0.2))

SIM_SE = 4.0
"""Simulated probabilities must lie within 4 binomial simulation SEs of the exact ones."""









def quad_p_greater(a1, b1, a2, b2) -> float:
    return integrate.quad(lambda x: stats.beta.pdf(x, a2, b2) * stats.beta.sf(x, a1, b1), 0, 1,
                          epsabs=1e-13, epsrel=1e-12)[0]



def brute_force_predictive(y_t, n_t, y_c, n_c, final_t, final_c, threshold) -> float:
    """Flat prior: beta-binomial futures, closed-form P(benefit) at the end."""
    m_t, m_c = final_t - n_t, final_c - n_c
    total = 0.0
    for ft in range(m_t + 1):
        for fc in range(m_c + 1):
            pr = (stats.betabinom.pmf(ft, m_t, 1 + y_t, 1 + n_t - y_t)
                  * stats.betabinom.pmf(fc, m_c, 1 + y_c, 1 + n_c - y_c))
            if flat_p_benefit(y_t + ft, final_t, y_c + fc, final_c) >= threshold:
                total += pr
    return total



def test_cook_formula_matches_quad():
    assert cook_p_greater(10, 4, 6, 2) == pytest.approx(quad_p_greater(10, 4, 6, 2), abs=1e-12)



def test_flat_table_matches_closed_form():
    table = enumeration.prob_benefit_table(FLAT, 17, 8)
    expected = np.array([[flat_p_benefit(t, 17, c, 8) for t in range(18)] for c in range(9)])
    assert np.max(np.abs(table - expected)) < 1e-10



def test_lower_is_better_is_the_complement():
    higher = enumeration.prob_benefit_table(LOG_OR, 5, 4)
    lower = enumeration.prob_benefit_table(LOG_OR, 5, 4, lower_is_better=True)
    assert np.allclose(higher + lower, 1.0, atol=1e-12)



def test_arm_mixture_against_quad():
    prior = Prior("m", "arm", BetaPrior((0.5, 0.5), (6.0, 1.0), (4.0, 1.0)),
                  treatment=BetaPrior((0.8, 0.2), (0.5, 1.0), (0.5, 1.0)))
    o = Outcome("o", "o", 9, 12, 5, 6)
    pc, _ = exact.update_beta(exact.BetaMix.of(prior.control), 5, 6)
    pt, _ = exact.update_beta(exact.BetaMix.of(prior.treatment), 9, 12)
    expected = sum(wc * wt * quad_p_greater(at, bt, ac, bc)
                   for wc, ac, bc in zip(pc.w, pc.a, pc.b) for wt, at, bt in zip(pt.w, pt.a, pt.b))
    assert enumeration.prob_benefit(prior, o.treatment_events, 12, o.control_events, 6) == \
        pytest.approx(expected, abs=1e-9)






def _gauss_p_benefit(prior: Prior, y_t, n_t, y_c, n_c) -> float:
    """P(theta > 0 | data) by Gauss-Legendre over (p_control, theta), truncation included."""
    m, s = prior.effect.means[0], prior.effect.sds[0]
    a, b = prior.control.a[0], prior.control.b[0]

    def feasible(pc):
        if prior.scale == "log_or":
            return np.full_like(pc, -np.inf), np.full_like(pc, np.inf)
        return -pc, 1 - pc

    def f(theta, pc):
        lo, hi = feasible(pc)
        z = stats.norm.cdf(hi, m, s) - stats.norm.cdf(lo, m, s)
        pt = special.expit(special.logit(pc) + theta) if prior.scale == "log_or" else pc + theta
        return (stats.beta.pdf(pc, a, b) * stats.norm.pdf(theta, m, s) / z
                * stats.binom.pmf(y_c, n_c, pc) * stats.binom.pmf(y_t, n_t, pt))

    def below(pc):
        lo, _ = feasible(pc)
        return np.maximum(lo, m - 12 * s), np.zeros_like(pc)

    def above(pc):
        _, hi = feasible(pc)
        return np.zeros_like(pc), np.minimum(hi, m + 12 * s)

    harm, benefit = gauss_2d(f, below), gauss_2d(f, above)
    return benefit / (harm + benefit)



@pytest.mark.parametrize("prior", [LOG_OR, RD], ids=["log_or", "rd"])
def test_effect_level_against_gauss_legendre(prior):
    assert enumeration.prob_benefit(prior, 9, 12, 5, 6) == pytest.approx(
        _gauss_p_benefit(prior, 9, 12, 5, 6), abs=1e-7)



def test_effect_level_agrees_with_exact_engine_on_extreme_data():
    trial = load_trial()
    sceptical = trial.priors["sceptical"]
    for y_t, y_c in [(17, 0), (0, 8), (12, 4)]:
        o = Outcome("o", "o", y_t, 17, y_c, 8)
        assert enumeration.prob_benefit(sceptical, y_t, 17, y_c, 8) == pytest.approx(
            exact.posterior(sceptical, o).prob_benefit(), abs=1e-5)



def test_issue_check_flat_prior_predictive():
    """Flat prior, 9/12 vs 5/6 completed to 17/8: exactly 0 at 0.95, about 0.0195 at 0.8."""
    pred = enumeration.predictive(FLAT, 9, 12, 5, 6, 17, 8)
    brute_95 = brute_force_predictive(9, 12, 5, 6, 17, 8, 0.95)
    brute_80 = brute_force_predictive(9, 12, 5, 6, 17, 8, 0.80)
    assert brute_95 == 0.0
    assert pred.success(0.95) == 0.0
    assert pred.success(0.80) == pytest.approx(brute_80, abs=1e-12)
    assert pred.success(0.80) == pytest.approx(0.0195, abs=5e-5)
    assert pred.prob.sum() == pytest.approx(1.0, abs=1e-12)



def test_final_counts_from_planned_enrolment():
    assert enumeration.final_counts(25, (2, 1)) == (17, 8)



def test_effect_level_predictive_cell_against_gauss_legendre():
    """One cell of the joint predictive of the future counts, by quadrature over the posterior."""
    pred = enumeration.predictive(LOG_OR, 9, 12, 5, 6, 17, 8)
    assert pred.prob.sum() == pytest.approx(1.0, abs=1e-12)
    s = LOG_OR.effect.sds[0]

    def post(theta, pc, ft=None, fc=None):
        pt = special.expit(special.logit(pc) + theta)
        v = stats.norm.pdf(theta, 0, s) * stats.binom.pmf(5, 6, pc) * stats.binom.pmf(9, 12, pt)
        if ft is not None:
            v = v * stats.binom.pmf(ft, 5, pt) * stats.binom.pmf(fc, 2, pc)
        return v

    span = lambda pc: (np.full_like(pc, -12 * s), np.full_like(pc, 12 * s))  # noqa: E731
    z = gauss_2d(post, span)
    cell = gauss_2d(lambda th, pc: post(th, pc, 4, 1), span)
    assert pred.prob[1, 4] == pytest.approx(cell / z, abs=1e-8)



def _flat_declare(n_t, n_c, threshold):
    return np.array([[flat_p_benefit(t, n_t, c, n_c) >= threshold for t in range(n_t + 1)]
                     for c in range(n_c + 1)])



@pytest.mark.parametrize("p_c,p_t", [(0.6, 0.6), (0.6, 0.818), (0.3, 0.7), (0.85, 0.85)])
def test_operating_characteristics_against_simulation(p_c, p_t):
    rng = np.random.default_rng(20170506)
    reps = 40_000
    independent = _flat_declare(17, 8, 0.95)  # closed-form decisions, not the module's
    y_t = rng.binomial(17, p_t, reps)
    y_c = rng.binomial(8, p_c, reps)
    simulated = independent[y_c, y_t].mean()
    declare = enumeration.declare_table(FLAT, 17, 8, 0.95)
    assert np.array_equal(declare, independent)
    exact_p = float(enumeration.prob_declare(declare, p_c, p_t))
    se = math.sqrt(max(exact_p * (1 - exact_p), 1e-12) / reps)
    assert abs(simulated - exact_p) <= SIM_SE * se + 1e-12



def test_operating_characteristics_effect_prior_against_simulation():
    """Enumeration under an effect-level prior against simulation (decisions from its table)."""
    sceptical = load_trial().priors["sceptical"]
    declare = enumeration.declare_table(sceptical, 17, 8, 0.8)
    rng = np.random.default_rng(7)
    reps = 40_000
    for p_c, p_t in [(0.5, 0.8), (0.6, 0.6)]:
        sim = declare[rng.binomial(8, p_c, reps), rng.binomial(17, p_t, reps)].mean()
        exact_p = float(enumeration.prob_declare(declare, p_c, p_t))
        se = math.sqrt(max(exact_p * (1 - exact_p), 1e-12) / reps)
        assert abs(sim - exact_p) <= SIM_SE * se + 1e-12



def test_type_i_error_is_the_max_at_equal_rates():
    declare = _flat_declare(17, 8, 0.95)
    t1 = enumeration.type_i_error(declare)
    p = t1["at_rate"]
    brute = sum(stats.binom.pmf(c, 8, p) * stats.binom.pmf(t, 17, p)
                for c in range(9) for t in range(18) if declare[c, t])
    assert t1["max"] == pytest.approx(brute, abs=1e-12)
    for q in (0.2, 0.5, 0.7):
        assert float(enumeration.prob_declare(declare, q, q)) <= t1["max"] + 1e-12



def test_sample_size_search():
    found = enumeration.sample_size(FLAT, (2, 1), 0.95, 0.6, 0.818, target=0.8)
    total = found["total"]

    def power(n):
        n_t, n_c = enumeration.arm_sizes(n, (2, 1))
        d = _flat_declare(n_t, n_c, 0.95)
        pmf_c = stats.binom.pmf(np.arange(n_c + 1), n_c, 0.6)
        pmf_t = stats.binom.pmf(np.arange(n_t + 1), n_t, 0.818)
        return float(pmf_c @ d @ pmf_t)

    assert power(total) >= 0.8
    assert found["power"] == pytest.approx(power(total), abs=1e-9)
    assert all(power(n) < 0.8 for n in range(total - 6, total))



@pytest.mark.parametrize("name", ["flat", "sceptical"])
def test_table_is_a_monotone_probability(name):
    """More treatment events never lower P(benefit); more control events never raise it."""
    table = enumeration.prob_benefit_table(load_trial().priors[name], 17, 8)
    assert np.all((table >= 0) & (table <= 1))
    assert np.all(np.diff(table, axis=1) > -1e-9)
    assert np.all(np.diff(table, axis=0) < 1e-9)

