"""Decisions by exact enumeration (NumPy and SciPy only).

Predictive probability of success, operating characteristics, sample size, and evidence
summaries.

Everything here rests on one table: the posterior probability of benefit for *every* possible
dataset of a trial with ``n_t`` treatment and ``n_c`` control patients,

    Pb[y_c, y_t] = P(p_treatment > p_control | y_c of n_c, y_t of n_t),

computed for all (n_c + 1) x (n_t + 1) datasets at once.

The quadrature is :mod:`lnbayes.engines.datasets`: a 1-D trapezoid rule on a logit scale for
arm-level priors (conjugate), and for effect-level priors a 2-D rule on (logit p_control,
logit p_treatment) with Gregory end corrections at the diagonal, on grids that follow where the
datasets' posteriors are and with a spacing set by the narrowest prior and posterior widths. Its
error is below 1e-9 on probabilities; a request that cannot be computed accurately within its
time and memory budget is refused with :class:`lnbayes.errors.LnbayesError` before any work, as
are designs with more than :data:`MAX_DATASETS` datasets and predictions with more than
:data:`MAX_COMPLETIONS` completions. A-priori P(benefit) and the prior density of the effect at 0
are closed forms (log OR) or adaptive 1-D quadrature; arm-level Savage-Dickey densities are
closed forms. Every probability is computed on the side that is asked for and lies in [0, 1];
every Bayes factor is positive or None.

References
----------
Trefethen LN, Weideman JAC. The exponentially convergent trapezoidal rule. SIAM Rev
2014;56:385-458. doi:10.1137/130932132
Spiegelhalter DJ, Freedman LS, Blackburn PR. Monitoring clinical trials: conditional or
predictive power? Control Clin Trials 1986;7:8-17. doi:10.1016/0197-2456(86)90003-6
Lee JJ, Liu DD. A predictive probability design for phase II cancer clinical trials. Clin
Trials 2008;5:93-106. doi:10.1177/1740774508089279
Dickey JM. The weighted likelihood ratio, linear hypotheses on normal location parameters.
Ann Math Stat 1971;42:204-223. doi:10.1214/aoms/1177693507
Verdinelli I, Wasserman L. Computing Bayes factors using a generalization of the Savage-Dickey
density ratio. J Am Stat Assoc 1995;90:614-618. doi:10.1080/01621459.1995.10476554
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from lnbayes.engines import datasets as bq
from lnbayes.engines.datasets import PlanError  # noqa: F401 (re-exported)
from lnbayes.model import dists
from lnbayes.model.density import BetaMix, prior_prob_benefit, update_beta  # noqa: F401 (re-exported)
from lnbayes.numerics.quadrature import gregory_end_weights  # noqa: F401 (re-exported)

DECISION_TOL = 1e-9
"""A dataset declares benefit when P(benefit) >= threshold - 1e-9 (guards the decision against
the last-digit rounding of a probability that equals the threshold exactly)."""
MAX_DATASETS = 4_000_000
"""Largest number of datasets ((n_t + 1) x (n_c + 1)) enumerated for operating characteristics:
about 2,000 patients per arm. Larger designs are refused up front (the enumeration and the
operating-characteristics sums grow as its square)."""
MAX_COMPLETIONS = 250_000
"""Largest number of completions of a trial enumerated by :func:`predictive` (500 x 500 future
patients' outcomes); each is also listed in the ``predict`` output."""


# ---------------------------------------------------------------------------------------------
# P(benefit) for every dataset
# ---------------------------------------------------------------------------------------------


def prob_benefit_table(
    prior, n_t: int, n_c: int, lower_is_better: bool = False,
    y_t=None, y_c=None,
) -> np.ndarray:
    """P(benefit | y_c of n_c, y_t of n_t) for every dataset: an array indexed [y_c, y_t].

    Benefit is p_treatment > p_control, or p_treatment < p_control when lower is better; that
    side is computed directly, and every value lies in [0, 1]. ``y_t`` and ``y_c`` restrict the
    table to some counts (default: all, 0..n). The quadrature (grids that follow the data, error
    bound, time and memory budget) is :mod:`lnbayes.engines.datasets`; a table that cannot be
    computed accurately within the budget raises :class:`lnbayes.errors.LnbayesError`.
    """
    y_t = np.arange(n_t + 1) if y_t is None else np.atleast_1d(np.asarray(y_t))
    y_c = np.arange(n_c + 1) if y_c is None else np.atleast_1d(np.asarray(y_c))
    what = (f"P(benefit) for {len(y_c) * len(y_t)} datasets of {n_t} treated and {n_c} control "
            "patients")
    if prior.family == "arm":
        return bq.arm_side_table(prior, n_t, n_c, y_t, y_c, lower_is_better, what)
    table = np.empty((len(y_c), len(y_t)))
    for idx, masses in bq.chunked_masses(prior, n_t, n_c, y_t, y_c, what):
        # ratios only: each chunk has its own scale
        table[idx] = _side_probability(masses, lower_is_better, what)
    return table


def _side_probability(masses: bq.Masses, lower_is_better: bool, what: str) -> np.ndarray:
    side = masses.harm if lower_is_better else masses.benefit
    total = masses.harm + masses.benefit
    if not np.all(np.isfinite(total) & (total > 0)):
        raise PlanError(f"{what}: the posterior mass of some dataset underflows (prior and data "
                        "in extreme conflict); it cannot be computed")
    return np.clip(side / total, 0.0, 1.0)


def prob_benefit(
    prior, y_t: int, n_t: int, y_c: int, n_c: int, lower_is_better: bool = False
) -> float:
    """P(benefit) for one dataset (the same rule as :func:`prob_benefit_table`)."""
    return float(prob_benefit_table(prior, n_t, n_c, lower_is_better, [y_t], [y_c])[0, 0])


# ---------------------------------------------------------------------------------------------
# Predictive probability of success
# ---------------------------------------------------------------------------------------------


def final_counts(planned: int, allocation: tuple[int, int]) -> tuple[int, int]:
    """Planned arm sizes from a total and an allocation ratio (treatment, control).

    25 at 2:1 gives 17 and 8 (the treatment arm gets the rounded share).
    """
    a_t, a_c = allocation
    n_t = int(round(planned * a_t / (a_t + a_c)))
    return n_t, planned - n_t


@dataclass
class Predictive:
    """Joint predictive of the future counts and P(benefit) at the end, for each outcome."""

    future_t: np.ndarray  # 0..m_t
    future_c: np.ndarray  # 0..m_c
    prob: np.ndarray  # [future_c, future_t] predictive probabilities (sum to 1)
    final_p_benefit: np.ndarray  # [future_c, future_t] P(benefit) of the completed trial

    def success(self, threshold: float) -> float:
        """P(the completed trial ends with P(benefit) >= threshold)."""
        hit = self.final_p_benefit >= threshold - DECISION_TOL
        return float(np.sum(self.prob[hit]))


def predictive(prior, y_t: int, n_t: int, y_c: int, n_c: int, final_t: int, final_c: int,
               lower_is_better: bool = False) -> Predictive:
    """Enumerate every completion of the trial with its predictive probability.

    The future counts of the ``final_t - n_t`` treatment and ``final_c - n_c`` control patients
    follow the posterior predictive given the data so far: independent beta-binomial mixtures
    for arm-level priors, and for effect-level priors the joint predictive
    ``integral Bin(y_c'; p_c) Bin(y_t'; p_t) p(p_c, p_t | data)`` on the quadrature grid. For
    each completion, P(benefit) is recomputed from the prior and all the data.

    References
    ----------
    Spiegelhalter DJ, Freedman LS, Blackburn PR. Control Clin Trials 1986;7:8-17.
    doi:10.1016/0197-2456(86)90003-6; Lee JJ, Liu DD. Clin Trials 2008;5:93-106.
    doi:10.1177/1740774508089279
    """
    m_t, m_c = final_t - n_t, final_c - n_c
    if m_t < 0 or m_c < 0:
        raise ValueError("the final arm sizes must be at least the current ones")
    if (m_t + 1) * (m_c + 1) > MAX_COMPLETIONS:
        raise PlanError(
            f"predictive probability: completing the trial to {final_t}/{final_c} leaves "
            f"{m_t}/{m_c} patients to come, {(m_t + 1) * (m_c + 1):,} possible outcomes to "
            f"enumerate (limit {MAX_COMPLETIONS:,}); ask for final sizes closer to the current ones"
        )
    fut_t, fut_c = np.arange(m_t + 1), np.arange(m_c + 1)
    what = f"the predictive probability of completing {n_t}/{n_c} to {final_t}/{final_c}"
    if prior.family == "arm":
        post_c, _ = update_beta(BetaMix.of(prior.control), y_c, n_c)
        post_t, _ = update_beta(BetaMix.of(prior.treatment), y_t, n_t)
        pred_c = _betabinom_mix(post_c, m_c)
        pred_t = _betabinom_mix(post_t, m_t)
        prob = np.outer(pred_c, pred_t)
        final = prob_benefit_table(prior, final_t, final_c, lower_is_better, y_t + fut_t,
                                   y_c + fut_c)
        return Predictive(fut_t, fut_c, prob, final)
    # the posterior predictive of a completion is proportional to the marginal likelihood of the
    # completed data times C(n, y) C(m, f) / C(n + m, y + f) in each arm (Bin(y; n) Bin(f; m) =
    # that ratio times Bin(y + f; n + m) at every p)
    masses = bq.effect_masses(prior, final_t, final_c, y_t + fut_t, y_c + fut_c, what)
    final = _side_probability(masses, lower_is_better, what)
    with np.errstate(divide="ignore"):
        log_c = masses.log_scale_c + _log_split(y_c, n_c, fut_c, m_c)
        log_t = masses.log_scale_t + _log_split(y_t, n_t, fut_t, m_t)
        log_w = np.log(masses.total) + log_c[:, None] + log_t[None, :]
    prob = np.exp(log_w - special.logsumexp(log_w))
    return Predictive(fut_t, fut_c, prob, final)


def _log_split(y: int, n: int, future: np.ndarray, m: int) -> np.ndarray:
    """log C(n, y) C(m, f) / C(n + m, y + f) for each future count f."""
    log_comb = dists.log_binom_coef
    return log_comb(y, n) + log_comb(future, m) - log_comb(y + future, n + m)


def _betabinom_mix(post: BetaMix, m: int) -> np.ndarray:
    k = np.arange(m + 1)[:, None]
    return np.sum(post.w * dists.betabinom_pmf(k, m, post.a, post.b), axis=1)


# ---------------------------------------------------------------------------------------------
# Operating characteristics of "declare benefit if P(benefit) >= threshold"
# ---------------------------------------------------------------------------------------------


def declare_table(
    prior, n_t: int, n_c: int, threshold: float, lower_is_better: bool = False
) -> np.ndarray:
    """Which datasets [y_c, y_t] declare benefit (P(benefit) >= threshold).

    Refused up front (:class:`lnbayes.errors.LnbayesError`) beyond :data:`MAX_DATASETS` datasets.
    """
    datasets = (n_t + 1) * (n_c + 1)
    if datasets > MAX_DATASETS:
        raise PlanError(
            f"design: exact enumeration of the {datasets:,} possible outcomes of {n_t}/{n_c} "
            f"patients exceeds the limit of {MAX_DATASETS:,} (about 2,000 per arm); ask for a "
            "smaller trial (the operating characteristics of larger ones are close to their normal "
            "approximation)"
        )
    table = prob_benefit_table(prior, n_t, n_c, lower_is_better)
    return table >= threshold - DECISION_TOL


def prob_declare(declare: np.ndarray, p_control, p_treatment) -> np.ndarray:
    """P(declare benefit) at true rates: sum over all datasets of Bin x Bin x 1[declare].

    ``p_control`` and ``p_treatment`` broadcast against each other; exact enumeration (as one
    matrix product, in blocks of rates so that memory stays below 64 MB).
    """
    n_c, n_t = declare.shape[0] - 1, declare.shape[1] - 1
    p_c, p_t = np.broadcast_arrays(np.asarray(p_control, float), np.asarray(p_treatment, float))
    shape = p_c.shape
    p_c, p_t = p_c.ravel(), p_t.ravel()
    d = declare.astype(float)
    out = np.empty(p_c.shape)
    step = max(1, (8 << 20) // max(1, n_c + n_t + 2))
    for k in range(0, len(p_c), step):
        sl = slice(k, k + step)
        pmf_c = dists.binom_pmf(np.arange(n_c + 1)[None, :], n_c, p_c[sl, None])
        pmf_t = dists.binom_pmf(np.arange(n_t + 1)[None, :], n_t, p_t[sl, None])
        out[sl] = np.sum((pmf_c @ d) * pmf_t, axis=1)
    return np.clip(out, 0.0, 1.0).reshape(shape)


def type_i_error(declare: np.ndarray, p_grid=None) -> dict[str, float]:
    """The largest P(declare benefit) when both arms share one true rate (over ``p_grid``)."""
    p_grid = np.linspace(0.001, 0.999, 999) if p_grid is None else np.asarray(p_grid)
    values = prob_declare(declare, p_grid, p_grid)
    k = int(np.argmax(values))
    return {"max": float(values[k]), "at_rate": float(p_grid[k])}


def arm_sizes(total: int, allocation: tuple[int, int]) -> tuple[int, int]:
    """(n_t, n_c) for a total sample size at the allocation ratio."""
    return final_counts(total, allocation)


def power_at(prior, total: int, allocation, threshold: float, p_control: float,
             p_treatment: float, lower_is_better: bool = False) -> float:
    n_t, n_c = arm_sizes(total, allocation)
    declare = declare_table(prior, n_t, n_c, threshold, lower_is_better)
    return float(prob_declare(declare, p_control, p_treatment))


def sample_size(prior, allocation, threshold: float, p_control: float, p_treatment: float,
                target: float = 0.8, lower_is_better: bool = False, start: int = 6,
                max_total: int = 600) -> dict:
    """Smallest total sample size (at the allocation ratio) with power >= ``target``.

    Power of an exact binomial rule is saw-toothed in n, so after locating the crossing by
    doubling and bisection the search scans downwards until 6 consecutive smaller totals
    fall short; the answer is the smallest total with power >= target found that way, and
    ``first_stable`` the smallest total from which every larger total up to +6 also reaches it.
    """
    return search_sample_size(
        lambda total: power_at(prior, total, allocation, threshold, p_control, p_treatment,
                               lower_is_better),
        allocation, target, start, max_total)


def search_sample_size(power_at_total, allocation, target: float, start: int,
                       max_total: int) -> dict[str, Any]:
    """The smallest total reaching ``target`` for any rule's power function (cached): doubling,
    bisection, then a walk down past up to 6 misses (power is not monotone in the sample size
    with discrete data); ``first_stable`` is the smallest total from which every larger one up
    to +6 (within ``max_total``) also reaches it."""
    cache: dict[int, float] = {}

    def power(total: int) -> float:
        if total not in cache:
            cache[total] = power_at_total(total)
        return cache[total]

    lo, hi = start, start
    while power(hi) < target:
        lo, hi = hi, hi * 2
        if hi > max_total:
            if power(max_total) < target:
                return {"total": None, "n_treatment": None, "n_control": None, "power": None,
                        "first_stable": None, "max_total_searched": max_total,
                        "evaluated": _curve(cache)}
            hi = max_total
            break
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power(mid) >= target:
            hi = mid
        else:
            lo = mid
    best, misses, n = hi, 0, hi - 1
    while n >= start and misses < 6:
        if power(n) >= target:
            best, misses = n, 0
        else:
            misses += 1
        n -= 1
    stable = hi
    for n in range(hi, hi + 7):
        if n <= max_total and power(n) < target:
            stable = n + 1
    n_t, n_c = arm_sizes(best, allocation)
    return {"total": best, "n_treatment": n_t, "n_control": n_c, "power": power(best),
            "first_stable": stable, "max_total_searched": max_total, "evaluated": _curve(cache)}


def _curve(cache: dict[int, float]) -> list[dict[str, float]]:
    return [{"total": k, "power": cache[k]} for k in sorted(cache)]
