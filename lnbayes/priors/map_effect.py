"""A MAP prior for the treatment effect (log odds ratio) from earlier two-arm trials (pure maths).

The binomial-normal random-effects meta-analysis (Smith, Spiegelhalter and Thomas 1995) for
trials ``i = 1..k``::

    y_ci ~ Binomial(n_ci, expit(alpha_i)),   y_ti ~ Binomial(n_ti, expit(alpha_i + delta_i)),
    delta_i ~ Normal(mu, tau^2),   alpha_i ~ Normal(0, baseline_sd^2) (each trial its own),
    mu ~ Normal(m, s^2),   tau ~ half-Normal | half-t | log-Normal (as for arm MAP priors)

and the MAP prior of the effect is the predictive ``delta_new ~ Normal(mu, tau^2)`` of a new
trial's log odds ratio. Computed exactly as the arm MAP (:mod:`lnbayes.priors.map`): each trial's
likelihood given (mu, tau) has (alpha_i, delta_i) integrated out by a 2-D adaptive Gauss-Hermite
rule (16 x 16 nodes at the integrand's mode, rotated by its curvature), then the same quadrature
over (mu, tau) and the same Normal-mixture predictive; a K-component Normal mixture is fitted to it
by EM on the exact density (the fewest components within 0.005 in CDF).

References
----------
Smith TC, Spiegelhalter DJ, Thomas A. Bayesian approaches to random-effects meta-analysis: a
comparative study. Stat Med 1995;14:2685-99. doi:10.1002/sim.4780142408.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import special

from lnbayes.model import dists
from lnbayes.model.spec import NormalPrior
from lnbayes.numerics import quadrature
from lnbayes.priors import map as mp

N_NODES_2D = 16
BASELINE_SD = 10.0
"""Default sd of each trial's control-arm logit alpha_i (vague; each trial has its own)."""


@dataclass(frozen=True)
class TwoArmStudy:
    treatment_events: int
    treatment_n: int
    control_events: int
    control_n: int
    source: str = ""


@dataclass(frozen=True)
class EffectMapSpec:
    studies: tuple[TwoArmStudy, ...]
    tau: mp.TauPrior
    mu_mean: float = 0.0
    mu_sd: float = 2.0
    baseline_sd: float = BASELINE_SD

    def describe(self) -> str:
        return (f"MAP of the log odds ratio from {len(self.studies)} trials; mu ~ "
                f"Normal({self.mu_mean:g}, {self.mu_sd:g}²); tau ~ {self.tau.describe()}; "
                f"each trial's control logit ~ Normal(0, {self.baseline_sd:g}²)")


def two_arm_log_likelihood(yt, nt, yc, nc, mu, tau, baseline_sd: float = BASELINE_SD,
                           n_nodes: int = N_NODES_2D) -> np.ndarray:
    """log of ``int int Bin(yc | nc, expit a) Bin(yt | nt, expit(a + d)) N(d | mu, tau^2)
    N(a | 0, baseline_sd^2) da dd`` (without binomial coefficients), broadcast; 2-D adaptive
    Gauss-Hermite at the (log-concave) integrand's mode."""
    yt, nt, yc, nc, mu, tau = np.broadcast_arrays(*(np.asarray(x, float)
                                                    for x in (yt, nt, yc, nc, mu, tau)))
    pt_ = 1 / tau**2
    pa_ = 1 / baseline_sd**2
    # start: the continuity-corrected estimates, the effect shrunk towards mu
    a = special.logit((yc + 0.5) / (nc + 1))
    d_hat = special.logit((yt + 0.5) / (nt + 1)) - a
    v_hat = 1 / (yt + 0.5) + 1 / (nt - yt + 0.5) + 1 / (yc + 0.5) + 1 / (nc - yc + 0.5)
    d = (d_hat / v_hat + mu * pt_) / (1 / v_hat + pt_)
    for _ in range(60):
        p_a, p_t = special.expit(a), special.expit(a + d)
        ga = yc - nc * p_a + yt - nt * p_t - a * pa_
        gd = yt - nt * p_t - (d - mu) * pt_
        it = nt * p_t * (1 - p_t)
        haa = -nc * p_a * (1 - p_a) - it - pa_
        had = -it
        hdd = -it - pt_
        det = haa * hdd - had**2
        sa = -(hdd * ga - had * gd) / det
        sd = -(-had * ga + haa * gd) / det
        scale = np.maximum(1.0, np.maximum(np.abs(sa), np.abs(sd)))  # steps capped at 1
        a, d = a + sa / scale, d + sd / scale
        if np.all(np.abs(sa) + np.abs(sd) < 1e-10 * (1 + np.abs(a) + np.abs(d))):
            break
    p_a, p_t = special.expit(a), special.expit(a + d)
    it = nt * p_t * (1 - p_t)
    haa, had, hdd = -nc * p_a * (1 - p_a) - it - pa_, -it, -it - pt_
    det = haa * hdd - had**2
    saa, sad, sdd = -hdd / det, had / det, -haa / det  # covariance = -H^-1
    l11 = np.sqrt(saa)
    l21 = sad / l11
    l22 = np.sqrt(np.maximum(sdd - l21**2, 0.0))
    z, w = quadrature.gauss_hermite(n_nodes)
    z1, z2 = (x.ravel() for x in np.meshgrid(z, z, indexing="ij"))
    lw = (np.log(w)[:, None] + np.log(w)[None, :]).ravel()
    ex = lambda x: x[..., None]  # noqa: E731
    an = ex(a) + ex(l11) * z1
    dn = ex(d) + ex(l21) * z1 + ex(l22) * z2
    log_f = (ex(yc) * special.log_expit(an) + ex(nc - yc) * special.log_expit(-an)
             + ex(yt) * special.log_expit(an + dn) + ex(nt - yt) * special.log_expit(-(an + dn))
             + dists.norm_logpdf(dn, ex(mu), ex(tau)) + dists.norm_logpdf(an, 0.0, baseline_sd))
    return (special.logsumexp(log_f + (z1**2 + z2**2) / 2 + lw, axis=-1)
            + np.log(l11 * l22) + math.log(2 * math.pi))


def effect_map_predictive(spec: EffectMapSpec, n_tau: int = 101, n_mu: int = 201) -> mp.MapPredictive:
    """The exact predictive of a new trial's log odds ratio (its ``logit_*`` methods are on the
    log-OR scale)."""
    return _effect_map_predictive(spec, n_tau, n_mu)


@lru_cache(maxsize=16)
def _effect_map_predictive(spec: EffectMapSpec, n_tau: int, n_mu: int) -> mp.MapPredictive:
    if not spec.studies:
        raise ValueError("an effect MAP prior needs at least one earlier trial")
    cols = [np.array([getattr(s, f) for s in spec.studies], float)
            for f in ("treatment_events", "treatment_n", "control_events", "control_n")]
    yt, nt, yc, nc = cols
    d_hat = (special.logit((yt + 0.5) / (nt + 1)) - special.logit((yc + 0.5) / (nc + 1)))
    v = 1 / (yt + 0.5) + 1 / (nt - yt + 0.5) + 1 / (yc + 0.5) + 1 / (nc - yc + 0.5)

    def loglik(mu, tau):
        out = np.empty(np.broadcast_shapes(mu.shape, tau.shape, yt.shape))
        for i in range(0, out.shape[0], 8):  # rows of tau in chunks, to bound the memory
            out[i:i + 8] = two_arm_log_likelihood(yt, nt, yc, nc, mu[i:i + 8], tau[i:i + 8],
                                                  spec.baseline_sd)
        return out

    return mp._predictive(spec, loglik, d_hat, v, n_tau, n_mu)


@dataclass(frozen=True)
class NormalMixtureFit:
    normal: NormalPrior
    max_cdf_error: float
    tried: tuple[tuple[int, float], ...]


def fit_normal_mixture(pred: mp.MapPredictive, max_components: int = mp.MAX_COMPONENTS,
                       tolerance: float = mp.CDF_TOLERANCE, iterations: int = 2000) -> NormalMixtureFit:
    """The fewest-component Normal mixture (1 to ``max_components``) within ``tolerance`` of the
    predictive's CDF, each fitted by EM on the exact density (Simpson's rule on 801 nodes between
    the 1e-7 and 1 - 1e-7 quantiles; weighted EM, closed-form M-steps)."""
    x, sw = mp._theta_grid(pred, 801, 1e-7)
    mass = pred.logit_pdf(x) * sw
    mass = mass / mass.sum()
    table_x = np.linspace(pred.logit_quantile(1e-9), pred.logit_quantile(1 - 1e-9), 4001)
    table_cdf = pred.logit_cdf(table_x)
    cum = np.cumsum(mass)
    tried, fits = [], []
    for k in range(1, max_components + 1):
        edges = np.searchsorted(cum, np.linspace(0, 1, k + 1)[1:-1])
        parts = np.split(np.arange(x.size), edges)
        w = np.array([mass[p].sum() for p in parts])
        m = np.array([np.sum(mass[p] * x[p]) / mass[p].sum() for p in parts])
        s = np.array([math.sqrt(max(np.sum(mass[p] * (x[p] - mm) ** 2) / mass[p].sum(), 1e-4))
                      for p, mm in zip(parts, m)])
        s = np.maximum(s, (x[-1] - x[0]) / 200)
        for _ in range(iterations):
            log_h = np.log(w) + dists.norm_logpdf(x[:, None], m, s)
            r = mass[:, None] * np.exp(log_h - special.logsumexp(log_h, axis=1, keepdims=True))
            rk = r.sum(axis=0)
            w_new = rk / rk.sum()
            m_new = (r * x[:, None]).sum(axis=0) / rk
            s_new = np.sqrt(np.maximum((r * (x[:, None] - m_new) ** 2).sum(axis=0) / rk, 1e-12))
            done = np.max(np.abs(m_new - m)) + np.max(np.abs(s_new - s)) < 1e-10
            w, m, s = w_new, m_new, s_new
            if done:
                break
        normal = NormalPrior(tuple(map(float, w)), tuple(map(float, m)), tuple(map(float, s)))
        mix_cdf = np.sum(w * special.ndtr((table_x[:, None] - m) / s), axis=1)
        error = float(np.max(np.abs(mix_cdf - table_cdf)))
        tried.append((k, error))
        fits.append((error, normal))
        if error < tolerance:
            break
    error, normal = fits[-1] if tried[-1][1] < tolerance else min(fits, key=lambda f: f[0])
    return NormalMixtureFit(normal, error, tuple(tried))


@dataclass(frozen=True)
class EffectRobust:
    """The vague component of a robust effect MAP: ``weight`` on Normal(mean, sd^2) of the log
    odds ratio (the effect-scale analogue of :class:`lnbayes.priors.map.Robust`)."""

    weight: float
    mean: float = 0.0
    sd: float = 2.0


def robustify_normal(normal, weight: float, mean: float = 0.0, sd: float = 2.0) -> NormalPrior:
    """``(1 - weight) * normal + weight * Normal(mean, sd^2)``."""
    if not 0 <= weight <= 1:
        raise ValueError(f"the robust weight must be in [0, 1], got {weight}")
    if not sd > 0:
        raise ValueError(f"the robust component's sd must be > 0, got {sd}")
    return NormalPrior(tuple(w * (1 - weight) for w in normal.weights) + (float(weight),),
                       tuple(normal.means) + (float(mean),), tuple(normal.sds) + (float(sd),))


@dataclass(frozen=True)
class EffectMapDerivation:
    spec: EffectMapSpec
    fit: NormalMixtureFit
    robust: EffectRobust | None = None

    @property
    def predictive(self) -> mp.MapPredictive:
        return effect_map_predictive(self.spec)

    def describe(self) -> str:
        text = self.spec.describe()
        if self.robust is not None:
            text += (f"; robust: weight {self.robust.weight:g} on "
                     f"Normal({self.robust.mean:g}, {self.robust.sd:g}²)")
        return text


@dataclass(frozen=True)
class MapNormalPrior(NormalPrior):
    """A Normal mixture approximating a MAP prior of the log odds ratio, with its derivation."""

    derivation: EffectMapDerivation | None = field(default=None, compare=False, hash=False,
                                                   repr=False)


def map_normal_prior(spec: EffectMapSpec, robust: EffectRobust | None = None,
                     fit: NormalMixtureFit | None = None) -> MapNormalPrior:
    """The Normal mixture the engines use for an effect MAP prior (robustified if ``robust``),
    carrying its derivation; ``fit``: the mixture fitted already (the record cache's,
    :func:`lnbayes.io.map_cache.fitted_normal_mixture`), else it is fitted here."""
    if fit is None:
        fit = fit_normal_mixture(effect_map_predictive(spec))
    n = fit.normal if robust is None else robustify_normal(fit.normal, robust.weight,
                                                           robust.mean, robust.sd)
    return MapNormalPrior(n.weights, n.means, n.sds,
                          derivation=EffectMapDerivation(spec, fit, robust))


def normal_posterior_weights(normal, estimate: float, variance: float) -> tuple[float, ...]:
    """The components' weights after an effect estimate with its (large-sample) variance:
    w_k N(estimate | m_k, s_k^2 + variance), normalised (each component's marginal likelihood
    under a Normal likelihood of the log OR)."""
    w, m, s = (np.asarray(x, float) for x in (normal.weights, normal.means, normal.sds))
    log_w = np.log(w) + dists.norm_logpdf(estimate, m, np.sqrt(s**2 + variance))
    return tuple(float(x) for x in np.exp(log_w - special.logsumexp(log_w)))


def effect_map_ess(pred: mp.MapPredictive, normal, robust_normal=None, *,
                   allocation: tuple[float, float], rate_treatment: float, rate_control: float,
                   n_treatment: int | None = None, n_control: int | None = None) -> dict:
    """Variance-matched ESS (:func:`lnbayes.priors.effective_size.variance_matched_ess`, the
    method lnbayes reports for every effect-level prior) of the exact MAP (its variance by
    quadrature), its Normal mixture and the robust mixture, at the given allocation and arm rates.
    """
    from lnbayes.priors import effective_size as es

    summary = effect_summary(pred)
    mean, sd = summary["mean"], summary["sd"]
    priors = {"map": NormalPrior((1.0,), (mean,), (sd,)), "mixture": normal}
    if robust_normal is not None:
        priors["robust"] = robust_normal
    return {k: es.variance_matched_ess(v, "log_or", allocation, rate_treatment, rate_control,
                                       n_treatment, n_control) for k, v in priors.items()}


def effect_summary(pred: mp.MapPredictive) -> dict:
    """Mean, sd and quantiles of the log odds ratio, the OR's quantiles, and tau."""
    mean = float(np.sum(pred.weights * pred.locs))
    sd = float(math.sqrt(np.sum(pred.weights * (pred.sds**2 + pred.locs**2)) - mean**2))
    q = {str(p): pred.logit_quantile(p) for p in (0.025, 0.5, 0.975)}
    return {"mean": mean, "sd": sd, "quantiles": q,
            "odds_ratio_quantiles": {k: math.exp(v) for k, v in q.items()},
            "tau": {"median": pred.tau_quantile(0.5),
                    "interval": [pred.tau_quantile(0.025), pred.tau_quantile(0.975)]}}
