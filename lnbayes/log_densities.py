"""``log_prior`` and ``log_likelihood`` groups for a PyMC DataTree, from the draws.

Power-scaling sensitivity (ArviZ ``psense``, ``plot_psense_dist``) reweights the posterior draws
by the prior or the likelihood raised to a power, so it needs both log densities per draw. nutpie
does not store them; this module computes them with SciPy from the draws and the prior spec
(the same densities the PyMC model uses), so any sampled fit can be checked afterwards.

References
----------
Kallioinen N, Paananen T, Buerkner P-C, Vehtari A. Detecting and diagnosing prior and likelihood
sensitivity with power-scaling. Stat Comput 2024;34:57. doi:10.1007/s11222-023-10366-5
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from lnbayes import effects, exact


def log_prior_values(prior, posterior) -> dict[str, np.ndarray]:
    """Log prior density of each free parameter at each draw (arrays shaped like the draws).

    Arm-level priors: Beta mixtures on ``p_control`` and ``p_treatment``. Effect-level priors:
    a Beta mixture on ``p_control`` and a Normal mixture on the effect (``log_or``, ``log_rr`` or
    ``rd``), truncated given p_control to the feasible effects and renormalised.
    """
    p_c = np.asarray(posterior["p_control"])
    out = {"p_control": exact.BetaMix.of(prior.control).logpdf(p_c)}
    if prior.family == "arm":
        p_t = np.asarray(posterior["p_treatment"])
        out["p_treatment"] = exact.BetaMix.of(prior.treatment).logpdf(p_t)
        return out
    theta = np.asarray(posterior[prior.scale]) if prior.scale in posterior else effects.theta_of(
        prior.scale, p_c, np.asarray(posterior["p_treatment"]))
    mix = exact.NormalMix.of(prior.effect)
    lo, hi = effects.theta_bounds(prior.scale, p_c)
    out[prior.scale] = mix.logpdf(theta) - mix.log_mass(lo, hi)
    return out


def log_likelihood_values(outcome, posterior) -> dict[str, np.ndarray]:
    """Binomial log likelihood of each arm's count at each draw (named as the PyMC observed)."""
    return {
        "control": stats.binom.logpmf(outcome.control_events, outcome.control_n,
                                      np.asarray(posterior["p_control"])),
        "treatment": stats.binom.logpmf(outcome.treatment_events, outcome.treatment_n,
                                        np.asarray(posterior["p_treatment"])),
    }


def prior_is_constant(prior) -> bool:
    """True when the log prior is the same at every point (Beta(1, 1) on both arms).

    Power-scaling such a prior changes nothing, so prior sensitivity is undefined for it.
    """
    if prior.family != "arm":
        return False
    return all(
        len(b.weights) == 1 and b.a[0] == 1.0 and b.b[0] == 1.0
        for b in (prior.control, prior.treatment)
    )


def with_log_densities(datatree, prior, outcome):
    """A copy of ``datatree`` with ``log_prior`` and ``log_likelihood`` groups added.

    Groups already present are kept as they are.
    """
    import xarray as xr

    tree = datatree.copy()
    posterior = tree["posterior"].to_dataset()
    dims = ("chain", "draw")
    coords = {d: posterior[d] for d in dims}
    if "log_prior" not in tree.children:
        values = log_prior_values(prior, posterior)
        tree["log_prior"] = xr.DataTree(
            xr.Dataset({k: (dims, v) for k, v in values.items()}, coords=coords))
    if "log_likelihood" not in tree.children:
        values = log_likelihood_values(outcome, posterior)
        tree["log_likelihood"] = xr.DataTree(
            xr.Dataset({k: (dims, v) for k, v in values.items()}, coords=coords))
    return tree
