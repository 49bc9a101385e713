"""lnbayes.engines.criteria: multi-criterion decision tables and their exact operating
characteristics, checked against independent enumerations written here (scipy.stats binom and
beta, integrate.quad, Cook's closed form), and interim looks against a seeded simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special, stats

from lnbayes.engines import criteria as rules
from lnbayes.engines import enumeration
from lnbayes.model.criteria import Criterion, parse_criteria
from lnbayes.model.spec import BetaPrior, Prior
from tests.references import flat_p_benefit

FLAT = Prior("flat", "arm", BetaPrior.single(1, 1), treatment=BetaPrior.single(1, 1))
# a robust-MAP-like control prior (shapes below 1 in one component) and a Jeffreys treatment arm
MIXTURE = Prior("mix", "arm", BetaPrior((0.5, 0.3, 0.2), (3.2, 0.6, 1.0), (1.1, 0.4, 1.0)),
                treatment=BetaPrior.single(0.5, 0.5))


# ---------------------------------------------------------------------------------------------
# independent reference: posterior mixtures and quadrature written out here
# ---------------------------------------------------------------------------------------------


def ref_posterior(bp: BetaPrior, y: int, n: int):
    a, b, w = np.array(bp.a), np.array(bp.b), np.array(bp.weights)
    log_w = np.log(w) + special.betaln(a + y, b + n - y) - special.betaln(a, b)
    w = np.exp(log_w - special.logsumexp(log_w))
    return list(zip(w, a + y, b + n - y))


def ref_beyond(prior, y_t, n_t, y_c, n_c, scale, value, lower=False) -> float:
    """P(effect beyond value) = integral over p_c of f_c(p_c) P(p_t beyond g(p_c)), by quad."""
    pc = ref_posterior(prior.control, y_c, n_c)
    pt = ref_posterior(prior.treatment, y_t, n_t)

    def density(p, s):  # control posterior density at p = 1 - s, from whichever is exact
        if p <= 0.5:
            return sum(w * stats.beta.pdf(p, a, b) for w, a, b in pc)
        return sum(w * stats.beta.pdf(s, b, a) for w, a, b in pc)

    def side(p):
        q = {"rd": p + value, "rr": p * value,
             "or": value * p / (1 - p + value * p)}[scale]
        if q <= 0:
            return 0.0 if lower else 1.0
        if q >= 1:
            return 1.0 if lower else 0.0
        cdf = sum(w * stats.beta.cdf(q, a, b) for w, a, b in pt)
        return cdf if lower else sum(w * stats.beta.sf(q, a, b) for w, a, b in pt)

    # between break points (0, 1/2, 1 and the kinks where the threshold rate reaches 0 or 1),
    # t = l + (r - l) S(x) with S(x) = x^4 (35 - 84 x + 70 x^2 - 20 x^3), S' = 140 x^3 (1 - x)^3,
    # so that the end singularities of Beta densities and CDFs become smooth zeros; t is p below
    # 1/2 and 1 - p above (p near 1 would round to 1 and lose the density's mass there)
    cuts = ([-value, 1 - value] if scale == "rd" else [1 / value] if scale == "rr" else [])
    edges = [0.0, *sorted({c for c in cuts if 0 < c < 1} | {0.5}), 1.0]

    def mapped(x, lo, hi, upper):
        t = lo + (hi - lo) * x ** 4 * (35 - 84 * x + 70 * x ** 2 - 20 * x ** 3)
        p, s = (1 - t, t) if upper else (t, 1 - t)
        if t <= 0:
            return 0.0
        return density(p, s) * side(p) * (hi - lo) * 140 * x ** 3 * (1 - x) ** 3

    total = 0.0
    for lo, hi in zip(edges, edges[1:]):
        upper = lo >= 0.5
        a, b = (1 - hi, 1 - lo) if upper else (lo, hi)
        total += integrate.quad(mapped, 0, 1, args=(a, b, upper), epsabs=1e-13, epsrel=1e-11,
                                limit=200)[0]
    return total


def ref_p_benefit(prior, y_t, n_t, y_c, n_c, lower=False) -> float:
    if prior is FLAT:  # Cook's closed form, P(p_t > p_c) or P(p_c > p_t)
        return flat_p_benefit(y_c, n_c, y_t, n_t) if lower else flat_p_benefit(y_t, n_t, y_c, n_c)
    return ref_beyond(prior, y_t, n_t, y_c, n_c, "rd", 0.0, lower)


def ref_declare(prior, n_t, n_c, rule, lower=False) -> np.ndarray:
    out = np.zeros((n_c + 1, n_t + 1), bool)
    for yc in range(n_c + 1):
        for yt in range(n_t + 1):
            ok = True
            for c in rule:
                if not ok:
                    break  # the rule already fails here
                p = (ref_p_benefit(prior, yt, n_t, yc, n_c, lower) if c.scale is None
                     else ref_beyond(prior, yt, n_t, yc, n_c, c.scale, c.value, lower))
                ok = p >= c.prob - 1e-9
            out[yc, yt] = ok
    return out


def ref_prob_declare(declare, p_c, p_t) -> float:
    n_c, n_t = declare.shape[0] - 1, declare.shape[1] - 1
    return float(sum(stats.binom.pmf(yc, n_c, p_c) * stats.binom.pmf(yt, n_t, p_t)
                     for yc, yt in np.argwhere(declare)))


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prior", [FLAT, MIXTURE], ids=["flat", "mixture"])
@pytest.mark.parametrize("scale,value,lower", [
    ("or", 1.5, False), ("rd", 0.1, False), ("rd", -0.1, False), ("rr", 1.3, False),
    ("rr", 0.8, False), ("or", 0.67, True), ("rd", -0.1, True), ("rd", 0.05, True),
    ("rr", 0.7, True)])
def test_beyond_table_against_quad(prior, scale, value, lower):
    table = rules.arm_beyond_table(prior, 17, 8, scale, value, lower)
    assert table.shape == (9, 18)
    for yc in (0, 3, 8):
        for yt in (0, 9, 17):
            assert table[yc, yt] == pytest.approx(
                ref_beyond(prior, yt, 17, yc, 8, scale, value, lower), abs=1e-9)


def test_one_criterion_is_the_single_threshold_rule():
    table = rules.declare_table(MIXTURE, 12, 7, [Criterion(0.9)])
    assert np.array_equal(table, enumeration.declare_table(MIXTURE, 12, 7, 0.9))


def test_rd_zero_criterion_is_p_benefit():
    """P(RD > 0) by the new quadrature equals the package's P(benefit) table."""
    beyond = rules.arm_beyond_table(MIXTURE, 10, 6, "rd", 0.0)
    assert np.max(np.abs(beyond - enumeration.prob_benefit_table(MIXTURE, 10, 6))) < 1e-9


@pytest.mark.parametrize("prior,n_t,n_c,texts,binds", [
    (FLAT, 17, 8, ["0.95", "or:1.5:0.5"], False),  # the example: the OR never binds here
    (FLAT, 17, 8, ["0.8", "rd:0.2:0.5"], True),
    (MIXTURE, 12, 6, ["0.8", "rd:0.2:0.5"], True),
], ids=["flat-or", "flat-rd", "mixture-rd"])
@pytest.mark.heavy
def test_dual_criterion_operating_characteristics_match_independent_enumeration(
        prior, n_t, n_c, texts, binds):
    rule = parse_criteria(texts)
    declare = rules.declare_table(prior, n_t, n_c, rule)
    reference = ref_declare(prior, n_t, n_c, rule)
    assert np.array_equal(declare, reference)
    single = enumeration.declare_table(prior, n_t, n_c, rule[0].prob)
    assert not np.any(declare & ~single)  # a second criterion can only remove datasets
    assert (declare.sum() < single.sum()) == binds
    for p_c, p_t in [(0.3, 0.3), (0.6, 0.6), (0.85, 0.85), (0.6, 0.818), (0.3, 0.7), (0.5, 0.9)]:
        assert float(enumeration.prob_declare(declare, p_c, p_t)) == pytest.approx(
            ref_prob_declare(reference, p_c, p_t), abs=1e-6)
    grid = np.linspace(0.01, 0.99, 99)
    ref_t1 = max(ref_prob_declare(reference, p, p) for p in grid)
    assert enumeration.type_i_error(declare, grid)["max"] == pytest.approx(ref_t1, abs=1e-6)


def test_lower_is_better_rule_matches_independent_enumeration():
    """Fewer events is benefit: P(p_t < p_c) >= 0.9 and P(RR < 0.6) >= 0.6."""
    rule = parse_criteria(["0.9", "rr:0.6:0.6"])
    declare = rules.declare_table(FLAT, 14, 9, rule, lower_is_better=True)
    reference = ref_declare(FLAT, 14, 9, rule, lower=True)
    assert np.array_equal(declare, reference)
    assert declare.sum() < enumeration.declare_table(FLAT, 14, 9, 0.9, True).sum()  # RR binds
    for p_c, p_t in [(0.5, 0.5), (0.5, 0.2), (0.3, 0.1)]:
        assert float(enumeration.prob_declare(declare, p_c, p_t)) == pytest.approx(
            ref_prob_declare(reference, p_c, p_t), abs=1e-6)


def test_median_criterion_is_half_probability():
    (median,) = parse_criteria(["median:rd:0.1"])
    a = rules.declare_table(FLAT, 9, 5, [median])
    b = rules.declare_table(FLAT, 9, 5, [Criterion(0.5, "rd", 0.1)])
    assert np.array_equal(a, b) and 0 < a.sum() < a.size


def test_effect_prior_rule_against_the_exact_engine(trial):
    """Under an effect-level prior each criterion is the exact engine's probability, and only
    datasets passing P(benefit) are judged by it."""
    from lnbayes.engines import exact
    from lnbayes.model.spec import Outcome

    prior = next(p for p in trial.priors_for(trial.primary_outcome) if p.family == "effect")
    rule = parse_criteria(["0.8", "or:1.5:0.5"])
    tables = rules.rule_tables(prior, 6, 3, rule)
    benefit = enumeration.prob_benefit_table(prior, 6, 3)
    assert tables.exact_datasets == int(np.sum(benefit >= 0.8 - 1e-9)) > 0
    for yc, yt in np.argwhere(benefit >= 0.8 - 1e-9):
        post = exact.posterior(prior, Outcome("o", "o", int(yt), 6, int(yc), 3))
        assert tables.probs[1][yc, yt] == pytest.approx(post.prob_beyond("odds_ratio", 1.5),
                                                        abs=1e-12)
    assert np.all(np.isnan(tables.probs[1][benefit < 0.8 - 1e-9]))


def test_sample_size_reaches_the_target():
    rule = parse_criteria(["0.9", "rd:0.1:0.5"])
    res = rules.sample_size(FLAT, (2, 1), rule, 0.4, 0.75, target=0.8)
    assert res["power"] >= 0.8
    assert res["power"] == pytest.approx(
        rules.power_at(FLAT, res["total"], (2, 1), rule, 0.4, 0.75))
    assert all(row["power"] < 0.8 for row in res["evaluated"] if row["total"] < res["total"])


def test_too_many_exact_posteriors_refused(trial, monkeypatch):
    from lnbayes.errors import LnbayesError

    monkeypatch.setattr(rules, "MAX_EXACT_DATASETS", 5)
    prior = next(p for p in trial.priors_for(trial.primary_outcome) if p.family == "effect")
    with pytest.raises(LnbayesError, match="exact posterior of 28 datasets"):
        rules.rule_tables(prior, 6, 3, [Criterion(0.001), Criterion(0.5, "or", 1.5)])


# ---------------------------------------------------------------------------------------------
# interim looks
# ---------------------------------------------------------------------------------------------

LOOKS = [(6, 3), (12, 6), (17, 8)]
RULE = (Criterion(0.95), Criterion(0.5, "or", 1.5))


@pytest.fixture(scope="module")
def seq():
    return rules.sequential_design(FLAT, LOOKS, RULE, futility=0.1)


def test_sequential_against_path_enumeration(seq):
    """Brute force over every path of counts (written here), at two pairs of true rates."""
    for p_c, p_t in [(0.6, 0.6), (0.5, 0.85)]:
        oc = rules.sequential_oc(seq, p_c, p_t)
        declare = futile = expected = 0.0
        for c1 in range(4):
            for t1 in range(7):
                w1 = stats.binom.pmf(c1, 3, p_c) * stats.binom.pmf(t1, 6, p_t)
                if seq.efficacy[0][c1, t1]:
                    declare += w1
                    expected += w1 * 9
                    continue
                if seq.futility[0][c1, t1]:
                    futile += w1
                    expected += w1 * 9
                    continue
                for dc in range(4):
                    for dt in range(7):
                        c2, t2 = c1 + dc, t1 + dt
                        w2 = w1 * stats.binom.pmf(dc, 3, p_c) * stats.binom.pmf(dt, 6, p_t)
                        if seq.efficacy[1][c2, t2]:
                            declare += w2
                            expected += w2 * 18
                        elif seq.futility[1][c2, t2]:
                            futile += w2
                            expected += w2 * 18
                        else:
                            for ec in range(3):
                                for et in range(6):
                                    w3 = (w2 * stats.binom.pmf(ec, 2, p_c)
                                          * stats.binom.pmf(et, 5, p_t))
                                    expected += w3 * 25
                                    declare += w3 * seq.efficacy[2][c2 + ec, t2 + et]
        assert oc["p_declare_benefit"] == pytest.approx(declare, abs=1e-10)
        assert oc["p_stop_futility"] == pytest.approx(futile, abs=1e-10)
        assert oc["expected_n"] == pytest.approx(expected, abs=1e-8)


def test_futility_is_the_predictive_probability(seq):
    """Futility at look 1 = the beta-binomial predictive probability (written here) of a final
    dataset that declares, below 0.1."""
    final = seq.efficacy[-1]
    for yc, yt in [(1, 3), (2, 5), (3, 6), (0, 0)]:
        pp = 0.0
        for fc in range(6):
            for ft in range(12):
                pp += (stats.betabinom.pmf(fc, 5, 1 + yc, 1 + 3 - yc)
                       * stats.betabinom.pmf(ft, 11, 1 + yt, 1 + 6 - yt) * final[yc + fc, yt + ft])
        assert seq.predictive[0][yc, yt] == pytest.approx(pp, abs=1e-12)
        assert seq.futility[0][yc, yt] == (pp < 0.1 and not seq.efficacy[0][yc, yt])


def test_sequential_agrees_with_simulation(seq):
    """A seeded simulation of the same design (binomial draws look by look; efficacy from the
    look's decision table, futility from its predictive probability < 0.1) agrees with the exact
    OCs, which carry distributions instead, within 3 MCSE."""
    rng = np.random.default_rng(20261205)
    sims = 40_000
    p_c, p_t = 0.55, 0.85
    oc = rules.sequential_oc(seq, p_c, p_t)
    declared = futile = 0
    sizes = np.empty(sims)
    for s in range(sims):
        yc = yt = 0
        prev = (0, 0)
        outcome = None
        for k, (t, c) in enumerate(LOOKS):
            yt += rng.binomial(t - prev[0], p_t)
            yc += rng.binomial(c - prev[1], p_c)
            prev = (t, c)
            if seq.efficacy[k][yc, yt]:
                outcome = "declare"
            elif k < len(LOOKS) - 1 and seq.predictive[k][yc, yt] < 0.1:
                outcome = "futile"
            if outcome or k == len(LOOKS) - 1:
                sizes[s] = t + c
                break
        declared += outcome == "declare"
        futile += outcome == "futile"
    for est, exact_value in [(declared / sims, oc["p_declare_benefit"]),
                             (futile / sims, oc["p_stop_futility"])]:
        mcse = np.sqrt(exact_value * (1 - exact_value) / sims)
        assert abs(est - exact_value) < 3 * mcse
    mcse_n = sizes.std(ddof=1) / np.sqrt(sims)
    assert abs(sizes.mean() - oc["expected_n"]) < 3 * mcse_n
    assert 0.05 < oc["p_stop_futility"] and 0.2 < oc["p_declare_benefit"] < 0.95


def test_looks_must_grow():
    with pytest.raises(ValueError, match="must grow"):
        rules.sequential_design(FLAT, [(6, 3), (6, 3)], RULE)


def test_a_rule_table_asked_again_is_the_kept_one_and_cannot_be_changed():
    """A report asks for the same table for its protocol and its reverse questions: the second
    ask returns the kept table, whose arrays no caller can change; other arguments do not."""
    rule = [Criterion(0.9), *parse_criteria(["rd:0.1:0.5"])]
    first = rules.rule_tables(MIXTURE, 10, 8, rule)
    again = rules.rule_tables(MIXTURE, 10, 8, tuple(rule))
    assert again is first
    for array in (*first.probs, *first.holds, first.declare):
        with pytest.raises(ValueError):
            array[0, 0] = 0
    other = rules.rule_tables(MIXTURE, 10, 8, rule, lower_is_better=True)
    assert other is not first and not np.array_equal(other.declare, first.declare)
    assert rules.rule_tables(MIXTURE, 10, 9, rule).declare.shape == (10, 11)
    assert rules.rule_tables(FLAT, 10, 8, rule) is not first
