"""Effect measures of a two-arm binary trial (pure NumPy).

An effect-level prior puts a Normal on ``theta``, the effect on one of three scales:

=========  ================================  =====================================
scale      theta                             p_treatment given p_control, theta
=========  ================================  =====================================
log_or     logit(p_t) - logit(p_c)           expit(logit(p_c) + theta)
log_rr     log(p_t) - log(p_c)               p_c * exp(theta),  theta < -log(p_c)
rd         p_t - p_c                         p_c + theta,  -p_c < theta < 1 - p_c
=========  ================================  =====================================

For every scale and for every measure (rd, rr, or), the effect increases with p_treatment at
fixed p_control; the exact engine relies on this.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

MEASURES = ("p_control", "p_treatment", "risk_difference", "risk_ratio", "odds_ratio")
MEASURE_OF_SCALE = {"rd": "risk_difference", "rr": "risk_ratio", "or": "odds_ratio"}
NO_EFFECT = {"risk_difference": 0.0, "risk_ratio": 1.0, "odds_ratio": 1.0}
"""The value of each effect measure when the arms do not differ."""
MEASURE_WORDS = {"risk_difference": "risk difference", "odds_ratio": "odds ratio",
                 "risk_ratio": "risk ratio"}
SCALE_WORDS = {"log_or": "log odds ratio", "log_rr": "log risk ratio", "rd": "risk difference"}
"""The effect scales of effect-level priors, in words."""
MEASURE_OF_EFFECT_SCALE = {"log_or": "odds_ratio", "log_rr": "risk_ratio", "rd": "risk_difference"}
"""The effect measure whose (log) scale a prior is stated on."""


def p_treatment(scale: str, p_control, theta):
    """p_treatment implied by p_control and an effect ``theta`` on ``scale``."""
    p_control = np.asarray(p_control, dtype=float)
    theta = np.asarray(theta, dtype=float)
    if scale == "log_or":
        return expit(logit(p_control) + theta)
    if scale == "log_rr":
        return p_control * np.exp(theta)
    if scale == "rd":
        return p_control + theta
    raise ValueError(f"unknown scale {scale!r}")


def theta_of(scale: str, p_control, p_treat):
    """The effect on ``scale`` between p_control and p_treatment."""
    p_control = np.asarray(p_control, dtype=float)
    p_treat = np.asarray(p_treat, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if scale == "log_or":
            return logit(p_treat) - logit(p_control)
        if scale == "log_rr":
            return np.log(p_treat) - np.log(p_control)
        if scale == "rd":
            return p_treat - p_control
    raise ValueError(f"unknown scale {scale!r}")


def theta_bounds(scale: str, p_control):
    """Values of theta that keep p_treatment inside (0, 1), given p_control."""
    p_control = np.asarray(p_control, dtype=float)
    if scale == "log_or":
        return np.full_like(p_control, -np.inf), np.full_like(p_control, np.inf)
    if scale == "log_rr":
        return np.full_like(p_control, -np.inf), -np.log(p_control)
    if scale == "rd":
        return -p_control, 1.0 - p_control
    raise ValueError(f"unknown scale {scale!r}")


def effect(measure: str, p_control, p_treat):
    """risk_difference, risk_ratio or odds_ratio (or a probability) from the two arms."""
    p_control = np.asarray(p_control, dtype=float)
    p_treat = np.asarray(p_treat, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "risk_difference":
            return p_treat - p_control
        if measure == "risk_ratio":
            return p_treat / p_control
        if measure == "odds_ratio":
            return p_treat * (1 - p_control) / (p_control * (1 - p_treat))
    if measure == "p_control":
        return p_control
    if measure == "p_treatment":
        return p_treat
    raise ValueError(f"unknown measure {measure!r}")


def p_treatment_at(measure: str, p_control, value):
    """The p_treatment at which ``measure`` equals ``value`` for the given p_control.

    Not clipped: values outside [0, 1] mean the measure cannot reach ``value`` at this p_control.
    """
    p_control = np.asarray(p_control, dtype=float)
    value = np.asarray(value, dtype=float)
    if measure == "risk_difference":
        return p_control + value
    if measure == "risk_ratio":
        return value * p_control
    if measure == "odds_ratio":
        return value * p_control / (1 - p_control + value * p_control)
    if measure == "p_treatment":
        return value + 0 * p_control
    raise ValueError(f"unknown measure {measure!r}")
