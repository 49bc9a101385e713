"""Power-scaling prior and likelihood sensitivity of PyMC fits (ArviZ layer).

ArviZ's ``psense`` (Kallioinen et al. 2024) reweights the posterior draws as if the prior (or the
likelihood) were raised to a power near 1 and measures how far the posterior moves. It needs
``log_prior`` and ``log_likelihood`` groups; :func:`attach_log_densities` computes them per draw
with the pure maths of :mod:`lnbayes.priors.elicit` and adds them to the DataTree.

A flat prior (Beta(1, 1) on both arms) has a constant log density: power-scaling it changes
nothing, so its prior sensitivity is reported as exactly 0 with that reason, and psense is not
asked to smooth constant importance weights.

References
----------
Kallioinen N, Paananen T, Buerkner P-C, Vehtari A. Detecting and diagnosing prior and likelihood
sensitivity with power-scaling. Stat Comput 2024;34:57. doi:10.1007/s11222-023-10366-5
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lnbayes.model import dists, effects
from lnbayes.model.spec import is_logit_normal

# ---------------------------------------------------------------------------------------------
# Log prior and log likelihood per draw (for power-scaling sensitivity)
# ---------------------------------------------------------------------------------------------


def log_prior_terms(prior, p_control, p_treatment) -> dict[str, np.ndarray]:
    """The log prior density at (p_control, p_treatment), split by parameter.

    Arm-level: log Beta-mixture densities of both arms. Effect-level: the control arm's log
    density and the effect's log Normal-mixture density, renormalised over the feasible effects
    given p_control for log_rr and rd (the conditional truncation the engines use). Densities are
    with respect to the model's own parameters (p_control, p_treatment or the effect), without
    Jacobians, as power-scaling needs (Kallioinen et al. 2024); a Normal prior on the control
    arm's logit is the density of logit(p_control), the parameter the model samples.
    """
    from lnbayes.model.density import BetaMix, NormalMix

    p_control = np.asarray(p_control, dtype=float)
    p_treatment = np.asarray(p_treatment, dtype=float)
    if is_logit_normal(prior.control):  # the model's parameter is logit(p_control)
        from scipy import special

        from lnbayes.model.density import LogitNormalMix

        with np.errstate(divide="ignore"):
            out = {"p_control": LogitNormalMix.of(prior.control).logpdf_logit(special.logit(p_control))}
    else:
        out = {"p_control": BetaMix.of(prior.control).logpdf(p_control)}
    if prior.family == "arm":
        out["p_treatment"] = BetaMix.of(prior.treatment).logpdf(p_treatment)
        return out
    effect = NormalMix.of(prior.effect)
    theta = effects.theta_of(prior.scale, p_control, p_treatment)
    log_density = effect.logpdf(theta)
    if prior.scale != "log_or":
        lo, hi = effects.theta_bounds(prior.scale, p_control)
        log_density = log_density - effect.log_mass(lo, hi)
    out[prior.scale] = log_density
    return out


def log_likelihood_terms(outcome, p_control, p_treatment) -> dict[str, np.ndarray]:
    """Binomial log likelihood of each arm's count at (p_control, p_treatment)."""
    return {
        "control": dists.binom_logpmf(outcome.control_events, outcome.control_n, p_control),
        "treatment": dists.binom_logpmf(outcome.treatment_events, outcome.treatment_n, p_treatment),
    }

THRESHOLD = 0.05
"""Sensitivity above 0.05 (cumulative Jensen-Shannon distance per unit log power) is flagged, as
in ArviZ and priorsense."""

SENSITIVITY_VARS = ("p_control", "p_treatment", "risk_difference", "log_odds_ratio")
"""Variables whose sensitivity is reported. The odds ratio enters on the log scale: psense's
cumulative Jensen-Shannon distance integrates over the variable's values, and the odds ratio's
long right tail would make its value depend on a few extreme draws."""


def attach_log_densities(datatree, prior, outcome):
    """Add ``log_prior`` and ``log_likelihood`` groups, computed per draw, to a DataTree."""
    import xarray as xr

    post = datatree["posterior"].to_dataset()
    p_c, p_t = post["p_control"], post["p_treatment"]
    dims, coords = p_c.dims, {d: p_c[d] for d in p_c.dims}

    def dataset(terms: dict[str, np.ndarray]) -> xr.Dataset:
        return xr.Dataset({k: (dims, np.asarray(v)) for k, v in terms.items()}, coords=coords)

    datatree["log_prior"] = xr.DataTree(
        dataset(log_prior_terms(prior, p_c.values, p_t.values))
    )
    datatree["log_likelihood"] = xr.DataTree(
        dataset(log_likelihood_terms(outcome, p_c.values, p_t.values))
    )
    return datatree


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
    """``datatree`` itself if it has ``log_prior`` and ``log_likelihood``, else a copy with them."""
    if {"log_prior", "log_likelihood"} <= set(datatree.children):
        return datatree
    return attach_log_densities(datatree.copy(), prior, outcome)


def power_scaling(datatree, prior, outcome, var_names=SENSITIVITY_VARS) -> dict[str, Any]:
    """Prior and likelihood power-scaling sensitivity per variable, with ArviZ's diagnosis.

    Returns ``{"variables": {name: {"prior", "likelihood", "diagnosis"}}, "prior_constant",
    "note", "threshold"}``.
    """
    import arviz as az
    import xarray as xr
    from threadpoolctl import threadpool_limits

    if "log_prior" not in datatree.children:
        attach_log_densities(datatree, prior, outcome)
    log_prior = datatree["log_prior"].to_dataset()
    total = sum(log_prior[v].values for v in log_prior.data_vars)
    constant = bool(np.ptp(total) <= 1e-10 * max(1.0, float(np.max(np.abs(total)))))
    posterior = datatree["posterior"].to_dataset()
    posterior = posterior.assign(log_odds_ratio=np.log(posterior["odds_ratio"]))
    tree = xr.DataTree.from_dict(
        {
            "posterior": posterior,
            "log_prior": log_prior,
            "log_likelihood": datatree["log_likelihood"].to_dataset(),
        }
    )
    names = [v for v in var_names if v in posterior]
    # psense's reductions go through BLAS, whose threaded dot products sum in another order
    # than a single thread above ~10,000 draws: the same draws gave values one bit apart under
    # the CLI (one BLAS thread on small machines) and in a Python session (all cores). One
    # thread here makes the diagnostic a function of the draws alone.
    with threadpool_limits(limits=1, user_api="blas"):
        likelihood = az.psense(tree, var_names=names, group="likelihood")
        likelihood = {n: float(likelihood[n]) for n in names}
        if constant:
            prior_sens = {n: 0.0 for n in names}
            note = ("the prior's log density is constant (flat prior): power-scaling it has no "
                    "effect")
        else:
            ds = az.psense(tree, var_names=names, group="prior")
            prior_sens = {n: float(ds[n]) for n in names}
            note = ""
    out = {n: {"prior": prior_sens[n], "likelihood": likelihood[n],
               "diagnosis": arviz_diagnosis(prior_sens[n], likelihood[n])} for n in names}
    return {
        "variables": out,
        "diagnosis": prior_diagnosis(out, constant),
        "prior_constant": constant,
        "note": note,
        "threshold": THRESHOLD,
        "method": "power-scaling (arviz psense), alphas 0.99 and 1.01",
    }


def arviz_diagnosis(prior: float, likelihood: float) -> str:
    """ArviZ's and priorsense's label for one variable (Kallioinen et al. 2024)."""
    if prior >= THRESHOLD and likelihood >= THRESHOLD:
        return "potential prior-data conflict"
    if prior >= THRESHOLD:
        return "potential strong prior / weak likelihood"
    return "ok"


DIAGNOSES = {
    "both": "prior and likelihood both influential",
    "prior": "prior dominates (strong prior / weak likelihood)",
    "ok": "data dominate",
    "constant": "constant prior: power-scaling has no effect",
}
"""One diagnosis per prior, in words that do not claim more than power-scaling measures: both
sensitivities high is what ArviZ labels "potential prior-data conflict", a local signal that
Box's prior predictive test (:mod:`lnbayes.priors.conflict`) then confirms or not."""


def prior_diagnosis(variables: dict[str, dict[str, float]], constant: bool) -> dict[str, Any]:
    """One diagnosis for the prior from its largest sensitivities over every reported variable.

    Taking the largest over all variables (arm probabilities, RD, log OR) keeps the diagnosis
    from depending on the scale a reader looks at: per variable, values either side of the
    threshold gave "ok" on the risk difference and "potential prior-data conflict" on the log
    odds ratio for the same posterior.
    """
    prior_max = max((v["prior"] for v in variables.values()), default=0.0)
    lik_max = max((v["likelihood"] for v in variables.values()), default=0.0)
    if constant:
        key = "constant"
    else:
        key = {"potential prior-data conflict": "both",
               "potential strong prior / weak likelihood": "prior",
               "ok": "ok"}[arviz_diagnosis(prior_max, lik_max)]
    return {"key": key, "label": DIAGNOSES[key], "prior_max": prior_max,
            "likelihood_max": lik_max}
