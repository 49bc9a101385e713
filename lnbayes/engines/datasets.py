"""P(benefit) and posterior masses for many datasets at once, on logit grids that follow the data.

The numerical core of :mod:`lnbayes.engines.enumeration` (NumPy and SciPy only). For a set of datasets
(every count ``y_c`` in a range of the control arm's ``n_c`` patients, crossed with every count
``y_t`` of the treatment arm's ``n_t``) it computes, for each dataset, the posterior masses of
harm and benefit, and the Savage-Dickey density of the effect at 0.

Coordinates: ``u_c = logit(p_control)``, ``u_t = logit(p_treatment)`` and ``v = u_t - u_c`` (the
log odds ratio). Benefit, p_treatment > p_control, is the half-plane ``v > 0`` on every effect
scale, because every effect measure increases with p_treatment at fixed p_control.

*Arm-level priors* (independent Beta mixtures): each arm's posterior is a Beta mixture, and
``P(p_t > p_c) = int f_c(u) S_t(expit u) du`` is a 1-D integral with a smooth integrand, done by
the trapezoid rule on the logit scale (geometric convergence; Trefethen and Weideman 2014) as one
matrix product over all datasets. The integral runs over the arm whose prior is the more regular
(larger smallest Beta shape); the other arm enters through its Beta CDF, which is exact for any
shapes, so a prior such as Beta(1e-9, 1) on one arm is computed correctly. The side that is asked
for is computed directly (never ``1 - other side``).

*Effect-level priors* (Beta mixture on p_control, Normal mixture on the effect, truncated to the
feasible effects for log_rr and rd): the joint prior density on ``(u_c, u_t)`` including the
Jacobian, with two rules:

* ``lattice``: ``u_c`` and ``u_t`` share one uniform lattice (spacing ``h``), so the masses of every
  dataset are ``L_c @ (P o W) @ L_t^T`` with ``W`` the half-plane weights (trapezoid rule with
  Gregory end corrections of order 7 at the diagonal). Cost ``N_c N_t (K_c + 3)`` for ``K_c``
  control counts.
* ``rows``: ``u_c`` spacing ``h_c`` and ``v`` spacing ``h_v`` independent (nodes ``v = j h_v``,
  Gregory corrections at ``v = 0``); the treatment likelihood is evaluated at every node for every
  treatment count. Cost ``N_c N_v K_t``: a narrow effect prior (tiny ``h_v``) costs nothing in
  the ``u_c`` direction.

The cheaper rule is used.

Windows follow where the posterior is: by default the logit range [-30, 30] (all of it for the
small trials lnbayes is built for); when that would need more nodes than the budget allows
(large trials, narrow effect priors), the window of each coordinate is the hull of the windows
of the exact engine's posteriors (:func:`lnbayes.engines.exact.effect_posterior`) for the four corner
datasets (smallest and largest count of each arm), which place the posterior mass of every
dataset between them; the window is then padded. Spacing is set by the narrowest of the prior
and posterior widths over all datasets (a lower bound on each posterior's standard deviation from
the Fisher information), ``/ 8`` (Gregory rule) or ``/ 4`` (arm-level trapezoid).

Error: the window ends leave out at most ``TAIL_PROB`` of each conjugate (control-arm) posterior
and the posterior mass of every dataset in the outermost nodes of each window is checked after
the computation (``edge_mass``; when it exceeds ``EDGE_TOL`` the window is widened once, and a
computation whose edge mass stays above ``EDGE_FAIL`` is refused). With these windows the
quadrature error is below 1e-9 on probabilities (tests compare with closed forms,
scipy.integrate and brute-force Gauss-Legendre rules).

Resources: every computation is planned before it runs, and refused up front
(:class:`lnbayes.errors.LnbayesError`, with the reason) when it would need more than
``WORK_LIMIT`` multiply-adds (about a minute) or ``MEMORY_LIMIT`` bytes. Memory is bounded by
design: the prior is built in blocks of ``BLOCK_BYTES``; what is kept is the likelihood matrices,
the accumulators and the result (``8 (K_c N_c + K_t N_t + 3 K_c N_t + 4 K_c K_t)`` bytes), plus at
most two cached prior matrices of at most ``MAX_CACHED_NODES``^2 values (144 MB) for the default
window.

References
----------
Trefethen LN, Weideman JAC. The exponentially convergent trapezoidal rule. SIAM Rev
2014;56:385-458. doi:10.1137/130932132
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import special

from lnbayes.errors import LnbayesError
from lnbayes.model import dists
from lnbayes.model.density import (
    TAIL_TOL,
    U_MAX,
    BetaMix,
    NormalMix,
    binom_logpmf_logit,
    binom_logpmf_max,
    check_window,
    log_prior_density,
    logit_beta_sd,
    logit_window,
    update_beta,
)
from lnbayes.numerics import roots
from lnbayes.numerics.quadrature import GREGORY_ORDER, gregory_end_weights, half_line_weights  # noqa: F401

U_DEFAULT = 30.0
"""Default window: logit from -30 to 30 (p from 9e-14 to 1 - 9e-14)."""
TAIL_PROB = 1e-14
"""Window ends leave out at most this much of each conjugate posterior, on each side."""
EDGE_TOL = 1e-12
"""Posterior mass fraction allowed in the outermost nodes of a window before it is widened."""
EDGE_FAIL = 1e-9
"""Edge mass beyond which a result is refused rather than reported."""
H_LADDER = tuple(2 * U_DEFAULT / (n - 1) for n in (1201, 1501, 2001, 2401, 3001))
"""Spacings of the default window (0.05 ... 0.02): nearby sample sizes share a grid and its cached
prior matrices."""
MAX_CACHED_NODES = 3001
WORK_LIMIT = 4e10
"""Largest planned number of multiply-adds (exponentials count 10) for one computation."""
MEMORY_LIMIT = 1 << 30
"""Largest planned memory of one computation (1 GiB)."""
BLOCK_BYTES = 32 << 20
"""Memory of one block of prior values (and of one block of treatment likelihoods)."""
_EXP_COST = 10.0
_TINY = 1e-300
"""Floor of a tail probability before its log (one that underflows to 0 is far beyond any window)."""


class PlanError(LnbayesError):
    """A computation that cannot be done within the time or memory budget, or accurately."""


# ---------------------------------------------------------------------------------------------
# The lattice's weights near the diagonal (numerics.quadrature.half_line_weights)
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _strip_weights(n_rows: int, first: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Benefit and harm weights of a strip of ``n_rows`` x ``width`` lattice nodes whose node
    [r, c] lies ``first + c - r`` nodes right of the diagonal (read-only, cached)."""
    off = first + np.arange(width)[None, :] - np.arange(n_rows)[:, None]
    w_b, w_h = half_line_weights(off), half_line_weights(-off)
    w_b.flags.writeable = w_h.flags.writeable = False
    return w_b, w_h


# ---------------------------------------------------------------------------------------------
# Widths and windows
# ---------------------------------------------------------------------------------------------


def _min_conjugate_sd(mix: BetaMix, y0: int, y1: int, n: int) -> float:
    """Smallest logit-scale posterior sd over the counts y0..y1 of n (every component).

    For fixed a + b the variance of a Beta's logit is smallest when a = b, so the count in
    [y0, y1] nearest to the balance point gives each component's smallest width.
    """
    sds = []
    for a, b in zip(mix.a, mix.b):
        y = int(np.clip(round((n + b - a) / 2), y0, y1))
        sds.append(float(logit_beta_sd(a + y, b + n - y)))
    return min(sds)


def conjugate_window(mix: BetaMix, y0: int, y1: int, n: int,
                     tail: float = TAIL_PROB) -> tuple[float, float, float]:
    """logit window of the conjugate posteriors after y0 (lowest) to y1 (highest) events in n.

    Returns ``(lo, hi, outside)``: the hull of each component's tail quantiles (components with a
    posterior weight below ``tail`` are left out), clipped to +-U_MAX, and the largest posterior
    mass beyond +-U_MAX. The posterior is stochastically increasing in the count, so the two
    extreme counts bound every count between them.
    """
    lo_post, _ = update_beta(mix, y0, n)
    hi_post, _ = update_beta(mix, y1, n)
    return logit_window(lo_post, hi_post, tail)


# ---------------------------------------------------------------------------------------------
# Arm-level priors
# ---------------------------------------------------------------------------------------------


def arm_side_table(prior, n_t: int, n_c: int, y_t, y_c, lower_is_better: bool,
                   what: str = "P(benefit)") -> np.ndarray:
    """P(benefit | y_c of n_c, y_t of n_t) under independent Beta-mixture priors, [y_c, y_t].

    The integral runs over the logit of the arm whose prior is the more regular; the other arm's
    posterior enters through its CDF or survival function (exact). The side asked for is
    computed directly.
    """
    y_t, y_c = np.atleast_1d(y_t).astype(int), np.atleast_1d(y_c).astype(int)
    mix_c, mix_t = BetaMix.of(prior.control), BetaMix.of(prior.treatment)
    over_control = mix_c.regularity() >= mix_t.regularity()
    if over_control:
        outer, inner = (mix_c, y_c, n_c), (mix_t, y_t, n_t)
    else:
        outer, inner = (mix_t, y_t, n_t), (mix_c, y_c, n_c)
    mix_o, y_o, n_o = outer
    mix_i, y_i, n_i = inner
    lo, hi, outside = conjugate_window(mix_o, int(y_o.min()), int(y_o.max()), n_o)
    check_window(outside, what, PlanError)
    sd = min(_min_conjugate_sd(mix_o, int(y_o.min()), int(y_o.max()), n_o),
             _min_conjugate_sd(mix_i, int(y_i.min()), int(y_i.max()), n_i))
    h = min(0.05, sd / 4)  # trapezoid on a smooth integrand: geometric convergence
    if (max(hi, U_DEFAULT) - min(lo, -U_DEFAULT)) / h <= 1e5:
        lo, hi = min(lo, -U_DEFAULT), max(hi, U_DEFAULT)  # the default window, when affordable
    n_nodes = int(math.ceil((hi - lo) / h)) + 1
    _check_budget(what, work=_EXP_COST * n_nodes * (len(y_o) + len(y_i))
                  + n_nodes * len(y_o) * len(y_i),
                  memory=8.0 * n_nodes * (len(y_o) + len(y_i)) + 24.0 * len(y_o) * len(y_i))
    u = np.linspace(lo, hi, n_nodes)
    x = special.expit(u)
    log_x, log_1mx = special.log_expit(u), special.log_expit(-u)
    if len(mix_o.w) == 1:  # one component: every row at once (the same operations as below)
        a = mix_o.a[0] + y_o.astype(float)
        b = mix_o.b[0] + n_o - y_o.astype(float)
        dens = np.exp(-special.betaln(a, b)[:, None] + a[:, None] * log_x
                      + b[:, None] * log_1mx)
    else:
        dens = np.empty((len(y_o), n_nodes))
        for r, y in enumerate(y_o):
            post, _ = update_beta(mix_o, int(y), n_o)
            log_terms = (np.log(post.w)[:, None] - special.betaln(post.a, post.b)[:, None]
                         + post.a[:, None] * log_x + post.b[:, None] * log_1mx)
            dens[r] = np.exp(special.logsumexp(log_terms, axis=0))
    dens /= dens.sum(axis=1, keepdims=True)  # trapezoid (end values are ~0)
    # benefit: p_t > p_c (higher is better) or p_t < p_c; over the control arm that is the
    # treatment arm's survival function (or CDF) at x, over the treatment arm the control arm's
    # CDF (or survival function)
    use_sf = over_control != lower_is_better
    side = _inner_side(mix_i, y_i, n_i, x, log_x, log_1mx, use_sf)
    table = np.clip(dens @ side.T, 0.0, 1.0)  # [outer count, inner count]
    return table if over_control else table.T


MAX_BINOMIAL_TAIL = 20_000
"""Largest binomial size for which a whole-number Beta's CDF is summed from binomial terms: their
error grows with the size (against scipy's betainc: 4e-12 at 5,000, 4e-11 at 50,000), and
stays below 2e-11 up to this one; larger trials use betainc."""


def _inner_side(mix: BetaMix, y: np.ndarray, n: int, x: np.ndarray, log_x: np.ndarray,
                log_1mx: np.ndarray, use_sf: bool) -> np.ndarray:
    """The inner arm's posterior survival function (``use_sf``) or CDF at the nodes ``x``, for
    each of its counts ``y`` (rows): sum over components of weight x Beta CDF.

    A component whose posterior shapes are whole numbers uses the identity
    ``I_x(alpha, beta) = P(Binomial(alpha + beta - 1, x) >= alpha)``: the binomial terms are
    summed cumulatively, from each end towards the middle, once for all counts (the sizes
    alpha + beta - 1 agree for every count), which costs one exponential per value instead of
    one incomplete Beta function. Sums of positive terms keep their relative precision, so the
    tails stay accurate. Other components use ``scipy.special.betainc`` / ``betaincc``.
    """
    weights = np.empty((len(y), len(mix.w)))
    for r, count in enumerate(y):
        post, _ = update_beta(mix, int(count), n)
        weights[r] = post.w
    side = np.zeros((len(y), len(x)))
    f = special.betaincc if use_sf else special.betainc
    for k, (a, b) in enumerate(zip(mix.a, mix.b)):
        whole = (float(a).is_integer() and float(b).is_integer() and a >= 1 and b >= 1
                 and a + b + n - 1 <= MAX_BINOMIAL_TAIL)
        if whole:
            comp = _whole_beta_tails(int(a), int(b), y, n, log_x, log_1mx, use_sf)
        else:
            comp = f((a + y)[:, None].astype(float), (b + n - y)[:, None].astype(float),
                     x[None, :])
        side += weights[:, k:k + 1] * comp
    return side


def _whole_beta_tails(a: int, b: int, y: np.ndarray, n: int, log_x: np.ndarray,
                      log_1mx: np.ndarray, use_sf: bool) -> np.ndarray:
    """``betaincc(a + y, b + n - y, x)`` (``use_sf``) or ``betainc(...)`` for whole a, b >= 1,
    as binomial sums: with m = a + b + n - 1 and J ~ Binomial(m, x), ``betainc = P(J >= a + y)``
    and ``betaincc = P(J <= a + y - 1)``. Rows are counts y, columns nodes."""
    m = a + b + n - 1
    j = np.arange(m + 1, dtype=float)
    log_comb = dists.log_binom_coef(j, float(m))[:, None]
    cut = a + np.asarray(y, dtype=int)  # alpha
    out = np.empty((len(y), len(log_x)))
    step = max(1, (4 << 20) // (m + 1))  # columns per block: at most 32 MB of terms
    for c0 in range(0, len(log_x), step):
        cols = slice(c0, c0 + step)
        terms = np.exp(log_comb + j[:, None] * log_x[None, cols]
                       + (m - j)[:, None] * log_1mx[None, cols])
        if use_sf:  # P(J <= alpha - 1): sums from j = 0 upwards
            np.cumsum(terms, axis=0, out=terms)
            out[:, cols] = terms[cut - 1]
        else:  # P(J >= alpha): sums from j = m downwards
            np.cumsum(terms[::-1], axis=0, out=terms[::-1])
            out[:, cols] = terms[cut]
    return out


# ---------------------------------------------------------------------------------------------
# Effect-level priors: plans
# ---------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """How one set of datasets is integrated: rule, nodes, and the budget it needs."""

    method: str  # "lattice" or "rows"
    u_c: np.ndarray
    u_t: np.ndarray | None = None  # lattice
    v: np.ndarray | None = None  # rows: v = j h_v, j from j0
    h_c: float = 0.0
    h_v: float = 0.0
    j0: int = 0  # rows: index of v = 0 in v
    offset: int = 0  # lattice: u_t[k] = u_c[k - offset]
    band: tuple[int, int] | None = None  # lattice: u_t index - u_c index - offset in [lo, hi]
    default: bool = False
    work: float = 0.0
    memory: float = 0.0
    notes: dict = field(default_factory=dict)


def _effect_widths(prior, n_t: int, n_c: int, yt: tuple[int, int], yc: tuple[int, int]):
    """Lower bounds on the posterior sds of u_c, of v (= u_t - u_c) and of v given u_c."""
    c = BetaMix.of(prior.control)
    e = NormalMix.of(prior.effect)
    s = float(np.min(e.s)) * (4.0 if prior.scale == "rd" else 1.0)
    sd_c = [float(v) for v in logit_beta_sd(c.a + n_c / 2, c.b + n_c / 2)]
    lik_var = 4.0 / max(n_t, 1) + 4.0 / max(n_c, 1)
    sd_d = 1.0 / math.sqrt(1.0 / s**2 + 1.0 / lik_var)
    joint = min(sd_c + [sd_d, 2.0 / math.sqrt(n_t + n_c + 4)])  # the rule of the lattice
    sd_uc = min(sd_c + [2.0 / math.sqrt(float(np.max(c.a + c.b)) + n_c + n_t)])
    sd_v_given_uc = 1.0 / math.sqrt(1.0 / s**2 + n_t / 4.0)
    return joint, sd_uc, sd_v_given_uc


def _window_widths(prior, n_t: int, n_c: int, uc: tuple[float, float],
                   ut: tuple[float, float]) -> tuple[float, float, float]:
    """Lower bounds on the posterior sds (as :func:`_effect_widths`) given where the posteriors
    are: the Fisher information of n binomial patients about a logit is n p (1 - p), at most its
    largest value over the window (rare events carry far less than n / 4)."""
    def info(n, lo, hi):
        p = special.expit(np.clip(0.0, lo, hi))  # p (1 - p) is largest nearest p = 1/2
        return n * float(p * (1 - p))

    c = BetaMix.of(prior.control)
    e = NormalMix.of(prior.effect)
    s = float(np.min(e.s)) * (4.0 if prior.scale == "rd" else 1.0)
    i_c, i_t = info(n_c, *uc), info(n_t, *ut)
    prior_c = float(np.max(c.a + c.b)) / 4  # largest curvature of a Beta's log density in logit
    sd_uc = 1.0 / math.sqrt(prior_c + i_c + i_t)
    sd_v = 1.0 / math.sqrt(1.0 / s**2 + i_t)
    sd_d = 1.0 / math.sqrt(1.0 / s**2 + 1.0 / (1.0 / max(i_t, 1e-300) + 1.0 / max(i_c, 1e-300)))
    return min(sd_uc, sd_d), sd_uc, sd_v


def _lattice_h(sd: float) -> float:
    h = min(0.05, sd / 8)  # Gregory corrections at the diagonal: error O((h / sd)^7)
    return next((v for v in H_LADDER if v <= h * (1 + 1e-12)), h)


def _effect_tail_window(prior, n_c: int, yc: tuple[int, int]) -> float:
    """Half-width of the default window: 30, or more when the control arm's conjugate posterior
    has more than TAIL_TOL beyond logit +-30 (heavy-tailed priors such as Beta(0.5, 0.5))."""
    c = BetaMix.of(prior.control)
    for u in (U_DEFAULT, 40.0, U_MAX):
        x = special.expit(-u)
        lo_post, _ = update_beta(c, yc[0], n_c)
        hi_post, _ = update_beta(c, yc[1], n_c)
        out = max(float(np.sum(lo_post.w * special.betainc(lo_post.a, lo_post.b, x))),
                  float(np.sum(hi_post.w * special.betainc(hi_post.b, hi_post.a, x))))
        if out <= TAIL_TOL * 1e-2:
            return u
    check_window(out, "P(benefit)", PlanError)
    return U_MAX


def plan_effect(prior, n_t: int, n_c: int, yt: tuple[int, int], yc: tuple[int, int],
                k_t: int, k_c: int, what: str, margin: float = 1.0,
                cheapest: bool = False) -> Plan:
    """Choose the rule, the windows and the spacing for a set of datasets; refuse if over budget.

    ``yt``, ``yc``: smallest and largest counts; ``k_t``, ``k_c``: how many counts of each arm.
    ``margin`` > 1 widens the data windows (after an edge-mass check failed). By default an
    affordable default window is taken without looking further (small trials: one cached prior
    matrix); ``cheapest`` (a chunk of a large table) plans the data windows too and takes
    whichever plan needs less work.
    """
    joint, sd_uc, sd_v = _effect_widths(prior, n_t, n_c, yt, yc)
    u_lim = _effect_tail_window(prior, n_c, yc)
    h = _lattice_h(joint)
    n_default = int(round(2 * u_lim / h)) + 1
    work_default = n_default**2 * (_EXP_COST + 2 * k_c) + 2 * k_c * n_default * k_t
    mem_default = 8.0 * (2 * min(n_default, MAX_CACHED_NODES) ** 2
                         + (k_c + k_t + 3 * k_c) * n_default + 4 * k_c * k_t)
    default_plan = None
    if margin == 1.0 and work_default <= WORK_LIMIT / 4 and mem_default <= MEMORY_LIMIT:
        u = np.linspace(-u_lim, u_lim, n_default)
        default_plan = Plan("lattice", u_c=u, u_t=u, h_c=float(u[1] - u[0]),
                            h_v=float(u[1] - u[0]), default=True, work=work_default,
                            memory=mem_default,
                            notes={"window": [-u_lim, u_lim], "nodes": [n_default, n_default]})
        if not cheapest:
            return default_plan
    win = corner_windows(prior, n_t, n_c, yt, yc)
    uc_lo, uc_hi = _pad(win["u_c"], margin)
    ut_lo, ut_hi = _pad(win["u_t"], margin)
    v_lo, v_hi = _pad(win["v"], margin)
    joint, sd_uc, sd_v = _window_widths(prior, n_t, n_c, (uc_lo, uc_hi), (ut_lo, ut_hi))
    h = _lattice_h(joint)
    # lattice: one spacing, u_t restricted to a band around the diagonal
    n_c_l = int(math.ceil((uc_hi - uc_lo) / h)) + 1
    k0 = int(math.floor(uc_lo / h))
    kt0, kt1 = int(math.floor(ut_lo / h)), int(math.ceil(ut_hi / h))
    j_lo, j_hi = int(math.floor(v_lo / h)), int(math.ceil(v_hi / h))
    n_t_l = kt1 - kt0 + 1
    band = min(n_t_l, j_hi - j_lo + 1)
    work_l = n_c_l * band * (_EXP_COST + 2 * k_c) + 2 * k_c * n_t_l * k_t
    mem_l = 8.0 * ((k_c + k_t + 2 * k_c) * max(n_c_l, n_t_l) + 4 * k_c * k_t) + 3 * BLOCK_BYTES
    # rows: independent spacings
    h_c = min(0.05, sd_uc / 8)
    h_v = min(0.05, sd_v / 8)
    n_c_r = int(math.ceil((uc_hi - uc_lo) / h_c)) + 1
    jv0, jv1 = int(math.floor(v_lo / h_v)), int(math.ceil(v_hi / h_v))
    n_v = jv1 - jv0 + 1
    work_r = n_c_r * n_v * (_EXP_COST * (1 + k_t) + 4 * k_t) + 2 * k_c * n_c_r * k_t
    mem_r = 8.0 * (k_c * n_c_r + 3 * n_c_r * k_t + 4 * k_c * k_t) + 3 * BLOCK_BYTES
    notes = {"windows": {"u_c": [uc_lo, uc_hi], "u_t": [ut_lo, ut_hi], "v": [v_lo, v_hi]}}
    if work_l <= work_r:
        plan = Plan("lattice", u_c=h * np.arange(k0, k0 + n_c_l), u_t=h * np.arange(kt0, kt1 + 1),
                    h_c=h, h_v=h, offset=k0 - kt0, band=(j_lo, j_hi), work=work_l, memory=mem_l,
                    notes=dict(notes, nodes=[n_c_l, n_t_l], band=band))
    else:
        u_c = uc_lo + h_c * np.arange(n_c_r)
        plan = Plan("rows", u_c=u_c, v=h_v * np.arange(jv0, jv1 + 1), h_c=h_c, h_v=h_v,
                    j0=-jv0, work=work_r, memory=mem_r, notes=dict(notes, nodes=[n_c_r, n_v]))
    if default_plan is not None and default_plan.work <= plan.work:
        return default_plan
    _check_budget(what, plan.work, plan.memory, detail=(
        f"n = {n_t}/{n_c}, {k_t * k_c} datasets, effect prior sd "
        f"{float(np.min(prior.effect.sds)):.3g}"
        f" on {prior.scale}: {plan.method} rule with {plan.notes['nodes'][0]} x "
        f"{plan.notes['nodes'][1]} nodes"))
    return plan


def _pad(window: tuple[float, float], margin: float) -> tuple[float, float]:
    lo, hi = window
    pad = 0.05 * (hi - lo) * margin + 0.25 * (margin - 1.0) * (hi - lo)
    return lo - pad, hi + pad


def _check_budget(what: str, work: float, memory: float, detail: str = "") -> None:
    if work > WORK_LIMIT or memory > MEMORY_LIMIT:
        reason = (f"about {work:.2g} multiply-adds (limit {WORK_LIMIT:.0e})" if work > WORK_LIMIT
                  else f"about {memory / 2**30:.2g} GiB of memory (limit "
                       f"{MEMORY_LIMIT / 2**30:.0f} GiB)")
        raise PlanError(f"{what}: the exact computation would need {reason}"
                        + (f" ({detail})" if detail else "")
                        + "; ask for fewer patients, fewer outcomes to enumerate or a wider prior")


@lru_cache(maxsize=32)
def corner_windows(prior, n_t: int, n_c: int, yt: tuple[int, int], yc: tuple[int, int],
                   tail: float = 1e-13) -> dict[str, tuple[float, float]]:
    """Windows of u_c, u_t and v holding the posteriors of the four corner datasets.

    From the exact engine (:func:`lnbayes.engines.exact.effect_posterior`), which locates each posterior
    numerically: u_c from its p_control nodes (where the marginal is within 60 nats of its
    peak), u_t from the p_treatment quantiles at ``tail``, v from the odds-ratio quantiles.
    """
    uc, ut, v = [np.inf, -np.inf], [np.inf, -np.inf], [np.inf, -np.inf]
    for y_t in sorted(set(yt)):
        for y_c in sorted(set(yc)):
            (c_lo, c_hi), (t_lo, t_hi), (o_lo, o_hi) = _corner_window(
                prior, n_t, n_c, int(y_t), int(y_c), tail)
            uc = [min(uc[0], c_lo), max(uc[1], c_hi)]
            ut = [min(ut[0], t_lo), max(ut[1], t_hi)]
            v = [min(v[0], o_lo), max(v[1], o_hi)]
    clip = lambda w: (max(w[0], -U_MAX), min(w[1], U_MAX))  # noqa: E731
    return {"u_c": clip(uc), "u_t": clip(ut), "v": (max(v[0], -2 * U_MAX), min(v[1], 2 * U_MAX))}


@lru_cache(maxsize=256)
def _corner_window(prior, n_t: int, n_c: int, y_t: int, y_c: int, tail: float):
    """Windows of u_c, u_t and v of one dataset's posterior (see :func:`corner_windows`), cached
    per dataset: adjacent chunks of a table share their boundary counts' corners."""
    from lnbayes.engines import exact
    from lnbayes.model.spec import Outcome

    outcome = Outcome("corner", "corner", y_t, n_t, y_c, n_c)
    post = exact.effect_posterior(prior.control, prior.scale, prior.effect, outcome)
    u = special.logit(post.x)
    return ((float(u[0]), float(u[-1])), _logit_quantile_of(post, "p_treatment", tail),
            _logit_quantile_of(post, "odds_ratio", tail))


def _logit_quantile_of(post, measure: str, tail: float) -> tuple[float, float]:
    """Lower and upper ``tail`` quantiles of logit(p_treatment) or of the log odds ratio, found on
    the log scale (relative precision in the far tails, where p_treatment is tiny).

    The roots are of log(tail probability) - log(``tail``): in the far tails a log probability is
    close to linear (or quadratic) in z, so Brent's method needs a handful of steps where the
    probability itself, varying like exp(z), needs thirty.
    """
    if measure == "p_treatment":
        def at(z):
            return [special.expit(z)]
    else:
        def at(z):
            return [math.exp(z)]
    log_tail = math.log(tail)

    def log_cdf(z):
        return math.log(max(float(post.cdf(measure, at(z))[0]), _TINY)) - log_tail

    def log_sf(z):
        return math.log(max(float(post.sf(measure, at(z))[0]), _TINY)) - log_tail

    limits = (-U_MAX, U_MAX) if measure == "p_treatment" else (-2 * U_MAX, 2 * U_MAX)
    lo = roots.monotone_root(log_cdf, -1.0, 1.0, increasing=True, limits=limits,
                             at_limit="clamp", xtol=1e-12, what=f"the lower tail of {measure}")
    hi = roots.monotone_root(log_sf, -1.0, 1.0, increasing=False, limits=limits,
                             at_limit="clamp", xtol=1e-12, what=f"the upper tail of {measure}")
    return lo, hi


# ---------------------------------------------------------------------------------------------
# Effect-level priors: masses of every dataset
# ---------------------------------------------------------------------------------------------


@dataclass
class Masses:
    """Posterior masses of each dataset [y_c, y_t], in scaled units (ratios are exact).

    ``log_scale_c[y_c] + log_scale_t[y_t]`` converts ``total`` to the marginal likelihood up to a
    common factor (for predictive probabilities). ``edge`` is the largest share of any dataset's
    mass in the outermost nodes. (The Savage-Dickey density at no effect is computed for one
    dataset by :func:`lnbayes.engines.exact.log_or_density_at_0`.)
    """

    harm: np.ndarray
    benefit: np.ndarray
    total: np.ndarray
    log_scale_c: np.ndarray
    log_scale_t: np.ndarray
    edge: float
    plan: Plan


def effect_masses(prior, n_t: int, n_c: int, y_t, y_c, what: str = "P(benefit)",
                  cheapest: bool = False) -> Masses:
    """Harm and benefit masses for every dataset, with the edge check (widening once).
    ``cheapest``: see :func:`plan_effect`."""
    y_t, y_c = np.atleast_1d(y_t).astype(int), np.atleast_1d(y_c).astype(int)
    yt, yc = (int(y_t.min()), int(y_t.max())), (int(y_c.min()), int(y_c.max()))
    margin = 1.0
    for attempt in range(3):
        plan = plan_effect(prior, n_t, n_c, yt, yc, len(y_t), len(y_c), what, margin, cheapest)
        run = _lattice_masses if plan.method == "lattice" else _row_masses
        masses = run(prior, plan, n_t, n_c, y_t, y_c)
        if masses.edge <= EDGE_TOL:
            return masses
        margin = 2.0 if attempt == 0 else 4.0
    if masses.edge > EDGE_FAIL:
        raise PlanError(f"{what}: the posterior of some dataset reaches the edge of the "
                        f"quadrature window (mass {masses.edge:.2g} there); it cannot be "
                        "computed accurately")
    return masses


CHUNKS = 12
"""A large table's control counts are split into about 6 chunks: ``k // CHUNKS`` counts in each
end chunk, doubling to four times that in the middle (:func:`control_chunks`). Fewer, larger
chunks pay less for their corner posteriors (two exact posteriors per boundary, ~20 ms each),
more, smaller ones less for their lattices (measured on ANDROMEDA-SHOCK, n = 212 + 212: 5 to 8
chunks are fastest)."""
MIN_CHUNKED = 2 * CHUNKS
"""Fewest control counts for which a table off the default window is computed in chunks."""


def control_chunks(k: int) -> list[tuple[int, int]]:
    """Index ranges ``[i0, i1]`` (inclusive) covering 0..k-1, adjacent ranges sharing their
    boundary index (so they share the corner datasets of :func:`corner_windows`). Sizes grow
    from ``k // CHUNKS`` at both ends to four times that in the middle: the extreme counts'
    posteriors have long prior-governed tails, so their windows are wide and their chunks are
    kept small."""
    first = max(1, k // CHUNKS)
    size = 4 * first
    edges = [0]
    step = first
    while edges[-1] + step < (k - 1) / 2:  # the lower half, growing
        edges.append(edges[-1] + step)
        step = min(2 * step, size)
    upper = [k - 1 - e for e in edges]  # mirrored at the upper end
    mid_lo, mid_hi = edges[-1], upper[-1]
    n_mid = max(1, math.ceil((mid_hi - mid_lo) / size))
    middle = np.linspace(mid_lo, mid_hi, n_mid + 1).round().astype(int).tolist()
    points = sorted(set(edges + middle + upper))
    return [(a, b) for a, b in zip(points[:-1], points[1:])]


def chunked_masses(prior, n_t: int, n_c: int, y_t, y_c, what: str = "P(benefit)"):
    """Harm and benefit masses of every dataset, in chunks of control counts when the whole
    table would not use the default window (large trials). Returns a list of
    ``(indices into y_c, Masses)``, each chunk in its own scale (only the ratios of one dataset's
    masses are comparable across chunks; ``log_scale_c`` does not convert between chunks).

    Each chunk is planned, windowed, spaced and edge-checked on its own by
    :func:`effect_masses` (the same error control as one table), with the cheapest plan: a
    middle chunk's control window is a few logit units wide instead of the whole table's. The
    corner posteriors are cached per dataset, and adjacent chunks share a boundary count.
    """
    y_t, y_c = np.atleast_1d(y_t).astype(int), np.atleast_1d(y_c).astype(int)
    yt, yc = (int(y_t.min()), int(y_t.max())), (int(y_c.min()), int(y_c.max()))
    plan = plan_effect(prior, n_t, n_c, yt, yc, len(y_t), len(y_c), what)
    order = np.argsort(y_c, kind="stable")
    if plan.default or len(y_c) < MIN_CHUNKED or np.any(np.diff(y_c[order]) == 0):
        return [(np.arange(len(y_c)), effect_masses(prior, n_t, n_c, y_t, y_c, what))]
    chunks = []
    for i0, i1 in control_chunks(len(y_c)):
        idx = order[i0:i1 + 1]
        chunks.append((idx, effect_masses(prior, n_t, n_c, y_t, y_c[idx], what, cheapest=True)))
    return chunks


def _lik_rows(events: np.ndarray, n: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Likelihood rows on nodes u, each divided by its largest possible value (returned, log)."""
    log_max = binom_logpmf_max(events, n)
    return np.exp(binom_logpmf_logit(events[:, None], n, u[None, :]) - log_max[:, None]), log_max


@lru_cache(maxsize=2)
def _cached_prior(prior, u_key: tuple[float, float, int]) -> tuple[np.ndarray, float]:
    """Dense prior matrix on the default window (u_c = u_t), scaled by exp(-peak), and the peak.

    log_or: the density is ``pi_c(u_c) phi(u_t - u_c)`` and u_t - u_c is constant along each
    diagonal of the lattice, so ``phi`` is evaluated once per diagonal (2n - 1 exponentials
    instead of n^2) and the matrix is an outer product read through a sliding window; the
    scale is then ``exp(-(max log pi_c + max log phi))`` (a common factor: masses are ratios).
    """
    u = np.linspace(*u_key)
    n = len(u)
    if prior.family == "effect" and prior.scale == "log_or":
        h = (u_key[1] - u_key[0]) / (n - 1)
        log_pc = BetaMix.of(prior.control).logpdf_logit(u)
        log_phi = NormalMix.of(prior.effect).logpdf(h * np.arange(1 - n, n))
        top_c, top_phi = float(np.max(log_pc)), float(np.max(log_phi))
        pc, phi = np.exp(log_pc - top_c), np.exp(log_phi - top_phi)
        # row i holds phi at the diagonals k - i = -i .. n - 1 - i: phi[n - 1 - i:2n - 1 - i]
        windows = np.lib.stride_tricks.sliding_window_view(phi, n)[::-1]
        return np.multiply(windows, pc[:, None]), top_c + top_phi
    log_p = np.empty((n, n))
    block = max(1, BLOCK_BYTES // (8 * n))
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        log_p[rows] = log_prior_density(prior, u[rows][:, None], u[None, :])
    peak = float(np.max(log_p))
    return np.exp(log_p - peak, out=log_p), peak


def _lattice_masses(prior, plan: Plan, n_t, n_c, y_t, y_c) -> Masses:
    """Harm and benefit masses of every dataset on the lattice plan: the prior in blocks of
    u_c rows (within the band around the diagonal), times the control likelihoods, summed into
    per-column accumulators that the treatment likelihoods then close."""
    u_c, u_t = plan.u_c, plan.u_t
    n_cn, n_tn = len(u_c), len(u_t)
    lik_c, s_c = _lik_rows(y_c, n_c, u_c)
    lik_t, s_t = _lik_rows(y_t, n_t, u_t)
    acc = np.zeros((3, len(y_c), n_tn))  # benefit, harm, and the first and last two u_c rows
    cached = plan.default and n_cn <= MAX_CACHED_NODES
    toeplitz = None
    if not cached and prior.family == "effect" and prior.scale == "log_or":
        toeplitz = _diagonal_factors(prior, plan, n_cn, n_tn)
    peak = -np.inf
    block = max(1, min(256, BLOCK_BYTES // (8 * n_tn)))
    for start in range(0, n_cn, block):
        rows = np.arange(start, min(start + block, n_cn))
        if plan.band is not None:
            c0 = max(0, rows[0] + plan.offset + plan.band[0])
            c1 = min(n_tn, rows[-1] + plan.offset + plan.band[1] + 1)
        else:
            c0, c1 = 0, n_tn
        if c0 >= c1:
            continue
        got = _prior_block(prior, plan, cached, toeplitz, rows, c0, c1)
        if got is None:
            continue
        dens, block_peak = got
        if block_peak > peak:  # rescale what was accumulated to the new peak
            if np.isfinite(peak):
                acc *= math.exp(peak - block_peak)
            peak = block_peak
        lc = lik_c[:, rows] * math.exp(block_peak - peak)
        _accumulate_block(acc, lc, dens, rows, c0, c1, plan.offset, n_cn)
    acc_b, acc_h, acc_e = acc
    benefit = acc_b @ lik_t.T
    harm = acc_h @ lik_t.T
    total = benefit + harm
    with np.errstate(divide="ignore", invalid="ignore"):
        both = acc_b + acc_h
        cols = np.r_[0:2, n_tn - 2:n_tn]
        edge_t = (both[:, cols] @ lik_t[:, cols].T) / total
        edge_c = (acc_e @ lik_t.T) / total
        edge = float(np.nanmax(np.concatenate([edge_t.ravel(), edge_c.ravel()])))
    return Masses(harm, benefit, total, s_c, s_t, edge, plan)


def _diagonal_factors(prior, plan: Plan, n_cn: int, n_tn: int):
    """log_or off the default window: u_t - u_c = (k - i - offset) h on the lattice, so the
    effect's density is a function of the diagonal only, evaluated once per diagonal instead of
    once per node. (control density, effect density per diagonal, first diagonal, log scale)."""
    j_min = -plan.offset - (n_cn - 1)
    j = np.arange(j_min, n_tn - plan.offset)
    log_pc = BetaMix.of(prior.control).logpdf_logit(plan.u_c)
    log_phi = NormalMix.of(prior.effect).logpdf(j * plan.h_c)
    top_c, top_phi = float(np.max(log_pc)), float(np.max(log_phi))
    return np.exp(log_pc - top_c), np.exp(log_phi - top_phi), j_min, top_c + top_phi


def _prior_block(prior, plan: Plan, cached: bool, toeplitz, rows, c0: int, c1: int):
    """The prior density on ``rows`` x columns c0..c1, scaled by exp(-peak), and the peak (None
    where the block has no prior mass)."""
    if cached:
        dens_full, p = _cached_prior(prior, (float(plan.u_c[0]), float(plan.u_c[-1]),
                                             len(plan.u_c)))
        return dens_full[rows[0]:rows[-1] + 1, c0:c1], p
    if toeplitz is not None:  # log_or: pi_c(u_c) phi(u_t - u_c), phi on the lattice
        pc, phi, j_min, block_peak = toeplitz
        windows = np.lib.stride_tricks.sliding_window_view(phi, c1 - c0)
        return windows[c0 - rows - plan.offset - j_min] * pc[rows][:, None], block_peak
    log_p = log_prior_density(prior, plan.u_c[rows][:, None], plan.u_t[None, c0:c1])
    block_peak = float(np.max(log_p))
    if not np.isfinite(block_peak):
        return None
    return np.exp(log_p - block_peak), block_peak


def _accumulate_block(acc, lc, dens, rows, c0: int, c1: int, offset: int, n_cn: int) -> None:
    """Add one block's control likelihood x prior to the benefit, harm and edge accumulators.

    Columns left of the strip around the diagonal are all harm (weight 1), right of it all
    benefit; the strip gets the Gregory-corrected weights of both half-planes.
    """
    acc_b, acc_h, acc_e = acc
    m = GREGORY_ORDER
    s0 = min(max(c0, rows[0] + offset - (m - 1)), c1)
    s1 = max(min(c1, rows[-1] + offset + m), s0)
    if s0 > c0:
        acc_h[:, c0:s0] += lc @ dens[:, :s0 - c0]
    if c1 > s1:
        acc_b[:, s1:c1] += lc @ dens[:, s1 - c0:]
    if s1 > s0:
        strip = dens[:, s0 - c0:s1 - c0]
        # offsets from the diagonal: (s0 - rows[0] - offset) + column - row, the same
        # pattern for every block of the same shape (weights computed once per pattern)
        w_b, w_h = _strip_weights(len(rows), int(s0 - rows[0] - offset), int(s1 - s0))
        acc_b[:, s0:s1] += lc @ (strip * w_b)
        acc_h[:, s0:s1] += lc @ (strip * w_h)
    for edge_rows in (rows[rows < 2], rows[rows >= n_cn - 2]):
        if len(edge_rows):
            sel = edge_rows - rows[0]
            acc_e[:, c0:c1] += lc[:, sel] @ dens[sel]


def _row_masses(prior, plan: Plan, n_t, n_c, y_t, y_c) -> Masses:
    u_c, v = plan.u_c, plan.v
    n_cn, n_v = len(u_c), len(v)
    lik_c, s_c = _lik_rows(y_c, n_c, u_c)
    s_t = binom_logpmf_max(y_t, n_t)
    j = np.arange(n_v) - plan.j0
    w_b = half_line_weights(j) * plan.h_v
    w_h = half_line_weights(-j) * plan.h_v
    m_b = np.zeros((n_cn, len(y_t)))
    m_h = np.zeros((n_cn, len(y_t)))
    edge_rows = np.zeros((n_cn, len(y_t)))
    peak_rows = np.full(n_cn, -np.inf)
    rows_per_block = max(1, BLOCK_BYTES // (8 * n_v * max(1, min(len(y_t), 64))))
    t_chunk = max(1, BLOCK_BYTES // (8 * n_v * rows_per_block))
    y_t_f = y_t.astype(float)
    for start in range(0, n_cn, rows_per_block):
        rows = np.arange(start, min(start + rows_per_block, n_cn))
        uc = u_c[rows][:, None]
        log_p = log_prior_density(prior, uc, uc + v[None, :])  # (b, n_v)
        peak = np.max(log_p, axis=1)
        ok = np.isfinite(peak)
        peak = np.where(ok, peak, 0.0)
        dens = np.where(ok[:, None], np.exp(log_p - peak[:, None]), 0.0)
        peak_rows[rows] = np.where(ok, peak, -np.inf)
        s = uc + v[None, :]
        log_x, log_1mx = special.log_expit(s), special.log_expit(-s)
        for t0 in range(0, len(y_t), t_chunk):
            yy = y_t_f[t0:t0 + t_chunk]
            log_comb = dists.log_binom_coef(yy, n_t) - s_t[t0:t0 + t_chunk]
            log_lt = (log_comb[:, None, None] + yy[:, None, None] * log_x[None]
                      + (n_t - yy)[:, None, None] * log_1mx[None])
            f = np.exp(log_lt) * dens[None]  # (t, b, n_v)
            m_b[rows, t0:t0 + t_chunk] = (f @ w_b).T
            m_h[rows, t0:t0 + t_chunk] = (f @ w_h).T
            edge_rows[rows, t0:t0 + t_chunk] = (f[:, :, :2].sum(axis=2)
                                                + f[:, :, -2:].sum(axis=2)).T * plan.h_v
    # rows carry their own peaks: bring them to a common one
    finite = np.isfinite(peak_rows)
    top = float(np.max(peak_rows[finite])) if np.any(finite) else 0.0
    row_scale = np.where(np.isfinite(peak_rows), np.exp(peak_rows - top), 0.0) * plan.h_c
    lc = lik_c * row_scale[None, :]
    benefit = lc @ m_b
    harm = lc @ m_h
    total = benefit + harm
    with np.errstate(divide="ignore", invalid="ignore"):
        edge_v = (lc @ edge_rows) / total
        first = lc[:, :2] @ (m_b[:2] + m_h[:2])
        last = lc[:, -2:] @ (m_b[-2:] + m_h[-2:])
        edge_c = (first + last) / total
        edge = float(np.nanmax(np.concatenate([edge_v.ravel(), edge_c.ravel()])))
    return Masses(harm, benefit, total, s_c, s_t, edge, plan)
