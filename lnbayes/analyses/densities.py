"""Exact prior and posterior density curves of the effect measures and the arms (pure maths).

Only NumPy, SciPy and the exact engine here: the plotting layer draws what these functions
compute and never computes statistics itself.

* :func:`measure_density` differentiates the exact posterior CDF (``ExactPosterior.cdf``) on a
  fine grid. The *prior* density of the same measure is the exact "posterior" given no data
  (:func:`no_data`: an outcome with 0 patients in each arm), so prior and posterior curves come
  from one machinery.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import numpy as np
from scipy import special

from lnbayes.engines import exact
from lnbayes.model import density, dists, effects
from lnbayes.numerics import quadrature

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
    c0 = density.arm_mix(prior.control)  # a Beta mixture, or (effect-level) Normal on the logit
    if prior.family == "arm":
        t0 = exact.BetaMix.of(prior.treatment)
        c1, _ = exact.update_beta(c0, outcome.control_events, outcome.control_n)
        t1, _ = exact.update_beta(t0, outcome.treatment_events, outcome.treatment_n)
        arms = {"prior": (c0, partial(_beta_logpdf, t0)), "posterior": (c1, partial(_beta_logpdf, t1))}
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
                        grid, n_nodes: int = 1001) -> np.ndarray:
    """Density of a measure from p_control's Beta mixture and p_treatment's (conditional) law.

    ``log_treatment(t)`` is p_treatment's log density (independent arms), or
    ``log_treatment(t, x)`` given p_control = x when it has the attribute ``conditional``
    (an effect-level prior without data).
    ``p_control``: the mixture density. Risk difference d:
    integral of f_c(x) f_t(x + d) dx. Odds ratio and risk ratio, per unit of the log measure l:
    integral of f_c(x) f_t(t) dt/dl dx with t = expit(logit x + l), resp. t = x e^l. The
    integral over x is Simpson's rule on the logit of x's relative position within the
    interval where both densities can be non-zero, so jumps at its ends cost no accuracy.
    ``n_nodes`` 1,001 (spacing 0.05 on that logit scale) agrees with ``scipy.integrate.quad``
    to ~1e-11 relative for a robust MAP mixture and for a 1,000-patient arm's posterior
    (tests/analyses/test_densities.py); 2,001 before gave the same curves at twice the cost.
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
    lo_x, hi_x = np.broadcast_arrays(lo_x, hi_x)
    # rows (grid values) with the same interval have the same nodes x: p_control's density is
    # evaluated once per distinct interval (all rows for the odds ratio, the rows below
    # 1 / sup_hi for the risk ratio), in the same arithmetic as row by row
    bounds, row_of = np.unique(np.concatenate([lo_x, hi_x], axis=1), axis=0, return_inverse=True)
    row_of = row_of.reshape(-1)
    u_lo, u_hi = bounds[:, :1], bounds[:, 1:]
    width = np.clip(hi_x - lo_x, 0.0, None)
    u_width = np.clip(u_hi - u_lo, 0.0, None)
    s_nodes = np.linspace(-25.0, 25.0, n_nodes)
    e = special.expit(s_nodes)[None, :]
    x = lo_x + width * e
    with np.errstate(divide="ignore", invalid="ignore"):
        log_wx = (np.log(quadrature.simpson_weights(n_nodes, s_nodes[1] - s_nodes[0]))[None, :]
                  + np.log(u_width) + np.log(e) + np.log1p(-e)
                  + _beta_logpdf(control, u_lo + u_width * e))[row_of]
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


def _beta_logpdf(mix: exact.BetaMix, x) -> np.ndarray:
    """``mix.logpdf(x)``, without the log-sum-exp for one component (the same numbers: the
    log-sum-exp of one term is the term, and its log weight is log 1 = 0); most of a report's
    density curves have one component, and the log-sum-exp over a 2,001-node grid per point
    was most of their time."""
    if not isinstance(mix, exact.BetaMix):
        return mix.logpdf(x)
    x = np.asarray(x, dtype=float)
    if len(mix.w) == 1 and mix.w[0] == 1.0:
        return dists.beta_logpdf(x, mix.a[0], mix.b[0])
    # a mixture: the log-sum-exp over components one array at a time (scipy's logsumexp over
    # a trailing component axis was most of the robust MAP prior's curves; values agree to a
    # few units in the last place)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = [math.log(w) + dists.beta_logpdf(x, a, b) if w > 0 else np.full(x.shape, -np.inf)
                 for w, a, b in zip(mix.w, mix.a, mix.b)]
        top = np.maximum.reduce(terms)
        shift = np.where(np.isfinite(top), top, 0.0)
        total = np.exp(terms[0] - shift)
        for term in terms[1:]:
            total += np.exp(term - shift)
        return np.log(total) + shift


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
    pattern = quadrature.simpson_weights(len(u), 1.0)
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
