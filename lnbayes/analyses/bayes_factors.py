"""Evidence summaries: Bayes factors for benefit and Savage-Dickey density ratios."""

from __future__ import annotations

import math
from typing import NamedTuple

from lnbayes.engines import exact
from lnbayes.model.density import (
    BetaMix,
    arm_log_or_density_at_0,
    prior_effect_density_at_0,
    prior_prob_benefit,
    update_beta,
)

# ---------------------------------------------------------------------------------------------
# Evidence summaries
# ---------------------------------------------------------------------------------------------


def odds(p: float, q: float | None = None) -> float:
    """p / (1 - p), or p / q when the complement q is known directly (more accurate near 1)."""
    q = 1.0 - p if q is None else q
    if q <= 0.0:
        return math.inf
    return p / q


def bf_benefit(posterior_p: float, prior_p: float, posterior_q: float | None = None,
               prior_q: float | None = None) -> float | None:
    """Posterior odds of benefit over prior odds of benefit (None when undefined).

    ``posterior_q`` and ``prior_q`` are the complements, P(no benefit), when computed directly;
    the odds then keep their precision near 0 and 1. The Bayes factor is positive and finite, or
    None (a probability of exactly 0 or 1, where the odds are 0 or infinite).
    """
    po, pr = odds(posterior_p, posterior_q), odds(prior_p, prior_q)
    if not (0.0 < pr < math.inf and 0.0 < po < math.inf):
        return None
    value = po / pr
    return value if 0.0 < value < math.inf else None


class _Counts(NamedTuple):
    """The counts of one dataset, as the exact engine reads an outcome."""

    treatment_events: int
    treatment_n: int
    control_events: int
    control_n: int


TEST_SCALE = "log_or"
"""The one parametrisation of the Savage-Dickey test, for every prior: the log odds ratio."""


def savage_dickey(prior, y_t: int, n_t: int, y_c: int, n_c: int,
                  log_evidence: float | None = None) -> dict:
    """Savage-Dickey density ratio for no effect on the log odds ratio, for every prior.

    BF01 = p(log OR = 0 | data) / p(log OR = 0), both densities marginal (p_control integrated
    out) and both per unit of the log odds ratio, whatever scale the prior is stated on. It is
    the Bayes factor of the point null "no effect" against the analysis prior, where the null
    model keeps the prior's conditional distribution of (p_control, p_treatment) given no effect
    in the log-odds-ratio parametrisation (Verdinelli and Wasserman 1995). The point null is the
    same event on every scale, but its density is not: under the flat prior, for 9/12 against 5/6,
    BF01 is 2.21 per unit
    of the log OR, 2.07 per unit of the RD and 3.10 per unit of the log RR, so one scale is
    declared (:data:`TEST_SCALE`) and stated in the output.

    Arm-level priors: both densities in closed form (sums of Beta functions). Effect-level: the
    prior density by adaptive 1-D quadrature (closed form on log_or), with the Jacobian to the
    log OR for priors on log_rr or rd; the posterior density along the diagonal u_t = u_c of the
    joint posterior (:func:`lnbayes.engines.exact.log_or_density_at_0`), over the marginal
    likelihood ``log_evidence`` of the exact posterior (computed when not given). A ratio that underflows (overwhelming evidence) is reported
    as None with a note, never as 0.

    References
    ----------
    Dickey JM. Ann Math Stat 1971;42:204-223. doi:10.1214/aoms/1177693507;
    Verdinelli I, Wasserman L. J Am Stat Assoc 1995;90:614-618.
    doi:10.1080/01621459.1995.10476554
    """
    if prior.family == "arm":
        control, treatment = BetaMix.of(prior.control), BetaMix.of(prior.treatment)
        prior_density = arm_log_or_density_at_0(control, treatment)
        post_c, _ = update_beta(control, y_c, n_c)
        post_t, _ = update_beta(treatment, y_t, n_t)
        post_density = arm_log_or_density_at_0(post_c, post_t)
    else:
        prior_density = prior_effect_density_at_0(prior, on=TEST_SCALE)
        counts = _Counts(y_t, n_t, y_c, n_c)
        if log_evidence is None:
            log_evidence = exact.posterior(prior, counts).log_evidence
        post_density = exact.log_or_density_at_0(prior, counts, log_evidence)
    out = {
        "scale": TEST_SCALE,
        "prior_density_at_0": prior_density,
        "posterior_density_at_0": post_density,
        "bf01": None,
        "bf10": None,
    }
    if prior_density > 0 and post_density > 0:
        bf01 = post_density / prior_density
        if 0.0 < bf01 < math.inf:
            out["bf01"] = bf01
            out["bf10"] = 1.0 / bf01 if 1.0 / bf01 < math.inf else None
    if out["bf01"] is None:
        out["note"] = ("the posterior density at 0 underflows: BF01 is below 1e-300"
                       if post_density <= 0 else "the Bayes factor is not representable")
    return out


def evidence_summary(prior, outcome, posterior) -> dict:
    """Bayes factors for benefit and for no effect, and P(effect in the ROPE), exactly.

    ``posterior`` is the outcome's :class:`lnbayes.engines.exact.ExactPosterior` under ``prior``. Both
    sides of P(benefit) are computed directly (before and after the data), so the odds keep their
    precision when a probability is close to 0 or 1.
    """
    lower = outcome.lower_is_better
    post_p = posterior.prob_benefit(lower)
    post_q = posterior.prob_benefit(not lower)
    prior_p = prior_prob_benefit(prior, lower)
    prior_q = prior_prob_benefit(prior, not lower)
    sd = savage_dickey(prior, outcome.treatment_events, outcome.treatment_n,
                       outcome.control_events, outcome.control_n, posterior.log_evidence)
    out = {
        "prior_p_benefit": prior_p,
        "posterior_p_benefit": post_p,
        "bf_benefit": bf_benefit(post_p, prior_p, post_q, prior_q),
        "savage_dickey": sd,
        "rope": None,
    }
    if outcome.rope is not None:
        scale, lo, hi = outcome.rope
        from lnbayes.model import effects

        measure = effects.MEASURE_OF_SCALE[scale]
        out["rope"] = {"scale": scale, "lower": lo, "upper": hi,
                       "p_inside": posterior.prob_between(measure, lo, hi), "p_inside_mcse": None}
    return out


def flat_scale_dependence(y_t: int, n_t: int, y_c: int, n_c: int) -> dict[str, float]:
    """Savage-Dickey BF01 under the flat prior (Beta(1, 1) on each arm), on each scale.

    The point null p_T = p_C is one event, but the density ratio at it depends on the scale the
    effect is measured on: with independent Beta posteriors the density of the effect at 0 is
    the integral of f_T(p) f_C(p) J(p) dp, with J = 1 on the risk difference, p on the log risk
    ratio and p(1 - p) on the log odds ratio, each a ratio of Beta functions. The appendix quotes
    these values to show why one scale (:data:`TEST_SCALE`) is declared.
    """
    from scipy.special import betaln

    a_t, b_t, a_c, b_c = 1 + y_t, 1 + n_t - y_t, 1 + y_c, 1 + n_c - y_c

    def log_density(a1, b1, a2, b2, k, m):
        return betaln(a1 + a2 - 1 + k, b1 + b2 - 1 + m) - betaln(a1, b1) - betaln(a2, b2)

    out = {}
    for scale, (k, m) in {"log_or": (1, 1), "rd": (0, 0), "log_rr": (1, 0)}.items():
        out[scale] = math.exp(log_density(a_t, b_t, a_c, b_c, k, m)
                              - log_density(1, 1, 1, 1, k, m))
    return out
