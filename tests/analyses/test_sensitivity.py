"""lnbayes.analyses.sensitivity: log prior and likelihood terms, power scaling (prior and
likelihood sensitivity) of sampled mixture priors, and its independence of BLAS threads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from lnbayes.analyses import reanalysis, sensitivity
from lnbayes.analyses import sensitivity as sensitivity_mod
from lnbayes.io import trialfile
from lnbayes.model.spec import BetaPrior, LogitNormalPrior, NormalPrior, Outcome, Prior
from tests.conftest import PYMC_GROUP

# the tests of this file share module- and session-scoped fixtures (sampled or computed once),
# and some sample with PyMC: pytest-xdist (make test) runs them in the one worker that runs
# every in-process PyMC test (tests/conftest.py: PYMC_GROUP)
pytestmark = pytest.mark.xdist_group(PYMC_GROUP)

ROOT = Path(__file__).resolve().parents[2]

DENG_FILE = ROOT / "models" / "deng2017.toml"

REMISSION = Outcome("remission", "Remission", 9, 12, 5, 6)



@pytest.fixture(scope="session")
def deng_trial():
    return trialfile.load_trial(DENG_FILE)



SAMPLED = {
    "evidence_based": None,  # from the trial file: Beta mixtures on both arms
    "normal_mixture": Prior(
        "normal_mixture",
        "effect",
        BetaPrior.single(1, 1),
        scale="log_or",
        effect=NormalPrior((0.6, 0.4), (math.log(3), 0.0), (0.668, 2.0)),
    ),
    "rd_mixture": Prior(
        "rd_mixture",
        "effect",
        BetaPrior.single(2, 2),
        scale="rd",
        effect=NormalPrior((0.5, 0.5), (0.2, 0.0), (0.1, 0.3)),
    ),
    "flat": None,
}



@pytest.fixture(scope="session")
def sampled_runs(deng_trial):
    from lnbayes.engines.mcmc import SamplerSettings

    settings = SamplerSettings(draws=600, tune=400, chains=4)
    out = {}
    for name, prior in SAMPLED.items():
        prior = prior or deng_trial.priors[name]
        out[name] = reanalysis.pymc_result(
            prior, REMISSION, (), seed=5, settings=settings, netcdf_path=None, provenance={}
        )
    return out



@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SAMPLED))
def test_sampled_mixtures_agree_with_exact_within_3_mcse(sampled_runs, name):
    r = sampled_runs[name]
    assert r["diagnostics"]["divergences"] == 0
    assert abs(r["p_benefit"] - r["p_benefit_exact"]) <= 3 * r["p_benefit_mcse"], r



@pytest.mark.slow
def test_power_scaling_flat_prior_is_reported_not_crashed(sampled_runs):
    ps = sampled_runs["flat"]["power_scaling"]
    assert ps["prior_constant"] is True
    assert "no effect" in ps["note"]
    assert ps["diagnosis"]["key"] == "constant"
    assert all(v["prior"] == 0.0 for v in ps["variables"].values())
    assert all(
        np.isfinite(v["likelihood"]) and v["likelihood"] > 0 for v in ps["variables"].values()
    )



@pytest.mark.slow
def test_power_scaling_informative_prior(sampled_runs):
    ps = sampled_runs["normal_mixture"]["power_scaling"]
    assert ps["prior_constant"] is False
    for v in ps["variables"].values():
        assert np.isfinite(v["prior"]) and v["prior"] > 0
    assert ps["diagnosis"]["prior_max"] == max(v["prior"] for v in ps["variables"].values())



@pytest.mark.slow
def test_log_prior_group_matches_scipy(sampled_runs):
    dt = sampled_runs["rd_mixture"]["datatree"]
    post = dt["posterior"].to_dataset()
    c, t = float(post["p_control"].values[0, 0]), float(post["p_treatment"].values[0, 0])
    w, m, s = (0.5, 0.5), (0.2, 0.0), (0.1, 0.3)
    lo, hi = -c, 1 - c
    mass = sum(
        wi * (stats.norm.cdf(hi, mi, si) - stats.norm.cdf(lo, mi, si))
        for wi, mi, si in zip(w, m, s)
    )
    dens = sum(wi * stats.norm.pdf(t - c, mi, si) for wi, mi, si in zip(w, m, s))
    log_prior = dt["log_prior"].to_dataset()
    assert float(log_prior["rd"].values[0, 0]) == pytest.approx(math.log(dens / mass), rel=1e-9)
    assert float(log_prior["p_control"].values[0, 0]) == pytest.approx(
        stats.beta.logpdf(c, 2, 2), rel=1e-9
    )
    log_lik = dt["log_likelihood"].to_dataset()
    assert float(log_lik["treatment"].values[0, 0]) == pytest.approx(stats.binom.logpmf(9, 12, t))



def test_power_scaling_does_not_depend_on_blas_threads():
    """Exact conjugate draws (4 chains x 4,000, where OpenBLAS threads its dot products): the
    sensitivities are the same bits under one BLAS thread and under two (they differed in the
    last bit before psense was run under one thread)."""
    import xarray as xr
    from threadpoolctl import threadpool_limits

    from lnbayes.analyses import sensitivity

    prior = Prior(name="b", family="arm", control=BetaPrior.single(2, 2),
                  treatment=BetaPrior.single(3, 2))
    rng = np.random.default_rng(3)
    shape = (4, 4000)
    p_c = rng.beta(2 + 5, 2 + 1, size=shape)
    p_t = rng.beta(3 + 9, 2 + 3, size=shape)
    posterior = xr.Dataset({
        "p_control": (("chain", "draw"), p_c), "p_treatment": (("chain", "draw"), p_t),
        "risk_difference": (("chain", "draw"), p_t - p_c),
        "odds_ratio": (("chain", "draw"), p_t / (1 - p_t) / (p_c / (1 - p_c))),
    }, coords={"chain": np.arange(4), "draw": np.arange(4000)})
    results = []
    for threads in (1, 2):
        tree = xr.DataTree.from_dict({"posterior": posterior})
        with threadpool_limits(limits=threads, user_api="blas"):
            results.append(sensitivity.power_scaling(tree, prior, REMISSION)["variables"])
    assert results[0] == results[1]



@pytest.fixture(scope="session")
def outcome(trial):
    return trial.primary_outcome



def test_log_densities_are_scipy_logpdfs(trial, outcome):
    prior = trial.priors["sceptical"]
    draws = {"p_control": np.array([[0.3, 0.8]]), "log_or": np.array([[0.1, -0.4]]),
             "p_treatment": np.array([[0.32, 0.7]])}
    lp = sensitivity_mod.log_prior_terms(prior, draws["p_control"], draws["p_treatment"])
    log_or = np.log(draws["p_treatment"] / (1 - draws["p_treatment"])) - np.log(
        draws["p_control"] / (1 - draws["p_control"]))
    np.testing.assert_allclose(lp["log_or"], stats.norm.logpdf(log_or, 0, prior.effect.sds[0]))
    np.testing.assert_allclose(lp["p_control"], 0.0, atol=1e-12)
    ll = sensitivity_mod.log_likelihood_terms(outcome, draws["p_control"], draws["p_treatment"])
    np.testing.assert_allclose(ll["treatment"], stats.binom.logpmf(9, 12, draws["p_treatment"]))
    assert sensitivity.prior_is_constant(trial.priors["flat"])
    assert not sensitivity.prior_is_constant(prior)



_LOG_PRIOR_CASES = [
    Prior("arm_mixture", "arm", BetaPrior((0.6, 0.4), (2.0, 9.0), (3.0, 4.0)),
          treatment=BetaPrior.single(0.7, 1.4)),
    Prior("log_or_mixture", "effect", BetaPrior.single(3, 2), scale="log_or",
          effect=NormalPrior((0.5, 0.5), (-0.4, 1.1), (0.3, 0.8))),
    Prior("log_rr", "effect", BetaPrior.single(2, 5), scale="log_rr",
          effect=NormalPrior.single(0.3, 0.6)),
    Prior("log_rr_mixture", "effect", BetaPrior.single(2, 5), scale="log_rr",
          effect=NormalPrior((0.5, 0.5), (0.0, 0.5), (0.3, 0.6))),
    Prior("rd", "effect", BetaPrior.single(2, 2), scale="rd", effect=NormalPrior.single(0.1, 0.2)),
    Prior("rd_mixture", "effect", BetaPrior.single(1, 1), scale="rd",
          effect=NormalPrior((0.3, 0.7), (0.0, 0.2), (0.1, 0.3))),
    Prior("logit_normal_log_or", "effect", LogitNormalPrior((0.3, 0.7), (-1.0, 0.5), (0.8, 2.0)),
          scale="log_or", effect=NormalPrior.single(0.2, 1.5)),
    Prior("logit_normal_log_rr", "effect", LogitNormalPrior.single(-0.5, 1.5), scale="log_rr",
          effect=NormalPrior.single(0.3, 0.6)),
]


@pytest.mark.slow
@pytest.mark.parametrize("prior", _LOG_PRIOR_CASES, ids=lambda p: p.name)
def test_log_prior_for_power_scaling_is_the_pymc_models(prior):
    """Power-scaling uses lnbayes's per-draw log prior; it must be the PyMC model's own log prior
    (free variables and potentials, transforms removed, evaluated by PyMC at the same points), so
    the two cannot drift. A truncated mixture is a bounded uniform (or a Flat offset ``eta`` with
    ``theta = upper - exp(eta)``) plus a potential; for the offset, PyMC's density is with respect
    to ``eta``, which adds log|d theta / d eta| = eta."""
    from pymc.model.transform.conditioning import remove_value_transforms

    from lnbayes.analyses.sensitivity import log_prior_terms
    from lnbayes.engines import mcmc
    from lnbayes.model import effects

    outcome = Outcome("r", "r", 9, 12, 5, 6)
    rng = np.random.default_rng(7)
    p_c = rng.uniform(0.02, 0.98, 60)
    if prior.family == "arm":
        p_t = rng.uniform(0.02, 0.98, 60)
        theta = None
    else:
        lo, hi = effects.theta_bounds(prior.scale, p_c)
        lo, hi = np.maximum(lo, -3.0), np.minimum(hi, 3.0)
        theta = lo + (hi - lo) * rng.uniform(0.01, 0.99, 60)
        p_t = effects.p_treatment(prior.scale, p_c, theta)
    model = remove_value_transforms(mcmc.build_model(prior, outcome))
    fn = model.compile_fn(inputs=model.value_vars,
                          outs=model.logp(vars=model.free_RVs + model.potentials),
                          on_unused_input="ignore")
    names = [v.name for v in model.value_vars]
    theirs, jacobian = [], np.zeros(60)
    for i in range(60):
        # a Normal prior on logit(p_control) samples the logit (p_control is deterministic)
        point = ({"logit_p_control": math.log(p_c[i] / (1 - p_c[i]))}
                 if "logit_p_control" in names else {"p_control": p_c[i]})
        if prior.family == "arm":
            point["p_treatment"] = p_t[i]
        elif f"{prior.scale}_offset" in names:
            hi_i = float(effects.theta_bounds(prior.scale, p_c[i])[1])
            point[f"{prior.scale}_offset"] = np.log(hi_i - theta[i])
            jacobian[i] = point[f"{prior.scale}_offset"]
        else:
            point[prior.scale] = theta[i]
        assert set(point) == set(names), (names, point)
        theirs.append(float(fn(point)))
    ours = sum(log_prior_terms(prior, p_c, p_t).values())
    # equal to 1e-7: PyMC computes the truncated Normal's normaliser log(Phi(b) - Phi(a)) by
    # another formula than lnbayes's NormalMix.log_mass; they differ by up to ~1e-8 (log RR)
    np.testing.assert_allclose(ours + jacobian, theirs, rtol=0, atol=1e-7)


def test_one_diagnosis_per_prior_whatever_the_scale():
    """A prior whose RD sensitivity sits just below the threshold and log-OR sensitivity just
    above gets one diagnosis, from the largest values, and the constant prior its own."""
    from lnbayes.analyses.sensitivity import DIAGNOSES, THRESHOLD, prior_diagnosis

    below, above = THRESHOLD * 0.98, THRESHOLD * 1.12
    variables = {"risk_difference": {"prior": below, "likelihood": 0.06},
                 "log_odds_ratio": {"prior": above, "likelihood": 0.055}}
    d = prior_diagnosis(variables, constant=False)
    assert d["key"] == "both" and d["label"] == DIAGNOSES["both"]
    assert (d["prior_max"], d["likelihood_max"]) == (above, 0.06)
    weak_lik = {k: dict(v, likelihood=0.01) for k, v in variables.items()}
    assert prior_diagnosis(weak_lik, constant=False)["key"] == "prior"
    quiet = {k: dict(v, prior=0.01) for k, v in variables.items()}
    assert prior_diagnosis(quiet, constant=False)["key"] == "ok"
    assert prior_diagnosis(quiet, constant=True)["key"] == "constant"
    assert "conflict" not in " ".join(DIAGNOSES.values())
