"""The MAP model sampled with nutpie agrees with the exact quadrature within 3 MCSE."""

from __future__ import annotations

import pytest

from lnbayes.engines import map_mcmc
from lnbayes.engines.mcmc import SamplerSettings
from lnbayes.priors import map as mp

AS = [(23, 107), (12, 44), (19, 51), (9, 39), (39, 139), (6, 20), (9, 78), (10, 35)]
"""RBesT's AS data set (placebo ASAS20 responders in 8 trials)."""


@pytest.fixture(scope="module")
def as_spec():
    return mp.MapSpec(tuple(mp.Study(y, n) for y, n in AS), mp.TauPrior("half_normal", 1.0), 0.0, 2.0)


def test_model_has_the_stated_variables(as_spec):
    model = map_mcmc.build_map_model(as_spec)
    assert {rv.name for rv in model.free_RVs} == {"mu", "tau", "z", "z_new"}
    assert "p_new" in {d.name for d in model.deterministics}


@pytest.mark.slow
@pytest.mark.parametrize("tau", [mp.TauPrior("half_normal", 1.0), mp.TauPrior("half_t", 0.5, df=3),
                                 mp.TauPrior("log_normal", 0.3, sd=0.7)])
def test_sampled_quantiles_agree_with_exact_within_3_mcse(as_spec, tau):
    spec = mp.MapSpec(as_spec.studies, tau, 0.0, 2.0)
    tree = map_mcmc.sample_map(spec, seed=20170506,
                               settings=SamplerSettings(draws=2500, tune=1000, chains=4,
                                                        target_accept=0.95))
    summary = map_mcmc.map_draws_summary(tree)
    assert summary["diagnostics"]["converged"], summary["diagnostics"]["problems"]
    pred = mp.map_predictive(spec)
    for row in map_mcmc.compare_with_exact(summary, pred):
        assert abs(row["z"]) < 3, row
    for q in map_mcmc.QUANTILES:
        s = summary["tau"]["quantiles"][str(q)]
        assert abs(s["value"] - pred.tau_quantile(q)) < 3 * s["mcse"], (q, s)
    mean, _ = pred.moments()
    assert abs(summary["p_new"]["mean"] - mean) < 3 * summary["p_new"]["mean_mcse"]


EFFECT_TRIALS = [(15, 40, 8, 40), (22, 60, 14, 58), (9, 30, 9, 31)]
"""Three small made-up two-arm trials (treatment events/n, control events/n)."""


@pytest.mark.slow
def test_sampled_effect_map_agrees_with_exact_within_3_mcse():
    from lnbayes.priors import map_effect as me

    spec = me.EffectMapSpec(tuple(me.TwoArmStudy(*t) for t in EFFECT_TRIALS),
                            mp.TauPrior("half_normal", 0.5))
    tree = map_mcmc.sample_model(map_mcmc.build_effect_map_model(spec), seed=20170506,
                                 settings=SamplerSettings(draws=2500, tune=1000, chains=4,
                                                          target_accept=0.99))
    conv = map_mcmc.convergence(tree, ("mu", "tau", "delta_new"))
    assert conv["converged"], conv["problems"]
    pred = me.effect_map_predictive(spec)
    for q, s in map_mcmc.quantiles_with_mcse(tree, "delta_new").items():
        assert abs(s["value"] - pred.logit_quantile(float(q))) < 3 * s["mcse"], (q, s)
    for q, s in map_mcmc.quantiles_with_mcse(tree, "tau").items():
        assert abs(s["value"] - pred.tau_quantile(float(q))) < 3 * s["mcse"], (q, s)
