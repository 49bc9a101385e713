"""Effective sample size of priors: ELIR, moment and Morita for Beta mixtures, variance-matched for effect-level priors (pure maths)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from lnbayes.model import dists
from lnbayes.numerics import quadrature

# ---------------------------------------------------------------------------------------------
# Effective sample size
# ---------------------------------------------------------------------------------------------


def _arrays(beta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.asarray(beta.weights, float), np.asarray(beta.a, float), np.asarray(beta.b, float))


def beta_mixture_moments(beta) -> tuple[float, float]:
    """Mean and variance of a Beta mixture."""
    w, a, b = _arrays(beta)
    m = a / (a + b)
    second = a * (a + 1) / ((a + b) * (a + b + 1))
    mean = float(np.sum(w * m))
    return mean, float(np.sum(w * second) - mean**2)


def ess_moment(beta) -> float:
    """Moment ESS: a + b of the Beta with the mixture's mean and variance."""
    mean, var = beta_mixture_moments(beta)
    return mean * (1 - mean) / var - 1


def _logit_info_ratio(beta, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(prior density of eta = logit(theta), prior information / Fisher information) at eta.

    On the logit scale a Beta(a, b) component has log density a log(theta) + b log(1 - theta)
    + const, with second derivative -(a + b) theta (1 - theta); the binomial Fisher information
    per patient is theta (1 - theta). For a mixture the log-density's second derivative follows
    from the components' (responsibilities r_k, scores s_k = a_k - (a_k + b_k) theta).
    """
    w, a, b = _arrays(beta)
    eta = np.asarray(eta, dtype=float)[:, None]
    log_t, log_1mt = special.log_expit(eta), special.log_expit(-eta)
    theta = np.exp(log_t)
    log_h = np.log(w) + a * log_t + b * log_1mt - special.betaln(a, b)
    log_p = special.logsumexp(log_h, axis=1, keepdims=True)
    r = np.exp(log_h - log_p)
    s = a - (a + b) * theta
    s_bar = np.sum(r * s, axis=1, keepdims=True)
    v = np.exp(log_t + log_1mt)[:, 0]
    # -(log p)'' = sum r_k (a_k + b_k) v - [sum r_k s_k^2 - (sum r_k s_k)^2]
    ratio = np.sum(r * (a + b), axis=1) - np.sum(r * (s - s_bar) ** 2, axis=1) / v
    return np.exp(log_p[:, 0]), ratio


def ess_elir(beta, n_nodes: int = 200_001) -> float:
    """ELIR effective sample size (Neuenschwander et al. 2020) of a Beta mixture.

    ESS = E_prior[ i_prior(eta) / i_F(eta) ], the expected ratio of the prior's information to the
    binomial Fisher information per patient, on the logit (canonical) scale; exactly a + b for a
    Beta(a, b), where the ratio is a + b everywhere. Integrated by Simpson's rule on a fine
    logit grid spanning every component from its 1e-14 to its 1 - 1e-14 quantile.
    """
    w, a, b = _arrays(beta)
    lo = float(np.min(special.logit(np.clip(dists.beta_ppf(1e-14, a, b), 1e-300, None))))
    hi = float(np.max(-special.logit(np.clip(dists.beta_ppf(1e-14, b, a), 1e-300, None))))
    eta, sw = quadrature.simpson_grid(lo, hi, n_nodes)
    dens, ratio = _logit_info_ratio(beta, eta)
    return float(np.sum(sw * dens * ratio) / np.sum(sw * dens))


def ess_morita(beta) -> float:
    """Morita, Thall and Mueller (2008) ESS of a Beta mixture, with a vanishing base prior.

    The m at which the information of the base prior updated by m patients (averaged over the
    prior predictive) matches the prior's information -(log p)''(theta_bar) at the prior mean;
    with the base prior's own ESS taken to 0, m = theta_bar (1 - theta_bar) [D_p + 1/theta_bar^2
    + 1/(1 - theta_bar)^2], reported as a real number (Morita et al. round it to an integer).
    Exactly a + b for a Beta(a, b).
    """
    w, a, b = _arrays(beta)
    t = beta_mixture_moments(beta)[0]
    log_f = np.log(w) + dists.beta_logpdf(t, a, b)
    r = np.exp(log_f - special.logsumexp(log_f))
    g = (a - 1) / t - (b - 1) / (1 - t)
    dg = -(a - 1) / t**2 - (b - 1) / (1 - t) ** 2
    second = np.sum(r * (g**2 + dg)) - np.sum(r * g) ** 2  # (log p)''
    d_p = -second
    return float(t * (1 - t) * (d_p + 1 / t**2 + 1 / (1 - t) ** 2))


ESS_METHODS = {"elir": ess_elir, "moment": ess_moment, "morita": ess_morita}


def arm_ess(beta) -> dict[str, float]:
    """ESS of an arm-level Beta (mixture) prior by ELIR (the default), moment and Morita."""
    return {name: f(beta) for name, f in ESS_METHODS.items()}


def unit_variance(scale: str, control_rate: float) -> float:
    """Variance of the effect estimate on ``scale`` from 1 patient per arm, both arms at the rate.

    log_or: 2 / (p (1 - p)); log_rr: 2 (1 - p) / p; rd: 2 p (1 - p) (the large-sample variances
    of the estimated log odds ratio, log risk ratio and risk difference under no effect).
    """
    p = control_rate
    return {"log_or": 2 / (p * (1 - p)), "log_rr": 2 * (1 - p) / p, "rd": 2 * p * (1 - p)}[scale]


def effect_equivalent_information(effect, scale: str, control_rate: float) -> float:
    """Patients per arm (1:1) whose data would estimate the effect with the prior's variance.

    n = unit_variance(scale, control_rate) / prior variance; for a mixture the mixture's
    variance is used. Under no effect at ``control_rate``.
    """
    w = np.asarray(effect.weights, float)
    m = np.asarray(effect.means, float)
    s = np.asarray(effect.sds, float)
    mean = float(np.sum(w * m))
    var = float(np.sum(w * (s**2 + m**2)) - mean**2)
    return unit_variance(scale, control_rate) / var


def prior_ess(prior, control_rate: float | None = None) -> dict[str, Any]:
    """ESS of a prior: per arm (ELIR, moment, Morita) or for the effect (equivalent information).

    ``headline`` is the number a reader sees first: treatment-arm ELIR for arm-level priors, the
    effect's equivalent patients per arm for effect-level priors.
    """
    control = arm_ess(prior.control)
    if prior.family == "arm":
        treatment = arm_ess(prior.treatment)
        return {
            "method": "elir",
            "control": control,
            "treatment": treatment,
            "headline": {"control": control["elir"], "treatment": treatment["elir"]},
        }
    rate = beta_mixture_moments(prior.control)[0] if control_rate is None else control_rate
    per_arm = effect_equivalent_information(prior.effect, prior.scale, rate)
    return {
        "method": "equivalent information",
        "control": control,
        "effect": {"patients_per_arm": per_arm, "control_rate": rate, "scale": prior.scale},
        "headline": {"control": control["elir"], "effect_per_arm": per_arm},
    }
