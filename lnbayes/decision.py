"""Decisions by exact enumeration (NumPy and SciPy only).

Predictive probability of success, operating characteristics, sample size, and evidence
summaries.

Everything here rests on one table: the posterior probability of benefit for *every* possible
dataset of a trial with ``n_t`` treatment and ``n_c`` control patients,

    Pb[y_c, y_t] = P(p_treatment > p_control | y_c of n_c, y_t of n_t),

computed for all (n_c + 1) x (n_t + 1) datasets at once.

*Arm-level priors* (independent Beta mixtures): each arm's posterior is a Beta mixture
(conjugate), and ``Pb = integral f_c(x | y_c) (1 - F_t(x | y_t)) dx`` is a 1-D integral with
a smooth integrand. It is evaluated on the logit scale, ``u = logit(x)``, by the trapezoid rule,
which converges geometrically for smooth integrands decaying at both ends (Trefethen and
Weideman 2014), and as one matrix product over all datasets.

*Effect-level priors* (Beta mixture on p_control, Normal mixture on the effect theta): the joint
prior density is written on the logit scales of both arms, ``(u_c, u_t)``, including the
Jacobian of theta -> u_t and the truncation of theta given p_control for log_rr and rd (so the
feasibility boundaries move to infinity and the density is smooth). Both coordinates share one
uniform grid, so the likelihood of every dataset is a matrix (``Bin(y; n, expit(u))``) and the
posterior mass of benefit for every dataset is ``L_c @ (P o W) @ L_t.T``: ``P`` is the prior on
the grid and ``W`` the quadrature weights of the half-plane ``u_t > u_c`` (the trapezoid rule
with Gregory end corrections of order 7 at the diagonal, where the indicator jumps). The
evidence (denominator) is the plain 2-D trapezoid rule.

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

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special, stats

from lnbayes import effects
from lnbayes.exact import BetaMix, NormalMix, update_beta

U_LIMIT = 30.0
"""The logit grids span [-30, 30] (p from 9e-14 to 1 - 9e-14)."""
MAX_NODES = 3001
"""Largest number of logit nodes of the effect-level grid (bounds memory and time)."""
GREGORY_ORDER = 7
DECISION_TOL = 1e-9
"""A dataset declares benefit when P(benefit) >= threshold - 1e-9 (guards the decision against
the last-digit rounding of a probability that equals the threshold exactly)."""


# ---------------------------------------------------------------------------------------------
# Quadrature pieces
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def gregory_end_weights(order: int = GREGORY_ORDER) -> tuple[float, ...]:
    """Weights ``w_0..w_{m-1}`` of the trapezoid rule on a half-line with Gregory end corrections.

    The rule ``h (w_0 f_0 + ... + w_{m-1} f_{m-1} + f_m + f_{m+1} + ...)`` integrates
    ``f`` over ``[0, inf)`` exactly for polynomials of degree < m near the end point (from the
    Euler-Maclaurin formula: the corrections ``d_k = w_k - tau_k`` satisfy
    ``sum_k d_k k^p = B_{p+1} / (p + 1)`` for odd p and 0 for even p). For m = 3 this gives the
    classical 3/8, 7/6, 23/24.
    """
    m = order
    k = np.arange(m, dtype=float)
    a = np.vander(k, m, increasing=True).T  # a[p, k] = k^p
    bern = special.bernoulli(m + 1)
    rhs = np.array([bern[p + 1] / (p + 1) if p % 2 == 1 else 0.0 for p in range(m)])
    delta = np.linalg.solve(a, rhs)
    tau = np.ones(m)
    tau[0] = 0.5
    return tuple(float(v) for v in tau + delta)


@dataclass(frozen=True)
class LogitGrid:
    """A uniform grid on the logit scale, shared by both arms."""

    u: np.ndarray
    h: float

    @classmethod
    def make(cls, h: float, limit: float = U_LIMIT) -> LogitGrid:
        n = int(math.ceil(2 * limit / h)) + 1
        u = np.linspace(-limit, limit, n)
        return cls(u, float(u[1] - u[0]))

    @classmethod
    def with_nodes(cls, n: int, limit: float = U_LIMIT) -> LogitGrid:
        u = np.linspace(-limit, limit, n)
        return cls(u, float(u[1] - u[0]))

    @property
    def x(self) -> np.ndarray:
        return special.expit(self.u)

    @property
    def log_x(self) -> np.ndarray:
        return special.log_expit(self.u)

    @property
    def log_1mx(self) -> np.ndarray:
        return special.log_expit(-self.u)


def _log_comb(n: int, k: np.ndarray) -> np.ndarray:
    return special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)


def binom_lik(grid: LogitGrid, events, n: int) -> np.ndarray:
    """``Bin(events; n, expit(u))`` for each count in ``events`` (rows) and node (columns)."""
    k = np.atleast_1d(np.asarray(events, dtype=float))[:, None]
    return np.exp(_log_comb(n, k) + k * grid.log_x[None, :] + (n - k) * grid.log_1mx[None, :])


def _beta_logit_sd(a: float, b: float) -> float:
    """Standard deviation of logit(p) for p ~ Beta(a, b)."""
    return float(math.sqrt(special.polygamma(1, a) + special.polygamma(1, b)))


def _min_sd(prior, n_t: int, n_c: int) -> float:
    """A lower bound on every posterior's width in logit units (sets the grid spacing).

    The data give at most n/4 units of Fisher information about a logit, so no posterior of a
    logit is narrower than 2 / sqrt(n_t + n_c + 4) for effect priors; arm posteriors are Beta.
    """
    c = BetaMix.of(prior.control)
    sds = [_beta_logit_sd(a + n_c / 2, b + n_c / 2) for a, b in zip(c.a, c.b)]
    if prior.family == "arm":
        t = BetaMix.of(prior.treatment)
        sds += [_beta_logit_sd(a + n_t / 2, b + n_t / 2) for a, b in zip(t.a, t.b)]
        return min(sds)
    e = NormalMix.of(prior.effect)
    s = float(np.min(e.s)) * (4.0 if prior.scale == "rd" else 1.0)
    lik_var = 4.0 / max(n_t, 1) + 4.0 / max(n_c, 1)
    sd_d = 1.0 / math.sqrt(1.0 / s**2 + 1.0 / lik_var)
    sds += [sd_d, 2.0 / math.sqrt(n_t + n_c + 4)]
    return min(sds)


NODE_LADDER = (1201, 1501, 2001, 2401, MAX_NODES)
"""Effect-level grids use one of these node counts, so that nearby sample sizes share a grid
(and its cached prior matrix)."""


def _grid_for(prior, n_t: int, n_c: int) -> LogitGrid:
    sd = _min_sd(prior, n_t, n_c)
    if prior.family == "arm":
        h = min(0.05, sd / 4)  # trapezoid on a smooth integrand: geometric convergence
        h = max(h, 2 * U_LIMIT / (MAX_NODES - 1))
        return LogitGrid.make(h)
    h = min(0.05, sd / 8)  # Gregory corrections at the diagonal: error O((h / sd)^7)
    needed = int(math.ceil(2 * U_LIMIT / h)) + 1
    nodes = next((k for k in NODE_LADDER if k >= needed), MAX_NODES)
    return LogitGrid.with_nodes(nodes)


# ---------------------------------------------------------------------------------------------
# Arm-level priors: 1-D quadrature per pair of conjugate posteriors
# ---------------------------------------------------------------------------------------------


def _arm_tables(prior, grid: LogitGrid, y_t, n_t: int, y_c, n_c: int):
    """Control posterior densities (on u) and treatment posterior survival functions.

    One row per count: normalised densities of p_control and P(p_t > x), from the conjugate
    Beta-mixture updates.
    """
    jac = grid.log_x + grid.log_1mx
    dens = np.empty((len(y_c), len(grid.u)))
    for r, y in enumerate(y_c):
        post, _ = update_beta(BetaMix.of(prior.control), int(y), n_c)
        log_terms = (np.log(post.w)[:, None] - special.betaln(post.a, post.b)[:, None]
                     + (post.a[:, None] - 1) * grid.log_x + (post.b[:, None] - 1) * grid.log_1mx)
        dens[r] = np.exp(special.logsumexp(log_terms, axis=0) + jac)
    dens /= dens.sum(axis=1, keepdims=True)  # trapezoid (end values are ~0)
    x = grid.x
    surv = np.empty((len(y_t), len(x)))
    for r, y in enumerate(y_t):
        post, _ = update_beta(BetaMix.of(prior.treatment), int(y), n_t)
        surv[r] = post.w @ special.betaincc(post.a[:, None], post.b[:, None], x[None, :])
    return dens, surv


# ---------------------------------------------------------------------------------------------
# Effect-level priors: the prior on the (u_c, u_t) grid, contracted with likelihood matrices
# ---------------------------------------------------------------------------------------------


def _log_prior_rows(prior, grid: LogitGrid, rows: slice) -> np.ndarray:
    """Log prior density in (u_c, u_t) for the control nodes ``rows`` and every treatment node."""
    u_c = grid.u[rows][:, None]
    u_t = grid.u[None, :]
    x = special.expit(u_c)
    c = BetaMix.of(prior.control)
    log_c = c.logpdf(x[:, 0])[:, None] + special.log_expit(u_c) + special.log_expit(-u_c)
    if prior.family == "arm":
        t = BetaMix.of(prior.treatment)
        log_t = t.logpdf(grid.x) + grid.log_x + grid.log_1mx
        return log_c + log_t[None, :]
    e = NormalMix.of(prior.effect)
    scale = prior.scale
    log_effect = _normal_mix_logpdf(e)
    if scale == "log_or":
        theta = u_t - u_c
        log_jac = np.zeros((1, u_t.shape[1]))
        log_z = np.zeros_like(log_c)
    elif scale == "log_rr":
        theta = special.log_expit(u_t) - special.log_expit(u_c)
        log_jac = special.log_expit(-u_t)
        lo, hi = effects.theta_bounds(scale, x[:, 0])
        log_z = e.log_mass(lo, hi)[:, None]
    elif scale == "rd":
        theta = special.expit(u_t) - x
        log_jac = special.log_expit(u_t) + special.log_expit(-u_t)
        lo, hi = effects.theta_bounds(scale, x[:, 0])
        log_z = e.log_mass(lo, hi)[:, None]
    else:  # pragma: no cover - the spec layer validates scales
        raise ValueError(f"unknown scale {scale!r}")
    return log_c - log_z + log_effect(theta) + log_jac


def _normal_mix_logpdf(e: NormalMix):
    """The mixture's log density (a plain Normal without the logsumexp overhead)."""
    if len(e.w) == 1:
        m, s = float(e.m[0]), float(e.s[0])
        const = -math.log(s) - 0.5 * math.log(2 * math.pi)
        return lambda theta: const - 0.5 * ((theta - m) / s) ** 2
    return e.logpdf


def _log_prior_diag(prior, grid: LogitGrid) -> tuple[np.ndarray, np.ndarray]:
    """Log prior density on the diagonal u_t = u_c, and log d(theta)/d(u_t) there."""
    u = grid.u
    x = grid.x
    c = BetaMix.of(prior.control)
    log_c = c.logpdf(x) + grid.log_x + grid.log_1mx
    if prior.family == "arm":
        t = BetaMix.of(prior.treatment)
        return log_c + t.logpdf(x) + grid.log_x + grid.log_1mx, np.zeros_like(u)
    e = NormalMix.of(prior.effect)
    zero = np.zeros_like(u)
    if prior.scale == "log_or":
        log_jac, log_z = zero, zero
    else:
        lo, hi = effects.theta_bounds(prior.scale, x)
        log_z = e.log_mass(lo, hi)
        log_jac = grid.log_1mx if prior.scale == "log_rr" else grid.log_x + grid.log_1mx
    return log_c - log_z + e.logpdf(zero) + log_jac, log_jac


@lru_cache(maxsize=2)
def _prior_matrices(prior, n_nodes: int, block: int = 256) -> tuple[np.ndarray, np.ndarray, float]:
    """Prior density on the (u_c, u_t) grid, the same times the half-plane weights W, the peak.

    Densities are scaled by exp(-peak). Cached: a design search reuses them for many n.
    """
    grid = LogitGrid.with_nodes(n_nodes)
    n = len(grid.u)
    g = np.asarray(gregory_end_weights())
    m = len(g)
    log_p = np.empty((n, n))
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        log_p[rows] = _log_prior_rows(prior, grid, rows)
    peak = float(np.max(log_p))
    dens = np.exp(log_p - peak, out=log_p)
    dens_w = np.triu(dens, k=m)
    for k in range(m):
        idx = np.arange(n - k)
        dens_w[idx, idx + k] = g[k] * dens[idx, idx + k]
    return dens, dens_w, peak


def _contract(prior, grid: LogitGrid, lik_c: np.ndarray, lik_t: np.ndarray):
    """Posterior mass (up to a common factor) of every dataset, and of benefit within it.

    ``lik_c`` (K_c x N) and ``lik_t`` (K_t x N) are likelihoods on the grid. Returns
    ``(total, benefit)``, both K_c x K_t: the integral of prior x likelihood over the plane and
    over the half-plane u_t > u_c (scaled by a common factor exp(-peak)).
    """
    dens, dens_w, _ = _prior_matrices(prior, len(grid.u))
    return (lik_c @ dens) @ lik_t.T, (lik_c @ dens_w) @ lik_t.T


# ---------------------------------------------------------------------------------------------
# P(benefit) for every dataset
# ---------------------------------------------------------------------------------------------


def prob_benefit_table(
    prior, n_t: int, n_c: int, lower_is_better: bool = False,
    y_t=None, y_c=None,
) -> np.ndarray:
    """P(benefit | y_c of n_c, y_t of n_t) for every dataset: an array indexed [y_c, y_t].

    Benefit is p_treatment > p_control, or p_treatment < p_control when lower is better.
    ``y_t`` and ``y_c`` restrict the table to some counts (default: all, 0..n).
    """
    y_t = np.arange(n_t + 1) if y_t is None else np.asarray(y_t)
    y_c = np.arange(n_c + 1) if y_c is None else np.asarray(y_c)
    grid = _grid_for(prior, n_t, n_c)
    if prior.family == "arm":
        dens, surv = _arm_tables(prior, grid, y_t, n_t, y_c, n_c)
        higher = dens @ surv.T
    else:
        lik_c, lik_t = binom_lik(grid, y_c, n_c), binom_lik(grid, y_t, n_t)
        total, benefit = _contract(prior, grid, lik_c, lik_t)
        higher = benefit / total
    higher = np.clip(higher, 0.0, 1.0)
    return 1.0 - higher if lower_is_better else higher


def prob_benefit(
    prior, y_t: int, n_t: int, y_c: int, n_c: int, lower_is_better: bool = False
) -> float:
    """P(benefit) for one dataset (the same numbers as :func:`prob_benefit_table`)."""
    return float(prob_benefit_table(prior, n_t, n_c, lower_is_better, [y_t], [y_c])[0, 0])


def prior_prob_benefit(prior, lower_is_better: bool = False) -> float:
    """A-priori P(benefit): the same quadrature with no data."""
    higher = _prior_prob_higher(prior)
    return 1.0 - higher if lower_is_better else higher


@lru_cache(maxsize=64)
def _prior_prob_higher(prior) -> float:
    return prob_benefit(prior, 0, 0, 0, 0, False)


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
    fut_t, fut_c = np.arange(m_t + 1), np.arange(m_c + 1)
    if prior.family == "arm":
        post_c, _ = update_beta(BetaMix.of(prior.control), y_c, n_c)
        post_t, _ = update_beta(BetaMix.of(prior.treatment), y_t, n_t)
        pred_c = _betabinom_mix(post_c, m_c)
        pred_t = _betabinom_mix(post_t, m_t)
        prob = np.outer(pred_c, pred_t)
    else:
        grid = _grid_for(prior, final_t, final_c)
        lik_c = binom_lik(grid, [y_c], n_c) * binom_lik(grid, fut_c, m_c)
        lik_t = binom_lik(grid, [y_t], n_t) * binom_lik(grid, fut_t, m_t)
        total, _ = _contract(prior, grid, lik_c, lik_t)
        prob = total / total.sum()
    final = prob_benefit_table(prior, final_t, final_c, lower_is_better, y_t + fut_t, y_c + fut_c)
    return Predictive(fut_t, fut_c, prob, final)


def _betabinom_mix(post: BetaMix, m: int) -> np.ndarray:
    k = np.arange(m + 1)[:, None]
    return np.sum(post.w * stats.betabinom.pmf(k, m, post.a, post.b), axis=1)


# ---------------------------------------------------------------------------------------------
# Operating characteristics of "declare benefit if P(benefit) >= threshold"
# ---------------------------------------------------------------------------------------------


def declare_table(
    prior, n_t: int, n_c: int, threshold: float, lower_is_better: bool = False
) -> np.ndarray:
    """Which datasets [y_c, y_t] declare benefit (P(benefit) >= threshold)."""
    table = prob_benefit_table(prior, n_t, n_c, lower_is_better)
    return table >= threshold - DECISION_TOL


def prob_declare(declare: np.ndarray, p_control, p_treatment) -> np.ndarray:
    """P(declare benefit) at true rates: sum over all datasets of Bin x Bin x 1[declare].

    ``p_control`` and ``p_treatment`` broadcast against each other; exact enumeration.
    """
    n_c, n_t = declare.shape[0] - 1, declare.shape[1] - 1
    p_c, p_t = np.broadcast_arrays(np.asarray(p_control, float), np.asarray(p_treatment, float))
    shape = p_c.shape
    pmf_c = stats.binom.pmf(np.arange(n_c + 1)[None, :], n_c, p_c.ravel()[:, None])
    pmf_t = stats.binom.pmf(np.arange(n_t + 1)[None, :], n_t, p_t.ravel()[:, None])
    out = np.einsum("kc,ct,kt->k", pmf_c, declare.astype(float), pmf_t)
    return out.reshape(shape)


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
    cache: dict[int, float] = {}

    def power(total: int) -> float:
        if total not in cache:
            cache[total] = power_at(prior, total, allocation, threshold, p_control, p_treatment,
                                    lower_is_better)
        return cache[total]

    lo, hi = start, start
    while power(hi) < target:
        lo, hi = hi, hi * 2
        if hi > max_total:
            if power(max_total) < target:
                return {"total": None, "n_treatment": None, "n_control": None, "power": None,
                        "max_total_searched": max_total, "evaluated": _curve(cache)}
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
        if power(n) < target:
            stable = n + 1
    n_t, n_c = arm_sizes(best, allocation)
    return {"total": best, "n_treatment": n_t, "n_control": n_c, "power": power(best),
            "first_stable": stable, "max_total_searched": max_total, "evaluated": _curve(cache)}


def _curve(cache: dict[int, float]) -> list[dict[str, float]]:
    return [{"total": k, "power": cache[k]} for k in sorted(cache)]


# ---------------------------------------------------------------------------------------------
# Evidence summaries
# ---------------------------------------------------------------------------------------------


def odds(p: float) -> float:
    if p >= 1.0:
        return math.inf
    return p / (1.0 - p)


def bf_benefit(posterior_p: float, prior_p: float) -> float | None:
    """Posterior odds of benefit over prior odds of benefit (None when undefined)."""
    po, pr = odds(posterior_p), odds(prior_p)
    if pr in (0.0, math.inf) or not math.isfinite(po):
        return None
    return po / pr


def savage_dickey(prior, y_t: int, n_t: int, y_c: int, n_c: int) -> dict:
    """Savage-Dickey density ratio for no effect, BF01 = p(theta = 0 | data) / p(theta = 0).

    theta is the prior's effect (log odds ratio, log risk ratio or risk difference) for
    effect-level priors and the log odds ratio for arm-level priors. Both densities are marginal
    (p_control integrated out): ``p(theta = 0) = integral pi(p_c) pi(0 | p_c) dp_c``. BF01 is
    the Bayes factor of the point null theta = 0 (with p_control's prior under the null taken as
    its conditional prior given theta = 0) against the prior; BF10 = 1 / BF01.

    References
    ----------
    Dickey JM. Ann Math Stat 1971;42:204-223. doi:10.1214/aoms/1177693507;
    Verdinelli I, Wasserman L. J Am Stat Assoc 1995;90:614-618.
    doi:10.1080/01621459.1995.10476554
    """
    grid = _grid_for(prior, n_t, n_c)
    log_diag, log_jac = _log_prior_diag(prior, grid)
    scale = "log_or" if prior.family == "arm" else prior.scale
    lik_c = binom_lik(grid, [y_c], n_c)
    lik_t = binom_lik(grid, [y_t], n_t)
    peak = float(np.max(log_diag))
    # density of theta at 0: integral over u_c of p(u_c, u_t = u_c) / (d theta / d u_t)
    on_diag = np.exp(log_diag - log_jac - peak)
    prior_density = float(np.sum(on_diag)) * grid.h * math.exp(peak)
    if prior.family == "arm":
        dens_c, surv = _arm_tables(prior, grid, [y_t], n_t, [y_c], n_c)
        t0 = BetaMix.of(prior.treatment)
        post_t, _ = update_beta(t0, y_t, n_t)
        dens_t = np.exp(post_t.logpdf(grid.x) + grid.log_x + grid.log_1mx)
        post_density = float(np.sum(dens_c[0] / grid.h * dens_t) * grid.h)
    else:
        total, _ = _contract(prior, grid, lik_c, lik_t)
        peak_rows = _prior_matrices(prior, len(grid.u))[2]
        num = np.sum(np.exp(log_diag - log_jac - peak_rows) * lik_c[0] * lik_t[0]) * grid.h
        post_density = float(num / (total[0, 0] * grid.h**2))
    bf01 = post_density / prior_density if prior_density > 0 else None
    return {
        "scale": scale,
        "prior_density_at_0": prior_density,
        "posterior_density_at_0": post_density,
        "bf01": bf01,
        "bf10": (1.0 / bf01) if bf01 else None,
    }


def evidence_summary(prior, outcome, posterior) -> dict:
    """Bayes factors for benefit and for no effect, and P(effect in the ROPE), exactly.

    ``posterior`` is the outcome's :class:`lnbayes.exact.ExactPosterior` under ``prior``.
    """
    lower = outcome.lower_is_better
    post_p = posterior.prob_benefit(lower)
    prior_p = prior_prob_benefit(prior, lower)
    sd = savage_dickey(prior, outcome.treatment_events, outcome.treatment_n,
                       outcome.control_events, outcome.control_n)
    out = {
        "prior_p_benefit": prior_p,
        "posterior_p_benefit": post_p,
        "bf_benefit": bf_benefit(post_p, prior_p),
        "savage_dickey": sd,
        "rope": None,
    }
    if outcome.rope is not None:
        scale, lo, hi = outcome.rope
        measure = effects.MEASURE_OF_SCALE[scale]
        out["rope"] = {"scale": scale, "lower": lo, "upper": hi,
                       "p_inside": posterior.prob_between(measure, lo, hi), "p_inside_mcse": None}
    return out
