"""PyMC model builders and the nutpie sampler runner.

The hyperparameters and the counts are ``pm.Data`` containers, so one compiled model serves
every prior of the same structure (family, scale, number of mixture components) and every
outcome: :func:`compiled_model` compiles once per structure and process, and :func:`sample`
swaps the data in with nutpie's ``with_data`` before sampling.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from lnbayes.io import stops
from lnbayes.model.spec import is_logit_normal

DEFAULT_DRAWS = 2000


def portable_codegen() -> None:
    """Compile for a generic x86-64/arm64 CPU, so a seed gives the same draws on any machine.

    nutpie JIT-compiles the log density with numba, which by default tunes the machine code to
    the host CPU; different vector instructions change the last bits of floating-point sums and a
    NUTS trajectory amplifies them. Must run before numba is first imported; an explicit
    ``NUMBA_CPU_NAME`` in the environment is respected.
    """
    import os

    os.environ.setdefault("NUMBA_CPU_NAME", "generic")

DEFAULT_TUNE = 1000
DEFAULT_CHAINS = 4


@dataclass(frozen=True)
class SamplerSettings:
    draws: int = DEFAULT_DRAWS
    tune: int = DEFAULT_TUNE
    chains: int = DEFAULT_CHAINS
    cores: int = 2
    target_accept: float = 0.9

    def as_dict(self) -> dict[str, Any]:
        return {
            "sampler": "nutpie (NUTS)",
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "cores": self.cores,
            "target_accept": self.target_accept,
        }


def structure(prior) -> tuple:
    """What decides the shape of the PyMC graph (hyperparameter values do not)."""
    if prior.family == "arm":
        return ("arm", len(prior.control.weights), len(prior.treatment.weights))
    control = "logit_normal" if is_logit_normal(prior.control) else "beta"
    return ("effect", prior.scale, control, len(prior.control.weights), len(prior.effect.weights))


MODEL_FORM = 2
"""The version of the PyMC graphs :func:`build_model` makes. A change of graph that keeps the
posterior can still move a seed's draws in their last bits, so saved draws carry it in their run
key (:func:`lnbayes.analyses.reanalysis.run_key`) and are sampled again when it changes.
2: the counts and the hyperparameters in two data containers (before: one per value)."""

COUNTS = ("control_n", "control_events", "treatment_n", "treatment_events")
"""The order of the counts in the model's ``counts`` data container."""


def hyperparameters(prior) -> dict[str, np.ndarray]:
    """The prior's hyperparameters by name, in the order of the ``hyperparameters`` container
    (the layout depends only on :func:`structure`)."""
    control = prior.control
    out = {"prior_control_w": np.asarray(control.weights, dtype=float)}
    if is_logit_normal(control):
        out.update(prior_control_mean=np.asarray(control.means, dtype=float),
                   prior_control_sd=np.asarray(control.sds, dtype=float))
    else:
        out.update(prior_control_a=np.asarray(control.a, dtype=float),
                   prior_control_b=np.asarray(control.b, dtype=float))
    if prior.family == "arm":
        out.update(prior_treatment_w=np.asarray(prior.treatment.weights, dtype=float),
                   prior_treatment_a=np.asarray(prior.treatment.a, dtype=float),
                   prior_treatment_b=np.asarray(prior.treatment.b, dtype=float))
    else:
        out.update(prior_effect_w=np.asarray(prior.effect.weights, dtype=float),
                   prior_effect_mean=np.asarray(prior.effect.means, dtype=float),
                   prior_effect_sd=np.asarray(prior.effect.sds, dtype=float))
    return out


def model_data(prior, outcome) -> dict[str, np.ndarray]:
    """Values of the model's two data containers for a prior and an outcome: ``counts`` (int64,
    in the order of :data:`COUNTS`) and ``hyperparameters`` (float64, :func:`hyperparameters`
    one after the other).

    Two containers rather than one per value: nutpie's compiled log density unpacks each shared
    variable in code that numba compiles per variable, about 0.3 s each (8 containers took 5.2 s
    to compile, 2 take 3.6 s).
    """
    return {
        "counts": np.array([getattr(outcome, name) for name in COUNTS], dtype="int64"),
        "hyperparameters": np.concatenate(list(hyperparameters(prior).values())),
    }


LOGIT_CONTROL = "logit_p_control"
"""The free variable of a control arm with a Normal prior on its logit (p_control is then
deterministic)."""


def _beta_var(pm, name: str, w, a, b, k: int):
    if k == 1:
        return pm.Beta(name, alpha=a[0], beta=b[0])
    return pm.Mixture(name, w=w, comp_dists=pm.Beta.dist(alpha=a, beta=b, shape=(k,)))


def build_model(prior, outcome):
    """The PyMC model for a prior (of either family) and an outcome's counts.

    Variables: ``p_control``, ``p_treatment``, for effect-level priors the effect (named after its
    scale: ``log_or``, ``log_rr``, ``rd``), and deterministic ``risk_difference``, ``risk_ratio``,
    ``odds_ratio``. A control arm with a Normal prior on its logit samples ``logit_p_control``
    (pm.Normal or pm.NormalMixture) and makes ``p_control`` deterministic.
    """
    portable_codegen()
    import pymc as pm
    import pytensor.tensor as pt

    data = model_data(prior, outcome)
    with pm.Model() as model:
        counts = pm.Data("counts", data["counts"])
        hyper = pm.Data("hyperparameters", data["hyperparameters"])
        d = dict(zip(COUNTS, (counts[i] for i in range(len(COUNTS)))))
        start = 0
        for name, value in hyperparameters(prior).items():  # slices of the one container
            d[name] = hyper[start:start + len(value)]
            start += len(value)
        k_c = len(prior.control.weights)
        u_c = None
        if is_logit_normal(prior.control):  # the intercept: a Normal (mixture) on logit(p_control)
            w_c, mu_c, sd_c = d["prior_control_w"], d["prior_control_mean"], d["prior_control_sd"]
            if k_c == 1:
                u_c = pm.Normal(LOGIT_CONTROL, mu=mu_c[0], sigma=sd_c[0])
            else:
                u_c = pm.NormalMixture(LOGIT_CONTROL, w=w_c, mu=mu_c, sigma=sd_c)
            p_c = pm.Deterministic("p_control", pm.math.invlogit(u_c))
        else:
            p_c = _beta_var(pm, "p_control", d["prior_control_w"], d["prior_control_a"],
                            d["prior_control_b"], k_c)
        if prior.family == "arm":
            k_t = len(prior.treatment.weights)
            p_t = _beta_var(
                pm, "p_treatment", d["prior_treatment_w"], d["prior_treatment_a"], d["prior_treatment_b"], k_t
            )
        else:
            name = prior.scale
            w, mu, sd = d["prior_effect_w"], d["prior_effect_mean"], d["prior_effect_sd"]
            k_e = len(prior.effect.weights)
            if prior.scale == "log_or":
                if k_e == 1:
                    theta = pm.Normal(name, mu=mu[0], sigma=sd[0])
                else:
                    theta = pm.NormalMixture(name, w=w, mu=mu, sigma=sd)
                u_t = (pm.math.logit(p_c) if u_c is None else u_c) + theta
                p_t = pm.Deterministic("p_treatment", pm.math.invlogit(u_t))
            else:
                lower = -p_c if prior.scale == "rd" else None
                upper = 1 - p_c if prior.scale == "rd" else -pt.log(p_c)
                if k_e == 1:
                    theta = pm.TruncatedNormal(name, mu=mu[0], sigma=sd[0], lower=lower, upper=upper)
                else:
                    theta = _truncated_normal_mixture(pm, pt, name, w, mu, sd, lower, upper)
                if prior.scale == "rd":
                    p_t = pm.Deterministic("p_treatment", p_c + theta)
                else:
                    p_t = pm.Deterministic("p_treatment", p_c * pt.exp(theta))
        pm.Binomial("control", n=d["control_n"], p=p_c, observed=d["control_events"])
        pm.Binomial("treatment", n=d["treatment_n"], p=p_t, observed=d["treatment_events"])
        pm.Deterministic("risk_difference", p_t - p_c)
        pm.Deterministic("risk_ratio", p_t / p_c)
        pm.Deterministic("odds_ratio", p_t * (1 - p_c) / (p_c * (1 - p_t)))
    return model


def _truncated_normal_mixture(pm, pt, name, w, mu, sd, lower, upper):
    """A Normal mixture truncated to (lower, upper), bounds that may depend on p_control.

    PyMC cannot truncate a mixture, so the effect is a bounded uniform (or, with no lower bound,
    ``upper - exp(eta)``) plus a potential holding the mixture density renormalised over the
    bounds; the Jacobian terms make the density exactly the truncated mixture.
    """
    normal = pm.Normal.dist(mu=mu, sigma=sd)
    if lower is not None:
        theta = pm.Uniform(name, lower=lower, upper=upper)
        log_jac = pt.log(upper - lower)  # cancels the uniform's 1 / (upper - lower)
        log_mass_comp = pm.math.logdiffexp(pm.logcdf(normal, upper), pm.logcdf(normal, lower))
    else:
        eta = pm.Flat(f"{name}_offset")
        theta = pm.Deterministic(name, upper - pt.exp(eta))
        log_jac = eta
        log_mass_comp = pm.logcdf(normal, upper)
    log_pdf = pm.math.logsumexp(pt.log(w) + pm.logp(normal, theta))
    log_mass = pm.math.logsumexp(pt.log(w) + log_mass_comp)
    pm.Potential(f"{name}_prior", log_pdf - log_mass + log_jac)
    return theta


@functools.lru_cache(maxsize=32)
def _compiled(struct: tuple, prior, outcome):
    portable_codegen()
    import nutpie

    model = build_model(prior, outcome)
    return nutpie.compile_pymc_model(model, initial_points=fixed_initial_points(model))


def fixed_initial_points(model) -> dict[str, float]:
    """Starting values that do not depend on the hyperparameters.

    nutpie's ``with_data`` swaps the data into the log density but not into the compiled
    initial-point function, which would otherwise start every prior of a structure where the first
    prior compiled put it (its support point); the draws of a seed would then depend on what ran
    before in the process. Probabilities start at 0.5 and effects at 0 (always feasible), before
    nutpie's seeded jitter.
    """
    return {
        rv.name: (0.5 if rv.name.startswith("p_") else 0.0) for rv in model.free_RVs
    }


def compiled_model(prior, outcome):
    """A nutpie-compiled model for the prior's structure, with this prior's data swapped in."""
    base = _compiled(structure(prior), *_representative(prior, outcome))
    return base.with_data(**model_data(prior, outcome))


def _representative(prior, outcome):
    # the cache key is the structure only; the first prior and outcome seen build the graph
    key = structure(prior)
    if key not in _REPRESENTATIVES:
        _REPRESENTATIVES[key] = (prior, outcome)
    return _REPRESENTATIVES[key]


_REPRESENTATIVES: dict[tuple, tuple] = {}


WAIT_SECONDS = 0.2
"""How long one wait for the sampler lasts before Python's signal handlers get a turn."""


class IncompleteDraws(RuntimeError):
    """The sampler returned fewer draws than asked for, or draws with missing values."""


def sample(prior, outcome, seed: int, settings: SamplerSettings | None = None, progress: bool = False):
    """Sample the posterior with nutpie; returns an ArviZ DataTree with every draw asked for.

    nutpie's blocking ``sample`` catches ``KeyboardInterrupt`` and returns the draws made so far,
    padded with NaN, as if sampling had finished. Here the sampler runs in nutpie's background
    threads (``blocking=False``) and the main thread waits for it in short slices, so that Ctrl-C
    (``KeyboardInterrupt``) and SIGTERM (:class:`lnbayes.errors.Terminated`, raised by the CLI's
    handler) are raised here: the sampler is then cancelled, its draws are discarded and the
    interrupt propagates. Nothing of an interrupted fit is ever returned.

    Raises
    ------
    IncompleteDraws
        If the sampler finished but its draws are not complete (see :func:`draws_problem`).
    """
    portable_codegen()
    import nutpie

    settings = settings or SamplerSettings()
    compiled = compiled_model(prior, outcome)
    sampler = nutpie.sample(
        compiled,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        cores=settings.cores,
        seed=seed,
        target_accept=settings.target_accept,
        save_warmup=False,  # tuning draws: used by no summary, 30% of every saved file
        progress_bar=progress,
        blocking=False,
    )
    try:
        while True:
            try:
                datatree = sampler.wait(timeout=WAIT_SECONDS)
                break
            except TimeoutError:
                # signal handlers run between the slices; a stop whose exception Python
                # dropped (in a __del__ or weakref callback) is raised again here
                stops.check()
                continue
    except BaseException:
        sampler.cancel()  # stop the chains and discard their draws
        raise
    problem = draws_problem(datatree, prior, settings)
    if problem is not None:
        raise IncompleteDraws(f"the sampler returned incomplete draws: {problem}")
    return datatree


DERIVED = ("p_control", "p_treatment", "risk_difference", "risk_ratio", "odds_ratio")
"""Posterior variables of every model (besides the effect of an effect-level prior)."""


def expected_variables(prior) -> tuple[str, ...]:
    """Names of the posterior variables a fit of ``prior`` has."""
    return DERIVED if prior.family == "arm" else (*DERIVED, prior.scale)


def draws_problem(datatree, prior, settings: SamplerSettings) -> str | None:
    """What makes ``datatree`` not a complete fit of ``prior`` with ``settings``; None if nothing.

    Complete means: a ``posterior`` group holding every variable of the model, each with
    ``settings.chains`` chains of ``settings.draws`` draws and no missing value (nutpie pads the
    chains of an aborted run with NaN); a ``sample_stats`` group with ``diverging`` of the same
    shape; probabilities within [0, 1]; and the derived effects equal to what ``p_control`` and
    ``p_treatment`` give (which a zeroed or overwritten block of draws breaks).
    """
    groups = set(getattr(datatree, "children", ()))
    for group in ("posterior", "sample_stats"):
        if group not in groups:
            return f"no {group} group"
    post = datatree["posterior"].to_dataset()
    stats = datatree["sample_stats"].to_dataset()
    shape = (settings.chains, settings.draws)
    names = expected_variables(prior)
    missing = [n for n in names if n not in post.data_vars]
    if missing:
        return f"variable {missing[0]} missing"
    if "diverging" not in stats.data_vars:
        return "sample statistic diverging missing"
    for name in (*names, "diverging"):
        var = post[name] if name in post.data_vars else stats[name]
        if tuple(var.dims[:2]) != ("chain", "draw") or var.shape != shape:
            return (f"{name} has shape {var.shape}, expected {settings.chains} chains x "
                    f"{settings.draws} draws")
    values = {n: np.asarray(post[n].values, dtype=float) for n in names}
    for name, v in values.items():
        n_nan = int(np.isnan(v).sum())
        if n_nan:
            return f"{n_nan} missing (NaN) values of {name}"
    p_c, p_t = values["p_control"], values["p_treatment"]
    for name, p in (("p_control", p_c), ("p_treatment", p_t)):
        if np.any((p < 0) | (p > 1)):
            return f"{name} outside [0, 1]"
    with np.errstate(divide="ignore", invalid="ignore"):
        implied = {
            "risk_difference": p_t - p_c,
            "risk_ratio": p_t / p_c,
            "odds_ratio": p_t * (1 - p_c) / (p_c * (1 - p_t)),
        }
    for name, expected in implied.items():
        if not np.allclose(values[name], expected, rtol=1e-7, atol=1e-12, equal_nan=False):
            return f"{name} does not match p_control and p_treatment"
    return None
