"""lnbayes.io.trialfile: the embedded trial file and design tables as parsed from a file."""

from __future__ import annotations

import math

import pytest

from lnbayes.errors import LnbayesError
from lnbayes.io.trialfile import trial_from_dict


def test_embedded_trial_has_every_outcome_with_direction(deng):
    expected = {
        "remission": ("higher", 9, 5), "complete_remission": ("higher", 5, 3),
        "serious_adverse_events": ("lower", 2, 2), "death": ("lower", 1, 0),
        "sledai_above_8": ("lower", 3, 4), "bilag_a_or_b": ("lower", 8, 5),
        "raised_anti_dsdna": ("lower", 1, 3),
    }
    for name, (better, te, ce) in expected.items():
        o = deng.outcomes[name]
        assert (o.better, o.treatment_events, o.control_events) == (better, te, ce)
        assert (o.treatment_n, o.control_n) == (12, 6)
        assert o.source
    assert deng.primary_outcome.name == "remission"
    assert deng.planned_enrolment == 25



def _minimal(design):
    return {
        "trial": {"id": "t"},
        "arms": {"treatment": {"n": 10}, "control": {"n": 10}},
        "outcomes": {"o": {"treatment_events": 3, "control_events": 4}},
        "design": design,
    }



@pytest.mark.parametrize("design,field", [
    ({"control_rate": 1.5, "hoped_for_or": 2}, "design.control_rate"),
    ({"control_rate": 0.5}, "design: give the hoped-for effect"),
    ({"control_rate": 0.5, "hoped_for_or": 2, "hoped_for_rate": 0.6}, "design: give"),
    ({"control_rate": 0.5, "hoped_for_or": -1}, "design.hoped_for_or"),
    ({"control_rate": 0.5, "hoped_for_rate": 0.7, "outcome": "x"}, "design.outcome"),
])
def test_bad_design_table(design, field):
    with pytest.raises(LnbayesError) as err:
        trial_from_dict(_minimal(design), "x.toml")
    assert any(p.startswith(f"x.toml: {field}") for p in err.value.problems)



def test_design_hoped_for_rate_gives_or():
    trial = trial_from_dict(_minimal({"control_rate": 0.5, "hoped_for_rate": 0.75}), "x.toml")
    assert trial.design.hoped_for_or == pytest.approx(3.0)
    assert math.isclose(trial.design.threshold, 0.95)



def _with_outcome(**fields):
    d = _minimal({"control_rate": 0.5, "hoped_for_or": 2})
    d["outcomes"]["o"].update(fields)
    return d


@pytest.mark.parametrize("fields,field,problem", [
    ({"better": "lower", "harm_margin": {"scale": "rd", "value": -0.05}}, "outcomes.o.harm_margin.value",
     "at or above no effect"),
    ({"better": "higher", "harm_margin": {"scale": "or", "value": 2.0}}, "outcomes.o.harm_margin.value",
     "at or below no effect"),
    ({"harm_margin": {"scale": "hr", "value": 1.2}}, "outcomes.o.harm_margin.scale", "must be one of"),
    ({"harm_margin": {"scale": "rd", "vlaue": 0.1}}, "outcomes.o.harm_margin", "vlaue"),
    ({"harm_margin": 0.1}, "outcomes.o.harm_margin", "must be a table"),
])
def test_bad_harm_margin(fields, field, problem):
    with pytest.raises(LnbayesError) as err:
        trial_from_dict(_with_outcome(**fields), "x.toml")
    assert any(p.startswith(f"x.toml: {field}") and problem in p for p in err.value.problems), \
        err.value.problems


def test_harm_margin_read(deng):
    from lnbayes.model.spec import Threshold

    assert deng.outcomes["death"].harm_margin == Threshold("rd", 0.05)
    assert deng.outcomes["serious_adverse_events"].harm_margin == Threshold("rd", 0.10)
    assert deng.outcomes["remission"].harm_margin is None


def _with_prior(prior):
    return {"trial": {"id": "t"}, "arms": {"treatment": {"n": 10}, "control": {"n": 10}},
            "outcomes": {"o": {"treatment_events": 3, "control_events": 4}},
            "priors": {"p": prior}}


def test_logit_normal_control_prior_single_and_mixture():
    """control = { logit_normal = { mean, sd } }, or a mixture of them, on effect-level priors."""
    from lnbayes.model.spec import LogitNormalPrior

    t = trial_from_dict(_with_prior({"control": {"logit_normal": {"mean": -3, "sd": 2.5}},
                                     "effect": {"mean": 0, "sd": 2.5}}), "x.toml")
    assert t.priors["p"].control == LogitNormalPrior.single(-3, 2.5)
    assert t.priors["p"].describe().startswith("p_control ~ logit-Normal(-3, 2.5²)")
    assert t.priors["p"].parameters()["control"] == {"dist": "logit_normal", "mean": -3.0, "sd": 2.5}
    mix = {"mixture": [{"weight": 0.8, "mean": -3, "sd": 0.5}, {"weight": 0.2, "mean": 0, "sd": 2.5}]}
    t = trial_from_dict(_with_prior({"control": {"logit_normal": mix},
                                     "effect": {"mean": 0, "sd": 1}}), "x.toml")
    assert t.priors["p"].control == LogitNormalPrior((0.8, 0.2), (-3.0, 0.0), (0.5, 2.5))


@pytest.mark.parametrize("control,field,words", [
    ({"logit_normal": {"mean": 0, "sdd": 2.5}}, "priors.p.control.logit_normal.sdd", "did you mean `sd`"),
    ({"logit_normal": {"mean": 0, "sd": -1}}, "priors.p.control.logit_normal.sd", ""),
    ({"logit_normal": {"mean": "0", "sd": 1}}, "priors.p.control.logit_normal.mean", "number"),
    ({"logit_normal": 2.5}, "priors.p.control.logit_normal", "mean = 0, sd = 2.5"),
    ({"logit_normal": {"mean": 0, "sd": 1}, "a": 1, "b": 1}, "priors.p.control", "one way"),
    ({"logit_norml": {"mean": 0, "sd": 1}}, "priors.p.control.logit_norml", "logit_normal"),
    ({"mixture": [{"weight": 1, "logit_normal": {"mean": 0, "sd": 1}}]},
     "priors.p.control.mixture[0]", "logit_normal = { mixture"),
    ({"logit_normal": {"mixture": [{"weight": 1, "mean": 0, "s": 1}]}},
     "priors.p.control.logit_normal.mixture[0].s", "unknown key"),
])
def test_logit_normal_errors_name_the_field(control, field, words):
    with pytest.raises(LnbayesError) as err:
        trial_from_dict(_with_prior({"control": control, "effect": {"mean": 0, "sd": 1}}), "x.toml")
    text = str(err.value)
    assert field in text and words in text, text


def test_logit_normal_is_refused_on_arm_level_priors():
    with pytest.raises(LnbayesError) as err:
        trial_from_dict(_with_prior({"control": {"a": 1, "b": 1},
                                     "treatment": {"logit_normal": {"mean": 0, "sd": 1}}}), "x.toml")
    assert "priors.p.treatment.logit_normal" in str(err.value)
    assert "effect-level" in str(err.value)
