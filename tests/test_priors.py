"""The prior library: statements against closed forms, ESS, mixtures, conflict, psense, the CLI.

Expected values come from closed forms (scipy.stats quantiles), scipy.integrate, enumeration or
the exact engine's independent quadrature; never from priorlib's own output.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, special, stats

from lnbayes.analyses import prior_checks
from lnbayes.engines import exact
from lnbayes.errors import LnbayesError
from lnbayes.io import trialfile
from lnbayes.model import spec as spec_mod
from lnbayes.model.spec import BetaPrior, NormalPrior, Outcome, Prior
from lnbayes.priors import conflict, effective_size, elicit

ROOT = Path(__file__).resolve().parents[1]
DENG_FILE = ROOT / "models" / "deng2017.toml"
REMISSION = Outcome("remission", "Remission", 9, 12, 5, 6)


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


# ---------------------------------------------------------------------------------------------
# Statements against closed forms
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Bad statements: located errors
# ---------------------------------------------------------------------------------------------


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


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "lnbayes", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


def test_cli_bad_statement_exits_2_without_traceback(tmp_path):
    text = DENG_FILE.read_text().replace(
        'effect = { statement = { centre = 0.0, tail = { effect = 3.0, scale = "or", prob = 0.05, side = "above" } } }',
        'effect = { statement = { centre = 0.0, tail = { effect = 3.0, scale = "or", prob = 1.05, side = "above" } } }',
    )
    assert "prob = 1.05" in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    for command in ("priors", "validate"):
        out = run_cli(command, bad)
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
        assert (
            "priors.sceptical.effect.statement.tail.prob: a tail probability must lie strictly between 0 and 1"
            in out.stderr
        )
        assert out.stdout == "" if command == "priors" else True


# ---------------------------------------------------------------------------------------------
# Effective sample size
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("a, b", [(1, 1), (0.5, 0.5), (5, 15), (2.5, 7.3), (40, 3)])
def test_ess_of_beta_is_a_plus_b_under_all_methods(a, b):
    ess = effective_size.arm_ess(BetaPrior.single(a, b))
    for method in ("elir", "moment", "morita"):
        assert ess[method] == pytest.approx(a + b, rel=1e-6), method


MIX = BetaPrior((0.8, 0.2), (10.0, 1.0), (2.0, 1.0))


def test_moment_ess_of_mixture_by_integration():
    mean = integrate.quad(lambda x: x * math.exp(exact.BetaMix.of(MIX).logpdf(x)), 0, 1)[0]
    second = integrate.quad(lambda x: x * x * math.exp(exact.BetaMix.of(MIX).logpdf(x)), 0, 1)[0]
    var = second - mean**2
    assert effective_size.ess_moment(MIX) == pytest.approx(mean * (1 - mean) / var - 1, rel=1e-8)


def test_elir_is_predictively_consistent_for_a_mixture():
    """Neuenschwander et al. 2020: E over the prior predictive of ESS(posterior after n) = ESS + n."""
    n = 10
    prior = exact.BetaMix.of(MIX)
    total = 0.0
    for y in range(n + 1):
        post, log_m = exact.update_beta(prior, y, n)
        post_prior = BetaPrior(tuple(post.w), tuple(post.a), tuple(post.b))
        total += math.exp(log_m) * effective_size.ess_elir(post_prior)
    assert total - n == pytest.approx(effective_size.ess_elir(MIX), abs=1e-6)


def test_elir_by_finite_differences():
    """Independent route: numerical second derivative of the logit-scale log density."""
    w, a, b = np.array(MIX.weights), np.array(MIX.a), np.array(MIX.b)

    def log_p_eta(eta):  # Beta mixture carried to eta = logit(theta), Jacobian included
        log_t, log_1mt = special.log_expit(eta)[:, None], special.log_expit(-eta)[:, None]
        return special.logsumexp(np.log(w) + a * log_t + b * log_1mt - special.betaln(a, b), axis=1)

    h = 1e-3
    eta = np.linspace(-40, 25, 130_001)
    v = np.exp(special.log_expit(eta) + special.log_expit(-eta))  # Fisher information per patient
    info = -(log_p_eta(eta + h) - 2 * log_p_eta(eta) + log_p_eta(eta - h)) / h**2
    value = np.trapezoid(np.exp(log_p_eta(eta)) * info / v, eta)
    assert effective_size.ess_elir(MIX) == pytest.approx(value, rel=1e-6)


def test_effect_equivalent_information_closed_form():
    # sd 0.668 on the log OR at a control rate of 0.5: n = 2 / (0.25 * 0.668^2) per arm
    n = effective_size.effect_equivalent_information(NormalPrior.single(0, 0.668), "log_or", 0.5)
    assert n == pytest.approx(2 / (0.25 * 0.668**2))


# ---------------------------------------------------------------------------------------------
# Mixture posteriors against direct numerical integration
# ---------------------------------------------------------------------------------------------


def _dblquad_p_benefit(joint):
    """P(p_treatment > p_control) of an unnormalised joint density, by scipy's dblquad."""
    kw = dict(epsabs=1e-12, epsrel=1e-9)
    # integrand(t, c): outer p_control in (0, 1), inner p_treatment in (c, 1) or (0, 1)
    above = integrate.dblquad(joint, 0, 1, lambda c: c, 1, **kw)[0]
    total = integrate.dblquad(joint, 0, 1, 0, 1, **kw)[0]
    return above / total


def _log_beta_mix(x, weights, a, b):
    terms = [
        math.log(w)
        + (ai - 1) * math.log(x)
        + (bi - 1) * math.log1p(-x)
        - (math.lgamma(ai) + math.lgamma(bi) - math.lgamma(ai + bi))
        for w, ai, bi in zip(weights, a, b)
    ]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def test_beta_mixture_posterior_against_dblquad():
    control = BetaPrior((0.8, 0.2), (5.5, 1.0), (4.5, 1.0))
    treatment = BetaPrior((0.5, 0.5), (5.8, 1.0), (4.2, 1.0))
    prior = Prior("m", "arm", control, treatment=treatment)

    def joint(t, c):
        if not (0 < c < 1 and 0 < t < 1):
            return 0.0
        return math.exp(
            _log_beta_mix(c, control.weights, control.a, control.b)
            + _log_beta_mix(t, treatment.weights, treatment.a, treatment.b)
            + 5 * math.log(c)
            + math.log1p(-c)
            + 9 * math.log(t)
            + 3 * math.log1p(-t)
        )

    expected = _dblquad_p_benefit(joint)
    assert exact.posterior(prior, REMISSION).prob_benefit() == pytest.approx(expected, abs=1e-6)


def test_normal_mixture_posterior_against_dblquad():
    effect = NormalPrior((0.6, 0.4), (math.log(3), 0.0), (0.668, 2.0))
    prior = Prior("m", "effect", BetaPrior.single(1, 1), scale="log_or", effect=effect)

    def joint(t, c):
        # density in (p_control, p_treatment): the log OR prior times its Jacobian 1 / (t (1 - t))
        if not (0 < c < 1 and 0 < t < 1):
            return 0.0
        theta = math.log(t / (1 - t)) - math.log(c / (1 - c))
        dens = sum(
            w * math.exp(-0.5 * ((theta - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
            for w, m, s in zip(effect.weights, effect.means, effect.sds)
        )
        return dens / (t * (1 - t)) * c**5 * (1 - c) * t**9 * (1 - t) ** 3

    expected = _dblquad_p_benefit(joint)
    assert exact.posterior(prior, REMISSION).prob_benefit() == pytest.approx(expected, abs=1e-5)


# ---------------------------------------------------------------------------------------------
# What the Deng priors imply
# ---------------------------------------------------------------------------------------------


def test_deng_prior_p_benefit_conventions(deng_trial):
    outcome = deng_trial.outcome("remission")
    p = {
        name: prior_checks.prior_summary(deng_trial.priors[name], outcome)["p_benefit"]
        for name in ("sceptical", "enthusiastic", "pessimistic", "flat")
    }
    assert p["sceptical"] == pytest.approx(0.5, abs=1e-6)
    assert p["flat"] == pytest.approx(0.5, abs=1e-6)
    assert p["enthusiastic"] >= 0.9
    assert p["enthusiastic"] == pytest.approx(0.95, abs=1e-5)
    assert p["pessimistic"] == pytest.approx(0.05, abs=1e-5)


def test_after_data_enthusiastic_beats_sceptical_beats_pessimistic(deng_trial):
    outcome = deng_trial.outcome("remission")
    post = {
        name: exact.posterior(deng_trial.priors[name], outcome).prob_benefit()
        for name in ("sceptical", "enthusiastic", "pessimistic")
    }
    assert post["enthusiastic"] > post["sceptical"] > post["pessimistic"]


def test_grid_is_monotone_in_enthusiasm(deng_trial):
    outcome = deng_trial.outcome("remission")
    order = [
        "pessimistic",
        "grid_pessimistic_moderate",
        "grid_pessimistic_weak",
        "grid_optimistic_weak",
        "grid_optimistic_moderate",
        "enthusiastic",
    ]
    prior_p = [prior_checks.prior_summary(deng_trial.priors[n], outcome)["p_benefit"] for n in order]
    assert prior_p == sorted(prior_p)


def test_remission_only_priors_do_not_apply_to_death(deng_trial):
    names = {p.name for p in deng_trial.priors_for(deng_trial.outcome("death"))}
    assert names == {"flat", "weakly_informative"}
    assert len(deng_trial.priors_for(deng_trial.outcome("remission"))) == len(deng_trial.priors)


def test_every_deng_prior_has_statement_justification_and_role(deng_trial):
    for prior in deng_trial.priors.values():
        assert prior.statement and prior.justification and prior.role, prior.name
        if prior.role != "reference":
            assert prior.citations, prior.name


# ---------------------------------------------------------------------------------------------
# Prior predictive and Box's conflict p
# ---------------------------------------------------------------------------------------------


PREDICTIVE_PRIORS = {
    "mix_log_or": Prior(
        "a",
        "effect",
        BetaPrior.single(2, 2),
        scale="log_or",
        effect=NormalPrior((0.7, 0.3), (0.5, 0.0), (0.5, 1.5)),
    ),
    "rd": Prior(
        "b", "effect", BetaPrior.single(3, 2), scale="rd", effect=NormalPrior.single(0.1, 0.2)
    ),
    "log_rr": Prior(
        "c",
        "effect",
        BetaPrior((0.5, 0.5), (6, 1), (4, 1)),
        scale="log_rr",
        effect=NormalPrior.single(0.0, 0.4),
    ),
}


@pytest.mark.parametrize("name", sorted(PREDICTIVE_PRIORS))
def test_prior_predictive_matches_exact_evidence(name):
    """Every outcome of a small trial: quadrature predictive vs the exact engine's evidence."""
    prior = PREDICTIVE_PRIORS[name]
    n_t, n_c = 4, 2
    pred = conflict.prior_predictive(prior, n_t, n_c)
    assert pred.sum() == pytest.approx(1.0, abs=1e-12)
    for y_t in range(n_t + 1):
        for y_c in range(n_c + 1):
            o = Outcome("o", "o", y_t, n_t, y_c, n_c)
            # the exact engine's evidence is accurate to about 2e-5 (relative) for log_rr
            assert pred[y_t, y_c] == pytest.approx(
                math.exp(exact.posterior(prior, o).log_evidence), rel=1e-4, abs=1e-9
            )


def test_prior_predictive_log_rr_against_dblquad():
    """The corner where the log-RR truncation matters most, against scipy's dblquad."""
    prior = PREDICTIVE_PRIORS["log_rr"]
    n_t, n_c, y_t, y_c = 4, 2, 4, 2

    def integrand(theta, c):
        t = c * math.exp(theta)
        if t >= 1:
            return 0.0
        p_c = 0.5 * stats.beta.pdf(c, 6, 4) + 0.5
        mass = stats.norm.cdf(-math.log(c), 0, 0.4)  # truncation to p_treatment < 1
        return (
            p_c
            * stats.norm.pdf(theta, 0, 0.4)
            / mass
            * stats.binom.pmf(y_c, n_c, c)
            * stats.binom.pmf(y_t, n_t, t)
        )

    expected = integrate.dblquad(
        integrand, 0, 1, -6, lambda c: -math.log(c), epsabs=1e-13, epsrel=1e-10
    )[0]
    pred = conflict.prior_predictive(prior, n_t, n_c)
    assert pred[y_t, y_c] == pytest.approx(expected, rel=1e-8)


def test_box_p_by_enumeration_for_arm_priors():
    """Beta-binomial pmfs by brute-force integration, then the definition of Box's p."""
    control, treatment = BetaPrior.single(8, 2), BetaPrior.single(2, 8)
    prior = Prior("x", "arm", control, treatment=treatment)

    def bb(beta, y, n):
        return integrate.quad(
            lambda x: stats.binom.pmf(y, n, x) * stats.beta.pdf(x, beta.a[0], beta.b[0]), 0, 1
        )[0]

    m = np.array(
        [[bb(treatment, yt, 12) * bb(control, yc, 6) for yc in range(7)] for yt in range(13)]
    )
    expected = m[m <= m[9, 5] * (1 + 1e-9)].sum()
    got = conflict.conflict(prior, REMISSION)
    assert got["p"] == pytest.approx(expected, abs=1e-9)
    assert got["p"] < 0.05  # a prior that expects the opposite arms flags the conflict


def test_flat_prior_never_conflicts(deng_trial):
    assert conflict.conflict(deng_trial.priors["flat"], REMISSION)["p"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# Sampled mixtures against exact (PyMC), and power-scaling sensitivity
# ---------------------------------------------------------------------------------------------


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
    from lnbayes.analyses import reanalysis
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


# ---------------------------------------------------------------------------------------------
# The priors command
# ---------------------------------------------------------------------------------------------


def test_priors_json_contract():
    out = run_cli("priors", "--json", "--prior", "sceptical", "--prior", "evidence_based")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [p["name"] for p in data["priors"]] == ["sceptical", "evidence_based"]
    for p in data["priors"]:
        for key in (
            "name",
            "statement",
            "parameters",
            "prior_p_benefit",
            "ess",
            "conflict_p",
            "citations",
        ):
            assert key in p
        assert 0 <= p["conflict_p"] <= 1
        assert (
            p["prior_estimates"]["odds_ratio"]["lower"]
            < p["prior_estimates"]["odds_ratio"]["upper"]
        )
    sceptical = data["priors"][0]
    assert sceptical["parameters"]["effect"]["sd"] == pytest.approx(
        math.log(3) / stats.norm.ppf(0.95)
    )
    # the prior's 97.5% OR quantile is exp(1.96 sd); the quadrature gives it to about 1e-4
    assert sceptical["prior_estimates"]["odds_ratio"]["upper"] == pytest.approx(
        math.exp(stats.norm.ppf(0.975) * math.log(3) / stats.norm.ppf(0.95)), rel=2e-4
    )


def test_priors_table_for_humans():
    out = run_cli("priors", "--outcome", "death")
    assert out.returncode == 0, out.stderr
    assert "weakly_informative" in out.stdout and "sceptical" not in out.stdout


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
        point = {"p_control": p_c[i]}
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
