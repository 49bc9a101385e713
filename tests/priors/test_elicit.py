"""lnbayes.priors.elicit: priors from statements (tails, centres, quantiles, power priors) and
their errors. Expected values come from closed forms (scipy.stats quantiles)."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from lnbayes.errors import LnbayesError
from lnbayes.io import trialfile
from lnbayes.model import spec as spec_mod
from lnbayes.model.spec import Prior
from lnbayes.priors import elicit

ROOT = Path(__file__).resolve().parents[2]

DENG_FILE = ROOT / "models" / "deng2017.toml"



@pytest.fixture(scope="session")
def deng_trial():
    return trialfile.load_trial(DENG_FILE)



def trial_with_prior(prior_toml: str, name: str = "p") -> spec_mod.Trial:
    text = f"""
[trial]
id = "t"
[arms.treatment]
n = 12
[arms.control]
n = 6
[outcomes.remission]
treatment_events = 9
control_events = 5
[priors.{name}]
{prior_toml}
"""
    return trialfile.trial_from_dict(tomllib.loads(text), "test.toml")



def effect_prior(effect_toml: str, scale: str = "log_or") -> Prior:
    trial = trial_with_prior(f'family = "effect"\nscale = "{scale}"\neffect = {effect_toml}')
    return trial.priors["p"]



def problems_of(prior_toml: str) -> list[str]:
    with pytest.raises(LnbayesError) as info:
        trial_with_prior(prior_toml)
    return info.value.problems



def test_sceptical_statement_gives_ln3_over_z95():
    prior = effect_prior(
        '{ statement = { centre = 0.0, tail = { effect = 3.0, scale = "or", prob = 0.05, side = "above" } } }'
    )
    expected = math.log(3) / stats.norm.ppf(0.95)
    assert prior.effect.means == (0.0,)
    assert prior.effect.sds[0] == pytest.approx(expected, rel=1e-12)
    assert prior.effect.sds[0] == pytest.approx(0.668, abs=5e-4)  # the number
    # and the statement holds: P(OR > 3) = 5%
    assert stats.norm.sf(math.log(3), 0, prior.effect.sds[0]) == pytest.approx(0.05, abs=1e-12)



@pytest.mark.parametrize(
    "convention, centre",
    [
        ("sceptical", 0.0),
        ("enthusiastic", math.log(3)),
        ("pessimistic", -math.log(3)),
    ],
)
def test_conventions_match_spiegelhalter(convention, centre):
    prior = effect_prior(
        f'{{ convention = "{convention}", hoped_for = {{ scale = "or", value = 3 }}, prob = 0.05 }}'
    )
    sd = math.log(3) / stats.norm.ppf(0.95)
    assert prior.effect.means[0] == pytest.approx(centre, abs=1e-12)
    assert prior.effect.sds[0] == pytest.approx(sd, rel=1e-12)



def test_tail_on_risk_difference_converted_to_log_or_at_control_rate():
    # P(RD > 0.2) = 10% at a control rate of 0.5, for a log-OR prior centred on no effect
    prior = effect_prior(
        '{ statement = { centre = 0.0, control_rate = 0.5, tail = { effect = 0.2, scale = "rd", prob = 0.10 } } }'
    )
    theta = special.logit(0.7) - special.logit(0.5)
    assert prior.effect.sds[0] == pytest.approx(theta / stats.norm.ppf(0.9), rel=1e-12)



def test_centre_and_tail_on_rr_for_log_rr_prior():
    prior = effect_prior(
        '{ statement = { centre = { scale = "rr", value = 1.2 }, tail = { effect = 0.9, scale = "rr", prob = 0.2 } } }',
        scale="log_rr",
    )
    m, s = math.log(1.2), (math.log(0.9) - math.log(1.2)) / stats.norm.ppf(0.2)
    assert prior.effect.means[0] == pytest.approx(m, rel=1e-12)
    assert prior.effect.sds[0] == pytest.approx(s, rel=1e-12)



def test_two_tails_and_interval_forms():
    two = effect_prior(
        '{ statement = { tails = [{ effect = 0.5, scale = "or", prob = 0.025 }, { effect = 4.0, scale = "or", prob = 0.025 }] } }'
    )
    interval = effect_prior(
        '{ statement = { interval = { lower = 0.5, upper = 4.0, scale = "or", prob = 0.95 } } }'
    )
    lo, hi = math.log(0.5), math.log(4.0)
    for prior in (two, interval):
        assert prior.effect.means[0] == pytest.approx((lo + hi) / 2, rel=1e-12)
        assert prior.effect.sds[0] == pytest.approx(
            (hi - lo) / (2 * stats.norm.ppf(0.975)), rel=1e-12
        )



def test_zampieri_grid_strengths():
    for strength, tail in elicit.ZAMPIERI_STRENGTHS.items():
        opt = effect_prior(
            f'{{ convention = "zampieri", direction = "optimistic", strength = "{strength}", hoped_for = {{ scale = "or", value = 3 }} }}'
        )
        m, s = opt.effect.means[0], opt.effect.sds[0]
        assert m == pytest.approx(math.log(3))
        assert stats.norm.cdf(0, m, s) == pytest.approx(tail, abs=1e-12)  # P(no benefit)



def test_beta_from_quantiles_hits_both_quantiles():
    prior = trial_with_prior(
        'family = "arm"\ntreatment = { a = 1, b = 1 }\n'
        "control = { quantiles = [{ p = 0.5, value = 0.56 }, { p = 0.975, value = 0.8 }] }"
    ).priors["p"]
    a, b = prior.control.a[0], prior.control.b[0]
    assert stats.beta.ppf([0.5, 0.975], a, b) == pytest.approx([0.56, 0.8], abs=1e-9)



@pytest.mark.parametrize(
    "p1, v1, p2, v2", [(0.1, 0.05, 0.9, 0.3), (0.25, 0.7, 0.75, 0.9), (0.5, 0.5, 0.99, 0.51)]
)
def test_beta_from_quantiles_other_cases(p1, v1, p2, v2):
    a, b = elicit.beta_from_quantiles(p1, v1, p2, v2)
    assert stats.beta.ppf([p1, p2], a, b) == pytest.approx([v1, v2], abs=1e-8)



def test_power_prior_with_ess_cap_closed_form():
    prior = trial_with_prior(
        'family = "arm"\ncontrol = { a = 1, b = 1 }\n'
        "treatment = { data = [{ events = 24, n = 40 }, { events = 49, n = 81 }], ess_cap = 10 }"
    ).priors["p"]
    a0 = 8 / 121
    assert prior.treatment.a[0] == pytest.approx(1 + a0 * 73)
    assert prior.treatment.b[0] == pytest.approx(1 + a0 * 48)
    assert prior.treatment.a[0] + prior.treatment.b[0] == pytest.approx(10)



def test_nested_mixture_is_an_error():
    problems = problems_of(
        'family = "arm"\ntreatment = { a = 1, b = 1 }\ncontrol = { mixture = ['
        "{ weight = 0.5, a = 2, b = 2 }, "
        "{ weight = 0.5, mixture = [{ weight = 0.5, a = 1, b = 1 }, { weight = 0.5, a = 3, b = 1 }] }] }"
    )
    assert any("priors.p.control.mixture[1]: a mixture component cannot itself" in p for p in problems)



@pytest.mark.parametrize(
    "toml, where, words",
    [
        (
            'family = "effect"\neffect = { statement = { centre = 0, tail = { effect = 3, scale = "or", prob = 1.5 } } }',
            "priors.p.effect.statement.tail.prob",
            "between 0 and 1",
        ),
        (
            'family = "effect"\neffect = { statement = { centre = 0, tail = { effect = 3, scale = "or", prob = 0.05, side = "below" } } }',
            "priors.p.effect.statement.tail",
            "contradictory",
        ),
        (
            'family = "effect"\neffect = { statement = { centre = 0, tail = { effect = 0.2, scale = "rd", prob = 0.05 } } }',
            "priors.p.effect.statement.tail.control_rate",
            "control_rate",
        ),
        (
            'family = "effect"\neffect = { convention = "hopeful", hoped_for = 1.0 }',
            "priors.p.effect.convention",
            "must be one of",
        ),
        (
            'family = "effect"\neffect = { convention = "sceptical", hoped_for = { scale = "or", value = 3 }, prob = 0 }',
            "priors.p.effect.prob",
            "between 0 and 1",
        ),
        (
            'family = "arm"\ntreatment = { a = 1, b = 1 }\ncontrol = { quantiles = [{ p = 0.5, value = 0.6 }, { p = 0.975, value = 0.4 }] }',
            "priors.p.control.quantiles",
            "contradictory quantiles",
        ),
        (
            'family = "arm"\ntreatment = { a = 1, b = 1 }\ncontrol = { mixture = [{ weight = 0.7, a = 5, b = 5 }, { weight = 0.2, a = 1, b = 1 }] }',
            "priors.p.control.mixture",
            "sum to 1",
        ),
        (
            'family = "effect"\neffect = { mixture = [{ weight = 0.5, mean = 0, sd = 1 }, { weight = 0.6, convention = "sceptical", hoped_for = 1.1 }] }',
            "priors.p.effect.mixture",
            "sum to 1",
        ),
        (
            'family = "arm"\ncontrol = { a = 1, b = 1 }\ntreatment = { data = [{ events = 5, n = 10 }] }',
            "priors.p.treatment",
            "discount",
        ),
        (
            'family = "arm"\ncontrol = { a = 1, b = 1 }\ntreatment = { data = [{ events = 5, n = 10 }], power = 1.5 }',
            "priors.p.treatment.power",
            "(0, 1]",
        ),
    ],
)
def test_bad_statements_give_located_errors(toml, where, words):
    problems = problems_of(toml)
    assert any(f"test.toml: {where}:" in p and words in p for p in problems), problems



def test_remission_only_priors_do_not_apply_to_death(deng_trial):
    names = {p.name for p in deng_trial.priors_for(deng_trial.outcome("death"))}
    assert names == {"flat", "weakly_informative"}
    assert len(deng_trial.priors_for(deng_trial.outcome("remission"))) == len(deng_trial.priors)



def test_every_deng_prior_has_statement_justification_and_role(deng_trial):
    for prior in deng_trial.priors.values():
        assert prior.statement and prior.justification and prior.role, prior.name
        if prior.role != "reference":
            assert prior.citations, prior.name



def moved(x: float) -> list[float]:
    """x one ulp down and up, and moved by a relative 1e-12 both ways (1e-12 if x is 0)."""
    step = 1e-12 * abs(x) if x != 0 else 1e-12
    return [float(np.nextafter(x, -np.inf)), float(np.nextafter(x, np.inf)), x - step, x + step]



def test_beta_from_quantiles_is_continuous():
    a, b = elicit.beta_from_quantiles(0.5, 0.56, 0.975, 0.8)
    assert stats.beta.ppf(0.5, a, b) == pytest.approx(0.56, abs=1e-9)
    assert stats.beta.ppf(0.975, a, b) == pytest.approx(0.8, abs=1e-9)
    for v in moved(0.56):
        a2, b2 = elicit.beta_from_quantiles(0.5, v, 0.975, 0.8)
        assert abs(a2 - a) <= 1e-6 * a and abs(b2 - b) <= 1e-6 * b
    for p in moved(0.975):
        a2, b2 = elicit.beta_from_quantiles(0.5, 0.56, p, 0.8)
        assert abs(a2 - a) <= 1e-6 * a and abs(b2 - b) <= 1e-6 * b



def test_beta_from_quantiles_impossible_is_a_statement_error():
    with pytest.raises(elicit.StatementError):
        elicit.beta_from_quantiles(0.5, 0.5, 0.50000001, 0.999999)

