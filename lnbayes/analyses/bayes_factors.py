"""Evidence summaries: Bayes factors for benefit and Savage-Dickey density ratios."""

from __future__ import annotations

import math

from lnbayes.engines import datasets as bq
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


def savage_dickey(prior, y_t: int, n_t: int, y_c: int, n_c: int) -> dict:
    """Savage-Dickey density ratio for no effect, BF01 = p(theta = 0 | data) / p(theta = 0).

    theta is the prior's effect (log odds ratio, log risk ratio or risk difference) for
    effect-level priors and the log odds ratio for arm-level priors. Both densities are marginal
    (p_control integrated out): ``p(theta = 0) = integral pi(p_c) pi(0 | p_c) dp_c``. BF01 is
    the Bayes factor of the point null theta = 0 (with p_control's prior under the null taken as
    its conditional prior given theta = 0) against the prior; BF10 = 1 / BF01.

    Arm-level priors: both densities in closed form (sums of Beta functions). Effect-level: the
    prior density in closed form (log_or) or by adaptive 1-D quadrature; the posterior density on
    the grid of :mod:`lnbayes.engines.datasets` (which follows the data). A ratio that
    underflows (overwhelming evidence) is reported as None with a note, never as 0.

    References
    ----------
    Dickey JM. Ann Math Stat 1971;42:204-223. doi:10.1214/aoms/1177693507;
    Verdinelli I, Wasserman L. J Am Stat Assoc 1995;90:614-618.
    doi:10.1080/01621459.1995.10476554
    """
    scale = "log_or" if prior.family == "arm" else prior.scale
    if prior.family == "arm":
        control, treatment = BetaMix.of(prior.control), BetaMix.of(prior.treatment)
        prior_density = arm_log_or_density_at_0(control, treatment)
        post_c, _ = update_beta(control, y_c, n_c)
        post_t, _ = update_beta(treatment, y_t, n_t)
        post_density = arm_log_or_density_at_0(post_c, post_t)
    else:
        prior_density = prior_effect_density_at_0(prior)
        masses = bq.effect_masses(prior, n_t, n_c, [y_t], [y_c], "the Savage-Dickey ratio",
                                  density_at_0=True)
        post_density = float(masses.at0[0, 0] / masses.total[0, 0])
    out = {
        "scale": scale,
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
                       outcome.control_events, outcome.control_n)
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
