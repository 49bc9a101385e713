"""Trial files: TOML (or a dict) -> :class:`lnbayes.model.spec.Trial`, every problem collected with its location."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

from lnbayes.errors import LnbayesError
from lnbayes.formatting import short
from lnbayes.model.fields import (
    _get_bool,
    _get_count,
    _get_number,
    _get_str,
    _parse_weights,
    _Problems,
    check_keys,
    check_name,
)
from lnbayes.model.spec import (
    DEFAULT_SEED,
    SCALE_ALIASES,
    SEED_MAX,
    THRESHOLD_SCALES,
    BetaPrior,
    Design,
    LogitNormalPrior,
    NormalPrior,
    Outcome,
    Prior,
    Threshold,
    Trial,
)

TOP_KEYS = ("schema_version", "trial", "rationale", "arms", "outcomes", "priors", "design")
TRIAL_KEYS = ("id", "title", "reference", "registration", "condition", "population", "blinding",
              "comparator", "planned_enrolment", "allocation", "stopped_early", "seed", "notes")
RATIONALE_KEYS = ("earlier_evidence", "hoped_for", "stopping", "stopping_rule")
"""Text the methods appendix quotes: the earlier evidence behind the priors, how the hoped-for
effect was derived, why the trial stopped (a phrase that reads after "It was stopped"), and ``stopping_rule``: one or
more sentences saying whether the stop followed a pre-planned rule (the appendix must not guess)."""
ARM_KEYS = ("name", "description", "n")
OUTCOME_KEYS = ("label", "primary", "better", "treatment_events", "control_events", "treatment_n",
                "control_n", "source", "thresholds", "rope", "safety", "harm_margin")
PRIOR_KEYS = ("label", "role", "family", "scale", "control", "treatment", "effect", "outcomes",
              "grid", "statement", "justification", "citations")
DESIGN_KEYS = ("outcome", "control_rate", "hoped_for_rate", "hoped_for_or", "threshold",
               "target_power")
DEFAULT_PRIORS = {"flat": {
    "label": "Flat", "role": "reference", "family": "arm",
    "control": {"a": 1, "b": 1}, "treatment": {"a": 1, "b": 1},
    "statement": "Every event probability between 0 and 1 equally likely in each arm, "
                 "independently.",
    "justification": "Reference analysis in which the trial's data alone determine the posterior "
                     "(the trial file states no prior, so lnbayes uses this one).",
}}
"""The prior of a trial file without a [priors] table."""
BETA_FORMS = {
    "a": ("a", "b"),
    "mean": ("mean", "ess"),
    "quantiles": ("quantiles",),
    "data": ("data", "power", "ess_cap", "base"),
    "mixture": ("mixture",),
    "map": ("map",),
    "logit_normal": ("logit_normal",),
}
"""The keys of each way to state an arm's prior (docs/priors.md); ``logit_normal`` is a Normal
prior on the logit instead of a Beta (effect-level priors' control arm only)."""
MAP_KEYS = ("data", "tau", "mu", "robust")
MAP_STUDY_KEYS = ("events", "n", "source")
MAP_TAU_KEYS = {"half_normal": (), "half_t": ("df",), "log_normal": ("sd",)}
"""tau's prior families and the keys each needs besides its scale (docs/priors.md)."""


def parse_beta(d: Any, where: str, problems: _Problems) -> BetaPrior | None:
    """A Beta prior: ``{a, b}``, ``{mean, ess}``, ``{quantiles}``, ``{data, power | ess_cap}``, or
    ``{mixture = [{weight, ...}, ...]}`` (forms other than a, b and mixture: lnbayes.priors.elicit)."""
    from lnbayes.priors import elicit

    if not isinstance(d, dict):
        problems.add(where, f"must be a table such as {{ a = 1, b = 1 }}, got {d!r}")
        return None
    forms = [form for form in BETA_FORMS if form in d]
    if not forms:
        everything = sorted({k for keys in BETA_FORMS.values() for k in keys})
        check_keys(d, everything, where, problems)
        problems.add(where, "a Beta prior needs a and b (or mean + ess, quantiles, data, "
                            "mixture or map; or logit_normal = { mean, sd }; docs/priors.md)")
        return None
    if len(forms) > 1:
        problems.add(where, f"give one way to state the Beta prior, got {', '.join(forms)}")
        return None
    check_keys(d, BETA_FORMS[forms[0]], where, problems)
    if "logit_normal" in d:
        return parse_logit_normal(d["logit_normal"], f"{where}.logit_normal", problems)
    if "map" in d:
        return parse_map(d["map"], f"{where}.map", problems)
    if "mixture" in d:
        comps = _parse_weights(d["mixture"], f"{where}.mixture", problems)
        if comps is None:
            return None
        parsed = [parse_beta({k: v for k, v in c.items() if k != "weight"},
                             f"{where}.mixture[{i}]", problems) for i, (_, c) in enumerate(comps)]
        if any(p is None for p in parsed) or any(w is None for w, _ in comps):
            return None
        nested = [i for i, p in enumerate(parsed) if p.is_mixture]
        if nested:
            problems.add(f"{where}.mixture[{nested[0]}]", "a mixture component cannot itself be a mixture")
            return None
        logit = [i for i, p in enumerate(parsed) if isinstance(p, LogitNormalPrior)]
        if logit:
            problems.add(f"{where}.mixture[{logit[0]}]", "a Beta mixture cannot hold a logit_normal "
                                                      "component; use logit_normal = { mixture = [...] }")
            return None
        return BetaPrior(
            tuple(w for w, _ in comps),
            tuple(p.a[0] for p in parsed),
            tuple(p.b[0] for p in parsed),
        )
    if "quantiles" in d or "mean" in d or "data" in d:
        return elicit.beta_from_spec(d, where, problems)
    a = _get_number(d, "a", where, problems, positive=True)
    b = _get_number(d, "b", where, problems, positive=True)
    if a is None or b is None:
        return None
    return BetaPrior.single(a, b)


def parse_logit_normal(d: Any, where: str, problems: _Problems) -> LogitNormalPrior | None:
    """A Normal prior on an arm's logit: ``{mean, sd}`` or ``{mixture = [{weight, mean, sd}, ...]}``
    (the intercept prior of brms and rstanarm; docs/priors.md)."""
    if not isinstance(d, dict):
        problems.add(where, f"must be a table such as {{ mean = 0, sd = 2.5 }}, got {d!r}")
        return None
    if "mixture" in d:
        check_keys(d, ("mixture",), where, problems)
        comps = _parse_weights(d["mixture"], f"{where}.mixture", problems)
        if comps is None:
            return None
        parsed = []
        for i, (_, c) in enumerate(comps):
            at = f"{where}.mixture[{i}]"
            check_keys(c, ("weight", "mean", "sd"), at, problems)
            mean = _get_number(c, "mean", at, problems)
            sd = _get_number(c, "sd", at, problems, positive=True)
            parsed.append(None if mean is None or sd is None else (mean, sd))
        if any(p is None for p in parsed) or any(w is None for w, _ in comps):
            return None
        return LogitNormalPrior(tuple(w for w, _ in comps), tuple(m for m, _ in parsed),
                                tuple(s for _, s in parsed))
    check_keys(d, ("mean", "sd"), where, problems)
    mean = _get_number(d, "mean", where, problems)
    sd = _get_number(d, "sd", where, problems, positive=True)
    if mean is None or sd is None:
        return None
    return LogitNormalPrior.single(mean, sd)


def parse_map(d: Any, where: str, problems: _Problems) -> BetaPrior | None:
    """A meta-analytic-predictive prior: ``{data = [{events, n, source}, ...], tau = {half_normal
    = 0.5}, mu = {mean, sd}, robust = {weight, a, b}}`` (robust optional), turned into the Beta
    mixture that approximates it (:func:`lnbayes.priors.map.map_beta_prior`)."""
    from lnbayes.priors import map as mp

    if not isinstance(d, dict):
        problems.add(where, "must be a table such as { data = [...], tau = { half_normal = 0.5 }, "
                            "mu = { mean = 0, sd = 2 } }")
        return None
    check_keys(d, MAP_KEYS, where, problems)
    before = len(problems.items)
    studies = []
    data = d.get("data")
    if not isinstance(data, list) or not data:
        problems.add(f"{where}.data", "must be a non-empty list of { events, n, source } tables")
    else:
        for i, row in enumerate(data):
            rw = f"{where}.data[{i}]"
            if not isinstance(row, dict):
                problems.add(rw, f"must be a table such as {{ events = 104, n = 185, source = "
                                 f"\"...\" }}, got {row!r}")
                continue
            check_keys(row, MAP_STUDY_KEYS, rw, problems)
            n = _get_count(row, "n", rw, problems, minimum=1)
            events = _get_count(row, "events", rw, problems)
            source = _get_str(row, "source", rw, problems)
            if n is not None and events is not None and events > n:
                problems.add(f"{rw}.events", f"must be <= n ({n}), got {events}")
            elif n is not None and events is not None:
                studies.append(mp.Study(events, n, source))
    tau = _parse_tau(d.get("tau"), f"{where}.tau", problems)
    mu = d.get("mu")
    mu_mean = mu_sd = None
    if not isinstance(mu, dict):
        problems.add(f"{where}.mu", "must be a table such as { mean = 0, sd = 2 } (the prior of "
                                    "the mean logit)")
    else:
        check_keys(mu, ("mean", "sd"), f"{where}.mu", problems)
        mu_mean = _get_number(mu, "mean", f"{where}.mu", problems)
        mu_sd = _get_number(mu, "sd", f"{where}.mu", problems, positive=True)
    robust = None
    if "robust" in d:
        rw = f"{where}.robust"
        r = d["robust"]
        if not isinstance(r, dict):
            problems.add(rw, "must be a table such as { weight = 0.2, a = 1, b = 1 }")
        else:
            check_keys(r, ("weight", "a", "b"), rw, problems)
            weight = _get_number(r, "weight", rw, problems)
            a = _get_number(r, "a", rw, problems, positive=True, required=False, default=1.0)
            b = _get_number(r, "b", rw, problems, positive=True, required=False, default=1.0)
            if weight is not None and not 0 < weight < 1:
                problems.add(f"{rw}.weight", f"must lie strictly between 0 and 1 (leave robust "
                                             f"out for none), got {short(weight)}")
            elif weight is not None and a is not None and b is not None:
                robust = mp.Robust(weight, a, b)
    if len(problems.items) > before or tau is None or mu_mean is None or mu_sd is None:
        return None
    from lnbayes.io.map_cache import fitted_mixture

    spec = mp.MapSpec(tuple(studies), tau, mu_mean, mu_sd)
    return mp.map_beta_prior(spec, robust, fit=fitted_mixture(spec, mp.CDF_TOLERANCE))


EFFECT_MAP_STUDY_KEYS = ("treatment_events", "treatment_n", "control_events", "control_n",
                         "source")


def parse_effect_map(d: Any, where: str, problems: _Problems) -> NormalPrior | None:
    """A MAP prior of the log odds ratio from earlier two-arm trials: ``{data = [{
    treatment_events, treatment_n, control_events, control_n, source}, ...], tau = {...}, mu =
    {mean, sd}}`` (:func:`lnbayes.priors.map_effect.map_normal_prior`)."""
    from lnbayes.priors import map_effect as me

    if not isinstance(d, dict):
        problems.add(where, "must be a table such as { data = [...], tau = { half_normal = 0.5 }, "
                            "mu = { mean = 0, sd = 2 } }")
        return None
    check_keys(d, ("data", "tau", "mu", "robust"), where, problems)
    before = len(problems.items)
    studies = []
    data = d.get("data")
    if not isinstance(data, list) or not data:
        problems.add(f"{where}.data", "must be a non-empty list of { treatment_events, "
                                      "treatment_n, control_events, control_n, source } tables")
    else:
        for i, row in enumerate(data):
            rw = f"{where}.data[{i}]"
            if not isinstance(row, dict):
                problems.add(rw, f"must be a table, got {row!r}")
                continue
            check_keys(row, EFFECT_MAP_STUDY_KEYS, rw, problems)
            counts = {}
            for arm in ("treatment", "control"):
                n = _get_count(row, f"{arm}_n", rw, problems, minimum=1)
                events = _get_count(row, f"{arm}_events", rw, problems)
                if n is not None and events is not None and events > n:
                    problems.add(f"{rw}.{arm}_events", f"must be <= {arm}_n ({n}), got {events}")
                    n = None
                counts[arm] = (events, n)
            source = _get_str(row, "source", rw, problems)
            if None not in counts["treatment"] + counts["control"]:
                studies.append(me.TwoArmStudy(*counts["treatment"], *counts["control"], source))
    tau = _parse_tau(d.get("tau"), f"{where}.tau", problems)
    mu = d.get("mu")
    mu_mean = mu_sd = None
    if not isinstance(mu, dict):
        problems.add(f"{where}.mu", "must be a table such as { mean = 0, sd = 2 } (the prior of "
                                    "the mean log odds ratio)")
    else:
        check_keys(mu, ("mean", "sd"), f"{where}.mu", problems)
        mu_mean = _get_number(mu, "mean", f"{where}.mu", problems)
        mu_sd = _get_number(mu, "sd", f"{where}.mu", problems, positive=True)
    robust = None
    if "robust" in d:
        rw = f"{where}.robust"
        r = d["robust"]
        if not isinstance(r, dict):
            problems.add(rw, "must be a table such as { weight = 0.2, mean = 0, sd = 2 } (a vague "
                             "Normal on the log odds ratio)")
        else:
            check_keys(r, ("weight", "mean", "sd"), rw, problems)
            weight = _get_number(r, "weight", rw, problems)
            r_mean = _get_number(r, "mean", rw, problems, required=False, default=0.0)
            r_sd = _get_number(r, "sd", rw, problems, positive=True, required=False, default=2.0)
            if weight is not None and not 0 < weight < 1:
                problems.add(f"{rw}.weight", f"must lie strictly between 0 and 1 (leave robust "
                                             f"out for none), got {short(weight)}")
            elif weight is not None and r_mean is not None and r_sd is not None:
                robust = me.EffectRobust(weight, r_mean, r_sd)
    if len(problems.items) > before or tau is None or mu_mean is None or mu_sd is None:
        return None
    from lnbayes.io.map_cache import fitted_normal_mixture
    from lnbayes.priors import map as mp

    spec = me.EffectMapSpec(tuple(studies), tau, mu_mean, mu_sd)
    return me.map_normal_prior(spec, robust, fit=fitted_normal_mixture(spec, mp.CDF_TOLERANCE))


def _parse_tau(d: Any, where: str, problems: _Problems):
    from lnbayes.priors import map as mp

    example = "{ half_normal = 0.5 }, { half_t = 0.5, df = 3 } or { log_normal = 0.3, sd = 1 }"
    if not isinstance(d, dict):
        problems.add(where, f"must be a table such as {example} (the prior of tau)")
        return None
    families = [f for f in MAP_TAU_KEYS if f in d]
    if len(families) != 1:
        problems.add(where, f"give exactly one of {', '.join(MAP_TAU_KEYS)} (its scale), such as "
                            f"{example}")
        return None
    family = families[0]
    check_keys(d, (family, *MAP_TAU_KEYS[family]), where, problems)
    scale = _get_number(d, family, where, problems, positive=True)
    df = _get_number(d, "df", where, problems, positive=True) if family == "half_t" else None
    sd = _get_number(d, "sd", where, problems, positive=True) if family == "log_normal" else None
    if scale is None or (family == "half_t" and df is None) or (family == "log_normal" and sd is None):
        return None
    return mp.TauPrior(family, scale, df=df, sd=sd)


def parse_normal(d: Any, where: str, problems: _Problems, scale: str | None) -> NormalPrior | None:
    """A Normal effect prior: ``{mean, sd}``, a statement, or ``{mixture = [...]}``."""
    from lnbayes.priors import elicit

    if not isinstance(d, dict):
        problems.add(where, f"must be a table such as {{ mean = 0, sd = 1 }}, got {d!r}")
        return None
    if "map" in d:
        check_keys(d, ("map",), where, problems)
        if scale not in (None, "log_or"):
            problems.add(f"{where}.map", f"a MAP effect prior is on the log odds ratio: the "
                                         f"prior's scale must be log_or, got {scale}")
            return None
        return parse_effect_map(d["map"], f"{where}.map", problems)
    if "mixture" in d:
        check_keys(d, ("mixture",), where, problems)
        comps = _parse_weights(d["mixture"], f"{where}.mixture", problems)
        if comps is None:
            return None
        parsed = [parse_normal({k: v for k, v in c.items() if k != "weight"},
                               f"{where}.mixture[{i}]", problems, scale)
                  for i, (_, c) in enumerate(comps)]
        if any(p is None for p in parsed) or any(w is None for w, _ in comps):
            return None
        nested = [i for i, p in enumerate(parsed) if p.is_mixture]
        if nested:
            problems.add(f"{where}.mixture[{nested[0]}]", "a mixture component cannot itself be a mixture")
            return None
        return NormalPrior(
            tuple(w for w, _ in comps),
            tuple(p.means[0] for p in parsed),
            tuple(p.sds[0] for p in parsed),
        )
    if any(k in d for k in ("statement", "tail", "tails", "interval", "convention")):
        return elicit.normal_from_statement(d, where, problems, scale)
    check_keys(d, ("mean", "sd"), where, problems)
    mean = _get_number(d, "mean", where, problems)
    sd = _get_number(d, "sd", where, problems, positive=True)
    if mean is None or sd is None:
        return None
    return NormalPrior.single(mean, sd)


def _parse_prior(name: str, d: Any, problems: _Problems, outcome_names: list[str]) -> Prior | None:
    where = f"priors.{name}"
    check_name(name, where, problems, "prior names")
    if not isinstance(d, dict):
        problems.add(where, "must be a table")
        return None
    check_keys(d, PRIOR_KEYS, where, problems)
    family = d.get("family", "arm" if "treatment" in d else "effect")
    if family not in ("arm", "effect"):
        problems.add(f"{where}.family", f"must be 'arm' or 'effect', got {family!r}")
        return None
    control = parse_beta(d.get("control", {"a": 1, "b": 1}), f"{where}.control", problems)
    treatment = effect = scale = None
    if family == "arm":
        if "treatment" not in d:
            problems.add(f"{where}.treatment", "missing (an arm-level prior needs both arms)")
        else:
            treatment = parse_beta(d["treatment"], f"{where}.treatment", problems)
    else:
        raw_scale = d.get("scale", "log_or")
        scale = SCALE_ALIASES.get(str(raw_scale).lower())
        if scale is None:
            problems.add(f"{where}.scale", f"must be one of log_or, log_rr, rd; got {raw_scale!r}")
        if "effect" not in d:
            problems.add(f"{where}.effect", "missing (an effect-level prior needs an effect prior)")
        else:
            effect = parse_normal(d["effect"], f"{where}.effect", problems, scale)
    outcomes = d.get("outcomes")
    if outcomes is not None:
        if not isinstance(outcomes, list) or not all(isinstance(o, str) for o in outcomes):
            problems.add(f"{where}.outcomes", "must be a list of outcome names")
            outcomes = None
        else:
            for o in outcomes:
                if o not in outcome_names:
                    problems.add(f"{where}.outcomes", f"unknown outcome {o!r}")
            outcomes = tuple(outcomes)
    citations = d.get("citations", [])
    if not isinstance(citations, list) or not all(isinstance(c, str) for c in citations):
        problems.add(f"{where}.citations", "must be a list of text")
        citations = []
    if control is None or (family == "arm" and treatment is None) or (
        family == "effect" and (effect is None or scale is None)
    ):
        return None
    grid = d.get("grid")
    if grid is not None and not isinstance(grid, str):
        problems.add(f"{where}.grid", f"must be text such as 'neutral/weak', got {grid!r}")
        grid = None
    if family == "arm":
        for arm, arm_prior in (("control", control), ("treatment", treatment)):
            if isinstance(arm_prior, LogitNormalPrior):
                problems.add(f"{where}.{arm}.logit_normal", "a Normal prior on the logit is for "
                             "effect-level priors' control arm (the intercept); arm-level priors "
                             "take Beta priors (the exact engine uses their closed-form CDF)")
                return None
    if family == "arm" and ("scale" in d or "effect" in d):
        problems.add(where, "an arm-level prior has control and treatment; scale and effect "
                            "belong to effect-level priors (family = 'effect')")
    if family == "effect" and "treatment" in d:
        problems.add(f"{where}.treatment", "an effect-level prior has control and effect; "
                                           "treatment belongs to arm-level priors")
    return Prior(
        name=name,
        family=family,
        control=control,
        treatment=treatment,
        scale=scale,
        effect=effect,
        label=_get_str(d, "label", where, problems, name),
        role=_get_str(d, "role", where, problems),
        statement=_get_str(d, "statement", where, problems)
        if isinstance(d.get("statement", ""), str) else "",
        justification=_get_str(d, "justification", where, problems),
        citations=tuple(citations),
        outcomes=outcomes,
        grid=grid,
    )


def _parse_thresholds(raw: Any, where: str, problems: _Problems) -> tuple[Threshold, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add(where, "must be a list such as [{ scale = 'rd', value = 0.1 }]")
        return ()
    out = []
    for i, t in enumerate(raw):
        tw = f"{where}[{i}]"
        if not isinstance(t, dict):
            problems.add(tw, "must be a table { scale, value }")
            continue
        check_keys(t, ("scale", "value"), tw, problems)
        scale = t.get("scale")
        if scale not in THRESHOLD_SCALES:
            problems.add(f"{tw}.scale", f"must be one of rd, rr, or; got {scale!r}")
            continue
        value = _get_number(t, "value", tw, problems, positive=scale in ("rr", "or"))
        if value is None:
            continue
        if scale == "rd" and not -1 < value < 1:
            problems.add(f"{tw}.value", f"a risk difference must lie in (-1, 1), got {short(value)}")
            continue
        out.append(Threshold(scale, value))
    return tuple(out)


def _parse_harm_margin(raw: Any, better: Any, where: str, problems: _Problems) -> Threshold | None:
    """``harm_margin = { scale, value }``, stated in the direction of harm for this outcome."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add(where, "must be a table such as { scale = 'rd', value = 0.05 }")
        return None
    check_keys(raw, ("scale", "value"), where, problems)
    scale = raw.get("scale")
    if scale not in THRESHOLD_SCALES:
        problems.add(f"{where}.scale", f"must be one of rd, rr, or; got {scale!r}")
        return None
    value = _get_number(raw, "value", where, problems, positive=scale in ("rr", "or"))
    if value is None:
        return None
    if scale == "rd" and not -1 < value < 1:
        problems.add(f"{where}.value", f"a risk difference must lie in (-1, 1), got {short(value)}")
        return None
    null = 0.0 if scale == "rd" else 1.0
    wrong_side = value < null if better == "lower" else value > null
    if wrong_side:
        side = "at or above" if better == "lower" else "at or below"
        problems.add(f"{where}.value", f"is a margin of harm, so for an outcome where {better} is "
                     f"better it must lie {side} no effect ({short(null)}); got {short(value)}")
        return None
    return Threshold(scale, value)


def _parse_rope(raw: Any, where: str, problems: _Problems) -> tuple[str, float, float] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add(where, "must be a table { scale, lower, upper }")
        return None
    check_keys(raw, ("scale", "lower", "upper"), where, problems)
    scale = raw.get("scale", "rd")
    if scale not in THRESHOLD_SCALES:
        problems.add(f"{where}.scale", f"must be one of rd, rr, or; got {scale!r}")
        return None
    lower = _get_number(raw, "lower", where, problems)
    upper = _get_number(raw, "upper", where, problems)
    if lower is None or upper is None:
        return None
    if lower >= upper:
        problems.add(where, f"lower ({short(lower)}) must be below upper ({short(upper)})")
        return None
    return (scale, lower, upper)


def _parse_outcome(
    name: str, d: Any, n_t: int | None, n_c: int | None, problems: _Problems
) -> Outcome | None:
    where = f"outcomes.{name}"
    check_name(name, where, problems, "outcome names")
    if not isinstance(d, dict):
        problems.add(where, "must be a table")
        return None
    check_keys(d, OUTCOME_KEYS, where, problems)
    tn = _get_count(d, "treatment_n", where, problems, minimum=1) if "treatment_n" in d else n_t
    cn = _get_count(d, "control_n", where, problems, minimum=1) if "control_n" in d else n_c
    te = _get_count(d, "treatment_events", where, problems)
    ce = _get_count(d, "control_events", where, problems)
    if te is not None and tn is not None and te > tn:
        problems.add(f"{where}.treatment_events", f"{te} events exceed the {tn} patients of the arm")
        te = None
    if ce is not None and cn is not None and ce > cn:
        problems.add(f"{where}.control_events", f"{ce} events exceed the {cn} patients of the arm")
        ce = None
    better = d.get("better", "higher")
    if better not in ("higher", "lower"):
        problems.add(f"{where}.better", f"must be 'higher' or 'lower', got {better!r}")
    primary = _get_bool(d, "primary", where, problems)
    thresholds = _parse_thresholds(d.get("thresholds"), f"{where}.thresholds", problems)
    rope = _parse_rope(d.get("rope"), f"{where}.rope", problems)
    safety = _get_bool(d, "safety", where, problems)
    margin = _parse_harm_margin(d.get("harm_margin"), better, f"{where}.harm_margin", problems)
    if None in (te, tn, ce, cn) or better not in ("higher", "lower"):
        return None
    return Outcome(
        name=name,
        label=_get_str(d, "label", where, problems, name),
        treatment_events=te,
        treatment_n=tn,
        control_events=ce,
        control_n=cn,
        better=better,
        primary=primary,
        source=_get_str(d, "source", where, problems),
        thresholds=thresholds,
        rope=rope,
        safety=safety,
        harm_margin=margin,
    )


def _parse_design(raw: Any, problems: _Problems, outcomes: dict[str, Outcome]) -> Design | None:
    """The optional ``[design]`` table: control rate, hoped-for effect, decision threshold."""
    if raw is None:
        return None
    where = "design"
    if not isinstance(raw, dict):
        problems.add(where, "must be a table")
        return None
    check_keys(raw, DESIGN_KEYS, where, problems)
    ok = True

    def rate(key: str, required: bool = True) -> float | None:
        nonlocal ok
        value = _get_number(raw, key, where, problems, required=required)
        if value is not None and not 0 < value < 1:
            problems.add(f"{where}.{key}", f"must lie in (0, 1), got {short(value)}")
            ok = False
            return None
        return value

    control = rate("control_rate")
    has_rate, has_or = "hoped_for_rate" in raw, "hoped_for_or" in raw
    if has_rate == has_or:
        problems.add(where, "give the hoped-for effect as exactly one of hoped_for_rate, "
                            "hoped_for_or")
        ok = False
    hoped_rate = rate("hoped_for_rate", required=False)
    hoped_or = _get_number(raw, "hoped_for_or", where, problems, positive=True, required=False)
    threshold = rate("threshold", required=False)
    power = rate("target_power", required=False)
    outcome = raw.get("outcome")
    if outcome is not None and outcome not in outcomes:
        problems.add(f"{where}.outcome", f"unknown outcome {outcome!r}")
        ok = False
    if not ok or control is None or (hoped_rate is None and hoped_or is None):
        return None
    if hoped_rate is None:
        hoped_rate = hoped_or * control / (1 - control + hoped_or * control)
    else:
        hoped_or = hoped_rate * (1 - control) / (control * (1 - hoped_rate))
    return Design(
        control_rate=control, hoped_for_rate=hoped_rate, hoped_for_or=hoped_or,
        threshold=0.95 if threshold is None else threshold,
        target_power=0.8 if power is None else power, outcome=outcome,
    )


def trial_from_dict(data: dict, source: str) -> Trial:
    """Build and validate a :class:`Trial` from parsed TOML; raise with every problem found."""
    problems = _Problems(source)
    check_keys(data, TOP_KEYS, "", problems)
    if data.get("schema_version", 1) != 1:
        problems.add("schema_version", f"this lnbayes reads schema_version 1, got "
                                       f"{data.get('schema_version')!r}")
    meta = data.get("trial", {})
    if not isinstance(meta, dict):
        problems.add("trial", "must be a table")
        meta = {}
    trial_id, planned, allocation, seed, stopped_early = _parse_trial_table(meta, source, problems)
    rationale = _parse_rationale(data.get("rationale", {}), problems)
    (n_t, t_name, t_desc), (n_c, c_name, c_desc) = _parse_arms(data.get("arms"), problems)
    if allocation is None and n_t and n_c:
        g = math.gcd(n_t, n_c)
        allocation = (n_t // g, n_c // g)
    raw_outcomes = data.get("outcomes")
    outcomes = _parse_outcomes(raw_outcomes, n_t, n_c, problems)
    priors = _parse_priors(data.get("priors", DEFAULT_PRIORS), problems,
                           list(raw_outcomes) if isinstance(raw_outcomes, dict) else [])
    design = _parse_design(data.get("design"), problems, outcomes)
    problems.raise_if_any()
    return Trial(
        id=trial_id,
        title=_get_str(meta, "title", "trial", problems, trial_id),
        treatment_name=t_name,
        control_name=c_name,
        treatment_description=t_desc,
        control_description=c_desc,
        outcomes=outcomes,
        priors=priors,
        reference=_get_str(meta, "reference", "trial", problems),
        registration=_get_str(meta, "registration", "trial", problems),
        planned_enrolment=planned,
        allocation=allocation,
        notes=_get_str(meta, "notes", "trial", problems),
        condition=_get_str(meta, "condition", "trial", problems),
        population=_get_str(meta, "population", "trial", problems),
        blinding=_get_str(meta, "blinding", "trial", problems),
        comparator=_get_str(meta, "comparator", "trial", problems),
        stopped_early=stopped_early,
        rationale=rationale,
        source_path=source,
        seed=seed,
        design=design,
    )


def _parse_trial_table(meta: dict, source: str, problems: _Problems):
    """``(id, planned enrolment, allocation, seed, stopped early)`` from the ``[trial]`` table."""
    check_keys(meta, TRIAL_KEYS, "trial", problems)
    trial_id = _get_str(meta, "id", "trial", problems, Path(source).stem)
    check_name(trial_id, "trial.id", problems, "trial ids")
    planned = None
    if "planned_enrolment" in meta:
        planned = _get_count(meta, "planned_enrolment", "trial", problems, minimum=2)
    allocation = None
    if "allocation" in meta:
        raw = meta["allocation"]
        if (isinstance(raw, list) and len(raw) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in raw)):
            allocation = (raw[0], raw[1])
        else:
            problems.add("trial.allocation", f"must be [treatment, control] positive whole numbers, got {raw!r}")
    seed = DEFAULT_SEED
    if "seed" in meta:
        seed = _get_count(meta, "seed", "trial", problems)
        if seed is not None and seed > SEED_MAX:
            problems.add("trial.seed", f"must be at most {SEED_MAX}, got {seed}")
            seed = None
        seed = DEFAULT_SEED if seed is None else seed
    stopped_early = _get_bool(meta, "stopped_early", "trial", problems, default=None)
    return trial_id, planned, allocation, seed, stopped_early


def _parse_rationale(raw_rationale, problems: _Problems) -> dict[str, str]:
    """The ``[rationale]`` texts that are not blank."""
    rationale: dict[str, str] = {}
    if not isinstance(raw_rationale, dict):
        problems.add("rationale", "must be a table of text")
    else:
        check_keys(raw_rationale, RATIONALE_KEYS, "rationale", problems)
        for key in RATIONALE_KEYS:
            if key in raw_rationale:
                text = _get_str(raw_rationale, key, "rationale", problems).strip()
                if text:
                    rationale[key] = text
    return rationale


def _parse_arms(arms, problems: _Problems):
    """``((n, name, description) of the treatment arm, the same of the control arm)``."""
    found = {"treatment": (None, "treatment", ""), "control": (None, "control", "")}
    if not isinstance(arms, dict):
        problems.add("arms", "missing: the file needs [arms.treatment] and [arms.control]")
        return found["treatment"], found["control"]
    check_keys(arms, ("treatment", "control"), "arms", problems)
    for key in ("treatment", "control"):
        arm = arms.get(key)
        if not isinstance(arm, dict):
            problems.add(f"arms.{key}", "missing")
            continue
        check_keys(arm, ARM_KEYS, f"arms.{key}", problems)
        n = _get_count(arm, "n", f"arms.{key}", problems, minimum=1)
        name = _get_str(arm, "name", f"arms.{key}", problems, key)
        desc = _get_str(arm, "description", f"arms.{key}", problems)
        found[key] = (n, name, desc)
    return found["treatment"], found["control"]


def _parse_outcomes(raw_outcomes, n_t, n_c, problems: _Problems) -> dict[str, Outcome]:
    """Every ``[outcomes.NAME]`` table; at most one primary."""
    outcomes: dict[str, Outcome] = {}
    if not isinstance(raw_outcomes, dict) or not raw_outcomes:
        problems.add("outcomes", "missing: the file needs at least one [outcomes.NAME] table")
        raw_outcomes = {}
    for name, d in raw_outcomes.items():
        outcome = _parse_outcome(name, d, n_t, n_c, problems)
        if outcome is not None:
            outcomes[name] = outcome
    primaries = [o for o in outcomes.values() if o.primary]
    if len(primaries) > 1:
        problems.add("outcomes", f"only one outcome can be primary, got {', '.join(o.name for o in primaries)}")
    return outcomes


def _parse_priors(raw_priors, problems: _Problems, outcome_names: list) -> dict[str, Prior]:
    """Every ``[priors.NAME]`` table (the default priors when the file has none)."""
    priors: dict[str, Prior] = {}
    if not isinstance(raw_priors, dict) or not raw_priors:
        problems.add("priors", "must hold at least one [priors.NAME] table")
        raw_priors = {}
    for name, d in raw_priors.items():
        prior = _parse_prior(name, d, problems, outcome_names)
        if prior is not None:
            priors[name] = prior
    return priors


def default_trial_path() -> Path:
    """The embedded trial file, models/deng2017.toml (shipped in the package as lnbayes/data)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "models" / "deng2017.toml",
                      package / "data" / "deng2017.toml"):
        if candidate.exists():
            return candidate
    raise LnbayesError("models/deng2017.toml: file: the embedded trial file is missing")


def load_trial(path: str | Path | None = None) -> Trial:
    """Read and validate a trial file (the embedded trial by default)."""
    path = default_trial_path() if path is None else Path(path)
    source = _display_path(path)
    if not path.exists():
        raise LnbayesError(f"{source}: file: no such file")
    if path.is_dir():
        raise LnbayesError(f"{source}: file: is a directory, not a trial file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise LnbayesError(f"{source}: file: not UTF-8 text ({err.reason})") from None
    except OSError as err:
        raise LnbayesError(f"{source}: file: cannot be read ({err.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise LnbayesError(f"{source}: TOML: {' '.join(str(err).split())}") from None
    except RecursionError:
        raise LnbayesError(f"{source}: TOML: nested too deeply to be a trial file") from None
    return trial_from_dict(data, source)


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def inline_trial(treatment: tuple[int, int], control: tuple[int, int],
                 lower_is_better: bool = False) -> Trial:
    """A trial typed on the command line: ``--treatment 9/12 --control 5/6``.

    It gets two reference priors: ``flat`` (Beta(1, 1) on both arms) and ``weakly_informative``
    (Beta(1, 1) on the control arm and Normal(0, 1.5^2) on the log odds ratio, which puts 95% of
    its mass on odds ratios between 0.05 and 19).
    """
    (te, tn), (ce, cn) = treatment, control
    outcome = Outcome(
        name="outcome", label="Outcome", treatment_events=te, treatment_n=tn,
        control_events=ce, control_n=cn, better="lower" if lower_is_better else "higher",
        primary=True, source="command line",
    )
    return Trial(
        id="inline",
        title="Trial typed on the command line",
        treatment_name="treatment",
        control_name="control",
        outcomes={"outcome": outcome},
        priors=reference_priors(),
        source_path=None,
    )


def reference_priors() -> dict[str, Prior]:
    """The two priors every trial can use: flat and weakly informative."""
    flat = Prior(
        name="flat", family="arm", control=BetaPrior.single(1, 1),
        treatment=BetaPrior.single(1, 1), label="Flat", role="reference",
        statement="Every event probability equally likely in each arm.",
        justification="Uniform Beta(1, 1) on both arms; the data alone speak.",
    )
    weak = Prior(
        name="weakly_informative", family="effect", control=BetaPrior.single(1, 1),
        scale="log_or", effect=NormalPrior.single(0.0, 1.5), label="Weakly informative",
        role="reference",
        statement="No effect expected; odds ratios between 0.05 and 19 cover 95% of belief.",
        justification="A wide Normal on the log odds ratio that rules out only implausibly large effects.",
    )
    return {"flat": flat, "weakly_informative": weak}
