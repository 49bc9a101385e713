"""Prior-data conflict: the prior predictive of the counts and Box's p (pure maths)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from lnbayes.model import dists, effects
from lnbayes.model.density import LogitNormalMix, NormalMix, arm_mix, log_effect_given_control
from lnbayes.numerics import quadrature
from lnbayes.priors.effective_size import _arrays

# ---------------------------------------------------------------------------------------------
# Prior predictive distribution and prior-data conflict (Box 1980)
# ---------------------------------------------------------------------------------------------


def _beta_binomial_pmf(beta, n: int) -> np.ndarray:
    w, a, b = _arrays(beta)
    y = np.arange(n + 1)[:, None]
    log_pmf = (
        dists.log_binom_coef(y, n)
        + special.betaln(a + y, b + n - y)
        - special.betaln(a, b)
    )
    return np.exp(special.logsumexp(np.log(w) + log_pmf, axis=1))


def prior_predictive(
    prior,
    n_treatment: int,
    n_control: int,
    n_control_nodes: int = 401,
    n_treatment_nodes: int = 2001,
) -> np.ndarray:
    """P(y_treatment, y_control) under the prior for arms of the given sizes, every outcome.

    Arm-level priors: the product of two Beta-binomial (mixture) pmfs (closed form). Effect-level
    priors: 2-D quadrature, Simpson on logit(p_control) and on logit(p_treatment); the effect
    prior's density is carried to logit(p_treatment) with its Jacobian and truncation
    (:func:`lnbayes.model.density.log_effect_given_control`), and each row is normalised
    numerically.
    Returns an array of shape (n_treatment + 1, n_control + 1) that sums to 1.
    """
    if prior.family == "arm":
        return np.outer(
            _beta_binomial_pmf(prior.treatment, n_treatment),
            _beta_binomial_pmf(prior.control, n_control),
        )
    eta_c, wc, control = _control_nodes(prior, n_control_nodes)
    p_c = special.expit(eta_c)
    eta, wt, common = _treatment_nodes(prior, p_c, n_treatment_nodes)
    p_t = special.expit(eta)
    # the effect's density carried to logit(p_treatment) (Jacobian and truncation included)
    with np.errstate(invalid="ignore"):
        log_dens = log_effect_given_control(NormalMix.of(prior.effect), prior.scale,
                                            eta_c[:, None], eta)
    dens = np.where(np.isfinite(log_dens), np.exp(log_dens), 0.0) * wt
    mass = dens.sum(axis=1, keepdims=True)
    dens = np.where(mass > 0, dens / np.where(mass > 0, mass, 1.0), 0.0)
    wc = np.where(mass[:, 0] > 0, wc, 0.0)
    wc = wc / wc.sum()
    cond_t = _treatment_pmf_given_control(dens, p_t, common, n_treatment)
    y_c = np.arange(n_control + 1)
    pmf_c = dists.binom_pmf(y_c[None, :], n_control, p_c[:, None])  # (R, Yc)
    joint = np.einsum("r,ry,rc->yc", wc, cond_t, pmf_c)
    return joint / joint.sum()


def _control_nodes(prior, nodes: int):
    """Simpson nodes on logit(p_control) over the control prior's 1e-14 quantiles (within
    +-36), their normalised prior weights, and the control prior's mixture."""
    control = arm_mix(prior.control)
    if isinstance(control, LogitNormalMix):  # a Normal on logit(p_control): its own window
        lo, hi = control.window(1e-14)
    else:
        w, a, b = _arrays(prior.control)
        lo = float(np.min(special.logit(np.clip(dists.beta_ppf(1e-14, a, b), 1e-300, None))))
        hi = float(np.max(special.logit(np.clip(dists.beta_isf(1e-14, a, b), None, 1 - 1e-16))))
    eta_c, wc = quadrature.simpson_grid(max(lo, -36.0), min(hi, 36.0), nodes)
    wc = wc * np.exp(control.logpdf_logit(eta_c))
    return eta_c, wc / wc.sum(), control


def _treatment_nodes(prior, p_c: np.ndarray, nodes: int):
    """logit(p_treatment) nodes spanning the effect prior at every p_control node, their Simpson
    weights (both of shape (len(p_c), nodes')), and whether the grid is common to every row.

    One common grid, or (narrow effect priors, which the common grid would step over) a grid of
    401 nodes per p_control node.
    """
    em = np.asarray(prior.effect.means, float)
    es = np.asarray(prior.effect.sds, float)
    span_lo, span_hi = float(np.min(em - 12 * es)), float(np.max(em + 12 * es))
    feas_lo, feas_hi = effects.theta_bounds(prior.scale, p_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        e_lo_r = special.logit(np.clip(effects.p_treatment(
            prior.scale, p_c, np.maximum(span_lo, feas_lo)), 0, 1))
        e_hi_r = special.logit(np.clip(effects.p_treatment(
            prior.scale, p_c, np.minimum(span_hi, feas_hi)), 0, 1))
    e_lo_r, e_hi_r = np.clip(e_lo_r, -36, 36), np.clip(e_hi_r, -36, 36)
    e_lo, e_hi = float(np.min(e_lo_r)), float(np.max(e_hi_r))
    # d theta / d logit(p_t) <= 1 (log_or, log_rr) or 1/4 (rd): the narrowest component's width
    s_logit = float(np.min(es)) * (4.0 if prior.scale == "rd" else 1.0)
    if (e_hi - e_lo) / (nodes - 1) <= s_logit / 4:
        eta_t, wt = quadrature.simpson_grid(e_lo, e_hi, nodes)
        eta = np.broadcast_to(eta_t, (len(p_c), len(eta_t)))
        return eta, np.broadcast_to(wt, eta.shape), True
    per_row = 401
    frac = np.linspace(0.0, 1.0, per_row)
    eta = e_lo_r[:, None] + (e_hi_r - e_lo_r)[:, None] * frac[None, :]
    h = (e_hi_r - e_lo_r) / (per_row - 1)
    return eta, h[:, None] * quadrature.simpson_weights(per_row, 1.0)[None, :], False


def _treatment_pmf_given_control(dens: np.ndarray, p_t: np.ndarray, common: bool,
                                 n_treatment: int) -> np.ndarray:
    """P(y_t | p_control node) for every y_t, from the rows' weighted effect densities ``dens``
    at the nodes ``p_t``; in blocks of at most 32 MB of binomial probabilities."""
    y_t = np.arange(n_treatment + 1)
    cond_t = np.zeros((dens.shape[0], n_treatment + 1))
    if common:
        cols = max(1, (32 << 20) // (8 * p_t.shape[1]))
        for start in range(0, n_treatment + 1, cols):
            sl = slice(start, start + cols)
            pmf_t = dists.binom_pmf(y_t[None, sl], n_treatment, p_t[0][:, None])  # (M, block)
            cond_t[:, sl] = dens @ pmf_t
    else:
        rows = max(1, (32 << 20) // (8 * p_t.shape[1] * (n_treatment + 1)))
        for start in range(0, dens.shape[0], rows):
            sl = slice(start, start + rows)
            pmf_t = dists.binom_pmf(y_t[None, None, :], n_treatment, p_t[sl, :, None])
            cond_t[sl] = np.einsum("rj,rjy->ry", dens[sl], pmf_t)
    return cond_t


def box_p(predictive: np.ndarray, y_treatment: int, y_control: int, rtol: float = 1e-9) -> float:
    """Box's prior predictive p-value: P(m(Y) <= m(y_obs)) under the prior predictive m.

    The probability, before the trial, of an outcome (y_t, y_c) at most as probable as the one
    observed (Box 1980; Evans and Moshonov 2006). Small values flag prior-data conflict.
    """
    m_obs = predictive[y_treatment, y_control]
    return float(np.sum(predictive[predictive <= m_obs * (1 + rtol)]))


MAX_PREDICTIVE_OUTCOMES = 4_000_000
"""Largest number of outcomes (n_t + 1)(n_c + 1) whose effect-level prior predictive is
enumerated for Box's p (arm-level priors have no limit: their predictive is a product)."""


def box_p_product(pmf_t: np.ndarray, pmf_c: np.ndarray, y_t: int, y_c: int,
                  rtol: float = 1e-9) -> float:
    """:func:`box_p` for a product predictive ``pmf_t[y_t] pmf_c[y_c]`` without forming it.

    ``sum_i pmf_t[i] * sum{pmf_c[j] : pmf_t[i] pmf_c[j] <= m_obs (1 + rtol)}`` with pmf_c sorted
    once: O(n log n) time and O(n) memory, for any arm sizes.
    """
    m = pmf_t[y_t] * pmf_c[y_c] * (1 + rtol)
    order = np.sort(pmf_c)
    cum = np.concatenate([[0.0], np.cumsum(order)])
    with np.errstate(divide="ignore"):
        limit = np.where(pmf_t > 0, m / np.where(pmf_t > 0, pmf_t, 1.0), np.inf)
    k = np.searchsorted(order, limit, side="right")
    return float(np.clip(np.sum(pmf_t * cum[k]), 0.0, 1.0))


def conflict(prior, outcome) -> dict[str, Any]:
    """Box's p for an outcome, and the prior predictive probability of the observed counts.

    Arm-level priors: exact for any arm sizes (:func:`box_p_product`). Effect-level priors: the
    prior predictive of every outcome (:func:`prior_predictive`), up to
    :data:`MAX_PREDICTIVE_OUTCOMES` outcomes; beyond that ``p`` is None and ``note`` says why.
    """
    n_t, n_c = outcome.treatment_n, outcome.control_n
    y_t, y_c = outcome.treatment_events, outcome.control_events
    if prior.family == "arm":
        pmf_t = _beta_binomial_pmf(prior.treatment, n_t)
        pmf_c = _beta_binomial_pmf(prior.control, n_c)
        return {"p": box_p_product(pmf_t, pmf_c, y_t, y_c),
                "predictive_prob_observed": float(pmf_t[y_t] * pmf_c[y_c])}
    outcomes = (n_t + 1) * (n_c + 1)
    if outcomes > MAX_PREDICTIVE_OUTCOMES:
        return {"p": None, "predictive_prob_observed": None,
                "note": (f"not computed: the prior predictive of all {outcomes:,} outcomes of "
                         f"{n_t}/{n_c} patients exceeds the enumeration limit of "
                         f"{MAX_PREDICTIVE_OUTCOMES:,}")}
    pred = prior_predictive(prior, n_t, n_c)
    return {
        "p": box_p(pred, y_t, y_c),
        "predictive_prob_observed": float(pred[y_t, y_c]),
    }
