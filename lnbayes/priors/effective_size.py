"""Effective sample size of priors: ELIR, moment and Morita for Beta mixtures; variance-matched
for effect-level priors, at the trial's allocation and arm rates (pure maths)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from lnbayes.model import dists
from lnbayes.model.spec import is_logit_normal
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
    """ESS of an arm's prior by ELIR (the default), moment and Morita: a Beta (mixture), or a
    Normal (mixture) on the logit (:func:`logit_normal_ess`)."""
    if is_logit_normal(beta):
        return logit_normal_ess(beta)
    return {name: f(beta) for name, f in ESS_METHODS.items()}


def _logit_normal_derivatives(prior, eta: np.ndarray):
    """Density of eta = logit(p) under a Normal mixture, and the first and second derivatives
    of its log (responsibilities r_k, component scores -(eta - m_k) / s_k^2)."""
    w, m, s = (np.asarray(prior.weights, float), np.asarray(prior.means, float),
               np.asarray(prior.sds, float))
    eta = np.asarray(eta, dtype=float)[..., None]
    log_h = np.log(w) + dists.norm_logpdf(eta, m, s)
    log_p = special.logsumexp(log_h, axis=-1, keepdims=True)
    r = np.exp(log_h - log_p)
    score = -(eta - m) / s**2
    d1 = np.sum(r * score, axis=-1)
    d2 = np.sum(r * (score**2 - 1 / s**2), axis=-1) - d1**2
    return np.exp(log_p[..., 0]), d1, d2


def arm_mean(prior) -> float:
    """The prior mean of an arm's event probability (Beta mixture, or Normal mixture on the
    logit: the logistic-normal mean by Gauss-Hermite quadrature, 80 nodes per component)."""
    if not is_logit_normal(prior):
        return beta_mixture_moments(prior)[0]
    x, wx = np.polynomial.hermite_e.hermegauss(80)
    w, m, s = (np.asarray(prior.weights, float), np.asarray(prior.means, float),
               np.asarray(prior.sds, float))
    comp = special.expit(m[:, None] + s[:, None] * x[None, :]) @ wx / np.sqrt(2 * np.pi)
    return float(np.sum(w * comp))


def logit_normal_ess(prior, n_nodes: int = 200_001) -> dict[str, float]:
    """ELIR, moment and Morita ESS of a Normal (mixture) prior on logit(p), by the definitions
    used for Beta mixtures: ELIR is E[-(log g)''(eta) / (p (1 - p))] over the prior g of eta (for
    one Normal(m, s^2): E[1 / (s^2 p (1 - p))]); moment is mean (1 - mean) / var - 1 of p; Morita
    is p (1 - p) [D_p + 1/p^2 + 1/(1 - p)^2] at the prior mean, with D_p = -(log f)'' of p's own
    density f(p) = g(logit p) / (p (1 - p)). Simpson's rule on logit(p) over m +- (10 s + s^2)."""
    m, s = np.asarray(prior.means, float), np.asarray(prior.sds, float)
    # 1 / (p (1 - p)) grows like e^|eta|, which shifts the integrand's mass by s^2: span it
    lo, hi = float(np.min(m - 10 * s - s**2)), float(np.max(m + 10 * s + s**2))
    eta, sw = quadrature.simpson_grid(max(lo, -600.0), min(hi, 600.0), n_nodes)
    dens, _, d2 = _logit_normal_derivatives(prior, eta)
    pw = sw * dens / np.sum(sw * dens)
    v = np.exp(special.log_expit(eta) + special.log_expit(-eta))
    elir = float(np.sum(pw * (-d2) / v))
    p = special.expit(eta)
    mean = float(np.sum(pw * p))
    var = float(np.sum(pw * p**2)) - mean**2
    t = mean
    u = float(special.logit(t))
    _, g1, g2 = (float(x) for x in _logit_normal_derivatives(prior, np.array(u)))
    du, d2u = 1 / (t * (1 - t)), (2 * t - 1) / (t * (1 - t)) ** 2
    second = g2 * du**2 + g1 * d2u + 1 / t**2 + 1 / (1 - t) ** 2  # (log f)''(t)
    morita = t * (1 - t) * (-second + 1 / t**2 + 1 / (1 - t) ** 2)
    return {"elir": elir, "moment": mean * (1 - mean) / var - 1, "morita": float(morita)}


def observed_rate(events: int, n: int) -> float:
    """events / n, or (events + 0.5) / (n + 1) when that is 0 or 1 (the information is then finite)."""
    return events / n if 0 < events < n else (events + 0.5) / (n + 1)


def patient_information(scale: str, rate: float) -> float:
    """Fisher information about the effect on ``scale`` carried by one patient of an arm whose
    event rate is ``rate`` (the inverse of that patient's variance contribution): log_or:
    p (1 - p); log_rr: p / (1 - p); rd: 1 / (p (1 - p))."""
    p = rate
    return {"log_or": p * (1 - p), "log_rr": p / (1 - p), "rd": 1 / (p * (1 - p))}[scale]


def effect_variance(effect) -> float:
    """Variance of a Normal (mixture) effect prior."""
    w = np.asarray(effect.weights, float)
    m = np.asarray(effect.means, float)
    s = np.asarray(effect.sds, float)
    mean = float(np.sum(w * m))
    return float(np.sum(w * (s**2 + m**2)) - mean**2)


def variance_matched_ess(effect, scale: str, allocation: tuple[float, float],
                         rate_treatment: float, rate_control: float,
                         n_treatment: int | None = None, n_control: int | None = None) -> dict[str, Any]:
    """Patients, at the trial's allocation and arm rates, whose data match the prior's precision.

    The large-sample variance of the estimated effect from n_T and n_C patients is
    1 / (n_T i_T) + 1 / (n_C i_C) (:func:`patient_information`); with n_T = r_T N and
    n_C = r_C N (allocation fractions r), setting it equal to the prior variance gives
    N = (1 / (r_T i_T) + 1 / (r_C i_C)) / var(prior). With the trial's own arm sizes, the prior's
    share of the posterior precision is prior precision / (prior precision + data information).
    This is a variance-matched ESS (for a Normal prior on the effect), not an ELIR.
    """
    r_t = allocation[0] / (allocation[0] + allocation[1])
    r_c = 1.0 - r_t
    i_t, i_c = patient_information(scale, rate_treatment), patient_information(scale, rate_control)
    prior_precision = 1.0 / effect_variance(effect)
    total = (1.0 / (r_t * i_t) + 1.0 / (r_c * i_c)) * prior_precision
    out = {"method": "variance-matched", "scale": scale, "patients_total": total,
           "patients_treatment": r_t * total, "patients_control": r_c * total,
           "allocation": list(allocation), "rate_treatment": rate_treatment,
           "rate_control": rate_control, "prior_precision_share": None}
    if n_treatment and n_control:
        data_information = 1.0 / (1.0 / (n_treatment * i_t) + 1.0 / (n_control * i_c))
        out["prior_precision_share"] = prior_precision / (prior_precision + data_information)
    return out


def prior_ess(prior, control_rate: float | None = None, outcome=None) -> dict[str, Any]:
    """ESS of a prior: per arm (ELIR, moment, Morita) or for the effect (variance-matched).

    ``headline`` is the number a reader sees first: the arms' ELIR for arm-level priors; for
    effect-level priors the total patients, at the trial's allocation and observed arm rates
    (``outcome``), whose data would carry the prior's precision, and the prior's share of the
    posterior precision. Without an outcome: 1:1 at ``control_rate`` (default the control prior's
    mean) in both arms.
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
    if outcome is not None and outcome.treatment_n and outcome.control_n:
        vm = variance_matched_ess(
            prior.effect, prior.scale, (outcome.treatment_n, outcome.control_n),
            observed_rate(outcome.treatment_events, outcome.treatment_n),
            observed_rate(outcome.control_events, outcome.control_n),
            outcome.treatment_n, outcome.control_n)
        vm["basis"] = "the trial's allocation and observed arm rates"
    else:
        rate = arm_mean(prior.control) if control_rate is None else control_rate
        vm = variance_matched_ess(prior.effect, prior.scale, (1, 1), rate, rate)
        vm["basis"] = f"1:1 allocation at a rate of {rate:.3g} in both arms"
    return {
        "method": "variance-matched",
        "control": control,
        "effect": vm,
        "headline": {"control": control["elir"], "effect_total": vm["patients_total"],
                     "prior_precision_share": vm["prior_precision_share"]},
    }
