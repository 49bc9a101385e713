"""lnbayes.engines.datasets (through lnbayes.engines.enumeration): P(benefit) for many datasets
at once, for large trials, narrow and point-like priors and tiny Beta shapes (issue 11, items 3
and 5), against independent answers.

Independent routes: Cook's closed form for P(X > Y) of two Betas with a whole first shape (summed
in log space), Gauss-Legendre rules over (logit p_control, effect) on windows written here (not the
module's), brute-force enumeration and scipy.integrate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from lnbayes.analyses import bayes_factors
from lnbayes.engines import enumeration, exact
from lnbayes.errors import LnbayesError
from lnbayes.model import density
from lnbayes.model.spec import BetaPrior, NormalPrior, Outcome, Prior
from lnbayes.numerics import quadrature
from tests.references import brute_log_or, gauss_legendre, log_or_prior

FLAT = Prior("flat", "arm", BetaPrior.single(1, 1), treatment=BetaPrior.single(1, 1))

WIDE = Prior("wide", "effect", BetaPrior.single(1, 1), scale="log_or",
             effect=NormalPrior.single(0.0, 1.5))

BIG = (50_500, 100_000, 50_000, 100_000)  # y_t, n_t, y_c, n_c: the audit's large trial


def cook_p_greater(a1: int, b1: float, a2: float, b2: float) -> float:
    """P(X > Y), X ~ Beta(a1, b1) with a1 whole, Y ~ Beta(a2, b2): Cook's sum, in logs."""
    i = np.arange(a1, dtype=float)
    terms = (special.betaln(a2 + i, b1 + b2) - np.log(b1 + i) - special.betaln(1 + i, b1)
             - special.betaln(a2, b2))
    return float(np.exp(special.logsumexp(terms)))


def flat_p_benefit(y_t, n_t, y_c, n_c) -> float:
    return cook_p_greater(1 + y_t, 1 + n_t - y_t, 1 + y_c, 1 + n_c - y_c)


def test_large_trial_flat_prior_against_cook():
    expected = flat_p_benefit(*BIG)
    assert expected == pytest.approx(0.98733, abs=1e-5)  # the audit's exact value
    assert enumeration.prob_benefit(FLAT, *BIG) == pytest.approx(expected, abs=1e-9)
    o = Outcome("o", "o", *BIG)
    assert exact.posterior(FLAT, o).prob_benefit() == pytest.approx(expected, abs=1e-9)


def test_large_trial_log_or_prior_against_gauss_legendre():
    y_t, n_t, y_c, n_c = BIG
    below, above, at0 = brute_log_or(WIDE, *BIG, uc_window=(-0.1, 0.1), v_window=(-0.15, 0.25))
    expected = above / (above + below)
    assert enumeration.prob_benefit(WIDE, *BIG) == pytest.approx(expected, abs=1e-8)
    o = Outcome("o", "o", *BIG)
    assert exact.posterior(WIDE, o).prob_benefit() == pytest.approx(expected, abs=1e-5)
    sd = bayes_factors.savage_dickey(WIDE, *BIG)
    assert sd["prior_density_at_0"] == pytest.approx(stats.norm.pdf(0, 0, 1.5), rel=1e-12)
    assert sd["posterior_density_at_0"] == pytest.approx(at0 / (above + below), rel=1e-6)


def test_large_trial_predictive_probability_brute_force():
    """10 more patients per arm: P(final P(benefit) >= 0.99) is exactly 0 (every completion ends
    below 0.99), against beta-binomial futures and Cook's closed form at the end."""
    y_t, n_t, y_c, n_c = BIG
    pred = enumeration.predictive(FLAT, y_t, n_t, y_c, n_c, n_t + 10, n_c + 10)
    brute_final = np.array([[flat_p_benefit(y_t + ft, n_t + 10, y_c + fc, n_c + 10)
                             for ft in range(11)] for fc in range(11)])
    assert np.max(np.abs(pred.final_p_benefit - brute_final)) < 1e-9
    assert brute_final.max() < 0.99
    assert pred.success(0.99) == 0.0
    prob = np.outer(stats.betabinom.pmf(np.arange(11), 10, 1 + y_c, 1 + n_c - y_c),
                    stats.betabinom.pmf(np.arange(11), 10, 1 + y_t, 1 + n_t - y_t))
    assert pred.success(0.98) == pytest.approx(float(prob[brute_final >= 0.98].sum()), abs=1e-12)


def test_large_trial_effect_predictive_matches_its_table():
    y_t, n_t, y_c, n_c = BIG
    pred = enumeration.predictive(WIDE, y_t, n_t, y_c, n_c, n_t + 3, n_c + 3)
    assert pred.prob.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all((pred.final_p_benefit >= 0) & (pred.final_p_benefit <= 1))
    corner = enumeration.prob_benefit(WIDE, y_t + 3, n_t + 3, y_c, n_c + 3)
    assert pred.final_p_benefit[0, 3] == pytest.approx(corner, abs=1e-9)


def test_prior_p_benefit_of_narrow_log_or_priors_is_the_normal_tail():
    for sd, mean in [(0.01, 0.0), (0.01, 0.005), (1e-12, 0.0), (1e-12, -3e-12)]:
        prior = log_or_prior(sd, mean)
        assert enumeration.prior_prob_benefit(prior) == pytest.approx(
            stats.norm.cdf(mean / sd), abs=1e-14)
        assert enumeration.prior_prob_benefit(prior, True) == pytest.approx(
            stats.norm.cdf(-mean / sd), abs=1e-14)


def test_narrow_log_rr_prior_on_rare_events_against_gauss_legendre():
    """0/1000 vs 3/1000, lower is better, N(0, 0.01^2) on the log RR (truncation irrelevant:
    p_control is tiny): P(benefit) against Gauss-Legendre over (logit p_control, log RR)."""
    prior = Prior("rr", "effect", BetaPrior.single(1, 1), scale="log_rr",
                  effect=NormalPrior.single(0.0, 0.01))
    o = Outcome("o", "o", 0, 1000, 3, 1000, better="lower")
    uc, wc = gauss_legendre(-14.0, -2.0, 600)
    th_lo, w_lo = gauss_legendre(-0.15, 0.0, 300)
    th_hi, w_hi = gauss_legendre(0.0, 0.15, 300)

    def joint(u, th):
        log_pc = special.log_expit(u)
        log_pt = log_pc + th
        return np.exp(log_pc + special.log_expit(-u) + stats.norm.logpdf(th, 0, 0.01)
                      + 3 * log_pc + 997 * special.log_expit(-u)
                      + 1000 * np.log1p(-np.exp(log_pt)) + 30)

    below = wc @ joint(uc[:, None], th_lo[None, :]) @ w_lo
    above = wc @ joint(uc[:, None], th_hi[None, :]) @ w_hi
    expected = below / (below + above)  # benefit: theta < 0
    assert enumeration.prob_benefit(prior, 0, 1000, 3, 1000, lower_is_better=True) == \
        pytest.approx(expected, abs=1e-8)
    assert exact.posterior(prior, o).prob_benefit(True) == pytest.approx(expected, abs=1e-5)


EXTREME = [
    ("rare_log_rr", Prior("rr", "effect", BetaPrior.single(1, 1), scale="log_rr",
                          effect=NormalPrior.single(0.0, 0.01)),
     Outcome("o", "o", 0, 1000, 3, 1000, better="lower")),
    ("rare_log_rr_higher", Prior("rr", "effect", BetaPrior.single(1, 1), scale="log_rr",
                                 effect=NormalPrior.single(0.0, 0.01)),
     Outcome("o", "o", 0, 1000, 3, 1000)),
    ("billion_flat", FLAT, Outcome("o", "o", 500_100_000, 10**9, 500_000_000, 10**9)),
    ("billion_wide", WIDE, Outcome("o", "o", 500_100_000, 10**9, 500_000_000, 10**9)),
    ("zero_vs_all", FLAT, Outcome("o", "o", 0, 1000, 1000, 1000)),
    ("tiny_shape", Prior("t", "arm", BetaPrior.single(1e-9, 1), treatment=BetaPrior.single(1, 1)),
     Outcome("o", "o", 3, 10, 0, 10)),
    ("jeffreys_zero", Prior("j", "effect", BetaPrior.single(0.5, 0.5), scale="log_or",
                            effect=NormalPrior.single(0.0, 1.5)),
     Outcome("o", "o", 0, 1000, 0, 1000)),
]


@pytest.mark.parametrize("prior,outcome", [c[1:] for c in EXTREME], ids=[c[0] for c in EXTREME])
def test_probabilities_in_unit_interval_and_bayes_factors_positive(prior, outcome):
    post = exact.posterior(prior, outcome)
    ev = bayes_factors.evidence_summary(prior, outcome, post)
    for p in (post.prob_benefit(False), post.prob_benefit(True), ev["prior_p_benefit"],
              ev["posterior_p_benefit"]):
        assert 0.0 <= p <= 1.0
    for bf in (ev["bf_benefit"], ev["savage_dickey"]["bf01"], ev["savage_dickey"]["bf10"]):
        assert bf is None or (0.0 < bf < math.inf)
    assert post.prob_benefit(False) + post.prob_benefit(True) == pytest.approx(1.0, abs=1e-6)


def test_tiny_beta_shape_prior_p_benefit():
    """Beta(1e-9, 1) on the control arm, Beta(1, 1) on the treatment arm: P(p_t > p_c) =
    1 - E[p_c] = 1 - 1e-9 / (1 + 1e-9) (the audit measured 0.967)."""
    prior = Prior("t", "arm", BetaPrior.single(1e-9, 1), treatment=BetaPrior.single(1, 1))
    q = 1e-9 / (1 + 1e-9)
    assert enumeration.prior_prob_benefit(prior) == pytest.approx(1 - q, abs=1e-15)
    assert enumeration.prior_prob_benefit(prior, True) == pytest.approx(q, rel=1e-6)
    post = exact.posterior(prior, Outcome("o", "o", 0, 0, 0, 0))
    assert post.prob_benefit(True) == pytest.approx(q, rel=1e-6)
    # with data (3/10 treated, 0/10 controls): P(p_t < p_c) = E_t[S_c(p_t)], by quad
    expected = integrate.quad(lambda x: stats.beta.pdf(x, 4, 8) * special.betaincc(1e-9, 11, x),
                              0, 1, epsabs=0, epsrel=1e-11, limit=200)[0]
    o = Outcome("o", "o", 3, 10, 0, 10)
    assert exact.posterior(prior, o).prob_benefit(True) == pytest.approx(expected, rel=1e-6)
    assert enumeration.prob_benefit(prior, 3, 10, 0, 10, True) == pytest.approx(expected, rel=1e-6)


def test_both_arms_with_tiny_shapes_are_refused():
    prior = Prior("both", "arm", BetaPrior.single(1e-9, 1), treatment=BetaPrior.single(1e-9, 1))
    with pytest.raises(LnbayesError, match="priors.both"):
        exact.posterior(prior, Outcome("o", "o", 0, 0, 0, 0))
    with pytest.raises(LnbayesError):
        enumeration.prior_prob_benefit(prior)


def test_design_of_a_huge_trial_is_refused_up_front():
    with pytest.raises(LnbayesError, match="100000/100000"):
        enumeration.declare_table(FLAT, 100_000, 100_000, 0.95)


def test_predictive_with_too_many_completions_is_refused():
    with pytest.raises(LnbayesError, match="possible outcomes"):
        enumeration.predictive(FLAT, 9, 12, 5, 6, 2012, 2006)


def test_narrow_prior_table_beyond_budget_is_refused():
    with pytest.raises(LnbayesError, match="multiply-adds|memory"):
        enumeration.prob_benefit_table(log_or_prior(1e-6), 1500, 1500)


# ---------------------------------------------------------------------------------------------
# Fast paths (issue 12): the same numbers as the general routes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prior", [
    WIDE,
    log_or_prior(0.3, 1.1),
    Prior("mix", "effect", BetaPrior((0.7, 0.3), (2.5, 1.0), (4.0, 1.0)), scale="log_or",
          effect=NormalPrior((0.6, 0.4), (0.0, 1.0), (0.5, 2.0))),
])
def test_cached_log_or_prior_matrix_equals_the_dense_density(prior):
    """The log-OR prior matrix built once per diagonal equals log_prior_density on every node."""
    from lnbayes.engines import datasets as bq

    key = (-30.0, 30.0, 601)
    dens, peak = bq._cached_prior(prior, key)
    u = np.linspace(*key)
    log_p = density.log_prior_density(prior, u[:, None], u[None, :])
    assert np.max(log_p) <= peak + 1e-12
    expected = np.exp(log_p - peak)
    assert np.max(np.abs(dens - expected)) < 1e-13
    big = expected > 1e-200
    assert np.max(np.abs(dens[big] / expected[big] - 1)) < 1e-12


@pytest.mark.parametrize("a, b, n", [(1, 1, 0), (1, 1, 30), (2, 5, 40), (3, 1, 7), (1, 1, 700)])
@pytest.mark.parametrize("use_sf", [True, False])
def test_whole_number_beta_tails_against_betainc(a, b, n, use_sf):
    """Binomial sums for whole-number Beta CDFs against scipy's incomplete Beta function, with the
    complement taken on the side where it is small (relative precision in both tails)."""
    from lnbayes.engines import datasets as bq

    u = np.linspace(-45, 45, 901)
    x, xm = special.expit(u), special.expit(-u)
    y = np.arange(n + 1)
    A, B = (a + y)[:, None].astype(float), (b + n - y)[:, None].astype(float)
    got = bq._whole_beta_tails(a, b, y, n, special.log_expit(u), special.log_expit(-u), use_sf)
    if use_sf:
        ref = np.where(u > 0, special.betainc(B, A, xm), special.betaincc(A, B, x))
    else:
        ref = np.where(u < 0, special.betainc(A, B, x), special.betaincc(B, A, xm))
    assert np.max(np.abs(got - ref)) < 1e-12
    big = ref > 1e-250
    assert np.max(np.abs(got[big] / ref[big] - 1)) < 1e-11


@pytest.mark.parametrize("prior", [
    FLAT,
    Prior("ints", "arm", BetaPrior.single(2, 3), treatment=BetaPrior((0.5, 0.5), (1.0, 0.7), (1.0, 2.2))),
    Prior("halves", "arm", BetaPrior.single(0.5, 0.5), treatment=BetaPrior.single(3, 1)),
])
@pytest.mark.parametrize("lower", [False, True])
def test_arm_table_whole_number_route_equals_betainc_route(prior, lower, monkeypatch):
    from lnbayes.engines import datasets as bq

    fast = enumeration.prob_benefit_table(prior, 40, 21, lower)
    monkeypatch.setattr(bq, "MAX_BINOMIAL_TAIL", 0)  # every component through betainc
    slow = enumeration.prob_benefit_table(prior, 40, 21, lower)
    assert np.max(np.abs(fast - slow)) < 1e-12
    small = slow < 1e-3
    assert np.all(np.abs(fast[small] - slow[small]) <= 1e-10 * slow[small] + 1e-300)


@pytest.mark.parametrize("n_rows, first, width", [(256, -6, 269), (5, -6, 18), (3, 0, 4), (7, -2, 1)])
def test_strip_weights_are_the_half_line_weights_of_the_offsets(n_rows, first, width):
    from lnbayes.engines import datasets as bq

    off = first + np.arange(width)[None, :] - np.arange(n_rows)[:, None]
    w_b, w_h = bq._strip_weights(n_rows, first, width)
    assert np.array_equal(w_b, quadrature.half_line_weights(off))
    assert np.array_equal(w_h, quadrature.half_line_weights(-off))
    assert not w_b.flags.writeable


def test_chunked_table_of_a_large_trial_equals_one_lattice_and_the_exact_engine():
    """A large trial off the default window is computed in chunks of control counts; each
    chunk keeps the error control, so the table agrees with the single-lattice table of all
    datasets (both within 1e-9 of the truth) and with the exact engine on a few datasets."""
    from lnbayes.engines import datasets as bq
    from lnbayes.io import trialfile

    prior = trialfile.load_trial("models/andromeda2019.toml").priors["sceptical"]
    n = 212
    y = np.arange(n + 1)
    chunks = bq.chunked_masses(prior, n, n, y, y)
    plan = bq.plan_effect(prior, n, n, (0, n), (0, n), n + 1, n + 1, "x")  # the whole table's
    assert len(chunks) > 3 and not plan.default
    table = enumeration.prob_benefit_table(prior, n, n, True)
    whole = enumeration._side_probability(bq.effect_masses(prior, n, n, y, y), True, "x")
    assert np.max(np.abs(table - whole)) < 1e-10
    for y_t, y_c in [(74, 92), (0, 212), (212, 0), (30, 150), (106, 106)]:
        o = Outcome("o", "o", y_t, n, y_c, n)
        ref = 1.0 - exact.posterior(prior, o).prob_benefit()  # lower is better: the other side
        assert table[y_c, y_t] == pytest.approx(ref, abs=1e-8)


def test_planner_of_a_chunk_takes_the_cheaper_banded_plan():
    from lnbayes.engines import datasets as bq
    from lnbayes.io import trialfile

    prior = trialfile.load_trial("models/andromeda2019.toml").priors["sceptical"]
    n = 212
    default = bq.plan_effect(prior, n, n, (0, n), (100, 120), n + 1, 21, "x")
    cheap = bq.plan_effect(prior, n, n, (0, n), (100, 120), n + 1, 21, "x", cheapest=True)
    assert default.default and not cheap.default and cheap.band is not None
    assert cheap.work < default.work / 5
