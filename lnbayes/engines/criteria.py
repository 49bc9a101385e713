"""Exact operating characteristics of multi-criterion decision rules (NumPy and SciPy only).

A rule (:mod:`lnbayes.model.criteria`) declares benefit when every criterion holds. Its decision
table covers every dataset (y_c of n_c, y_t of n_t) at the final size:

- P(benefit) >= PROB: :func:`lnbayes.engines.enumeration.prob_benefit_table` (the single-threshold
  rule's own table, so that a rule with one such criterion is exactly ``--threshold``);
- P(effect beyond VALUE) >= PROB under arm-level priors (Beta mixtures, MAP priors included), for
  all datasets at once: P = F + integral over p_control in (A, B) of the control posterior density
  times the treatment posterior's survival function (CDF when lower is better) at the treatment
  rate that makes the effect equal VALUE. (A, B) is where that rate lies in (0, 1); F is the
  control posterior mass where the event is certain. The integral is a trapezoid rule in
  u = logit((p - A) / (B - A)), where the integrand is analytic and decays exponentially at both
  ends (exponential convergence; Trefethen and Weideman 2014), with a spacing of 1/12 of the
  smallest posterior logit standard deviation (sqrt(trigamma(a) + trigamma(b))). All datasets
  come out of one matrix product;
- under effect-level priors, the exact engine (:func:`lnbayes.engines.exact.posterior`) per
  dataset (~15 ms each), only for datasets where the criteria before it hold, and at most
  :data:`MAX_EXACT_DATASETS` of them.

Operating characteristics then use :func:`lnbayes.engines.enumeration.prob_declare` and
:func:`lnbayes.engines.enumeration.type_i_error`. Interim looks (:func:`sequential_design`) add
efficacy stops (the rule holds) and futility stops (the predictive probability of success at the
final look, ignoring the looks in between, below a bound), and are evaluated exactly by
propagating the distribution of the continuing datasets from look to look.

References
----------
Roychoudhury S, Scheuer N, Neuenschwander B. Clin Trials 2018;15:452-461.
doi:10.1177/1740774518770661
Lee JJ, Liu DD. A predictive probability design for phase II cancer clinical trials. Clin
Trials 2008;5:93-106. doi:10.1177/1740774508089279
Trefethen LN, Weideman JAC. SIAM Rev 2014;56:385-458. doi:10.1137/130932132
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import special

from lnbayes.engines import enumeration
from lnbayes.engines.datasets import PlanError
from lnbayes.model import dists
from lnbayes.model.density import BetaMix, update_beta

MAX_EXACT_DATASETS = 3000
"""Largest number of datasets judged one at a time by the exact engine (effect-level priors):
about 45 s. Larger requests are refused before any work."""
MAX_NODES = 200_000
SPACING = 12.0
"""Nodes per smallest posterior logit standard deviation."""
TAIL = 40.0
"""The u range is +-TAIL / (smallest Beta shape, at most 1): the integrand decays at least like
exp(-shape |u|), so what lies beyond is below exp(-40)."""


# ---------------------------------------------------------------------------------------------
# P(effect beyond a threshold) for every dataset, arm-level priors
# ---------------------------------------------------------------------------------------------


def _posteriors(mix: BetaMix, ys: np.ndarray, n: int) -> list[BetaMix]:
    return [update_beta(mix, int(y), n)[0] for y in ys]


def _stack(posts: list[BetaMix]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, a, b as arrays [dataset, component]."""
    return (np.array([p.w for p in posts]), np.array([p.a for p in posts]),
            np.array([p.b for p in posts]))


def _logit_sd(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sqrt(special.polygamma(1, a) + special.polygamma(1, b))))


def _interval(scale: str, value: float) -> tuple[float, float]:
    """p_control interval (A, B) where the threshold treatment rate lies in (0, 1)."""
    if scale == "rd":
        return max(0.0, -value), min(1.0, 1.0 - value)
    if scale == "rr":
        return 0.0, min(1.0, 1.0 / value)
    return 0.0, 1.0


def _threshold_rate(scale: str, value: float, u: np.ndarray, lo: float, hi: float):
    """(q, 1 - q): the treatment rate where the effect equals ``value``, at
    p_control = lo + (hi - lo) expit(u), both computed without cancellation."""
    s, sm = special.expit(u), special.expit(-u)
    if scale == "rd":
        if value > 0:  # lo = 0, hi = 1 - value
            return value + hi * s, hi * sm
        # lo = -value, hi = 1: q = p + value = (1 - lo) s
        return (hi - lo) * s, (hi - lo) * sm - value
    if scale == "rr":
        if value > 1:  # hi = 1 / value: q = s
            return s, sm
        return value * s, sm + (1.0 - value) * s
    log_v = np.log(value)
    return special.expit(u + log_v), special.expit(-(u + log_v))


def arm_beyond_table(prior, n_t: int, n_c: int, scale: str, value: float,
                     lower_is_better: bool = False, y_t=None, y_c=None) -> np.ndarray:
    """P(effect on ``scale`` beyond ``value`` | data) for every dataset, [y_c, y_t].

    Beyond: above ``value`` (below when lower is better). Arm-level (Beta mixture) priors only.
    """
    y_t = np.arange(n_t + 1) if y_t is None else np.atleast_1d(np.asarray(y_t))
    y_c = np.arange(n_c + 1) if y_c is None else np.atleast_1d(np.asarray(y_c))
    post_c = _posteriors(BetaMix.of(prior.control), y_c, n_c)
    post_t = _posteriors(BetaMix.of(prior.treatment), y_t, n_t)
    wc, ac, bc = _stack(post_c)
    wt, at, bt = _stack(post_t)
    lo, hi = _interval(scale, value)
    shape = min(1.0, float(np.min(ac)), float(np.min(bc)), float(np.min(at)), float(np.min(bt)))
    half = min(TAIL / shape, 740.0)
    h = min(_logit_sd(ac, bc), _logit_sd(at, bt)) / SPACING
    nodes = int(np.ceil(2 * half / h)) + 1
    if nodes > MAX_NODES:
        raise PlanError(f"P({scale} beyond {value:g}) for {n_t}/{n_c} patients: the quadrature "
                        f"would need {nodes:,} nodes (limit {MAX_NODES:,}); the posteriors are "
                        "too narrow or too skewed for it")
    u = np.linspace(-half, half, nodes)
    h = u[1] - u[0]
    # control posterior density in u: f_c(p) dp/du, p = lo + (hi - lo) expit(u)
    log_w = np.log(hi - lo) + special.log_expit(u) + special.log_expit(-u)
    log_p = np.logaddexp(np.log(lo) if lo > 0 else -np.inf,
                         np.log(hi - lo) + special.log_expit(u))
    log_q = np.logaddexp(np.log(1.0 - hi) if hi < 1 else -np.inf,
                         np.log(hi - lo) + special.log_expit(-u))
    log_dens = special.logsumexp(
        np.log(wc)[:, :, None] - special.betaln(ac, bc)[:, :, None]
        + (ac[:, :, None] - 1) * log_p + (bc[:, :, None] - 1) * log_q, axis=1)
    dens = np.exp(log_dens + log_w) * h  # [y_c, node]
    q, one_minus_q = _threshold_rate(scale, value, u, lo, hi)
    if lower_is_better:  # P(p_t < q)
        side = np.sum(wt[:, :, None] * special.betainc(at[:, :, None], bt[:, :, None], q), axis=1)
    else:  # P(p_t > q)
        side = np.sum(wt[:, :, None] * special.betainc(bt[:, :, None], at[:, :, None],
                                                       one_minus_q), axis=1)
    table = dens @ side.T
    # where the treatment rate would leave (0, 1) the event is certain or impossible
    if not lower_is_better and lo > 0:  # p < lo: q <= 0, so p_t > q surely
        table += np.sum(wc * special.betainc(ac, bc, lo), axis=1)[:, None]
    if lower_is_better and hi < 1:  # p > hi: q >= 1, so p_t < q surely
        table += np.sum(wc * special.betainc(bc, ac, 1.0 - hi), axis=1)[:, None]
    return np.clip(table, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Decision tables of a rule
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleTables:
    """Per criterion, P(criterion's event | dataset) [y_c, y_t] (NaN where not computed: the
    criteria before it already fail there), and the decision table."""

    probs: tuple[np.ndarray, ...]
    holds: tuple[np.ndarray, ...]
    declare: np.ndarray
    exact_datasets: int = 0


def _check_size(n_t: int, n_c: int) -> None:
    datasets = (n_t + 1) * (n_c + 1)
    if datasets > enumeration.MAX_DATASETS:
        raise PlanError(
            f"design: exact enumeration of the {datasets:,} possible outcomes of {n_t}/{n_c} "
            f"patients exceeds the limit of {enumeration.MAX_DATASETS:,}; ask for a smaller trial")


def rule_tables(prior, n_t: int, n_c: int, criteria, lower_is_better: bool = False) -> RuleTables:
    """Every criterion's probability and the decision of the rule, for every dataset.

    Criteria are evaluated in order; a dataset failing one is not evaluated further under
    effect-level priors (its later probabilities are NaN). Refused up front (PlanError) when an
    effect-level prior would need more than :data:`MAX_EXACT_DATASETS` exact posteriors.

    The last tables computed are kept (:data:`KEPT_TABLES`, read-only arrays): a report asks
    for the same prior's table at the same size for its protocol and again for its reverse
    questions (EOLIA's report: 3.5 of its 10 s of tables were asked twice).
    """
    return _rule_tables(prior, int(n_t), int(n_c), tuple(criteria), bool(lower_is_better))


KEPT_TABLES = 16
"""Decision tables kept by :func:`rule_tables` (the largest allowed, 2,000 per arm, take 32 MB
each; a report's tables are a few hundred per arm, under 2 MB)."""


@functools.lru_cache(maxsize=KEPT_TABLES)
def _rule_tables(prior, n_t: int, n_c: int, criteria: tuple, lower_is_better: bool) -> RuleTables:
    if not criteria:
        raise ValueError("a rule needs at least one criterion")
    _check_size(n_t, n_c)
    shape = (n_c + 1, n_t + 1)
    alive = np.ones(shape, bool)
    probs, holds = [], []
    exact_count = 0
    # cheap criteria first (P(benefit) tables) so that exact posteriors are asked only where needed
    order = sorted(range(len(criteria)), key=lambda k: criteria[k].scale is not None)
    results: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for k in order:
        c = criteria[k]
        if c.scale is None:
            p = enumeration.prob_benefit_table(prior, n_t, n_c, lower_is_better)
        elif prior.family == "arm":
            p = arm_beyond_table(prior, n_t, n_c, c.scale, c.value, lower_is_better)
        else:
            p, used = _exact_beyond(prior, n_t, n_c, c.scale, c.value, lower_is_better, alive)
            exact_count += used
        hold = np.zeros(shape, bool)
        known = ~np.isnan(p)
        hold[known] = p[known] >= c.prob - enumeration.DECISION_TOL
        alive &= hold
        results[k] = (p, hold)
    for k in range(len(criteria)):
        probs.append(results[k][0])
        holds.append(results[k][1])
    for array in (*probs, *holds, alive):  # kept and shared: no caller may change them
        array.flags.writeable = False
    return RuleTables(tuple(probs), tuple(holds), alive, exact_count)


def _exact_beyond(prior, n_t, n_c, scale, value, lower, where: np.ndarray):
    from lnbayes.engines import exact
    from lnbayes.model.effects import MEASURE_OF_SCALE
    from lnbayes.model.spec import Outcome

    cells = np.argwhere(where)
    if len(cells) > MAX_EXACT_DATASETS:
        raise PlanError(
            f"design: the criterion on {scale} needs the exact posterior of {len(cells):,} datasets "
            f"of {n_t}/{n_c} patients under the effect-level prior {prior.name} (about 15 ms each; "
            f"limit {MAX_EXACT_DATASETS:,}); ask for a smaller trial or an arm-level prior")
    out = np.full(where.shape, np.nan)
    for yc, yt in cells:
        data = Outcome("criterion", "criterion", int(yt), n_t, int(yc), n_c,
                       better="lower" if lower else "higher")
        out[yc, yt] = exact.posterior(prior, data).prob_beyond(MEASURE_OF_SCALE[scale], value,
                                                               lower)
    return out, len(cells)


def declare_table(prior, n_t: int, n_c: int, criteria, lower_is_better: bool = False) -> np.ndarray:
    """Which datasets [y_c, y_t] declare benefit (every criterion holds)."""
    return rule_tables(prior, n_t, n_c, criteria, lower_is_better).declare


def power_at(prior, total: int, allocation, criteria, p_control: float, p_treatment: float,
             lower_is_better: bool = False) -> float:
    n_t, n_c = enumeration.arm_sizes(total, allocation)
    declare = declare_table(prior, n_t, n_c, criteria, lower_is_better)
    return float(enumeration.prob_declare(declare, p_control, p_treatment))


def sample_size(prior, allocation, criteria, p_control: float, p_treatment: float,
                target: float = 0.8, lower_is_better: bool = False, start: int = 6,
                max_total: int = 600) -> dict:
    """Smallest total (at the allocation) whose rule has power >= ``target``.

    The search of :func:`lnbayes.engines.enumeration.sample_size` (doubling, bisection, then a
    downward scan until 6 consecutive totals fall short, because exact power is saw-toothed), for
    a multi-criterion rule. ``first_stable``: the smallest total from which the next 6 also reach
    the target.
    """
    return enumeration.search_sample_size(
        lambda total: power_at(prior, total, allocation, criteria, p_control, p_treatment,
                               lower_is_better),
        allocation, target, start, max_total)


# ---------------------------------------------------------------------------------------------
# Interim looks
# ---------------------------------------------------------------------------------------------


@dataclass
class SequentialDesign:
    """Looks (cumulative n_t, n_c), the efficacy table of each look, the futility table of each
    look but the last (predictive probability of final success < bound), and the predictive
    probabilities themselves (NaN at the last look)."""

    looks: list[tuple[int, int]]
    efficacy: list[np.ndarray]
    futility: list[np.ndarray]
    predictive: list[np.ndarray]
    futility_bound: float | None


def _transition(n_from: int, n_to: int, post_mixes: list[BetaMix]) -> np.ndarray:
    """[y, y'] predictive probability of y' events of n_to given y of n_from (beta-binomial
    mixture of each posterior)."""
    m = n_to - n_from
    out = np.zeros((n_from + 1, n_to + 1))
    k = np.arange(m + 1)[:, None]
    for y, post in enumerate(post_mixes):
        out[y, y:y + m + 1] = np.sum(post.w * dists.betabinom_pmf(k, m, post.a, post.b), axis=1)
    return out


def check_looks(looks) -> None:
    """Looks must grow in both arms (at least one patient more at each look)."""
    for (t0, c0), (t1, c1) in zip(looks, looks[1:]):
        if t1 < t0 or c1 < c0 or (t1, c1) == (t0, c0):
            raise ValueError(f"look {t1}/{c1} does not follow {t0}/{c0}: the arm sizes are "
                             "cumulative and must grow")


def sequential_design(prior, looks, criteria, lower_is_better: bool = False,
                      futility: float | None = None) -> SequentialDesign:
    """Efficacy and futility tables of a design with looks at cumulative sizes ``looks``.

    Efficacy at look k: the rule holds on the data so far. Futility at look k < K: the
    predictive probability (analysis prior predicting the remaining patients) that the rule holds
    at the final look is below ``futility`` (the looks in between are ignored, as in Lee and Liu
    2008). A dataset meeting both stops for efficacy.
    """
    looks = [tuple(map(int, x)) for x in looks]
    check_looks(looks)
    eff = [declare_table(prior, t, c, criteria, lower_is_better) for t, c in looks]
    final_t, final_c = looks[-1]
    fut, pred = [], []
    for (t, c), e in zip(looks[:-1], eff[:-1]):
        if futility is None:
            fut.append(np.zeros_like(e))
            pred.append(np.full(e.shape, np.nan))
            continue
        pp = _predictive_success(prior, t, c, final_t, final_c, eff[-1])
        pred.append(pp)
        fut.append((pp < futility) & ~e)
    fut.append(np.zeros_like(eff[-1]))
    pred.append(np.full(eff[-1].shape, np.nan))
    return SequentialDesign(looks, eff, fut, pred, futility)


def _predictive_success(prior, n_t, n_c, final_t, final_c, final_declare) -> np.ndarray:
    """P(the rule holds at the final look | data at this look), for every dataset [y_c, y_t]."""
    if prior.family == "arm":
        mc = _transition(n_c, final_c, _posteriors(BetaMix.of(prior.control),
                                                   np.arange(n_c + 1), n_c))
        mt = _transition(n_t, final_t, _posteriors(BetaMix.of(prior.treatment),
                                                   np.arange(n_t + 1), n_t))
        return np.clip(mc @ final_declare.astype(float) @ mt.T, 0.0, 1.0)
    datasets = (n_t + 1) * (n_c + 1)
    if datasets > MAX_EXACT_DATASETS:
        raise PlanError(f"design: predictive probabilities of {datasets:,} interim datasets under "
                        f"an effect-level prior (limit {MAX_EXACT_DATASETS:,})")
    out = np.empty((n_c + 1, n_t + 1))
    for yc in range(n_c + 1):
        for yt in range(n_t + 1):
            pr = enumeration.predictive(prior, yt, n_t, yc, n_c, final_t, final_c)
            sub = final_declare[yc:yc + final_c - n_c + 1, yt:yt + final_t - n_t + 1]
            out[yc, yt] = float(np.sum(pr.prob[sub]))
    return np.clip(out, 0.0, 1.0)


def sequential_oc(design: SequentialDesign, p_control: float, p_treatment: float) -> dict:
    """Exact operating characteristics at true rates: P(declare benefit) and P(stop for
    futility) at each look, overall, and the expected total sample size.

    The distribution of the datasets still running is carried from look to look:
    pi_{k+1} = B_c^T (pi_k * continue_k) B_t, with B[y, y'] = Bin(y' - y; added patients, p).
    """
    looks = design.looks
    t0, c0 = looks[0]
    pc = dists.binom_pmf(np.arange(c0 + 1), c0, p_control)
    pt = dists.binom_pmf(np.arange(t0 + 1), t0, p_treatment)
    pi = np.outer(pc, pt)
    rows = []
    expected_n = 0.0
    reach = 1.0
    for k, (t, c) in enumerate(looks):
        if k > 0:
            tp, cp = looks[k - 1]
            bc = _binomial_step(cp, c, p_control)
            bt = _binomial_step(tp, t, p_treatment)
            pi = bc.T @ pi @ bt
        reach = float(np.sum(pi))
        eff = float(np.sum(pi[design.efficacy[k]]))
        fut = float(np.sum(pi[design.futility[k]]))
        last = k == len(looks) - 1
        stop = reach if last else eff + fut
        expected_n += stop * (t + c)
        rows.append({"look": k + 1, "n_treatment": t, "n_control": c, "p_reach": reach,
                     "p_declare_benefit": eff, "p_stop_futility": fut})
        pi = pi * ~(design.efficacy[k] | design.futility[k])
    return {"p_control": float(p_control), "p_treatment": float(p_treatment),
            "p_declare_benefit": float(sum(r["p_declare_benefit"] for r in rows)),
            "p_stop_futility": float(sum(r["p_stop_futility"] for r in rows)),
            "expected_n": expected_n, "by_look": rows}


def _binomial_step(n_from: int, n_to: int, p: float) -> np.ndarray:
    m = n_to - n_from
    step = dists.binom_pmf(np.arange(m + 1), m, p)
    out = np.zeros((n_from + 1, n_to + 1))
    for y in range(n_from + 1):
        out[y, y:y + m + 1] = step
    return out
