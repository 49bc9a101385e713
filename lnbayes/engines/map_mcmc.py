"""The MAP model sampled with PyMC (nutpie), its summaries with MCSE and its diagnostics.

The same model as :mod:`lnbayes.priors.map` (which computes it exactly by quadrature), written
non-centred for NUTS::

    mu ~ Normal(m, s),  tau ~ prior,  z_i ~ Normal(0, 1),  y_i ~ Binomial(n_i, expit(mu + tau z_i)),
    z_new ~ Normal(0, 1),  p_new = expit(mu + tau z_new)

so the draws of ``p_new`` are draws of the MAP prior (the predictive of a new study's p).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lnbayes.engines.draws import ESS_MIN, RHAT_MAX
from lnbayes.engines.mcmc import SamplerSettings, portable_codegen

QUANTILES = (0.025, 0.5, 0.975)
MAP_VARIABLES = ("mu", "tau", "p_new")


def build_map_model(spec):
    """The PyMC model of a :class:`lnbayes.priors.map.MapSpec`."""
    import pymc as pm

    y = np.array([s.events for s in spec.studies], dtype="int64")
    n = np.array([s.n for s in spec.studies], dtype="int64")
    with pm.Model() as model:
        mu = pm.Normal("mu", spec.mu_mean, spec.mu_sd)
        tau = _tau_rv(pm, spec.tau)
        z = pm.Normal("z", 0.0, 1.0, shape=len(y))
        pm.Binomial("y", n=n, logit_p=mu + tau * z, observed=y)
        z_new = pm.Normal("z_new", 0.0, 1.0)
        pm.Deterministic("p_new", pm.math.invlogit(mu + tau * z_new))
    return model


def sample_map(spec, seed: int, settings: SamplerSettings | None = None):
    """Draws of the MAP model with nutpie (an ArviZ DataTree)."""
    return sample_model(build_map_model(spec), seed, settings)


def map_draws_summary(datatree) -> dict[str, Any]:
    """Quantiles of p_new and tau with their MCSE, the mean of p_new, and diagnostics."""
    import arviz as az

    post = datatree["posterior"].to_dataset()
    out: dict[str, Any] = {}
    for name in ("p_new", "tau"):
        values = post[name]
        flat = values.values.ravel()
        qs = {}
        for q in QUANTILES:
            qs[str(q)] = {"value": float(np.quantile(flat, q)),
                          "mcse": float(az.mcse(values, method="quantile", prob=q))}
        out[name] = {"quantiles": qs, "mean": float(flat.mean()),
                     "mean_mcse": float(az.mcse(values, method="mean"))}
    rhat = az.rhat(post[list(MAP_VARIABLES)])
    bulk = az.ess(post[list(MAP_VARIABLES)], method="bulk")
    tail = az.ess(post[list(MAP_VARIABLES)], method="tail")
    stats = datatree["sample_stats"].to_dataset()
    divergences = int(stats["diverging"].sum())
    problems = []
    for name in MAP_VARIABLES:
        r, b, t = float(rhat[name]), float(bulk[name]), float(tail[name])
        if not r <= RHAT_MAX:
            problems.append(f"R-hat of {name} is {r:.3f} (> {RHAT_MAX})")
        if not min(b, t) >= ESS_MIN:
            problems.append(f"ESS of {name} is {min(b, t):.0f} (< {ESS_MIN})")
    if divergences:
        problems.append(f"{divergences} divergent transitions")
    out["diagnostics"] = {
        "converged": not problems,
        "problems": problems,
        "divergences": divergences,
        "max_r_hat": max(float(rhat[n]) for n in MAP_VARIABLES),
        "min_ess_bulk": min(float(bulk[n]) for n in MAP_VARIABLES),
        "min_ess_tail": min(float(tail[n]) for n in MAP_VARIABLES),
    }
    return out


def compare_with_exact(summary: dict[str, Any], pred) -> list[dict[str, float]]:
    """Each sampled quantile of p_new beside the exact one, the difference in MCSE units."""
    rows = []
    for q in QUANTILES:
        s = summary["p_new"]["quantiles"][str(q)]
        exact = pred.quantile(q)
        rows.append({"q": q, "sampled": s["value"], "mcse": s["mcse"], "exact": exact,
                     "z": (s["value"] - exact) / s["mcse"] if s["mcse"] > 0 else float("inf")})
    return rows


def build_effect_map_model(spec):
    """The PyMC model of a :class:`lnbayes.priors.map_effect.EffectMapSpec` (non-centred):
    delta_new is a draw of the MAP prior of the log odds ratio."""
    import pymc as pm

    cols = {f: np.array([getattr(s, f) for s in spec.studies], dtype="int64")
            for f in ("treatment_events", "treatment_n", "control_events", "control_n")}
    with pm.Model() as model:
        mu = pm.Normal("mu", spec.mu_mean, spec.mu_sd)
        tau = _tau_rv(pm, spec.tau)
        alpha = pm.Normal("alpha", 0.0, spec.baseline_sd, shape=len(spec.studies))
        z = pm.Normal("z", 0.0, 1.0, shape=len(spec.studies))
        pm.Binomial("y_c", n=cols["control_n"], logit_p=alpha, observed=cols["control_events"])
        pm.Binomial("y_t", n=cols["treatment_n"], logit_p=alpha + mu + tau * z,
                    observed=cols["treatment_events"])
        z_new = pm.Normal("z_new", 0.0, 1.0)
        pm.Deterministic("delta_new", mu + tau * z_new)
    return model


def _tau_rv(pm, tau_prior):
    if tau_prior.family == "half_normal":
        return pm.HalfNormal("tau", sigma=tau_prior.scale)
    if tau_prior.family == "half_t":
        return pm.HalfStudentT("tau", nu=tau_prior.df, sigma=tau_prior.scale)
    return pm.LogNormal("tau", mu=np.log(tau_prior.scale), sigma=tau_prior.sd)


def sample_model(model, seed: int, settings: SamplerSettings | None = None):
    """Draws of a PyMC model with nutpie (an ArviZ DataTree)."""
    portable_codegen()
    import nutpie

    settings = settings or SamplerSettings()
    return nutpie.sample(nutpie.compile_pymc_model(model), draws=settings.draws,
                         tune=settings.tune, chains=settings.chains, cores=settings.cores,
                         seed=seed, target_accept=settings.target_accept, progress_bar=False)


def quantiles_with_mcse(datatree, name: str) -> dict[str, dict[str, float]]:
    """Quantiles (QUANTILES) of a posterior variable with their MCSE."""
    import arviz as az

    values = datatree["posterior"].to_dataset()[name]
    flat = values.values.ravel()
    return {str(q): {"value": float(np.quantile(flat, q)),
                     "mcse": float(az.mcse(values, method="quantile", prob=q))}
            for q in QUANTILES}


def convergence(datatree, names) -> dict[str, Any]:
    """R-hat, bulk/tail ESS of ``names`` and divergences, against the project's criteria."""
    import arviz as az

    post = datatree["posterior"].to_dataset()
    rhat = az.rhat(post[list(names)])
    bulk = az.ess(post[list(names)], method="bulk")
    tail = az.ess(post[list(names)], method="tail")
    divergences = int(datatree["sample_stats"].to_dataset()["diverging"].sum())
    problems = [f"R-hat of {n} is {float(rhat[n]):.3f}" for n in names
                if not float(rhat[n]) <= RHAT_MAX]
    problems += [f"ESS of {n} is {min(float(bulk[n]), float(tail[n])):.0f}" for n in names
                 if not min(float(bulk[n]), float(tail[n])) >= ESS_MIN]
    if divergences:
        problems.append(f"{divergences} divergent transitions")
    return {"converged": not problems, "problems": problems, "divergences": divergences}
