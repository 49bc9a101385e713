"""Meta-analytic-predictive (MAP) priors for an arm's event probability (pure maths).

The model (Neuenschwander et al. 2010; Schmidli et al. 2014) for historical studies
``i = 1..k`` with ``y_i`` events in ``n_i`` patients::

    y_i ~ Binomial(n_i, p_i),   logit p_i ~ Normal(mu, tau^2),
    mu ~ Normal(m, s^2),        tau ~ half-Normal(scale) | half-t(scale, df) | log-Normal(median, sd)

and the MAP prior is the predictive distribution of a new study's ``p* = expit(theta*)``,
``theta* ~ Normal(mu, tau^2)`` given ``(mu, tau)``, averaged over their posterior.

It is computed here by deterministic quadrature, without sampling:

- each study's likelihood given ``(mu, tau)`` has its study effect integrated out,
  ``L_i(mu, tau) = int Binomial(y_i | n_i, expit t) Normal(t | mu, tau^2) dt``, by adaptive
  Gauss-Hermite quadrature (the integrand is log-concave in ``t``; it is centred at its mode, found
  by Newton's method, and scaled by its curvature; 32 nodes);
- ``log tau`` is integrated by Simpson's rule (101 nodes) from 1% of the prior's scale up to the prior's
  ``1 - 1e-9`` quantile (at most 20 on the logit scale: the truncation is stated), and
  ``[0, 0.01 scale]`` by 4-point Gauss-Legendre;
- given ``tau``, ``mu`` is integrated by the midpoint rule on cells (201) spanning +-9 standard
  deviations of a Normal approximation of its conditional posterior (widened until the edges carry
  less than ``e^-30`` of the peak density).

The predictive of ``theta*`` is then a finite Normal mixture: each ``(tau, mu)`` node gives
``Normal(mu, tau^2 + h^2)``, where ``h`` (the ``mu`` cell width) spreads each node's mass over its
cell so the mixture is smooth even where ``tau`` is far below the cell width; within each ``tau``
row the node locations are pulled towards the row mean so the row keeps its mean and variance.
Densities, CDFs, quantiles and moments of ``p*`` follow from that mixture in closed form.

References
----------
Neuenschwander B, Capkun-Niggli G, Branson M, Spiegelhalter DJ. Summarizing historical information
on controls in clinical trials. Clin Trials 2010;7:5-18. doi:10.1177/1740774509356002.
Schmidli H, Gsteiger S, Roychoudhury S, O'Hagan A, Spiegelhalter D, Neuenschwander B. Robust
meta-analytic-predictive priors in clinical trials with historical control information.
Biometrics 2014;70:1023-32. doi:10.1111/biom.12242.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import special

from lnbayes.model import dists
from lnbayes.model.spec import BetaPrior
from lnbayes.numerics import quadrature
from lnbayes.numerics.roots import monotone_root

TAU_FAMILIES = ("half_normal", "half_t", "log_normal")
"""The priors of the between-study standard deviation tau (on the logit scale)."""
TAU_MAX = 20.0
"""Largest tau integrated over: a logit-scale sd of 20 puts every study's p at 0 or 1."""
N_THETA_GH = 32
"""Gauss-Hermite nodes for each study's effect (adaptive, at the integrand's mode)."""


@dataclass(frozen=True)
class Study:
    """One historical study: ``events`` out of ``n``, and where the numbers come from."""

    events: int
    n: int
    source: str = ""


@dataclass(frozen=True)
class TauPrior:
    """The prior of tau: ``half_normal`` (scale), ``half_t`` (scale, df) or ``log_normal``.

    For ``log_normal`` the scale is the median of tau and ``sd`` the sd of log tau.
    """

    family: str
    scale: float
    df: float | None = None
    sd: float | None = None

    def describe(self) -> str:
        if self.family == "half_normal":
            return f"half-Normal(scale {self.scale:g})"
        if self.family == "half_t":
            return f"half-t(scale {self.scale:g}, df {self.df:g})"
        return f"log-Normal(median {self.scale:g}, sd of log tau {self.sd:g})"

    def logpdf(self, tau):
        tau = np.asarray(tau, float)
        if self.family == "half_normal":
            return math.log(2.0) + dists.norm_logpdf(tau, 0.0, self.scale)
        if self.family == "half_t":
            nu, z = self.df, tau / self.scale
            return (math.log(2.0) + special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2)
                    - 0.5 * math.log(nu * math.pi) - (nu + 1) / 2 * np.log1p(z**2 / nu)
                    - math.log(self.scale))
        return dists.norm_logpdf(np.log(tau), math.log(self.scale), self.sd) - np.log(tau)

    def upper(self, tail: float = 1e-9) -> float:
        """The prior's ``1 - tail`` quantile (where the tau integration stops, at most TAU_MAX)."""
        if self.family == "half_normal":
            q = self.scale * float(dists.norm_isf(tail / 2))
        elif self.family == "half_t":
            q = self.scale * float(special.stdtrit(self.df, 1 - tail / 2))
        else:
            q = self.scale * math.exp(self.sd * float(dists.norm_isf(tail)))
        return min(q, TAU_MAX)


@dataclass(frozen=True)
class MapSpec:
    """A MAP prior's ingredients: the historical studies and the priors of mu and tau."""

    studies: tuple[Study, ...]
    tau: TauPrior
    mu_mean: float = 0.0
    mu_sd: float = 2.0

    def describe(self) -> str:
        return (f"MAP from {len(self.studies)} studies; mu ~ Normal({self.mu_mean:g}, "
                f"{self.mu_sd:g}²); tau ~ {self.tau.describe()}")


# ---------------------------------------------------------------------------------------------
# Study likelihoods with the study effect integrated out
# ---------------------------------------------------------------------------------------------


def study_log_likelihood(events, n, mu, tau, n_nodes: int = N_THETA_GH) -> np.ndarray:
    """log of ``int Binomial(y | n, expit t) Normal(t | mu, tau^2) dt`` (without the binomial
    coefficient), broadcast over ``events``/``n`` and ``mu``/``tau``; adaptive Gauss-Hermite."""
    y, n = np.asarray(events, float), np.asarray(n, float)
    mu, tau = np.asarray(mu, float), np.asarray(tau, float)
    y, n, mu, tau = np.broadcast_arrays(y, n, mu, tau)
    prec = 1.0 / tau**2
    # start from the Normal approximation of the (continuity-corrected) likelihood
    p_hat = (y + 0.5) / (n + 1.0)
    v_hat = 1.0 / ((n + 1.0) * p_hat * (1 - p_hat))
    t = (special.logit(p_hat) / v_hat + mu * prec) / (1 / v_hat + prec)
    for _ in range(60):  # Newton's method on a concave function, steps capped at 1
        p = special.expit(t)
        grad = y - n * p - (t - mu) * prec
        hess = -n * p * (1 - p) - prec
        step = np.clip(-grad / hess, -1.0, 1.0)
        t = t + step
        if np.all(np.abs(step) < 1e-10 * (1 + np.abs(t))):
            break
    p = special.expit(t)
    sd = 1.0 / np.sqrt(n * p * (1 - p) + prec)
    z, w = quadrature.gauss_hermite(n_nodes)
    nodes = t[..., None] + sd[..., None] * z
    log_f = (y[..., None] * special.log_expit(nodes) + (n - y)[..., None] * special.log_expit(-nodes)
             + dists.norm_logpdf(nodes, mu[..., None], tau[..., None]))
    # int f = sd sqrt(2 pi) E_Z[f(t + sd Z) exp(Z^2 / 2)]
    return (special.logsumexp(log_f + z**2 / 2 + np.log(w), axis=-1)
            + np.log(sd) + 0.5 * math.log(2 * math.pi))


# ---------------------------------------------------------------------------------------------
# The posterior of (mu, tau) and the predictive of a new study
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapPredictive:
    """The exact MAP: the posterior of tau on its nodes and the predictive of theta* = logit p*
    as a Normal mixture (``weights``, ``locs``, ``sds``)."""

    spec: MapSpec
    tau_nodes: np.ndarray
    tau_mass: np.ndarray
    """Posterior probability carried by each tau node (sums to 1)."""
    tau_log_density: np.ndarray
    """log posterior density of tau at the Simpson nodes (normalised)."""
    tau_log_nodes: np.ndarray
    tau_low_mass: float
    """Posterior probability of tau in [0, tau_log_nodes[0]] (the Gauss-Legendre piece)."""
    weights: np.ndarray
    locs: np.ndarray
    sds: np.ndarray
    mu_mean: float
    mu_sd: float

    # -- theta* = logit p* ---------------------------------------------------------------------

    def _chunks(self, x: np.ndarray, fn) -> np.ndarray:
        x = np.atleast_1d(np.asarray(x, float))
        out = np.empty_like(x)
        step = max(1, 2_000_000 // max(1, self.weights.size))
        flat = x.ravel()
        res = out.ravel()
        for i in range(0, flat.size, step):
            res[i:i + step] = fn(flat[i:i + step, None])
        return out

    def logit_cdf(self, x):
        """P(theta* <= x)."""
        return self._chunks(x, lambda xx: np.sum(
            self.weights * special.ndtr((xx - self.locs) / self.sds), axis=1))

    def logit_pdf_derivatives(self, x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Density of theta* at x and its first two derivatives."""
        x = np.atleast_1d(np.asarray(x, float))
        f, f1, f2 = (np.empty_like(x) for _ in range(3))
        step = max(1, 2_000_000 // max(1, self.weights.size))
        for i in range(0, x.size, step):
            z = (x[i:i + step, None] - self.locs) / self.sds
            phi = self.weights * np.exp(-z**2 / 2) / math.sqrt(2 * math.pi)
            f[i:i + step] = np.sum(phi / self.sds, axis=1)
            f1[i:i + step] = np.sum(-z * phi / self.sds**2, axis=1)
            f2[i:i + step] = np.sum((z**2 - 1) * phi / self.sds**3, axis=1)
        return f, f1, f2

    def logit_pdf(self, x):
        return self.logit_pdf_derivatives(x)[0]

    def logit_quantile(self, q: float) -> float:
        mean = float(np.sum(self.weights * self.locs))
        sd = float(np.sqrt(np.sum(self.weights * (self.sds**2 + self.locs**2)) - mean**2))
        guess = mean + sd * float(dists.norm_ppf(q))
        return monotone_root(lambda x: float(self.logit_cdf(x)[0]) - q, guess - 0.1 * sd,
                             guess + 0.1 * sd,
                             increasing=True, limits=(-60.0, 60.0), xtol=1e-10,
                             what=f"the MAP's {q} quantile")

    # -- p* --------------------------------------------------------------------------------------

    def cdf(self, p):
        """P(p* <= p)."""
        with np.errstate(divide="ignore"):
            return self.logit_cdf(special.logit(np.clip(np.asarray(p, float), 0, 1)))

    def pdf(self, p):
        """Density of p* at p in (0, 1)."""
        p = np.asarray(p, float)
        return self.logit_pdf(special.logit(p)) / (p * (1 - p))

    def quantile(self, q: float) -> float:
        return float(special.expit(self.logit_quantile(q)))

    def moments(self, n_nodes: int = 40) -> tuple[float, float]:
        """Mean and sd of p* (Gauss-Hermite per mixture component)."""
        z, w = quadrature.gauss_hermite(n_nodes)
        p = special.expit(self.locs[:, None] + self.sds[:, None] * z)
        m1 = float(np.sum(self.weights * (p @ w)))
        m2 = float(np.sum(self.weights * ((p**2) @ w)))
        return m1, math.sqrt(max(m2 - m1**2, 0.0))

    def tau_cdf(self, tau: float) -> float:
        """Posterior P(tau <= t) (trapezoid on log tau above the Gauss-Legendre piece)."""
        z, cum = self._tau_cum()
        if tau <= math.exp(z[0]):
            return float(self.tau_low_mass * tau / math.exp(z[0]))
        return float(np.interp(math.log(tau), z, cum))

    def _tau_cum(self) -> tuple[np.ndarray, np.ndarray]:
        """log tau on a grid 16 times finer than the nodes, and tau's posterior CDF there
        (the log density interpolated by a cubic spline, then the trapezoid rule)."""
        from scipy.interpolate import CubicSpline

        z = self.tau_log_nodes
        fine = np.linspace(z[0], z[-1], 16 * (z.size - 1) + 1)
        dens = np.exp(CubicSpline(z, self.tau_log_density + z)(fine))  # density in log tau
        cum = self.tau_low_mass + np.concatenate(
            [[0.0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(fine))])
        return fine, cum / cum[-1]

    def tau_quantile(self, q: float) -> float:
        lo = 1e-12
        return monotone_root(lambda t: self.tau_cdf(t) - q, lo, TAU_MAX, increasing=True,
                             limits=(lo, TAU_MAX), at_limit="clamp", xtol=1e-8,
                             what=f"tau's {q} quantile")

    def summary(self) -> dict:
        mean, sd = self.moments()
        return {
            "mean": mean,
            "sd": sd,
            "quantiles": {str(q): self.quantile(q) for q in (0.025, 0.5, 0.975)},
            "tau": {"median": self.tau_quantile(0.5),
                    "interval": [self.tau_quantile(0.025), self.tau_quantile(0.975)]},
            "mu": {"mean": self.mu_mean, "sd": self.mu_sd},
        }


def _tau_grid(tau_prior: TauPrior, n_log: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """tau nodes, their quadrature weights (in tau) and log tau's Simpson nodes; n low nodes."""
    lo = 0.01 * tau_prior.scale
    hi = tau_prior.upper()
    if hi <= lo:
        hi = lo * 10
    z, sw = quadrature.simpson_grid(math.log(lo), math.log(hi), n_log)
    t_low, w_low = quadrature.gauss_legendre(0.0, lo, 4)
    taus = np.concatenate([t_low, np.exp(z)])
    weights = np.concatenate([w_low, sw * np.exp(z)])  # d tau = tau d log tau
    return taus, weights, z, t_low.size


def _mu_rows(t_hat: np.ndarray, v: np.ndarray, mu_mean: float, mu_sd: float, taus: np.ndarray,
             half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres and half-widths of the mu grid of each tau: +-``half_width`` sds of the Normal
    approximation of mu | tau, data (study estimates ``t_hat`` with variances ``v``)."""
    prec = 1 / mu_sd**2 + np.sum(1 / (v + taus[:, None] ** 2), axis=1)
    centre = (mu_mean / mu_sd**2 + np.sum(t_hat / (v + taus[:, None] ** 2), axis=1)) / prec
    return centre, half_width / np.sqrt(prec)


def _logit_estimates(y: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Continuity-corrected logit of each study's rate and its approximate variance."""
    p_hat = (y + 0.5) / (n + 1.0)
    return special.logit(p_hat), 1.0 / ((n + 1.0) * p_hat * (1 - p_hat))


def map_predictive(spec: MapSpec, n_tau: int = 101, n_mu: int = 201) -> MapPredictive:
    """The exact MAP predictive of ``spec`` (cached: specs are frozen)."""
    return _map_predictive(spec, n_tau, n_mu)


@lru_cache(maxsize=32)
def _map_predictive(spec: MapSpec, n_tau: int, n_mu: int) -> MapPredictive:
    if not spec.studies:
        raise ValueError("a MAP prior needs at least one historical study")
    y = np.array([s.events for s in spec.studies], float)
    n = np.array([s.n for s in spec.studies], float)
    t_hat, v = _logit_estimates(y, n)
    return _predictive(spec, lambda mu, tau: study_log_likelihood(y, n, mu, tau), t_hat, v,
                       n_tau, n_mu)


def _predictive(spec, loglik_fn, t_hat, v, n_tau: int, n_mu: int) -> MapPredictive:
    """The quadrature over (mu, tau) and the Normal-mixture predictive, for any study
    log-likelihood ``loglik_fn(mu, tau)`` (broadcast over a trailing axis of studies)."""
    taus, tau_w, z_log, n_low = _tau_grid(spec.tau, n_tau)
    half = 9.0
    for _ in range(4):
        centre, span = _mu_rows(t_hat, v, spec.mu_mean, spec.mu_sd, taus, half)
        u = (np.arange(n_mu) + 0.5) / n_mu * 2 - 1  # midpoints on (-1, 1)
        mu = centre[:, None] + span[:, None] * u  # (T, M)
        h = 2 * span / n_mu
        loglik = loglik_fn(mu[..., None], taus[:, None, None]).sum(axis=-1)
        lp = (loglik + dists.norm_logpdf(mu, spec.mu_mean, spec.mu_sd)
              + spec.tau.logpdf(taus)[:, None])
        row_max = lp.max(axis=1)
        top = lp.max()
        edges = np.maximum(lp[:, 0], lp[:, -1]) - row_max
        # rows that matter must have negligible density at their edges
        if np.all((edges < -30) | (row_max < top - 40)):
            break
        half *= 1.5
    else:
        raise ArithmeticError("MAP quadrature: the mu grid does not contain the posterior")
    log_mass = lp + np.log(h)[:, None] + np.log(tau_w)[:, None]
    log_total = special.logsumexp(log_mass)
    mass = np.exp(log_mass - log_total)  # (T, M), sums to 1
    row = mass.sum(axis=1)
    # each node spreads over its cell: Normal(loc, tau^2 + h^2), locations pulled to the row mean
    safe = np.where(row > 0, row, 1.0)
    row_mean = np.sum(mass * mu, axis=1) / safe
    row_var = np.sum(mass * (mu - row_mean[:, None]) ** 2, axis=1) / safe
    shrink = np.sqrt(np.clip(1 - h**2 / np.where(row_var > 0, row_var, np.inf), 0.0, 1.0))
    locs = row_mean[:, None] + shrink[:, None] * (mu - row_mean[:, None])
    sds = np.sqrt(taus[:, None] ** 2 + h[:, None] ** 2) * np.ones_like(mu)
    keep = mass > 1e-14 * mass.max()
    weights = mass[keep] / mass[keep].sum()
    mu_mean = float(np.sum(mass * mu))
    mu_sd = float(np.sqrt(np.sum(mass * (mu - mu_mean) ** 2) + np.sum(row * h**2 / 12)))
    # tau's posterior density at the Simpson nodes (normalised), and the low piece's mass
    row_log = special.logsumexp(lp + np.log(h)[:, None], axis=1) - log_total
    return MapPredictive(
        spec=spec,
        tau_nodes=taus,
        tau_mass=row,
        tau_log_density=row_log[n_low:],
        tau_log_nodes=z_log,
        tau_low_mass=float(row[:n_low].sum()),
        weights=weights,
        locs=locs[keep],
        sds=sds[keep],
        mu_mean=mu_mean,
        mu_sd=mu_sd,
    )


# ---------------------------------------------------------------------------------------------
# The Beta-mixture approximation, robustification, posterior weights and ESS
# ---------------------------------------------------------------------------------------------

MAX_COMPONENTS = 4
"""Most Beta components tried for the mixture approximation."""
ALGORITHM = "map-1"
"""Version of the MAP quadrature and mixture fit: change it whenever a change to this module can
change a fitted mixture, so that cached fits (:mod:`lnbayes.io.map_cache`) are not reused; the
effect MAP's Normal-mixture fits (:mod:`lnbayes.priors.map_effect`) are keyed by it too."""
CDF_TOLERANCE = 0.005
"""The mixture has the fewest components whose CDF is within this of the MAP's everywhere."""


@dataclass(frozen=True)
class MixtureFit:
    """A Beta mixture fitted to a MAP predictive and how close it is."""

    beta: object
    """The :class:`lnbayes.model.spec.BetaPrior` (a mixture when it has several components)."""
    max_cdf_error: float
    """max over p of |CDF_mixture(p) - CDF_MAP(p)|."""
    kl: float
    """KL(MAP || mixture) on the quadrature grid, in nats."""
    tried: tuple[tuple[int, float], ...]
    """(components, max CDF error) of every fit tried, in order."""


def _theta_grid(pred: MapPredictive, n: int, tail: float) -> tuple[np.ndarray, np.ndarray]:
    lo = pred.logit_quantile(tail)
    hi = pred.logit_quantile(1 - tail)
    return quadrature.simpson_grid(lo, hi, n)


def _mixture_cdf(w, a, b, p) -> np.ndarray:
    return np.sum(np.asarray(w) * special.betainc(np.asarray(a), np.asarray(b), np.asarray(p)[:, None]),
                  axis=1)


def max_cdf_error(pred: MapPredictive, beta, n: int = 4001, _table=None) -> float:
    """Largest |CDF_mixture - CDF_MAP| on ``n`` logit points from the MAP's 1e-9 to 1 - 1e-9
    quantile (outside them both CDFs are within 1e-9 of 0 or 1 or the mixture's own tail)."""
    theta, cdf = _table if _table is not None else _cdf_table(pred, n)
    diff = _mixture_cdf(beta.weights, beta.a, beta.b, special.expit(theta)) - cdf
    return float(np.max(np.abs(diff)))


def _cdf_table(pred: MapPredictive, n: int = 4001) -> tuple[np.ndarray, np.ndarray]:
    theta = np.linspace(pred.logit_quantile(1e-9), pred.logit_quantile(1 - 1e-9), n)
    return theta, pred.logit_cdf(theta)


def _fit_k(log_p, log_q, mass, k: int, starts) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    from scipy import optimize

    def unpack(x):
        la, lb = np.clip(x[:k], -6.0, 12.0), np.clip(x[k:2 * k], -6.0, 12.0)
        lw = np.concatenate([[0.0], np.clip(x[2 * k:], -30.0, 30.0)])
        return np.exp(la), np.exp(lb), np.exp(lw - special.logsumexp(lw))

    def objective(x):
        a, b, w = unpack(x)
        log_h = (np.log(w) + (a - 1) * log_p[:, None] + (b - 1) * log_q[:, None]
                 - special.betaln(a, b))
        log_f = special.logsumexp(log_h, axis=1)
        r = mass[:, None] * np.exp(log_h - log_f[:, None])  # mass x responsibilities
        rk = r.sum(axis=0)
        dab = special.digamma(a + b)
        grad_a = a * (r.T @ log_p - rk * (special.digamma(a) - dab))
        grad_b = b * (r.T @ log_q - rk * (special.digamma(b) - dab))
        grad_w = (rk - w * mass.sum())[1:]
        return -float(np.sum(mass * log_f)), -np.concatenate([grad_a, grad_b, grad_w])

    best = None
    for a0, b0, w0 in starts:
        x0 = np.concatenate([np.log(a0), np.log(b0), np.log(w0[1:] / w0[0])])
        res = optimize.minimize(objective, x0, method="BFGS", jac=True,
                                options={"maxiter": 2000, "gtol": 1e-8})
        if best is None or res.fun < best[0]:
            best = (res.fun, *unpack(res.x))
    return best


def fit_beta_mixture(pred: MapPredictive, max_components: int = MAX_COMPONENTS,
                     tolerance: float = CDF_TOLERANCE) -> MixtureFit:
    """The Beta mixture closest to the MAP in Kullback-Leibler divergence, with the fewest
    components (1 to ``max_components``) whose CDF is within ``tolerance`` of the MAP's.

    Each fit maximises ``E_MAP[log mixture density]`` (the expected log-likelihood that EM
    maximises on draws, here on the MAP's exact density: Simpson's rule on 801 logit nodes between
    its 1e-7 and 1 - 1e-7 quantiles) by BFGS (analytic gradient) over log a, log b and the weights' logits, from
    two starts (the MAP split at its quantiles; the previous fit plus a wide component). If no
    fit reaches the tolerance, the most accurate one is returned (its error says so).
    """
    theta, sw = _theta_grid(pred, 801, 1e-7)
    table = _cdf_table(pred)
    mass = pred.logit_pdf(theta) * sw
    mass = mass / mass.sum()
    log_p, log_q = special.log_expit(theta), special.log_expit(-theta)
    p = np.exp(log_p)
    cum = np.cumsum(mass)
    entropy = float(np.sum(mass * np.log(pred.pdf(p))))
    tried, fits, previous = [], [], None
    for k in range(1, max_components + 1):
        starts = []
        edges = np.searchsorted(cum, np.linspace(0, 1, k + 1)[1:-1])
        a0, b0 = [], []
        for part in np.split(np.arange(p.size), edges):
            mw = mass[part] / mass[part].sum()
            m = float(np.sum(mw * p[part]))
            v = max(float(np.sum(mw * (p[part] - m) ** 2)), 1e-6)
            n0 = min(max(m * (1 - m) / v - 1, 0.5), 1e5)
            a0.append(m * n0)
            b0.append((1 - m) * n0)
        starts.append((np.array(a0), np.array(b0), np.full(k, 1.0 / k)))
        if previous is not None:
            _, pa, pb, pw = previous
            starts.append((np.append(pa, 1.0), np.append(pb, 1.0), np.append(pw * 0.9, 0.1)))
        fit = _fit_k(log_p, log_q, mass, k, starts)
        beta = BetaPrior(tuple(map(float, fit[3])), tuple(map(float, fit[1])),
                         tuple(map(float, fit[2])))
        error = max_cdf_error(pred, beta, _table=table)
        tried.append((k, error))
        fits.append((error, beta, entropy + fit[0]))
        previous = fit
        if error < tolerance:
            break
    error, beta, kl = min(fits, key=lambda f: f[0]) if tried[-1][1] >= tolerance else fits[-1]
    return MixtureFit(beta=beta, max_cdf_error=error, kl=kl, tried=tuple(tried))


def robustify(beta, weight: float, a: float = 1.0, b: float = 1.0):
    """``(1 - weight) * beta + weight * Beta(a, b)`` (Schmidli et al. 2014)."""
    if not 0 <= weight <= 1:
        raise ValueError(f"the robust weight must be in [0, 1], got {weight}")
    scaled = tuple(w * (1 - weight) for w in beta.weights)
    return BetaPrior(scaled + (float(weight),), tuple(beta.a) + (float(a),),
                     tuple(beta.b) + (float(b),))


def posterior_weights(beta, events: int, n: int) -> tuple[float, ...]:
    """The components' weights after ``events`` out of ``n``: w_k B(a_k + y, b_k + n - y) / B(a_k,
    b_k), normalised (the Beta-binomial marginal likelihood of each component)."""
    w, a, b = (np.asarray(x, float) for x in (beta.weights, beta.a, beta.b))
    log_w = np.log(w) + special.betaln(a + events, b + n - events) - special.betaln(a, b)
    return tuple(float(x) for x in np.exp(log_w - special.logsumexp(log_w)))


MORITA_S = 100.0
"""RBesT's flattening constant of the Morita base prior, Beta(mode / s, (1 - mode) / s)."""


def morita_at_mode(mode: float, info: float, mean: float, s: float = MORITA_S) -> float:
    """Morita, Thall and Mueller (2008) ESS as RBesT computes it (``ess(..., "morita")``):
    ``(D(mode) - D0(mode)) / E[i(mode)]`` at the prior's mode, where D = -(log prior)'' on the
    p scale, D0 that of the flattened base prior Beta(mode/s, (1-mode)/s) and E[i] the expected
    information of one patient, mean/mode^2 + (1 - mean)/(1 - mode)^2."""
    a0, b0 = mode / s, (1 - mode) / s
    info0 = (a0 - 1) / mode**2 + (b0 - 1) / (1 - mode) ** 2
    expected = mean / mode**2 + (1 - mean) / (1 - mode) ** 2
    return float((info - info0) / expected)


def _beta_mixture_info(beta, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log density of a Beta mixture at p and -(log density)'' there (p scale)."""
    w, a, b = (np.asarray(x, float) for x in (beta.weights, beta.a, beta.b))
    p = np.asarray(p, float)[:, None]
    log_h = np.log(w) + dists.beta_logpdf(p, a, b)
    log_f = special.logsumexp(log_h, axis=1, keepdims=True)
    r = np.exp(log_h - log_f)
    g = (a - 1) / p - (b - 1) / (1 - p)
    dg = -(a - 1) / p**2 - (b - 1) / (1 - p) ** 2
    second = np.sum(r * (g**2 + dg), axis=1) - np.sum(r * g, axis=1) ** 2
    return log_f[:, 0], -second


def _mode(log_density, lo: float, hi: float) -> float:
    """The highest mode of a density on (lo, hi): a grid of 2001 points, then Brent's method."""
    from scipy import optimize

    grid = np.linspace(lo, hi, 2001)
    i = int(np.argmax(log_density(grid)))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = optimize.minimize_scalar(lambda x: -float(log_density(np.array([x]))[0]),
                                   bounds=(a, b), method="bounded", options={"xatol": 1e-12})
    return float(res.x)


def mixture_ess(beta) -> dict[str, float]:
    """ELIR and moment ESS (:mod:`lnbayes.priors.effective_size`) and RBesT's Morita ESS (at the
    mode) of a Beta mixture."""
    from lnbayes.priors import effective_size

    eps = 1e-9
    mode = _mode(lambda x: _beta_mixture_info(beta, x)[0], eps, 1 - eps)
    mean = effective_size.beta_mixture_moments(beta)[0]
    info = float(_beta_mixture_info(beta, np.array([mode]))[1][0])
    return {"elir": effective_size.ess_elir(beta), "moment": effective_size.ess_moment(beta),
            "morita": morita_at_mode(mode, info, mean)}


def map_ess(pred: MapPredictive, n_nodes: int = 4001) -> dict[str, float]:
    """ELIR, moment and Morita ESS of the exact MAP predictive (the definitions of
    :func:`mixture_ess`, applied to the MAP's own density rather than to a mixture).

    ELIR: E[-(log f)''(theta) / (p (1 - p))] over theta = logit p* (Simpson's rule between the
    1e-9 and 1 - 1e-9 quantiles); moment: m (1 - m) / v - 1; Morita: :func:`morita_at_mode` with
    D_p = [-(log f)'' + (log f)' (1 - 2p)] / (p (1 - p))^2 - 1/p^2 - 1/(1 - p)^2, the p-scale
    information of the density f of theta = logit p.
    """
    theta, sw = _theta_grid(pred, n_nodes, 1e-9)
    f, f1, f2 = pred.logit_pdf_derivatives(theta)
    info = (f1**2 - f * f2) / f**2  # -(log f)''
    v = special.expit(theta) * special.expit(-theta)
    elir = float(np.sum(sw * f * info / v) / np.sum(sw * f))
    mean, sd = pred.moments()
    moment = mean * (1 - mean) / sd**2 - 1

    def log_pdf_p(p):
        return np.log(pred.logit_pdf(special.logit(p))) - np.log(p) - np.log1p(-p)

    q_lo, q_hi = pred.quantile(1e-6), pred.quantile(1 - 1e-6)
    mode = _mode(log_pdf_p, q_lo, q_hi)
    g, g1, g2 = (x[0] for x in pred.logit_pdf_derivatives(special.logit(mode)))
    pq = mode * (1 - mode)
    d_p = ((-(g * g2 - g1**2) / g**2 + g1 / g * (1 - 2 * mode)) / pq**2
           - 1 / mode**2 - 1 / (1 - mode) ** 2)
    morita = morita_at_mode(mode, float(d_p), mean)
    return {"elir": elir, "moment": moment, "morita": morita}


# ---------------------------------------------------------------------------------------------
# The prior the engines use: a Beta mixture that remembers its derivation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Robust:
    """The vague component of a robust MAP: ``weight`` on Beta(a, b) (Schmidli et al. 2014)."""

    weight: float
    a: float = 1.0
    b: float = 1.0


@dataclass(frozen=True)
class MapDerivation:
    """How a MAP Beta mixture was derived: the model, the fit and the robust component."""

    spec: MapSpec
    fit: MixtureFit
    robust: Robust | None = None

    @property
    def predictive(self) -> MapPredictive:
        return map_predictive(self.spec)

    def describe(self) -> str:
        text = self.spec.describe()
        if self.robust is not None:
            text += (f"; robust: weight {self.robust.weight:g} on "
                     f"Beta({self.robust.a:g}, {self.robust.b:g})")
        return text


def map_beta_prior(spec: MapSpec, robust: Robust | None = None,
                   tolerance: float = CDF_TOLERANCE, fit: MixtureFit | None = None):
    """The Beta mixture the engines use for a MAP prior (robustified if ``robust``), carrying its
    :class:`MapDerivation` (excluded from equality and hashing: the numbers are the prior).
    ``fit``: the mixture already fitted to ``spec`` (e.g. from a cache), else it is fitted."""
    if fit is None:
        fit = fit_beta_mixture(map_predictive(spec), tolerance=tolerance)
    beta = fit.beta if robust is None else robustify(fit.beta, robust.weight, robust.a, robust.b)
    return MapBetaPrior(beta.weights, beta.a, beta.b, derivation=MapDerivation(spec, fit, robust))


@dataclass(frozen=True)
class MapBetaPrior(BetaPrior):
    """A Beta mixture approximating a (robust) MAP prior, with its derivation."""

    derivation: MapDerivation | None = field(default=None, compare=False, hash=False, repr=False)


def derivation_of(beta) -> MapDerivation | None:
    """The MAP derivation a Beta prior carries (None for any other Beta prior)."""
    return getattr(beta, "derivation", None)
