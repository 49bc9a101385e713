"""Density curves and a small P(benefit) grid for the figures (pure maths).

Only NumPy, SciPy and the exact engine here: the plotting layer draws what these functions
compute and never computes statistics itself.

* :func:`measure_density` differentiates the exact posterior CDF (``ExactPosterior.cdf``) on a
  fine grid. The *prior* density of the same measure is the exact "posterior" given no data
  (:func:`no_data`: an outcome with 0 patients in each arm), so prior and posterior curves come
  from one machinery.
* :func:`benefit_grid`: P(benefit) over a grid of Normal effect priors (prior mean x prior SD),
  vectorised 2-D quadrature on (logit p_control, logit p_treatment); a stand-in for
  ``lnbayes sweep`` that returns the same JSON shape.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import special

from lnbayes.engines import exact
from lnbayes.model import dists, effects

LOG_MEASURES = ("odds_ratio", "risk_ratio")
"""Measures drawn on a log axis; their densities are per unit of the log measure."""


def no_data(outcome):
    """The outcome with no patients in either arm: its exact posterior is the prior."""
    return replace(outcome, treatment_events=0, treatment_n=0, control_events=0, control_n=0)


def measure_density(post: exact.ExactPosterior, measure: str, grid) -> np.ndarray:
    """Density of ``measure`` on ``grid`` by differentiating the exact CDF.

    For ``odds_ratio`` and ``risk_ratio`` the density is per unit of the *log* measure (the
    grid itself is on the natural scale), so that areas read correctly on a log axis.
    """
    grid = np.asarray(grid, dtype=float)
    cdf = post.cdf(measure, grid)
    x = np.log(grid) if measure in LOG_MEASURES else grid
    return np.clip(np.gradient(cdf, x), 0.0, None)


def measure_grid(measure: str, lo: float, hi: float, n: int = 801) -> np.ndarray:
    """A grid for ``measure`` between lo and hi (log-spaced for ratio measures)."""
    if measure in LOG_MEASURES:
        return np.exp(np.linspace(math.log(lo), math.log(hi), n))
    return np.linspace(lo, hi, n)


def density_curves(prior, outcome, measures=("risk_difference", "odds_ratio"),
                   ranges: dict[str, tuple[float, float]] | None = None,
                   n: int = 801) -> dict[str, dict[str, np.ndarray]]:
    """Exact prior and posterior densities of each measure on a common grid.

    Arm-level priors: the densities are integrals of the two arms' Beta (mixture) densities
    (:func:`arm_measure_density`). Effect-level priors: the exact CDF differentiated on the grid
    (:func:`measure_density`), and for ``p_control`` the quadrature nodes' weights
    (:func:`p_control_density`).

    Parameters
    ----------
    prior : lnbayes.model.spec.Prior
    outcome : lnbayes.model.spec.Outcome
    measures : sequence of str
        ``risk_difference``, ``odds_ratio``, ``risk_ratio``, ``p_control``, ``p_treatment``.
    ranges : dict, optional
        measure -> (lo, hi) of the grid. Default: the 0.1% to 99.9% range covered by prior and
        posterior (ratio measures limited to 1/1000 ... 1000).
    n : int
        Grid points.

    Returns
    -------
    dict
        measure -> {"grid", "prior", "posterior"} arrays.
    """
    post = exact.posterior(prior, outcome)
    prior_post = exact.posterior(prior, no_data(outcome))
    arms = None
    c0 = exact.BetaMix.of(prior.control)
    if prior.family == "arm":
        t0 = exact.BetaMix.of(prior.treatment)
        c1, _ = exact.update_beta(c0, outcome.control_events, outcome.control_n)
        t1, _ = exact.update_beta(t0, outcome.treatment_events, outcome.treatment_n)
        arms = {"prior": (c0, t0.logpdf), "posterior": (c1, t1.logpdf)}
    else:
        arms = {"prior": (c0, _effect_conditional(prior))}
    out = {}
    for measure in measures:
        if ranges and measure in ranges:
            lo, hi = ranges[measure]
        else:
            lo, hi = default_range(measure, [post, prior_post])
        # n points across the whole range, and n more across the posterior's own range, so that
        # a posterior much narrower than the prior (a large trial) is drawn smoothly too
        p_lo, p_hi = default_range(measure, [post])
        grid = np.union1d(measure_grid(measure, lo, hi, n),
                          measure_grid(measure, max(p_lo, lo), min(p_hi, hi), n))
        curves = {"grid": grid}
        for key, p in (("prior", prior_post), ("posterior", post)):
            if key in arms:
                curves[key] = arm_measure_density(*arms[key], measure, grid)
            elif measure == "p_control":
                curves[key] = p_control_density(p, grid)
            else:
                curves[key] = measure_density(p, measure, grid)
        out[measure] = curves
    return out


def _effect_conditional(prior):
    """Log density of p_treatment given p_control under an effect-level prior (no data)."""
    mix = exact.NormalMix.of(prior.effect)
    scale = prior.scale

    def log_ft(t, x):
        theta = effects.theta_of(scale, x, t)
        lo, hi = effects.theta_bounds(scale, x)
        if scale == "log_or":
            log_dtheta = -np.log(t) - np.log1p(-t)
        elif scale == "log_rr":
            log_dtheta = -np.log(t)
        else:
            log_dtheta = np.zeros_like(t)
        return mix.logpdf(theta) + log_dtheta - mix.log_mass(lo, hi)

    log_ft.conditional = True
    return log_ft


def arm_measure_density(control: exact.BetaMix, log_treatment, measure: str,
                        grid, n_nodes: int = 2001) -> np.ndarray:
    """Density of a measure from p_control's Beta mixture and p_treatment's (conditional) law.

    ``log_treatment(t)`` is p_treatment's log density (independent arms), or
    ``log_treatment(t, x)`` given p_control = x when it has the attribute ``conditional``
    (an effect-level prior without data).
    ``p_control``: the mixture density. Risk difference d:
    integral of f_c(x) f_t(x + d) dx. Odds ratio and risk ratio, per unit of the log measure l:
    integral of f_c(x) f_t(t) dt/dl dx with t = expit(logit x + l), resp. t = x e^l. The
    integral over x is Simpson's rule on the logit of x's relative position within the
    interval where both densities can be non-zero, so jumps at its ends cost no accuracy.
    """
    grid = np.asarray(grid, dtype=float)
    if measure == "p_control":
        return _beta_pdf(control, grid)
    if measure not in ("p_treatment", "risk_difference", "odds_ratio", "risk_ratio"):
        raise ValueError(f"unknown measure {measure!r}")
    conditional = getattr(log_treatment, "conditional", False)
    if measure == "p_treatment" and not conditional:
        with np.errstate(divide="ignore"):
            return np.exp(log_treatment(np.clip(grid, 0.0, 1.0)))
    # x runs over the control arm's support intersected with the p_control values at which the
    # measure's value keeps p_treatment inside (0, 1); mapping that interval onto a logistic
    # grid puts nodes at both ends, where the integrand may jump (a Beta(1, 1) density).
    sup_lo, sup_hi = special.expit(np.array(control.support_logit(1e-12)))
    g = grid[:, None]
    if measure == "risk_difference":
        lo_x, hi_x = np.maximum(sup_lo, -g), np.minimum(sup_hi, 1 - g)
    elif measure == "risk_ratio":
        lo_x, hi_x = np.full_like(g, sup_lo), np.minimum(sup_hi, 1 / g)
    else:
        lo_x, hi_x = np.full_like(g, sup_lo), np.full_like(g, sup_hi)
    width = np.clip(hi_x - lo_x, 0.0, None)
    s_nodes = np.linspace(-25.0, 25.0, n_nodes)
    e = special.expit(s_nodes)[None, :]
    x = lo_x + width * e
    with np.errstate(divide="ignore", invalid="ignore"):
        log_wx = (np.log(exact._simpson_weights(n_nodes, s_nodes[1] - s_nodes[0]))[None, :]
                  + np.log(width) + np.log(e) + np.log1p(-e) + control.logpdf(x))
        if measure == "p_treatment":
            t = np.broadcast_to(g, x.shape)
            log_jac = np.zeros_like(t)
        elif measure == "risk_difference":
            t = x + g
            log_jac = np.zeros_like(t)
        elif measure == "odds_ratio":
            t = special.expit(special.logit(x) + np.log(g))
            log_jac = np.log(t) + np.log1p(-t)
        else:
            t = x * g
            log_jac = np.log(t)
        inside = (t > 0) & (t < 1) & (x > 0) & (x < 1) & (width > 0)
        t_in = np.where(inside, t, 0.5)
        x_in = np.where(inside, x, 0.5)
        log_t = log_treatment(t_in, x_in) if conditional else log_treatment(t_in)
        log_f = np.where(inside, log_t + log_jac + log_wx, -np.inf)
    return np.sum(np.exp(log_f), axis=1)


def _beta_pdf(mix: exact.BetaMix, grid) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.exp(mix.logpdf(np.clip(grid, 0.0, 1.0)))


def p_control_density(post: exact.ExactPosterior, grid) -> np.ndarray:
    """Marginal density of p_control from the exact engine's quadrature nodes.

    The node weights are Simpson weights times the density on the logit scale; dividing the
    Simpson pattern out gives that density at the nodes, which is interpolated (cubic) on the
    logit scale and carried back to the probability scale.
    """
    from scipy.interpolate import CubicSpline

    grid = np.asarray(grid, dtype=float)
    u = special.logit(post.x)
    pattern = exact._simpson_weights(len(u), 1.0)
    dens_u = post.w / pattern
    dens_u = dens_u / np.trapezoid(dens_u, u)
    spline = CubicSpline(u, dens_u, extrapolate=False)
    out = np.zeros_like(grid)
    inside = (grid > 0) & (grid < 1)
    g = grid[inside]
    values = spline(special.logit(g)) / (g * (1 - g))
    out[inside] = np.clip(np.nan_to_num(values, nan=0.0), 0.0, None)
    return out


def default_range(measure: str, posts, tail: float = 0.001) -> tuple[float, float]:
    """The range holding all but ``tail`` of each distribution in each tail."""
    lows = [p.quantile(measure, tail) for p in posts]
    highs = [p.quantile(measure, 1 - tail) for p in posts]
    lo, hi = min(lows), max(highs)
    bounds = {"odds_ratio": (1e-3, 1e3), "risk_ratio": (1e-3, 1e3),
              "risk_difference": (-1.0, 1.0)}.get(measure, (0.0, 1.0))
    lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    if not lo < hi:  # a distribution (almost) entirely beyond the drawn range
        return bounds
    return lo, hi


# ---------------------------------------------------------------------------------------------
# P(benefit) over a grid of Normal effect priors
# ---------------------------------------------------------------------------------------------


def benefit_grid(outcome, control_prior, scale: str, means, sds, levels=(0.5, 0.8, 0.95),
                 n_nodes: int = 481, span: float = 12.0) -> dict[str, Any]:
    """P(benefit) for every Normal(mean, sd^2) effect prior on ``scale`` in means x sds.

    One 2-D quadrature grid on (u_c, u_t) = (logit p_control, logit p_treatment) holds the
    likelihood and the control prior once; each effect prior only reweights it by its density
    of theta(p_control, p_treatment) times the Jacobian d theta / d u_t, truncated per p_control
    to the feasible effects (log_rr, rd) and renormalised, exactly as in the exact engine.
    Accuracy is about 1e-3 on probabilities for prior SDs of at least 0.1 on the log scales
    (0.02 on rd); the exact engine is the reference.

    Returns the JSON shape of ``lnbayes sweep``: ``{"scale", "outcome", "levels", "grid":
    [{"prior_mean", "prior_sd", "p_benefit", "p_benefit_exact"}], "tipping_point": None}``.
    """
    u = np.linspace(-span, span, n_nodes)
    h = u[1] - u[0]
    sw = exact._simpson_weights(n_nodes, h)
    uc, ut = np.meshgrid(u, u, indexing="ij")
    pc, pt = special.expit(uc), special.expit(ut)
    prior_c = exact.BetaMix.of(control_prior)
    log_c = (prior_c.logpdf(pc[:, 0]) + np.log(pc[:, 0]) + np.log1p(-pc[:, 0])
             + exact._log_binom(outcome.control_events, outcome.control_n, pc[:, 0]))
    log_t = exact._log_binom(outcome.treatment_events, outcome.treatment_n, pt)
    theta = effects.theta_of(scale, pc, pt)
    if scale == "log_or":
        log_jac = np.zeros_like(theta)
    elif scale == "log_rr":
        log_jac = np.log1p(-pt)
    elif scale == "rd":
        log_jac = np.log(pt) + np.log1p(-pt)
    else:
        raise ValueError(f"unknown scale {scale!r}")
    feas_lo, feas_hi = effects.theta_bounds(scale, pc[:, 0])
    feasible = np.isfinite(theta)
    if scale != "log_or":
        feasible &= theta < feas_hi[:, None]
    base = log_c[:, None] + log_t + log_jac + np.log(sw)[:, None] + np.log(sw)[None, :]
    base = np.where(feasible, base, -np.inf)
    lower = outcome.lower_is_better
    benefit = (pt < pc) if lower else (pt > pc)
    tie = pt == pc
    rows = []
    if scale == "log_or":
        # theta = u_t - u_c takes only 2 n - 1 values on this grid: sum the weights along each
        # diagonal once, then every prior costs O(n)
        i, j = np.indices(base.shape)
        k = (j - i + n_nodes - 1).ravel()
        peak = np.max(base)
        diag = np.bincount(k, weights=np.exp(base - peak).ravel(), minlength=2 * n_nodes - 1)
        theta_k = (np.arange(2 * n_nodes - 1) - (n_nodes - 1)) * h
        side = np.where(theta_k < 0, 1.0, 0.0) if lower else np.where(theta_k > 0, 1.0, 0.0)
        side = np.where(theta_k == 0, 0.5, side)
        for sd in np.asarray(sds, dtype=float):
            for mean in np.asarray(means, dtype=float):
                log_n = dists.norm_logpdf(theta_k, mean, sd)
                w = diag * np.exp(log_n - np.max(log_n))
                p = float(np.sum(w * side) / np.sum(w))
                rows.append({"prior_mean": float(mean), "prior_sd": float(sd), "p_benefit": p,
                             "p_benefit_mcse": None, "p_benefit_exact": p})
        means, sds = [], []
    for sd in np.asarray(sds, dtype=float):
        for mean in np.asarray(means, dtype=float):
            mix = exact.NormalMix(np.ones(1), np.array([mean]), np.array([sd]))
            log_trunc = mix.log_mass(feas_lo, feas_hi)
            log_prior = dists.norm_logpdf(np.where(feasible, theta, 0.0), mean, sd)
            log_w = base + log_prior - log_trunc[:, None]
            log_w = np.where(feasible, log_w, -np.inf)
            w = np.exp(log_w - np.max(log_w))
            total = w.sum()
            p = float((w[benefit].sum() + 0.5 * w[tie].sum()) / total)
            rows.append({"prior_mean": float(mean), "prior_sd": float(sd), "p_benefit": p,
                         "p_benefit_mcse": None, "p_benefit_exact": p})
    return {
        "scale": scale,
        "outcome": outcome.name,
        "levels": list(levels),
        "engine": "quadrature (lnbayes.analyses.densities.benefit_grid)",
        "control_prior": control_prior.as_dict(),
        "grid": rows,
        "tipping_point": None,
    }


def default_sweep_axes(priors, scale: str = "log_or", n_means: int = 25,
                       n_sds: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Prior means and SDs covering the named effect priors on ``scale`` with a margin."""
    effect_priors = [p for p in priors if p.family == "effect" and p.scale == scale
                     and len(p.effect.weights) == 1]
    means = [m for p in effect_priors for m in p.effect.means]
    sds = [s for p in effect_priors for s in p.effect.sds]
    wide = {"log_or": (1.5, 2.0, 0.1), "log_rr": (1.0, 1.5, 0.05), "rd": (0.3, 0.3, 0.02)}[scale]
    lo = min([-wide[0], *[m - 0.5 * wide[0] for m in means]])
    hi = max([wide[0], *[m + 0.5 * wide[0] for m in means]])
    sd_hi = max([wide[1], *[1.15 * s for s in sds]])
    return np.linspace(lo, hi, n_means), np.linspace(wide[2], sd_hi, n_sds)
