"""The exact engine: closed-form and quadrature posteriors (NumPy and SciPy only).

Both model families are reduced to one representation: quadrature nodes ``x_i`` for p_control
with probability weights ``w_i`` (summing to 1), and for each node the conditional posterior CDF
of p_treatment, ``F_i(t) = P(p_treatment <= t | p_control = x_i, data)``. Because every effect
measure increases with p_treatment at fixed p_control, any posterior probability is a weighted
sum of conditional CDFs:

    P(measure <= v | data) = sum_i w_i F_i(t_i(v)),  t_i(v) = p_treatment at which measure = v.

*Arm-level priors* (Beta mixtures on each arm) are conjugate: each arm's posterior is again a
Beta mixture and ``F_i`` is its CDF for every i. The p_control nodes are an 801-point Simpson rule
on the logit scale spanning the posterior.

*Effect-level priors* (Beta mixture on p_control, Normal mixture on theta) are integrated by
deterministic 2-D quadrature: Simpson on logit(p_control) (401 nodes spanning where the marginal
posterior is within 60 nats of its maximum), and for each node a cumulative trapezoid rule on
theta over the union of a grid spanning the prior and a grid spanning the likelihood, with the
no-effect point as a node. For log_rr and rd the theta prior is truncated, given p_control, to
the feasible range (effects.theta_bounds) and renormalised, so p_control keeps its stated prior.

For arm-level priors the nodes lie on the arm whose prior is the more regular (larger smallest
Beta shape): with a Beta(1e-9, 1) control prior they lie on p_treatment, and the control arm
enters through its exact Beta CDF (:class:`TreatmentNodesPosterior`). For effect-level priors the
theta grid of each row also spans the likelihood and the gap between it and the prior when they
are far apart (a prior in conflict with the data), and a prior whose 12-sd span lies beyond a
feasible edge gets nodes along its decay from that edge. Priors whose posterior mass the logit
windows cannot hold (Beta shapes far below 0.4; :data:`TAIL_TOL`) are refused with
:class:`lnbayes.errors.LnbayesError` naming the prior.

Probabilities are computed on the side asked for (survival functions, not ``1 - cdf``) and lie in
[0, 1]; quantiles use closed forms where they exist and otherwise
:func:`lnbayes.numerics.roots.monotone_root`, which no last-bit rounding can make fail.

Accuracy is better than 1e-4 on probabilities (tests compare against closed forms and
scipy.integrate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special
from scipy.integrate import cumulative_simpson

from lnbayes.errors import LnbayesError
from lnbayes.model import dists, effects
from lnbayes.numerics import roots

_RATIO_MEASURES = ("risk_ratio", "odds_ratio")


# ---------------------------------------------------------------------------------------------
# Beta mixtures (conjugate updating)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BetaMix:
    """A Beta mixture as arrays: weights w, shapes a and b."""

    w: np.ndarray
    a: np.ndarray
    b: np.ndarray

    @classmethod
    def of(cls, prior) -> BetaMix:
        return cls(np.asarray(prior.weights, float), np.asarray(prior.a, float), np.asarray(prior.b, float))

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)[..., None]
        return special.logsumexp(np.log(self.w) + dists.beta_logpdf(x, self.a, self.b), axis=-1)

    def logpdf_logit(self, u):
        """Log density of logit(X) at u, computed on the logit scale (finite wherever the
        density is positive, also where expit(u) rounds to 0 or 1)."""
        u = np.asarray(u, dtype=float)[..., None]
        log_terms = (np.log(self.w) - special.betaln(self.a, self.b)
                     + self.a * special.log_expit(u) + self.b * special.log_expit(-u))
        return special.logsumexp(log_terms, axis=-1)

    def cdf(self, x):
        x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)[..., None]
        return np.clip(np.sum(self.w * special.betainc(self.a, self.b, x), axis=-1), 0.0, 1.0)

    def sf(self, x):
        """P(X > x), computed directly (accurate where it is tiny, unlike 1 - cdf)."""
        x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)[..., None]
        return np.clip(np.sum(self.w * special.betaincc(self.a, self.b, x), axis=-1), 0.0, 1.0)

    def mean(self) -> float:
        return float(np.sum(self.w * self.a / (self.a + self.b)))

    def ppf(self, q: float) -> float:
        """The q-quantile: scipy's Beta quantile for one component, else a bracketed root."""
        q = float(q)
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"a quantile level must lie in [0, 1], got {q!r}")
        comps = dists.beta_ppf(q, self.a, self.b)
        if len(self.w) == 1:
            return float(comps[0])
        # the mixture's quantile lies between its components' quantiles
        return roots.monotone_root(lambda x: float(self.cdf(x)) - q, float(np.min(comps)),
                                   float(np.max(comps)), increasing=True, limits=(0.0, 1.0),
                                   at_limit="clamp", xtol=1e-15, what=f"the {q:g}-quantile")

    def support_logit(self, tail: float = 1e-15) -> tuple[float, float]:
        lo = np.min(dists.beta_ppf(tail, self.a, self.b))
        hi = np.max(dists.beta_isf(tail, self.a, self.b))
        lo, hi = max(lo, 1e-300), min(hi, 1 - 1e-16)
        return float(special.logit(lo)), float(special.logit(hi))


def update_beta(prior: BetaMix, events: int, n: int) -> tuple[BetaMix, float]:
    """Conjugate update of a Beta mixture by ``events`` out of ``n``.

    Returns the posterior mixture and the log marginal likelihood (beta-binomial, including
    the binomial coefficient).
    """
    a1 = prior.a + events
    b1 = prior.b + n - events
    log_comb = special.gammaln(n + 1) - special.gammaln(events + 1) - special.gammaln(n - events + 1)
    log_m = np.log(prior.w) + log_comb + special.betaln(a1, b1) - special.betaln(prior.a, prior.b)
    if len(log_m) == 1:  # one component (scipy's logsumexp costs 0.2 ms; design calls this 3,000 times)
        return BetaMix(np.ones(1), a1, b1), float(log_m[0])
    log_evidence = special.logsumexp(log_m)
    return BetaMix(np.exp(log_m - log_evidence), a1, b1), float(log_evidence)


# ---------------------------------------------------------------------------------------------
# Normal mixtures on the effect, truncated per p_control
# ---------------------------------------------------------------------------------------------


_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


@dataclass(frozen=True)
class NormalMix:
    w: np.ndarray
    m: np.ndarray
    s: np.ndarray

    @classmethod
    def of(cls, prior) -> NormalMix:
        return cls(np.asarray(prior.weights, float), np.asarray(prior.means, float), np.asarray(prior.sds, float))

    def logpdf(self, theta):
        theta = np.asarray(theta, dtype=float)
        if len(self.m) == 1:  # one component: the Normal log density itself, no log-sum-exp
            z = (theta - self.m[0]) / self.s[0]
            return -0.5 * z * z - (np.log(self.s[0]) + _LOG_SQRT_2PI)
        z = (theta[..., None] - self.m) / self.s
        terms = np.log(self.w) - 0.5 * z * z - (np.log(self.s) + _LOG_SQRT_2PI)
        top = np.max(terms, axis=-1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        return np.log(np.sum(np.exp(terms - top), axis=-1)) + top[..., 0]

    def log_mass(self, lo, hi):
        """log P(lo < theta < hi) under the mixture (elementwise)."""
        if np.all(np.isneginf(lo)) and np.all(np.isposinf(hi)):  # the whole line (log-OR)
            return np.zeros(np.broadcast(np.asarray(lo), np.asarray(hi)).shape)
        lo = np.asarray(lo, dtype=float)[..., None]
        hi = np.asarray(hi, dtype=float)[..., None]
        z_lo = (lo - self.m) / self.s
        z_hi = (hi - self.m) / self.s
        # log(Phi(z_hi) - Phi(z_lo)) computed stably on whichever tail is smaller
        upper = z_lo > 0
        a = np.where(upper, -z_hi, z_lo)
        b = np.where(upper, -z_lo, z_hi)
        log_comp = special.log_ndtr(b) + np.log1p(-np.exp(np.minimum(special.log_ndtr(a) - special.log_ndtr(b), -1e-300)))
        if len(self.m) == 1:
            return log_comp[..., 0]
        return special.logsumexp(np.log(self.w) + log_comp, axis=-1)

    def span(self, k: float = 12.0) -> tuple[float, float]:
        return float(np.min(self.m - k * self.s)), float(np.max(self.m + k * self.s))


def _log_binom_logit(events: int, n: int, u):
    """Binomial log-pmf at p = expit(u), computed on the logit scale."""
    u = np.asarray(u, dtype=float)
    log_comb = (special.gammaln(n + 1) - special.gammaln(events + 1)
                - special.gammaln(n - events + 1))
    return log_comb + events * special.log_expit(u) + (n - events) * special.log_expit(-u)


def _log_binom(events: int, n: int, p):
    """Binomial log-pmf in p, with the binomial coefficient, safe at p in {0, 1}."""
    p = np.asarray(p, dtype=float)
    log_comb = special.gammaln(n + 1) - special.gammaln(events + 1) - special.gammaln(n - events + 1)
    return log_comb + special.xlogy(events, p) + special.xlog1py(n - events, -p)


# ---------------------------------------------------------------------------------------------
# The posterior representation
# ---------------------------------------------------------------------------------------------


@dataclass
class ExactPosterior:
    """A posterior over (p_control, p_treatment) as p_control nodes and conditional CDFs.

    Probabilities are computed on the side they are asked for (a survival function where one is
    given, not ``1 - cdf``) and clipped to [0, 1], so none falls outside [0, 1] by rounding and
    tiny tail probabilities keep their relative accuracy.
    """

    x: np.ndarray
    """p_control quadrature nodes."""
    w: np.ndarray
    """Posterior probability weights of the nodes (sum to 1)."""
    cond_cdf: Callable[[np.ndarray], np.ndarray]
    """t of shape (len(x), k) -> P(p_treatment <= t | p_control = x_i) of the same shape."""
    pc_cdf: Callable[[float], float]
    """Marginal posterior CDF of p_control."""
    log_evidence: float
    """log marginal likelihood of the two arms' counts."""
    family: str
    scale: str | None = None
    cond_sf: Callable[[np.ndarray], np.ndarray] | None = None
    """t -> P(p_treatment > t | p_control = x_i), computed directly (default: 1 - cond_cdf)."""
    pc_ppf: Callable[[float], float] | None = None
    """Closed-form quantile function of p_control, where there is one."""
    pt_ppf: Callable[[float], float] | None = None
    """Closed-form quantile function of p_treatment, where there is one (arm-level priors)."""

    def cdf(self, measure: str, values) -> np.ndarray:
        """P(measure <= v | data) for each v in ``values``."""
        values = np.atleast_1d(np.asarray(values, dtype=float))
        if measure == "p_control":
            return np.clip(np.array([self.pc_cdf(v) for v in values]), 0.0, 1.0)
        t = effects.p_treatment_at(measure, self.x[:, None], values[None, :])
        return np.clip(self.w @ self._cdf_clipped(t), 0.0, 1.0)

    def sf(self, measure: str, values) -> np.ndarray:
        """P(measure > v | data) for each v, computed as a survival function."""
        values = np.atleast_1d(np.asarray(values, dtype=float))
        if measure == "p_control":
            return np.clip(1.0 - self.cdf(measure, values), 0.0, 1.0)
        t = effects.p_treatment_at(measure, self.x[:, None], values[None, :])
        return np.clip(self.w @ self._sf_clipped(t), 0.0, 1.0)

    def _cdf_clipped(self, t: np.ndarray) -> np.ndarray:
        inside = (t > 0) & (t < 1)
        out = np.where(t >= 1, 1.0, 0.0)
        if inside.any():
            out = np.where(inside, self.cond_cdf(np.clip(t, 1e-300, 1 - 1e-16)), out)
        return out

    def _sf_clipped(self, t: np.ndarray) -> np.ndarray:
        if self.cond_sf is None:
            return 1.0 - self._cdf_clipped(t)
        inside = (t > 0) & (t < 1)
        out = np.where(t <= 0, 1.0, 0.0)
        if inside.any():
            out = np.where(inside, self.cond_sf(np.clip(t, 1e-300, 1 - 1e-16)), out)
        return out

    def prob_benefit(self, lower_is_better: bool = False) -> float:
        """P(p_treatment > p_control), or P(p_treatment < p_control) when lower is better."""
        t = self.x[:, None]
        side = self._cdf_clipped(t) if lower_is_better else self._sf_clipped(t)
        return float(np.clip(self.w @ side[:, 0], 0.0, 1.0))

    def prob_beyond(self, measure: str, value: float, lower_is_better: bool = False) -> float:
        """P(measure > value), or P(measure < value) when lower is better."""
        if lower_is_better:
            return float(self.cdf(measure, [value])[0])
        return float(self.sf(measure, [value])[0])

    def prob_between(self, measure: str, lower: float, upper: float) -> float:
        lo, hi = self.cdf(measure, [lower, upper])
        return float(min(max(hi - lo, 0.0), 1.0))

    def quantile(self, measure: str, q: float) -> float:
        """The q-quantile of a measure.

        Closed forms where they exist (p_control and p_treatment under arm-level priors: Beta
        quantiles; p_control under effect-level priors: the inverse of its piecewise-linear CDF);
        otherwise the root of ``cdf - q`` by :func:`lnbayes.numerics.roots.monotone_root`, bracketed from a
        grid and checked, so that a bracket one ulp off (a CDF that equals ``q`` exactly at a grid
        node) cannot make it fail. Quantiles beyond the searched range (odds and risk ratios
        outside exp(+-40)) are reported as the range's end.
        """
        q = float(q)
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"a quantile level must lie in [0, 1], got {q!r}")
        if measure == "p_control" and self.pc_ppf is not None:
            return float(self.pc_ppf(q))
        if measure == "p_treatment" and self.pt_ppf is not None:
            return float(self.pt_ppf(q))
        ratio = measure in _RATIO_MEASURES
        grid = self._quantile_grid(measure)
        cdf = self._grid_cdf(measure, grid)
        k = int(np.clip(np.searchsorted(cdf, q), 1, len(grid) - 1))
        if ratio:
            def f(lv: float) -> float:
                return float(self.cdf(measure, [np.exp(lv)])[0]) - q
        else:
            def f(v: float) -> float:
                return float(self.cdf(measure, [v])[0]) - q
        root = roots.monotone_root(
            f, grid[k - 1], grid[k], increasing=True, limits=(grid[0], grid[-1]),
            at_limit="clamp", xtol=1e-10 if ratio else 1e-12,
            what=f"the {q:g}-quantile of {measure}",
        )
        return float(np.exp(root)) if ratio else float(root)

    @staticmethod
    def _quantile_grid(measure: str) -> np.ndarray:
        """The search grid (on the log scale for ratio measures)."""
        if measure in _RATIO_MEASURES:
            return np.linspace(-40, 40, 801)
        if measure == "risk_difference":
            return np.linspace(-1, 1, 401)
        return np.linspace(0, 1, 401)

    def _grid_cdf(self, measure: str, grid: np.ndarray) -> np.ndarray:
        cache = self.__dict__.setdefault("_grid_cdf_cache", {})
        if measure not in cache:
            values = np.exp(grid) if measure in _RATIO_MEASURES else grid
            cache[measure] = self.cdf(measure, values)
        return cache[measure]

    def interval(self, measure: str, prob: float = 0.95) -> dict[str, float]:
        tail = (1 - prob) / 2
        return {
            "median": self.quantile(measure, 0.5),
            "lower": self.quantile(measure, tail),
            "upper": self.quantile(measure, 1 - tail),
        }

    def mean(self, measure: str) -> float:
        """Posterior mean, by the quadrature of the conditional distribution on a t grid."""
        t = np.linspace(0, 1, 4001)
        f = self._cdf_clipped(np.broadcast_to(t, (len(self.x), len(t))))
        dens = np.gradient(f, t, axis=1)
        vals = effects.effect(measure, self.x[:, None], t[None, :])
        vals = np.where(np.isfinite(vals), vals, 0.0)
        row = np.trapezoid(dens * vals, t, axis=1)
        return float(self.w @ row)


def _simpson_weights(n: int, h: float) -> np.ndarray:
    if n % 2 == 0:
        raise ValueError("Simpson's rule needs an odd number of nodes")
    w = np.ones(n)
    w[1:-1:2] = 4
    w[2:-1:2] = 2
    return w * h / 3


# ---------------------------------------------------------------------------------------------
# Arm-level priors
# ---------------------------------------------------------------------------------------------


def beta_nodes(post: BetaMix, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and probability weights for a Beta (mixture) distribution.

    Simpson's rule on the logit scale over the distribution's support (1e-15 tails).
    """
    lo, hi = post.support_logit()
    u = np.linspace(lo, hi, n_nodes)
    x = special.expit(u)
    log_dens = post.logpdf_logit(u)
    w = _simpson_weights(n_nodes, u[1] - u[0]) * np.exp(log_dens - log_dens.max())
    return x, w / w.sum()


TAIL_TOL = 1e-8
"""Largest posterior mass a quadrature window may leave out (else the posterior is refused):
Beta shapes down to about 0.4 pass with any data (Jeffreys' 0.5 with 0 of 1000 leaves 5e-10)."""
U_MAX = 50.0
"""The effect-level engine's rows span at most logit(p_control) in [-50, 50]."""


def _regularity(mix: BetaMix) -> float:
    """The smallest shape of a Beta mixture: the larger, the better its logit is integrated."""
    return float(min(np.min(mix.a), np.min(mix.b)))


def _mass_outside(post: BetaMix, lo: float, hi: float) -> float:
    """Mass of a Beta mixture below expit(lo) and above expit(hi)."""
    below = np.sum(post.w * special.betainc(post.a, post.b, special.expit(lo)))
    above = np.sum(post.w * special.betaincc(post.a, post.b, special.expit(hi)))
    return float(below + above)


def _arm_nodes(post: BetaMix, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """beta_nodes with at least one node per 0.1 logit units, refusing a distribution whose mass
    lies beyond what the logit window can hold (shapes far below 0.1)."""
    lo, hi = post.support_logit()
    outside = _mass_outside(post, lo, hi)
    if outside > TAIL_TOL:
        raise LnbayesError(
            f"Beta shapes {_regularity(post):.3g} on both arms put {outside:.2g} of the posterior "
            "below p = 1e-300 or above 1 - 1e-16, which the exact engine cannot integrate; give "
            "at least one arm a prior with both shapes of about 0.1 or more"
        )
    need = int(math.ceil((hi - lo) / 0.1)) + 1
    return beta_nodes(post, max(n_nodes, need + (1 - need % 2)))


def arm_posterior(control_prior, treatment_prior, outcome, n_nodes: int = 801) -> ExactPosterior:
    """Exact posterior under independent Beta (mixture) priors on each arm.

    The quadrature nodes lie on the arm whose prior is the more regular (larger smallest shape;
    p_control when equal); the other arm's posterior enters through its exact Beta CDF, so a
    prior such as Beta(1e-9, 1) on one arm is integrated correctly.
    """
    prior_c, prior_t = BetaMix.of(control_prior), BetaMix.of(treatment_prior)
    post_c, ev_c = update_beta(prior_c, outcome.control_events, outcome.control_n)
    post_t, ev_t = update_beta(prior_t, outcome.treatment_events, outcome.treatment_n)
    if _regularity(prior_c) >= _regularity(prior_t):
        x, w = _arm_nodes(post_c, n_nodes)
        return ExactPosterior(
            x=x, w=w, cond_cdf=post_t.cdf, pc_cdf=lambda v: float(post_c.cdf(v)),
            log_evidence=ev_c + ev_t, family="arm", cond_sf=post_t.sf, pc_ppf=post_c.ppf,
            pt_ppf=post_t.ppf,
        )
    x, w = _arm_nodes(post_t, n_nodes)
    return TreatmentNodesPosterior(
        x=x, w=w, cond_cdf=post_t.cdf, pc_cdf=lambda v: float(post_c.cdf(v)),
        log_evidence=ev_c + ev_t, family="arm", pc_ppf=post_c.ppf, pt_ppf=post_t.ppf,
        control=post_c, treatment=post_t,
    )


def _p_control_at(measure: str, p_treat, value):
    """The p_control at which ``measure`` equals ``value`` given p_treatment (NaN where none)."""
    p_treat = np.asarray(p_treat, dtype=float)
    value = np.asarray(value, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "risk_difference":
            return p_treat - value
        if measure == "risk_ratio":
            return np.where(value > 0, p_treat / value, np.inf)
        if measure == "odds_ratio":
            return np.where(value > 0, p_treat / (p_treat + value * (1 - p_treat)), np.inf)
    raise ValueError(f"unknown measure {measure!r}")


@dataclass
class TreatmentNodesPosterior(ExactPosterior):
    """An arm-level posterior whose quadrature nodes ``x`` lie on p_treatment.

    Used when the control arm's prior is the less regular: every measure decreases in
    p_control at fixed p_treatment, so ``P(measure <= v) = sum_j w_j P(p_control >= c_j(v))``
    with ``c_j(v)`` the p_control at which the measure equals v given p_treatment ``x_j``.
    """

    control: BetaMix | None = None
    treatment: BetaMix | None = None

    def cdf(self, measure: str, values) -> np.ndarray:
        values = np.atleast_1d(np.asarray(values, dtype=float))
        if measure == "p_control":
            return self.control.cdf(values)
        if measure == "p_treatment":
            return self.treatment.cdf(values)
        c = _p_control_at(measure, self.x[:, None], values[None, :])
        inside = self.control.sf(np.clip(np.nan_to_num(c, nan=0.0), 0.0, 1.0))
        below = np.where(c <= 0, 1.0, np.where(c >= 1, 0.0, inside))
        return np.clip(self.w @ below, 0.0, 1.0)

    def sf(self, measure: str, values) -> np.ndarray:
        values = np.atleast_1d(np.asarray(values, dtype=float))
        if measure == "p_control":
            return self.control.sf(values)
        if measure == "p_treatment":
            return self.treatment.sf(values)
        c = _p_control_at(measure, self.x[:, None], values[None, :])
        inside = self.control.cdf(np.clip(np.nan_to_num(c, nan=0.0), 0.0, 1.0))
        above = np.where(c <= 0, 0.0, np.where(c >= 1, 1.0, inside))
        return np.clip(self.w @ above, 0.0, 1.0)

    def prob_benefit(self, lower_is_better: bool = False) -> float:
        side = self.control.sf(self.x) if lower_is_better else self.control.cdf(self.x)
        return float(np.clip(self.w @ side, 0.0, 1.0))

    def mean(self, measure: str) -> float:
        c = np.linspace(0, 1, 4001)
        dens = np.gradient(self.control.cdf(c), c)
        vals = effects.effect(measure, c[None, :], self.x[:, None])
        vals = np.where(np.isfinite(vals), vals, 0.0)
        return float(self.w @ np.trapezoid(dens[None, :] * vals, c, axis=1))


# ---------------------------------------------------------------------------------------------
# Effect-level priors
# ---------------------------------------------------------------------------------------------


@dataclass
class _Rows:
    theta: np.ndarray  # (R, M) sorted theta nodes per row
    log_z: np.ndarray  # (R,) log of the row integral
    cdf: np.ndarray  # (R, M) conditional CDF of theta per row
    sf: np.ndarray  # (R, M) conditional survival function (summed from the top, not 1 - cdf)


def _theta_rows(x, scale, effect_prior: NormalMix, outcome, n_prior=1201, n_lik=1201,
                n_between=201, totals_only=False) -> _Rows:
    """Per p_control node, the conditional posterior of theta on a cumulative Simpson grid."""
    # rows beyond logit +-36.7 round p_control to 0 or 1; keep them just inside (their weight is
    # negligible, but infinite effects would poison the grids)
    x = np.clip(np.asarray(x, dtype=float), 1e-300, 1 - 2**-53)
    R = len(x)
    feas_lo, feas_hi = effects.theta_bounds(scale, x)
    pr_lo, pr_hi = effect_prior.span(12.0)
    # likelihood span of p_treatment
    y, n = outcome.treatment_events, outcome.treatment_n
    q_lo = dists.beta_ppf(1e-15, y + 1, n - y + 1)
    q_hi = dists.beta_isf(1e-15, y + 1, n - y + 1)
    q_lo, q_hi = max(q_lo, 1e-300), min(q_hi, 1 - 1e-16)
    lk_lo = effects.theta_of(scale, x, q_lo)
    lk_hi = effects.theta_of(scale, x, q_hi)

    lo = np.maximum(pr_lo, feas_lo)
    hi = np.minimum(pr_hi, feas_hi)
    # a prior whose 12-sd span lies wholly beyond a feasible edge: truncated, it piles up at that
    # edge and decays into the feasible range at the rate d / s^2 (d: distance of the nearest
    # centre from the edge); its nodes then span 60 nats of that decay from the edge
    s_max = float(np.max(effect_prior.s))
    beyond_lo = pr_hi <= feas_lo
    beyond_hi = pr_lo >= feas_hi
    if np.any(beyond_lo | beyond_hi):
        with np.errstate(divide="ignore", invalid="ignore"):
            reach_lo = 60 * s_max**2 / np.maximum(feas_lo - float(np.max(effect_prior.m)), 1e-300)
            reach_hi = 60 * s_max**2 / np.maximum(float(np.min(effect_prior.m)) - feas_hi, 1e-300)
        lo = np.where(beyond_lo, feas_lo,
                      np.where(beyond_hi, np.maximum(feas_lo, feas_hi - reach_hi), lo))
        hi = np.where(beyond_lo, np.minimum(feas_hi, feas_lo + reach_lo),
                      np.where(beyond_hi, feas_hi, hi))
    # a tiny inset keeps log(1 - p) finite at the feasible edges (the density is 0 there anyway)
    span = hi - lo
    lo_in = lo + 1e-12 * np.maximum(span, 1.0) * np.isfinite(feas_lo) * (lo == feas_lo)
    hi_in = hi - 1e-12 * np.maximum(span, 1.0) * np.isfinite(feas_hi) * (hi == feas_hi)
    g_prior = lo_in[:, None] + (hi_in - lo_in)[:, None] * np.linspace(0, 1, n_prior)[None, :]
    l_lo = np.clip(lk_lo, lo_in, hi_in)
    l_hi = np.clip(lk_hi, lo_in, hi_in)
    g_lik = l_lo[:, None] + (l_hi - l_lo)[:, None] * np.linspace(0, 1, n_lik)[None, :]
    # between the prior centre and the likelihood, in case they are far apart
    centre = float(np.sum(effect_prior.w * effect_prior.m))
    b_lo = np.clip(np.minimum(centre, lk_lo), lo_in, hi_in)
    b_hi = np.clip(np.maximum(centre, lk_hi), lo_in, hi_in)
    g_btw = b_lo[:, None] + (b_hi - b_lo)[:, None] * np.linspace(0, 1, n_between)[None, :]
    # a prior in conflict with the data: the posterior can lie beyond the prior's 12 sd, between
    # it and the likelihood; nodes from the likelihood's far end to the prior's span on each side
    # (zero width, hence no change, when the likelihood lies within the prior's span)
    o_lo = np.maximum(np.minimum(pr_lo, lk_lo), feas_lo)
    o_hi = np.minimum(np.maximum(pr_hi, lk_hi), feas_hi)
    o_span = o_hi - o_lo
    o_step = 1e-12 * np.where(np.isfinite(o_span), np.maximum(o_span, 1.0), 1.0)
    o_lo_in = o_lo + np.where(np.isfinite(feas_lo) & (o_lo == feas_lo), o_step, 0.0)
    o_hi_in = o_hi - np.where(np.isfinite(feas_hi) & (o_hi == feas_hi), o_step, 0.0)
    lk_lo_o, lk_hi_o = np.clip(lk_lo, o_lo_in, o_hi_in), np.clip(lk_hi, o_lo_in, o_hi_in)

    def segment(a, b, n):
        return a[:, None] + (b - a)[:, None] * np.linspace(0, 1, n)[None, :]

    g_out = [
        segment(np.minimum(lk_lo_o, lo_in), np.minimum(lk_hi_o, lo_in), n_lik),  # likelihood
        segment(np.minimum(lk_hi_o, lo_in), lo_in, n_between),  # the gap to the prior's span
        segment(np.maximum(lk_lo_o, hi_in), np.maximum(lk_hi_o, hi_in), n_lik),
        segment(hi_in, np.maximum(lk_lo_o, hi_in), n_between),
    ]
    zero = np.clip(np.zeros((R, 1)), o_lo_in[:, None], o_hi_in[:, None])
    theta = np.sort(np.concatenate([g_prior, g_lik, g_btw, *g_out, zero], axis=1), axis=1)

    p_t = np.clip(effects.p_treatment(scale, x[:, None], theta), 0.0, 1.0)
    log_trunc = effect_prior.log_mass(feas_lo, feas_hi)  # (R,)
    log_f = effect_prior.logpdf(theta) - log_trunc[:, None] + _log_binom(y, n, p_t)
    row_max = np.max(log_f, axis=1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    f = np.exp(log_f - row_max)
    # duplicated nodes (zero-width steps) are harmless for the trapezoid but not for Simpson
    if totals_only:  # the locating passes need the row integrals alone
        total = np.sum(0.5 * (f[:, 1:] + f[:, :-1]) * np.diff(theta, axis=1), axis=1)
        with np.errstate(divide="ignore"):
            return _Rows(theta=theta, log_z=np.log(total) + row_max[:, 0], cdf=None, sf=None)
    cum = _cumulative(f, theta)
    total = cum[:, -1]
    with np.errstate(divide="ignore"):
        log_z = np.log(total) + row_max[:, 0]
    norm = np.where(total > 0, total, 1.0)[:, None]
    cdf = np.clip(cum / norm, 0.0, 1.0)
    sf = np.clip(_cumulative(f[:, ::-1], -theta[:, ::-1])[:, ::-1] / norm, 0.0, 1.0)
    return _Rows(theta=theta, log_z=log_z, cdf=cdf, sf=sf)


class _RowLookup:
    """Linear interpolation along every row of a (R, M) array of row-wise sorted nodes at once.

    ``np.interp`` one row at a time cost a Python loop over the rows for every CDF evaluation
    (about 1 ms per call, called ~100 times per prior by the quantile searches). Here a binary
    search runs on all rows together (log2(M) vectorised steps), so the brackets are exactly
    those ``np.interp`` finds, however close the nodes (a point-like prior puts 1,201 of them
    within 1e-11).
    """

    LOOP_ABOVE = 8
    """Points per row above which the row-by-row ``np.interp`` loop is the faster way."""

    def __init__(self, nodes: np.ndarray):
        self.nodes = nodes
        self.width = nodes.shape[1]
        self.lo = nodes[:, :1]
        self.hi = nodes[:, -1:]
        self.steps = int(np.ceil(np.log2(self.width + 1)))

    def _right(self, at: np.ndarray) -> np.ndarray:
        """Per row, the index of the first node greater than ``at`` (``bisect_right``)."""
        lo = np.zeros(at.shape, dtype=np.intp)
        hi = np.full(at.shape, self.width, dtype=np.intp)
        for _ in range(self.steps):
            mid = (lo + hi) // 2
            node = np.take_along_axis(self.nodes, np.minimum(mid, self.width - 1), axis=1)
            right = (node <= at) & (mid < hi)
            lo = np.where(right, mid + 1, lo)
            hi = np.where(right, hi, mid)
        return lo

    def interp(self, at: np.ndarray, values: np.ndarray, left: float, right: float) -> np.ndarray:
        """Row i of ``at`` interpolated in (nodes[i], values[i]); ``left``/``right`` outside."""
        at = np.asarray(at, dtype=float)
        if at.shape[1] > self.LOOP_ABOVE:  # many points per row: np.interp row by row is faster
            out = np.empty(at.shape)
            for i in range(len(self.nodes)):
                out[i] = np.interp(at[i], self.nodes[i], values[i], left=left, right=right)
            return out
        j = np.clip(self._right(at), 1, self.width - 1)
        x0 = np.take_along_axis(self.nodes, j - 1, axis=1)
        x1 = np.take_along_axis(self.nodes, j, axis=1)
        f0 = np.take_along_axis(values, j - 1, axis=1)
        f1 = np.take_along_axis(values, j, axis=1)
        dx = x1 - x0
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = np.clip(np.where(dx > 0, (at - x0) / dx, 1.0), 0.0, 1.0)
        out = f0 + weight * (f1 - f0)
        out = np.where(at < self.lo, left, out)
        return np.where(at > self.hi, right, out)


def _cumulative(f: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Cumulative trapezoid integral along rows.

    The rows are unions of uniform grids, so nodes can repeat (zero-width steps, harmless here);
    the density vanishes at both ends, where the trapezoid rule is most accurate.
    """
    dx = np.diff(theta, axis=1)
    steps = 0.5 * (f[:, 1:] + f[:, :-1]) * dx
    return np.concatenate([np.zeros((f.shape[0], 1)), np.cumsum(steps, axis=1)], axis=1)


LOCATE_NODES = {"n_prior": 201, "n_lik": 201, "n_between": 51, "totals_only": True}
"""Theta nodes per row in the passes that locate p_control's posterior range (a fifth of the
final rows': those passes compare row integrals with a 60-nat cut, so a relative error of 1e-6
changes nothing)."""


def effect_posterior(
    control_prior, scale: str, effect_prior, outcome, n_rows: int = 401
) -> ExactPosterior:
    """Posterior under a Beta (mixture) prior on p_control and a Normal (mixture) on theta."""
    prior_c = BetaMix.of(control_prior)
    prior_e = NormalMix.of(effect_prior)

    def log_marginal(u, locate=False):
        x = special.expit(u)
        # the passes that only locate the 60-nat range of the marginal need a rough row integral
        nodes = LOCATE_NODES if locate else {}
        rows = _theta_rows(x, scale, prior_e, outcome, **nodes)
        log_m = (
            prior_c.logpdf_logit(u)
            + _log_binom_logit(outcome.control_events, outcome.control_n, u)
            + rows.log_z
        )
        return log_m, rows

    # coarse pass over a wide logit range to find where the marginal posterior lives
    u_c = np.linspace(-30, 30, 241)
    lm_c, _ = log_marginal(u_c, locate=True)
    keep = np.flatnonzero(lm_c > np.max(lm_c) - 60)
    step = u_c[1] - u_c[0]
    limit = 36.0
    if keep[0] == 0 or keep[-1] == len(u_c) - 1:
        # the marginal is still within 60 nats at logit +-30: how much of the control arm's
        # conjugate posterior lies beyond +-36 (heavy-tailed Beta priors, shapes below 1)?
        post_c, _ = update_beta(prior_c, outcome.control_events, outcome.control_n)
        if _mass_outside(post_c, -limit, limit) > TAIL_TOL:
            limit = U_MAX
            u_c = np.linspace(-U_MAX, U_MAX, 401)
            lm_c, _ = log_marginal(u_c, locate=True)
            keep = np.flatnonzero(lm_c > np.max(lm_c) - 60)
            outside = _mass_outside(post_c, -U_MAX, U_MAX)
            if (keep[0] == 0 or keep[-1] == len(u_c) - 1) and outside > TAIL_TOL:
                raise LnbayesError(
                    f"control prior Beta shapes {_regularity(prior_c):.3g} leave {outside:.2g} of "
                    f"p_control's posterior beyond logit +-{U_MAX:g}, which the exact engine "
                    "cannot integrate; use shapes of about 0.4 or more"
                )
    u_lo = max(u_c[keep[0]] - step, -limit)
    u_hi = min(u_c[keep[-1]] + step, limit)
    # second pass on the located range, then the final Simpson grid
    u_m = np.linspace(u_lo, u_hi, 161)
    lm_m, _ = log_marginal(u_m, locate=True)
    keep = np.flatnonzero(lm_m > np.max(lm_m) - 60)
    step = u_m[1] - u_m[0]
    u_lo, u_hi = u_m[keep[0]] - step, u_m[keep[-1]] + step
    u = np.linspace(u_lo, u_hi, n_rows)
    log_m, rows = log_marginal(u)
    x = special.expit(u)
    h = u[1] - u[0]
    sw = _simpson_weights(n_rows, h)
    peak = np.max(log_m)
    dens = np.exp(log_m - peak)
    w = sw * dens
    log_evidence = float(np.log(w.sum()) + peak)
    w = w / w.sum()
    cum_u = cumulative_simpson(dens, x=u, initial=0.0)
    cum_u = np.maximum.accumulate(np.maximum(cum_u, 0)) / cum_u[-1]

    def pc_cdf(v: float) -> float:
        if v <= 0:
            return 0.0
        if v >= 1:
            return 1.0
        return float(np.interp(special.logit(v), u, cum_u))

    def pc_ppf(q: float) -> float:
        # the exact inverse of pc_cdf (piecewise linear in logit(p_control))
        if q <= 0:
            return 0.0
        if q >= 1:
            return 1.0
        return float(special.expit(np.interp(q, cum_u, u)))

    lookup = _RowLookup(rows.theta)

    def cond_cdf(t):
        th = effects.theta_of(scale, x[:, None], t)
        return lookup.interp(th, rows.cdf, left=0.0, right=1.0)

    def cond_sf(t):
        th = effects.theta_of(scale, x[:, None], t)
        return lookup.interp(th, rows.sf, left=1.0, right=0.0)

    return ExactPosterior(
        x=x, w=w, cond_cdf=cond_cdf, pc_cdf=pc_cdf, log_evidence=log_evidence,
        family="effect", scale=scale, cond_sf=cond_sf, pc_ppf=pc_ppf,
    )


def posterior(prior, outcome) -> ExactPosterior:
    """The exact posterior of a :class:`lnbayes.model.spec.Prior` given an outcome's counts.

    Raises :class:`lnbayes.errors.LnbayesError` (naming the prior) for priors whose posterior
    the quadrature cannot hold (Beta shapes far below 0.1 on every integrated arm).
    """
    try:
        if prior.family == "arm":
            return arm_posterior(prior.control, prior.treatment, outcome)
        return effect_posterior(prior.control, prior.scale, prior.effect, outcome)
    except LnbayesError as err:
        raise LnbayesError(f"priors.{prior.name}: {err.problems[0]}") from None


def summarise(post: ExactPosterior, outcome, thresholds=None, prob: float = 0.95) -> dict:
    """P(benefit), threshold probabilities and posterior intervals, direction-aware."""
    lower = outcome.lower_is_better
    thresholds = outcome.thresholds if thresholds is None else thresholds
    out = {
        "p_benefit": post.prob_benefit(lower),
        "thresholds": [
            {
                "scale": t.scale,
                "value": t.value,
                "p": post.prob_beyond(effects.MEASURE_OF_SCALE[t.scale], t.value, lower),
            }
            for t in thresholds
        ],
        "estimates": {m: post.interval(m, prob) for m in effects.MEASURES},
    }
    return out
