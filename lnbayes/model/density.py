"""The model's densities, defined once (NumPy and ``scipy.special`` only).

Every exact computation (:mod:`lnbayes.engines.exact`, :mod:`lnbayes.engines.datasets`,
:mod:`lnbayes.engines.prior_grid`, :mod:`lnbayes.priors.conflict`) takes its densities from here:

* Beta mixtures (:class:`BetaMix`): density on p and on the logit scale, CDF, quantiles, the
  conjugate update by binomial counts (:func:`update_beta`) and logit-scale windows
  (:func:`logit_beta_quantile`, :func:`logit_window`);
* Normal mixtures on the effect (:class:`NormalMix`) and the log mass of a Normal between two
  bounds (:func:`normal_log_mass`, the truncation normaliser);
* the binomial likelihood: its coefficient (:func:`lnbayes.model.dists.log_binom_coef`), on the
  logit scale (:func:`binom_logpmf_logit`), its maximum (:func:`binom_logpmf_max`) and the
  treatment arm's likelihood given p_control and the effect (:func:`log_lik_treatment`);
* the joint prior of an effect-level prior on ``(u_c, u_t) = (logit p_control, logit
  p_treatment)``: the effect's conditional density with its truncation to the feasible effects
  and the Jacobian ``d theta / d u_t`` (:func:`log_effect_given_control`,
  :func:`log_dtheta_du_t`, :func:`log_prior_density`);
* what a prior implies before any data: :func:`prior_prob_benefit` (the one definition of the
  a-priori P(benefit)) and :func:`prior_effect_density_at_0`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from lnbayes.errors import LnbayesError
from lnbayes.model import dists, effects
from lnbayes.numerics import roots

U_MAX = 50.0
"""Windows on the logit scale end at +-50 (p from 2e-22) at the most."""
TAIL_TOL = 1e-8
"""Largest Beta (mixture) mass a logit window may leave beyond +-U_MAX (else refused)."""
PRIOR_TAIL = 1e-14
"""Tail left out of each component by the windows of the a-priori integrals."""

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
        if not hasattr(prior, "a"):  # a Normal on the logit (LogitNormalPrior): no Beta form
            raise LnbayesError(
                f"p_control ~ {prior.describe()} is a Normal prior on the logit, not a Beta: "
                "this computation needs a Beta (mixture) prior (docs/priors.md, logit_normal)")
        return cls(np.asarray(prior.weights, float), np.asarray(prior.a, float), np.asarray(prior.b, float))

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        if len(self.w) == 1:  # one component: no log-sum-exp (the same values, 4x faster)
            return dists.beta_logpdf(x, self.a[0], self.b[0])
        x = x[..., None]
        return special.logsumexp(np.log(self.w) + dists.beta_logpdf(x, self.a, self.b), axis=-1)

    def logpdf_logit(self, u):
        """Log density of logit(X) at u, computed on the logit scale (finite wherever the
        density is positive, also where expit(u) rounds to 0 or 1)."""
        u = np.asarray(u, dtype=float)
        if len(self.w) == 1:  # one component: no log-sum-exp
            return (self.a[0] * special.log_expit(u) + self.b[0] * special.log_expit(-u)
                    - special.betaln(self.a[0], self.b[0]))
        u = u[..., None]
        log_terms = (np.log(self.w) - special.betaln(self.a, self.b)
                     + self.a * special.log_expit(u) + self.b * special.log_expit(-u))
        return special.logsumexp(log_terms, axis=-1)

    def cdf(self, x):
        x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)[..., None]
        return np.clip(np.sum(self.w * special.betainc(self.a, self.b, x), axis=-1), 0.0, 1.0)

    def sf(self, x):
        """P(X > x), computed directly (accurate where it is tiny, unlike 1 - cdf).

        SciPy's ``betaincc`` is about ten times slower than its ``betainc``, so each component
        uses ``betainc`` where that loses nothing: where x >= 1/2 the mirrored Beta's CDF at
        1 - x (exact there), else 1 - CDF where the CDF is at most 1/2 (no cancellation), and
        ``betaincc`` only for the rest (agreeing with it to 1e-14 everywhere)."""
        x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
        high = x >= 0.5
        terms = np.empty(x.shape + self.a.shape)
        terms[high] = special.betainc(self.b, self.a, (1.0 - x[high])[:, None])
        x_low = np.broadcast_to(x[~high][:, None], (int(np.sum(~high)),) + self.a.shape)
        low = special.betainc(self.a, self.b, x_low)
        tail = low > 0.5
        low = 1.0 - low
        if np.any(tail):
            comp = np.broadcast_to(np.arange(len(self.a)), low.shape)[tail]
            low[tail] = special.betaincc(self.a[comp], self.b[comp], x_low[tail])
        terms[~high] = low
        return np.clip(np.sum(self.w * terms, axis=-1), 0.0, 1.0)

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

    def regularity(self) -> float:
        """The smallest shape: the larger, the better the logit is integrated over."""
        return float(min(np.min(self.a), np.min(self.b)))

    def mass_below_logit(self, u: float) -> float:
        """P(logit X < u)."""
        return float(np.sum(self.w * special.betainc(self.a, self.b, special.expit(u))))

    def mass_above_logit(self, u: float) -> float:
        """P(logit X > u), computed directly."""
        return float(np.sum(self.w * special.betaincc(self.a, self.b, special.expit(u))))


@dataclass(frozen=True)
class LogitNormalMix:
    """A Normal mixture on u = logit(p) (the intercept prior of brms and rstanarm), with the
    methods of :class:`BetaMix` that do not need conjugacy: the exact engine integrates on the
    logit scale, where this density is exact."""

    w: np.ndarray
    m: np.ndarray
    s: np.ndarray

    @classmethod
    def of(cls, prior) -> LogitNormalMix:
        return cls(np.asarray(prior.weights, float), np.asarray(prior.means, float), np.asarray(prior.sds, float))

    def logpdf_logit(self, u):
        return NormalMix(self.w, self.m, self.s).logpdf(u)

    def logpdf(self, x):
        """Log density of p itself: the logit's density times |du/dp| = 1 / (p (1 - p))."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return self.logpdf_logit(special.logit(x)) - np.log(x) - np.log1p(-x)

    def mass_below_logit(self, u: float) -> float:
        return float(np.sum(self.w * special.ndtr((u - self.m) / self.s)))

    def mass_above_logit(self, u: float) -> float:
        return float(np.sum(self.w * special.ndtr((self.m - u) / self.s)))

    def cdf(self, x):
        x = np.asarray(x, dtype=float)[..., None]
        with np.errstate(divide="ignore"):
            z = (special.logit(np.clip(x, 0.0, 1.0)) - self.m) / self.s
        return np.clip(np.sum(self.w * special.ndtr(z), axis=-1), 0.0, 1.0)

    def sf(self, x):
        x = np.asarray(x, dtype=float)[..., None]
        with np.errstate(divide="ignore"):
            z = (self.m - special.logit(np.clip(x, 0.0, 1.0))) / self.s
        return np.clip(np.sum(self.w * special.ndtr(z), axis=-1), 0.0, 1.0)

    def window(self, tail: float) -> tuple[float, float]:
        """The logit window leaving out ``tail`` of each component (weight >= tail) on each side,
        clipped to +-U_MAX."""
        k = float(-special.ndtri(tail))
        keep = self.w >= tail
        return (max(float(np.min(self.m[keep] - k * self.s[keep])), -U_MAX),
                min(float(np.max(self.m[keep] + k * self.s[keep])), U_MAX))

    def support_logit(self, tail: float = 1e-15) -> tuple[float, float]:
        return self.window(tail)

    def posterior_logit_sd(self, events: int, n: int) -> float:
        """The narrowest component's Laplace posterior sd of the logit after ``events`` of ``n``
        (a scale for spacing quadrature rows, not a result)."""
        p = (events + 0.5) / (n + 1.0)
        return float(np.min(1.0 / np.sqrt(1.0 / self.s**2 + n * p * (1 - p))))


def arm_mix(prior) -> BetaMix | LogitNormalMix:
    """The array form of an arm's prior: a Beta mixture or a Normal mixture on the logit."""
    return BetaMix.of(prior) if hasattr(prior, "a") else LogitNormalMix.of(prior)


def update_beta(prior: BetaMix, events: int, n: int) -> tuple[BetaMix, float]:
    """Conjugate update of a Beta mixture by ``events`` out of ``n``.

    Returns the posterior mixture and the log marginal likelihood (beta-binomial, including
    the binomial coefficient).
    """
    a1 = prior.a + events
    b1 = prior.b + n - events
    log_m = np.log(prior.w) + dists.log_binom_coef(events, n) + special.betaln(a1, b1) - special.betaln(prior.a, prior.b)
    if len(log_m) == 1:  # one component (scipy's logsumexp costs 0.2 ms; design calls this 3,000 times)
        return BetaMix(np.ones(1), a1, b1), float(log_m[0])
    log_evidence = special.logsumexp(log_m)
    return BetaMix(np.exp(log_m - log_evidence), a1, b1), float(log_evidence)


def logit_beta_sd(a, b) -> np.ndarray:
    """Standard deviation of logit(p) for p ~ Beta(a, b)."""
    return np.sqrt(special.polygamma(1, a) + special.polygamma(1, b))


def logit_beta_quantile(a: float, b: float, q: float) -> float:
    """logit of the q-quantile of Beta(a, b) (q small), without underflow."""
    x = float(special.betaincinv(a, b, q))
    if 0.0 < x < 0.5:
        return float(special.logit(x))
    if x >= 0.5:  # 1 - x from the mirrored Beta keeps its precision
        return float(np.log(x) - np.log(special.betaincinv(b, a, 1.0 - q)))
    # underflow: I_x(a, b) ~ x^a / (a B(a, b)) as x -> 0
    return float((math.log(q) + math.log(a) + special.betaln(a, b)) / a)


def logit_window(low: BetaMix, high: BetaMix, tail: float) -> tuple[float, float, float]:
    """The logit window from the lower ``tail`` quantile of ``low`` to the upper one of ``high``
    (the hull over components whose weight is at least ``tail``), clipped to +-U_MAX, and the
    larger mass of either beyond +-U_MAX."""
    los = [logit_beta_quantile(a, b, tail) for w, a, b in zip(low.w, low.a, low.b) if w >= tail]
    his = [-logit_beta_quantile(b, a, tail) for w, a, b in zip(high.w, high.a, high.b) if w >= tail]
    outside = max(low.mass_below_logit(-U_MAX),
                  float(np.sum(high.w * special.betainc(high.b, high.a, special.expit(-U_MAX)))))
    return max(min(los), -U_MAX), min(max(his), U_MAX), outside


def check_window(outside: float, what: str, error=LnbayesError) -> None:
    """Refuse (``error``) a Beta mixture with more than TAIL_TOL beyond the logit window."""
    if outside > TAIL_TOL:
        raise error(
            f"{what}: a Beta prior this concentrated at 0 or 1 puts {outside:.2g} of the "
            f"posterior beyond p = {special.expit(-U_MAX):.1g} (logit -{U_MAX:g}), which the exact "
            "quadrature cannot represent; use Beta shapes of about 0.4 or more"
        )


# ---------------------------------------------------------------------------------------------
# Normal mixtures on the effect
# ---------------------------------------------------------------------------------------------


_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def normal_log_mass(lo, hi, mu, sd):
    """log P(lo < X < hi) = log(Phi((hi - mu)/sd) - Phi((lo - mu)/sd)) for X ~ Normal(mu, sd^2),
    elementwise, computed on whichever tail is smaller (stable in both tails)."""
    z_lo = (lo - mu) / sd
    z_hi = (hi - mu) / sd
    upper = z_lo > 0
    a = np.where(upper, -z_hi, z_lo)
    b = np.where(upper, -z_lo, z_hi)
    with np.errstate(divide="ignore"):
        lb = special.log_ndtr(b)
        la = special.log_ndtr(a)
        return lb + np.log1p(-np.exp(np.minimum(la - lb, -1e-300)))


@dataclass(frozen=True)
class NormalMix:
    """A Normal mixture as arrays: weights w, means m and sds s."""

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
        log_comp = normal_log_mass(lo, hi, self.m, self.s)
        if len(self.m) == 1:
            return log_comp[..., 0]
        return special.logsumexp(np.log(self.w) + log_comp, axis=-1)

    def span(self, k: float = 12.0) -> tuple[float, float]:
        return float(np.min(self.m - k * self.s)), float(np.max(self.m + k * self.s))


# ---------------------------------------------------------------------------------------------
# The binomial likelihood
# ---------------------------------------------------------------------------------------------


def binom_logpmf_logit(events, n: int, u):
    """Binomial log-pmf at p = expit(u), computed on the logit scale (log(1 - p) is log(p) - u:
    one log_expit); ``events`` broadcasts against ``u``."""
    u = np.asarray(u, dtype=float)
    if np.ndim(events) == 0 and n == events:
        return dists.log_binom_coef(events, n) + n * special.log_expit(u)
    return dists.log_binom_coef(events, n) + n * special.log_expit(u) - (n - events) * u


def binom_logpmf_max(events, n: int) -> np.ndarray:
    """The largest value over p of log Bin(events; n, p) (at p = events / n; 0 when n = 0)."""
    events = np.asarray(events, dtype=float)
    if n == 0:
        return np.zeros_like(events)
    return dists.binom_logpmf(events, n, events / n)


def log_lik_treatment(scale: str, x: np.ndarray, u: np.ndarray, theta: np.ndarray, y: int, n: int):
    """Binomial log-pmf of the treatment arm's count at p_treatment(p_control, theta); x and u
    (p_control and its logit) broadcast against theta."""
    if scale == "log_or":
        return binom_logpmf_logit(y, n, u + theta)
    if scale == "log_rr":
        log_p = np.log(x) + theta
        out = dists.log_binom_coef(y, n) + y * log_p
        if n > y:
            with np.errstate(divide="ignore"):
                out = out + (n - y) * np.log1p(-np.minimum(np.exp(log_p), 1.0))
        return out
    return dists.binom_logpmf(y, n, np.clip(x + theta, 0.0, 1.0))


# ---------------------------------------------------------------------------------------------
# The joint prior of an effect-level prior on (u_c, u_t)
# ---------------------------------------------------------------------------------------------


def log_dtheta_du_t(scale: str, u_t) -> np.ndarray:
    """log d(theta)/d(u_t), u_t = logit(p_treatment), at fixed p_control: 0 (log_or),
    log(1 - p_t) (log_rr), log(p_t (1 - p_t)) (rd)."""
    u_t = np.asarray(u_t, dtype=float)
    if scale == "log_or":
        return np.zeros_like(u_t)
    if scale == "log_rr":
        return special.log_expit(-u_t)
    if scale == "rd":
        return special.log_expit(u_t) + special.log_expit(-u_t)
    raise ValueError(f"unknown scale {scale!r}")


def log_effect_given_control(effect: NormalMix, scale: str, u_c, u_t) -> np.ndarray:
    """Log density of u_t given u_c under an effect-level prior (broadcasting): the Normal
    mixture at theta(u_c, u_t), truncated to the feasible effects given p_control (log_rr, rd),
    times the Jacobian d theta / d u_t."""
    u_c = np.asarray(u_c, dtype=float)
    u_t = np.asarray(u_t, dtype=float)
    if scale == "log_or":
        return effect.logpdf(u_t - u_c)
    x = special.expit(u_c)
    lo, hi = effects.theta_bounds(scale, x)
    if scale == "log_rr":
        theta = special.log_expit(u_t) - special.log_expit(u_c)
    elif scale == "rd":
        theta = special.expit(u_t) - x
    else:  # pragma: no cover - the spec layer validates scales
        raise ValueError(f"unknown scale {scale!r}")
    return effect.logpdf(theta) - effect.log_mass(lo, hi) + log_dtheta_du_t(scale, u_t)


def log_prior_density(prior, u_c, u_t) -> np.ndarray:
    """Log prior density in (u_c, u_t) (broadcasting), Jacobian and truncation included, for
    either family of :class:`lnbayes.model.spec.Prior`."""
    u_c = np.asarray(u_c, dtype=float)
    log_c = arm_mix(prior.control).logpdf_logit(u_c)
    if prior.family == "arm":
        return log_c + BetaMix.of(prior.treatment).logpdf_logit(u_t)
    return log_c + log_effect_given_control(NormalMix.of(prior.effect), prior.scale, u_c, u_t)


# ---------------------------------------------------------------------------------------------
# What a prior implies before any data
# ---------------------------------------------------------------------------------------------


def prior_prob_benefit(prior, lower_is_better: bool = False, truncated: bool = True) -> float:
    """A-priori P(benefit): P(p_treatment > p_control) under the prior (``lower_is_better``:
    P(p_treatment < p_control)). The one definition every command uses.

    ``truncated`` (the default) is the model's prior: on log_rr and rd the Normal mixture is
    truncated, given p_control, to the effects that keep p_treatment in (0, 1), so the result
    is ``E[P(theta > 0 | p_control)]`` over p_control's Beta prior (adaptive quadrature on
    logit(p_control)). ``truncated=False`` is the stated Normal mixture's own mass beyond 0,
    ``sum_k w_k Phi(m_k / s_k)``, ignoring the truncation (the sweep's a-priori column). On
    log_or the two agree (no truncation), and the closed form is used. Arm-level priors:
    ``E[P(p_treatment > p)]`` over the arm whose prior is the more regular (the other arm's Beta
    CDF is exact for any shapes); ``truncated`` does not apply.
    """
    if prior.family == "arm":
        c, t = BetaMix.of(prior.control), BetaMix.of(prior.treatment)
        # over p_control: the treatment arm beyond it; or over p_treatment: the control arm
        # below it (the sides: benefit first)
        node, sides = (c, (t.sf, t.cdf)) if c.regularity() >= t.regularity() else (t, (c.cdf, c.sf))
        side, other = sides[::-1] if lower_is_better else sides
        p = _expect_over(node, side, "prior P(benefit)")
        if p > 0.5:  # near 1: one minus the smaller side keeps the absolute precision
            p = 1.0 - _expect_over(node, other, "prior P(benefit)")
        return float(np.clip(p, 0.0, 1.0))
    e = NormalMix.of(prior.effect)
    if prior.scale == "log_or" or not truncated:
        z = (e.m / e.s) if not lower_is_better else (-e.m / e.s)
        return float(np.clip(np.sum(e.w * special.ndtr(z)), 0.0, 1.0))

    def side(x):
        lo, hi = effects.theta_bounds(prior.scale, x)
        if lower_is_better:
            log_side = e.log_mass(lo, np.minimum(0.0, hi))
        else:
            log_side = e.log_mass(np.maximum(0.0, lo), hi)
        return np.exp(log_side - e.log_mass(lo, hi))

    return float(np.clip(_expect_over(arm_mix(prior.control), side, "the prior's p_control",
                                      _truncation_points(prior.scale, e)), 0.0, 1.0))


def prior_effect_density_at_0(prior, on: str | None = None) -> float:
    """A-priori density at 0 of the effect on scale ``on`` (default the prior's own scale) under
    an effect-level prior, p_control integrated out (the truncation normaliser depends on
    p_control for log_rr and rd). On another scale the density picks up the Jacobian
    |d theta / d theta_on| at no effect, (d theta / du_t) / (d theta_on / du_t) at u_t = u_c:
    the same point null, measured per unit of another effect."""
    e = NormalMix.of(prior.effect)
    on = prior.scale if on is None else on
    log_at0 = float(special.logsumexp(np.log(e.w) + dists.norm_logpdf(0.0, e.m, e.s)))
    if prior.scale == "log_or" and on == "log_or":
        return math.exp(log_at0)

    def density(x):
        lo, hi = effects.theta_bounds(prior.scale, x)
        log_d = log_at0 - e.log_mass(lo, hi)
        if on != prior.scale:
            u = special.logit(x)
            log_d = log_d + log_dtheta_du_t(prior.scale, u) - log_dtheta_du_t(on, u)
        return np.exp(log_d)

    return _expect_over(arm_mix(prior.control), density, "the prior's p_control",
                        _truncation_points(prior.scale, e))


def arm_log_or_density_at_0(control: BetaMix, treatment: BetaMix) -> float:
    """Density of the log odds ratio at 0 for independent Beta mixtures (closed form).

    With ``u = logit p``, the density of ``u_t - u_c`` at 0 is ``int f_c(x) f_t(x) x (1 - x) dx``
    ``= sum_jk w_j w_k B(a_j + a_k, b_j + b_k) / (B(a_j, b_j) B(a_k, b_k))``.
    """
    log_terms = (np.log(control.w)[:, None] + np.log(treatment.w)[None, :]
                 + special.betaln(control.a[:, None] + treatment.a[None, :],
                                  control.b[:, None] + treatment.b[None, :])
                 - special.betaln(control.a, control.b)[:, None]
                 - special.betaln(treatment.a, treatment.b)[None, :])
    return float(np.exp(special.logsumexp(log_terms)))


def _truncation_points(scale: str, e: NormalMix) -> list[float]:
    """logit(p_control) where a feasible bound crosses an effect component's centre (where
    the truncation changes fast)."""
    points = []
    for m in e.m:
        if scale == "log_rr" and m > 0:
            points.append(float(special.logit(math.exp(-m))))
        elif scale == "rd" and 0 < abs(m) < 1:
            points.append(float(special.logit(1 - m if m > 0 else -m)))
    return points


def _expect_over(mix: BetaMix | LogitNormalMix, g, what: str, points=()) -> float:
    """E[g(p)] for p ~ ``mix``, by adaptive quadrature (QUADPACK) on logit(p) over the window
    that leaves out PRIOR_TAIL of each component, with breakpoints ``points``."""
    from scipy import integrate

    if isinstance(mix, LogitNormalMix):  # Normal tails: nothing beyond +-U_MAX to refuse
        lo, hi = mix.window(PRIOR_TAIL)
    else:
        lo, hi, outside = logit_window(mix, mix, PRIOR_TAIL)
        check_window(outside, what)
    points = sorted(p for p in points if lo < p < hi)

    def integrand(u):
        return math.exp(float(mix.logpdf_logit(u))) * float(g(np.asarray(special.expit(u))))

    value, _ = integrate.quad(integrand, lo, hi, points=points or None, limit=500,
                              epsabs=1e-15, epsrel=1e-12)
    return float(value)
