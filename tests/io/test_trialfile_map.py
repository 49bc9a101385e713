"""lnbayes.io.trialfile: the MAP form of an arm's Beta prior, and its located errors."""

from __future__ import annotations

import copy

import pytest

from lnbayes.errors import LnbayesError
from lnbayes.io.trialfile import trial_from_dict
from lnbayes.model.spec import BetaPrior
from lnbayes.priors import map as mp

MAP = {
    "data": [{"events": 104, "n": 185, "source": "ALMS, MMF"}, {"events": 98, "n": 185},
             {"events": 32, "n": 45}, {"events": 24, "n": 45}],
    "tau": {"half_normal": 0.5},
    "mu": {"mean": 0, "sd": 2},
}


def _trial(control_map, treatment=None):
    return {
        "trial": {"id": "t"},
        "arms": {"treatment": {"n": 12}, "control": {"n": 6}},
        "outcomes": {"o": {"treatment_events": 9, "control_events": 5}},
        "priors": {"m": {"family": "arm", "control": {"map": control_map},
                         "treatment": treatment or {"a": 1, "b": 1}}},
    }


@pytest.mark.heavy
def test_map_form_gives_the_fitted_mixture_with_its_derivation():
    trial = trial_from_dict(_trial(MAP), "x.toml")
    control = trial.priors["m"].control
    assert isinstance(control, BetaPrior)
    derivation = mp.derivation_of(control)
    assert derivation.spec.tau == mp.TauPrior("half_normal", 0.5)
    assert [s.events for s in derivation.spec.studies] == [104, 98, 32, 24]
    assert derivation.spec.studies[0].source == "ALMS, MMF"
    assert derivation.robust is None
    assert control.weights == derivation.fit.beta.weights
    assert derivation.fit.max_cdf_error < 0.01


@pytest.mark.heavy
def test_robust_map_adds_the_vague_component():
    robust = {**MAP, "robust": {"weight": 0.2, "a": 1, "b": 1}}
    control = trial_from_dict(_trial(robust), "x.toml").priors["m"].control
    plain = trial_from_dict(_trial(MAP), "x.toml").priors["m"].control
    assert control.weights[-1] == 0.2 and (control.a[-1], control.b[-1]) == (1.0, 1.0)
    assert control.weights[:-1] == pytest.approx(tuple(0.8 * w for w in plain.weights))
    assert mp.derivation_of(control).robust == mp.Robust(0.2, 1.0, 1.0)


def test_map_works_for_the_treatment_arm_too():
    trial = trial_from_dict(_trial(MAP, treatment={"map": MAP}), "x.toml")
    assert mp.derivation_of(trial.priors["m"].treatment) is not None


@pytest.mark.parametrize("change, field", [
    (lambda m: m.update(extra=1), "x.toml: priors.m.control.map.extra: unknown key"),
    (lambda m: m.update(data=[]), "x.toml: priors.m.control.map.data: must be a non-empty list"),
    (lambda m: m["data"][1].update(events=200), "x.toml: priors.m.control.map.data[1].events: must be <= n"),
    (lambda m: m["data"][2].update(n=0), "x.toml: priors.m.control.map.data[2].n: must be >= 1"),
    (lambda m: m["data"][0].update(sorce="x"), "x.toml: priors.m.control.map.data[0].sorce: unknown key (did you mean `source`?)"),
    (lambda m: m.update(tau={"half_cauchy": 1}), "x.toml: priors.m.control.map.tau: give exactly one of"),
    (lambda m: m.update(tau={"half_t": 1}), "x.toml: priors.m.control.map.tau.df: missing"),
    (lambda m: m.update(tau={"log_normal": 0.3}), "x.toml: priors.m.control.map.tau.sd: missing"),
    (lambda m: m.update(tau={"half_normal": -1}), "x.toml: priors.m.control.map.tau.half_normal: must be > 0"),
    (lambda m: m.pop("mu"), "x.toml: priors.m.control.map.mu: must be a table"),
    (lambda m: m.update(mu={"mean": 0, "sd": 0}), "x.toml: priors.m.control.map.mu.sd: must be > 0"),
    (lambda m: m.update(robust={"weight": 1.5}), "x.toml: priors.m.control.map.robust.weight: must lie strictly between 0 and 1"),
    (lambda m: m.update(robust={"weight": 0}), "x.toml: priors.m.control.map.robust.weight: must lie strictly between 0 and 1"),
    (lambda m: m.update(robust={"weight": 0.2, "mean": 0.5}), "x.toml: priors.m.control.map.robust.mean: unknown key"),
])
def test_bad_map_is_a_located_error(change, field):
    bad = copy.deepcopy(MAP)
    change(bad)
    with pytest.raises(LnbayesError) as err:
        trial_from_dict(_trial(bad), "x.toml")
    assert any(p.startswith(field) for p in err.value.problems), err.value.problems


def test_map_beside_another_form_is_an_error():
    with pytest.raises(LnbayesError) as err:
        trial_from_dict(_trial(MAP) | {"priors": {"m": {"family": "arm", "control": {
            "map": MAP, "a": 1, "b": 1}, "treatment": {"a": 1, "b": 1}}}}, "x.toml")
    assert any("give one way to state the Beta prior" in p for p in err.value.problems)


EFFECT_MAP = {
    "data": [{"treatment_events": 15, "treatment_n": 40, "control_events": 8, "control_n": 40},
             {"treatment_events": 22, "treatment_n": 60, "control_events": 14, "control_n": 58,
              "source": "trial B"}],
    "tau": {"half_normal": 0.5},
    "mu": {"mean": 0, "sd": 2},
}


def _effect_trial(effect_map, scale="log_or"):
    return {
        "trial": {"id": "t"},
        "arms": {"treatment": {"n": 12}, "control": {"n": 6}},
        "outcomes": {"o": {"treatment_events": 9, "control_events": 5}},
        "priors": {"e": {"family": "effect", "scale": scale, "control": {"a": 1, "b": 1},
                         "effect": {"map": effect_map}}},
    }


@pytest.mark.heavy
def test_effect_map_form_gives_a_normal_mixture_with_its_derivation():
    from lnbayes.priors import map_effect as me

    effect = trial_from_dict(_effect_trial(EFFECT_MAP), "x.toml").priors["e"].effect
    assert isinstance(effect, me.MapNormalPrior)
    assert effect.derivation.spec.studies[1] == me.TwoArmStudy(22, 60, 14, 58, "trial B")
    assert effect.derivation.fit.max_cdf_error < 0.01


@pytest.mark.heavy
def test_effect_map_robust_form():
    robust = dict(EFFECT_MAP, robust={"weight": 0.2, "sd": 1.5})
    effect = trial_from_dict(_effect_trial(robust), "x.toml").priors["e"].effect
    assert effect.derivation.robust.weight == 0.2 and effect.derivation.robust.mean == 0.0
    assert (effect.weights[-1], effect.means[-1], effect.sds[-1]) == (0.2, 0.0, 1.5)


@pytest.mark.parametrize("change, scale, field", [
    (lambda m: None, "rd", "x.toml: priors.e.effect.map: a MAP effect prior is on the log odds ratio"),
    (lambda m: m["data"][0].update(control_events=50), "log_or", "x.toml: priors.e.effect.map.data[0].control_events: must be <= control_n"),
    (lambda m: m["data"][1].pop("treatment_n"), "log_or", "x.toml: priors.e.effect.map.data[1].treatment_n: missing"),
    (lambda m: m.update(robust={"weight": 0.2, "a": 1}), "log_or", "x.toml: priors.e.effect.map.robust.a: unknown key"),
    (lambda m: m.update(robust={"weight": 1.0}), "log_or", "x.toml: priors.e.effect.map.robust.weight: must lie strictly between 0 and 1"),
    (lambda m: m.update(robust={"weight": 0.2, "sd": 0}), "log_or", "x.toml: priors.e.effect.map.robust.sd"),
])
def test_bad_effect_map_is_a_located_error(change, scale, field):
    bad = copy.deepcopy(EFFECT_MAP)
    change(bad)
    with pytest.raises(LnbayesError) as err:
        trial_from_dict(_effect_trial(bad, scale), "x.toml")
    assert any(p.startswith(field) for p in err.value.problems), err.value.problems


@pytest.mark.heavy
def test_priors_report_shows_the_effect_map():
    from lnbayes.analyses import prior_checks

    trial = trial_from_dict(_effect_trial(EFFECT_MAP), "x.toml")
    rec = prior_checks.priors_report(trial)["priors"][0]["map"]["effect"]
    assert rec["quantiles"]["0.025"] < rec["quantiles"]["0.5"] < rec["quantiles"]["0.975"]
    assert set(rec["tau"]) == {"median", "interval"}
    assert sum(c["weight"] for c in rec["mixture"]) == pytest.approx(1.0)
    assert rec["ess"]["method"] == "variance-matched" and rec["robust"] is None
    assert rec["ess"]["allocation"] == [12, 6]
    assert 0 < rec["ess"]["prior_precision_share"] < 1
    assert len(rec["posterior_weights"]) == len(rec["mixture"])
