"""Priors from clinical statements: the elicitation maths (NumPy and SciPy only).

The trial-file reader (:mod:`lnbayes.io.trialfile`) calls :func:`normal_from_statement` and
:func:`beta_from_spec` to turn what a trial file says into distribution parameters. Effective
sample sizes are in :mod:`lnbayes.priors.effective_size`, prior-data conflict in
:mod:`lnbayes.priors.conflict`, and what a prior implies before any data (the ``priors`` command)
in :mod:`lnbayes.analyses.prior_checks`.

Statement forms (all documented in ``docs/priors.md``)
------------------------------------------------------
Effect-level priors (a Normal on the effect ``theta`` on the prior's ``scale``)::

    effect = { statement = { centre = 0.0,
                             tail = { effect = 3.0, scale = "or", prob = 0.05, side = "above" } } }
    effect = { statement = { tails = [ { effect = 0.5, scale = "or", prob = 0.025 },
                                       { effect = 2.0, scale = "or", prob = 0.025 } ] } }
    effect = { statement = { interval = { lower = 0.5, upper = 2.0, scale = "or", prob = 0.95 } } }
    effect = { convention = "sceptical", hoped_for = { scale = "or", value = 3 }, prob = 0.05 }
    effect = { convention = "zampieri", direction = "optimistic", strength = "moderate",
               hoped_for = { scale = "or", value = 3 } }

Arm-level priors (a Beta on an event probability)::

    control = { mean = 0.56, ess = 10 }
    control = { quantiles = [ { p = 0.5, value = 0.56 }, { p = 0.975, value = 0.8 } ] }
    control = { data = [ { events = 104, n = 185 }, ... ], power = 0.05 }      # power prior
    control = { data = [ { events = 104, n = 185 }, ... ], ess_cap = 10 }      # capped ESS

References
----------
Spiegelhalter DJ, Freedman LS, Parmar MKB. Bayesian approaches to randomized trials. J R Stat Soc
A 1994;157:357-416. doi:10.2307/2983527
Zampieri FG et al. Using Bayesian methods to augment the interpretation of critical care trials.
Am J Respir Crit Care Med 2021;203:543-552. doi:10.1164/rccm.202006-2381CP
Ibrahim JG, Chen M-H. Power prior distributions for regression models. Stat Sci 2000;15:46-60.
doi:10.1214/ss/1009212673
Schmidli H et al. Robust meta-analytic-predictive priors in clinical trials with historical
control information. Biometrics 2014;70:1023-32. doi:10.1111/biom.12242
Neuenschwander B, Weber S, Schmidli H, O'Hagan A. Predictively consistent prior effective
sample sizes. Biometrics 2020;76:578-87. doi:10.1111/biom.13252
Morita S, Thall PF, Mueller P. Determining the effective sample size of a parametric prior.
Biometrics 2008;64:595-602. doi:10.1111/j.1541-0420.2007.00888.x
Box GEP. Sampling and Bayes' inference in scientific modelling and robustness. J R Stat Soc A
1980;143:383-430. doi:10.2307/2982063
"""

from __future__ import annotations

import math
from typing import Any

from scipy import special

from lnbayes.model import dists, effects
from lnbayes.numerics import roots

STATED_SCALES = ("or", "rr", "rd", "log_or", "log_rr")
"""Scales an effect can be stated on in a statement (ratios as ratios or as their logs)."""

_LOG_OF = {"or": "log_or", "rr": "log_rr", "log_or": "log_or", "log_rr": "log_rr", "rd": "rd"}

CONVENTIONS = ("sceptical", "enthusiastic", "pessimistic", "zampieri")
DEFAULT_CONVENTION_PROB = 0.05
"""Spiegelhalter, Freedman and Parmar (1994): 5% prior probability of the hoped-for effect or more
(sceptical), or of no benefit (enthusiastic; pessimistic mirrors it)."""

ZAMPIERI_DIRECTIONS = ("neutral", "optimistic", "pessimistic")
ZAMPIERI_STRENGTHS = {"weak": 0.30, "moderate": 0.15, "strong": 0.05}
"""lnbayes's operationalisation of the Zampieri et al. (2021) grid: the strength is the prior
probability that lies beyond a reference point. Neutral: centred on no effect, with this probability
of an effect at least as large as the hoped-for one. Optimistic: centred on the hoped-for effect,
with this probability of no benefit or harm. Pessimistic: centred on the mirror of the hoped-for
effect (equal size, harmful), with this probability of any benefit. Strong = the conventional
sceptical / enthusiastic / pessimistic priors."""


class StatementError(ValueError):
    """A statement that cannot be turned into a distribution; ``field`` says where."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# ---------------------------------------------------------------------------------------------
# Pure conversions
# ---------------------------------------------------------------------------------------------


def to_prior_scale(
    value: float, stated_scale: str, prior_scale: str, control_rate: float | None = None
) -> float:
    """An effect stated on ``stated_scale`` (or, rr, rd, log_or, log_rr) on ``prior_scale``.

    Ratios go to their logarithm on their own scale exactly (OR 3 -> log OR ln 3). Between
    families (e.g. a risk difference for a log-odds-ratio prior) the conversion holds at one
    control-arm rate, which must then be given: ``p_treatment`` is computed from ``control_rate``
    and the stated effect, and the effect re-expressed on ``prior_scale``.
    """
    if stated_scale not in STATED_SCALES:
        raise StatementError(
            "scale", f"must be one of {', '.join(STATED_SCALES)}; got {stated_scale!r}"
        )
    if stated_scale in ("or", "rr"):
        if value <= 0:
            raise StatementError("value", f"a ratio must be > 0, got {value:.4g}")
        theta_stated = math.log(value)
    else:
        theta_stated = float(value)
    family = _LOG_OF[stated_scale]
    if family == prior_scale:
        return theta_stated
    if control_rate is None:
        raise StatementError(
            "control_rate",
            f"an effect stated on {stated_scale} for a {prior_scale} prior needs control_rate "
            "(the control-arm rate at which the two scales are matched)",
        )
    if not 0 < control_rate < 1:
        raise StatementError("control_rate", f"must lie in (0, 1), got {control_rate:.4g}")
    p_t = float(effects.p_treatment(family, control_rate, theta_stated))
    if not 0 < p_t < 1:
        raise StatementError(
            "value",
            f"{stated_scale} {value:.4g} at control rate {control_rate:.4g} gives a "
            f"treatment rate of {p_t:.4g}, outside (0, 1)",
        )
    return float(effects.theta_of(prior_scale, control_rate, p_t))


def z_upper(prob: float) -> float:
    """The standard normal quantile with upper-tail probability ``prob`` (1.6449 for 0.05)."""
    return float(dists.norm_isf(prob))


def check_prob(prob: float, field: str = "prob") -> None:
    if not 0 < prob < 1:
        raise StatementError(
            field, f"a tail probability must lie strictly between 0 and 1, got {prob:.4g}"
        )


def sd_from_tail(centre: float, value: float, prob: float, side: str) -> float:
    """The sd of a Normal centred on ``centre`` with P(theta > value) = prob (side "above").

    With side "below": P(theta < value) = prob. So P(OR > 3) = 5% about 0 gives
    sd = ln 3 / z_0.95 = 1.0986 / 1.6449 = 0.668.
    """
    check_prob(prob)
    if side not in ("above", "below"):
        raise StatementError("side", f"must be 'above' or 'below', got {side!r}")
    z = z_upper(prob) if side == "above" else -z_upper(prob)
    if value == centre or abs(z) < 1e-12:
        raise StatementError(
            "tail", "the tail value equals the centre (or prob is 0.5): no spread follows from it"
        )
    sd = (value - centre) / z
    if sd <= 0:
        where = "above" if side == "above" else "below"
        raise StatementError(
            "tail",
            f"contradictory: P(effect {where} {value:.4g}) = {prob:.4g} cannot hold for a Normal "
            f"centred on {centre:.4g} (a probability below 0.5 needs the value on the far side "
            "of the centre)",
        )
    return float(sd)


def normal_from_two_tails(v1: float, p1: float, side1: str, v2: float, p2: float, side2: str):
    """Mean and sd of the Normal with the two stated tail probabilities (exact, linear)."""
    check_prob(p1)
    check_prob(p2)
    # P(theta <= v) = q  <=>  v = mean + sd * z_q
    q1 = p1 if side1 == "below" else 1 - p1
    q2 = p2 if side2 == "below" else 1 - p2
    z1, z2 = float(dists.norm_ppf(q1)), float(dists.norm_ppf(q2))
    if q1 == q2 or v1 == v2:
        raise StatementError(
            "tails", "the two tails must give two different quantiles at two values"
        )
    sd = (v2 - v1) / (z2 - z1)
    if sd <= 0:
        raise StatementError(
            "tails", "contradictory: the lower quantile is stated at the higher effect value"
        )
    return float(v1 - sd * z1), float(sd)


def convention_normal(convention: str, hoped_for: float, prob: float = DEFAULT_CONVENTION_PROB):
    """Mean and sd of a sceptical, enthusiastic or pessimistic prior (Spiegelhalter et al. 1994).

    ``hoped_for`` is the hoped-for effect on the prior's scale (its sign is the direction of
    benefit). Sceptical: centre 0, P(effect beyond the hoped-for one) = prob. Enthusiastic:
    centre = hoped_for, P(no benefit, i.e. beyond 0 the other way) = prob. Pessimistic: centre =
    -hoped_for, P(any benefit) = prob. All three have sd = |hoped_for| / z_(1 - prob).
    """
    check_prob(prob)
    if prob >= 0.5:
        raise StatementError(
            "prob", f"a convention's tail probability must be below 0.5, got {prob:.4g}"
        )
    if hoped_for == 0:
        raise StatementError("hoped_for", "the hoped-for effect must differ from no effect")
    sd = abs(hoped_for) / z_upper(prob)
    centre = {"sceptical": 0.0, "enthusiastic": hoped_for, "pessimistic": -hoped_for}.get(
        convention
    )
    if centre is None:
        raise StatementError(
            "convention", f"must be one of {', '.join(CONVENTIONS)}; got {convention!r}"
        )
    return float(centre), float(sd)


def zampieri_normal(direction: str, strength: str, hoped_for: float, probs: dict | None = None):
    """Mean and sd of a neutral / optimistic / pessimistic x weak / moderate / strong prior.

    The grid of Zampieri et al. (2021), with lnbayes's strengths (:data:`ZAMPIERI_STRENGTHS`):
    neutral = sceptical form, optimistic = enthusiastic form, pessimistic = pessimistic form, each
    with the strength's tail probability.
    """
    probs = ZAMPIERI_STRENGTHS if probs is None else probs
    if direction not in ZAMPIERI_DIRECTIONS:
        raise StatementError(
            "direction", f"must be one of {', '.join(ZAMPIERI_DIRECTIONS)}; got {direction!r}"
        )
    if strength not in probs:
        raise StatementError("strength", f"must be one of {', '.join(probs)}; got {strength!r}")
    form = {"neutral": "sceptical", "optimistic": "enthusiastic", "pessimistic": "pessimistic"}[
        direction
    ]
    return convention_normal(form, hoped_for, probs[strength])


def beta_from_quantiles(p1: float, v1: float, p2: float, v2: float) -> tuple[float, float]:
    """The Beta(a, b) whose p1- and p2-quantiles are v1 and v2, solved exactly by root-finding.

    For a concentration s = a + b the mean m(s) is the root of F(v1; m s, (1 - m) s) = p1 (the
    CDF at v1 falls from 1 to 0 as m rises); then s solves F(v2; ...) = p2. As s -> 0 the Beta
    tends to two point masses, so F(v2) -> p1; as s -> infinity it concentrates on v1, so
    F(v2) -> 1: a root exists whenever the quantiles are consistent (p1 < p2 with v1 < v2).
    """
    for p, name in ((p1, "p"), (p2, "p")):
        if not 0 < p < 1:
            raise StatementError("quantiles", f"each {name} must lie in (0, 1), got {p:.4g}")
    for v in (v1, v2):
        if not 0 < v < 1:
            raise StatementError("quantiles", f"each value must lie in (0, 1), got {v:.4g}")
    if (p1 - p2) * (v1 - v2) <= 0:
        raise StatementError(
            "quantiles",
            f"contradictory quantiles: the {p1:.4g}-quantile {v1:.4g} and the {p2:.4g}-quantile "
            f"{v2:.4g} are not in the same order",
        )
    if p1 > p2:
        p1, v1, p2, v2 = p2, v2, p1, v1

    def mean_at(s: float) -> float:
        # F(v1; m s, (1 - m) s) falls from about 1 to about 0 as the mean m rises
        f = lambda m: float(special.betainc(m * s, (1 - m) * s, v1)) - p1  # noqa: E731
        return roots.monotone_root(f, 1e-12, 1 - 1e-12, increasing=False, xtol=1e-14,
                                   what="the Beta mean matching the first quantile")

    def gap(log_s: float) -> float:
        s = math.exp(log_s)
        m = mean_at(s)
        return float(special.betainc(m * s, (1 - m) * s, v2)) - p2

    try:
        log_s = roots.monotone_root(gap, math.log(1e-3), math.log(1e7), increasing=True,
                                    xtol=1e-13, what="the Beta concentration")
    except roots.NoRootError:
        raise StatementError(
            "quantiles",
            "no Beta distribution has these two quantiles (they would need a concentration a + b "
            "outside 0.001 to 10^7)",
        ) from None
    s = math.exp(log_s)
    m = mean_at(s)
    return float(m * s), float((1 - m) * s)


def power_prior_beta(
    data: list[tuple[int, int]],
    power: float | None = None,
    ess_cap: float | None = None,
    base: tuple[float, float] = (1.0, 1.0),
) -> tuple[float, float, float]:
    """A Beta power prior from earlier studies' ``(events, n)``: returns ``(a, b, a0)``.

    a = a_base + a0 * sum(events), b = b_base + a0 * sum(n - events), with the discount a0 =
    ``power`` (0 < a0 <= 1), or with ``ess_cap`` the largest a0 <= 1 for which the prior's
    effective sample size a + b does not exceed the cap (Ibrahim and Chen 2000).
    """
    events = sum(e for e, _ in data)
    total = sum(n for _, n in data)
    if total <= 0:
        raise StatementError("data", "needs at least one patient")
    a0 = 1.0
    if power is not None:
        if not 0 < power <= 1:
            raise StatementError("power", f"must lie in (0, 1], got {power:.4g}")
        a0 = power
    if ess_cap is not None:
        room = ess_cap - base[0] - base[1]
        if room <= 0:
            raise StatementError(
                "ess_cap", f"must exceed the base prior's a + b = {base[0] + base[1]:.4g}"
            )
        a0 = min(a0, room / total)
    return base[0] + a0 * events, base[1] + a0 * (total - events), a0


# ---------------------------------------------------------------------------------------------
# Reading statements from a trial file (called by lnbayes.model.spec)
# ---------------------------------------------------------------------------------------------


def _stated_effect(
    raw: Any, where: str, problems, scale: str, control_rate: float | None, key_value: str = "value",
    other_keys: tuple[str, ...] = (),
) -> float | None:
    """A number on the prior's scale, or ``{ scale = "or", value = 3 }`` converted to it."""
    from lnbayes.model.fields import _get_number

    if isinstance(raw, dict):
        from lnbayes.model.fields import check_keys

        check_keys(raw, ("scale", key_value, "control_rate", *other_keys), where, problems)
        stated = raw.get("scale", scale)
        value = _get_number(raw, key_value, where, problems)
        rate = control_rate
        if "control_rate" in raw:
            rate = _get_number(raw, "control_rate", where, problems)
        if value is None:
            return None
        try:
            return to_prior_scale(value, str(stated).lower(), scale, rate)
        except StatementError as err:
            problems.add(f"{where}.{_field(err.field, key_value)}", err.message)
            return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        problems.add(
            where,
            f"must be a number on the {scale} scale or a table {{ scale, value }}, got {raw!r}",
        )
        return None
    return float(raw)


def _field(name: str, key_value: str) -> str:
    return key_value if name == "value" else name


def _tail(raw: Any, where: str, problems, scale: str, control_rate: float | None):
    """``{ effect, scale, prob, side }`` -> (value on the prior scale, prob, side or None)."""
    from lnbayes.model.fields import _get_number

    if not isinstance(raw, dict):
        problems.add(where, "must be a table { effect, scale, prob, side }")
        return None
    key = "effect" if "effect" in raw else "value"
    value = _stated_effect(raw, where, problems, scale, control_rate, key_value=key,
                           other_keys=("prob", "side"))
    prob = _get_number(raw, "prob", where, problems)
    side = raw.get("side")
    if side is not None and side not in ("above", "below"):
        problems.add(f"{where}.side", f"must be 'above' or 'below', got {side!r}")
        return None
    if prob is not None and not 0 < prob < 1:
        problems.add(
            f"{where}.prob", f"a tail probability must lie strictly between 0 and 1, got {prob:.4g}"
        )
        return None
    if value is None or prob is None:
        return None
    return value, prob, side


def normal_from_statement(d: dict[str, Any], where: str, problems: Any, scale: str | None):
    """A Normal effect prior from a statement or a convention (see the module docstring).

    ``d`` is the ``effect`` table of a prior; the statement is ``d["statement"]`` (or ``d``
    itself when it holds ``tail``, ``tails``, ``interval`` or ``convention``). Every problem is
    reported through ``problems.add(location, message)``; returns None when there is one.
    """
    if scale is None:
        return None  # the prior's scale is already reported as wrong
    found = _statement_table(d, where, problems)
    if found is None:
        return None
    st, sw = found
    ok, control_rate = _statement_control_rate(st, sw, problems)
    if not ok:
        return None
    if "convention" in st:
        return _from_convention(st, sw, problems, scale, control_rate)
    forms = [k for k in ("tail", "tails", "interval") if k in st]
    if len(forms) != 1:
        problems.add(
            sw,
            "a statement needs exactly one of: centre + tail, tails (two), interval, or a "
            f"convention; got {', '.join(forms) or 'none'}",
        )
        return None
    build = {"tail": _from_centre_and_tail, "tails": _from_two_tails, "interval": _from_interval}[forms[0]]
    try:
        return build(st, sw, problems, scale, control_rate)
    except StatementError as err:
        problems.add(f"{sw}.{err.field}", err.message)
        return None


def _statement_table(d: dict[str, Any], where: str, problems: Any):
    """``(statement, its location)`` with its keys checked for its form, or None if it is no table."""
    from lnbayes.model.fields import check_keys

    if "statement" in d:
        st, sw = d["statement"], f"{where}.statement"
        if not isinstance(st, dict):
            problems.add(
                sw,
                "must be a table such as "
                "{ centre = 0, tail = { effect = 3, scale = 'or', prob = 0.05 } }",
            )
            return None
    else:
        st, sw = d, where
    if "statement" in d:
        check_keys(d, ("statement",), where, problems)
    if "convention" in st:
        form_keys = ("convention", "hoped_for", "prob", "direction", "strength", "control_rate")
    elif "tails" in st:
        form_keys = ("tails", "control_rate")
    elif "interval" in st:
        form_keys = ("interval", "control_rate")
    else:
        form_keys = ("centre", "tail", "control_rate")
    check_keys(st, form_keys, sw, problems)
    return st, sw


def _statement_control_rate(st: dict[str, Any], sw: str, problems: Any) -> tuple[bool, float | None]:
    """``(usable, rate)``: the statement's control-arm rate for RD/RR effects, if it gives one."""
    from lnbayes.model.fields import _get_number

    control_rate = None
    if "control_rate" in st:
        control_rate = _get_number(st, "control_rate", sw, problems)
        if control_rate is not None and not 0 < control_rate < 1:
            problems.add(f"{sw}.control_rate", f"must lie in (0, 1), got {control_rate:.4g}")
            return False, None
    return True, control_rate


def _from_convention(st: dict[str, Any], sw: str, problems: Any, scale: str, control_rate):
    """The Normal of a named convention (Zampieri, sceptical, enthusiastic...) and a hoped-for effect."""
    from lnbayes.model.fields import _get_number
    from lnbayes.model.spec import NormalPrior

    n_before = len(problems.items)
    conv = st["convention"]
    if conv not in CONVENTIONS:
        problems.add(
            f"{sw}.convention", f"must be one of {', '.join(CONVENTIONS)}; got {conv!r}"
        )
        return None
    if "hoped_for" not in st:
        problems.add(
            f"{sw}.hoped_for",
            "missing (the hoped-for effect, e.g. { scale = 'or', value = 3 })",
        )
        return None
    hoped = _stated_effect(st["hoped_for"], f"{sw}.hoped_for", problems, scale, control_rate)
    try:
        if conv == "zampieri":
            direction = st.get("direction")
            strength = st.get("strength")
            probs = dict(ZAMPIERI_STRENGTHS)
            if "prob" in st:
                p = _get_number(st, "prob", sw, problems)
                if p is not None and strength in probs:
                    probs[strength] = p
            if hoped is None or len(problems.items) > n_before:
                return None
            mean, sd = zampieri_normal(direction, strength, hoped, probs)
        else:
            prob = _get_number(
                st, "prob", sw, problems, required=False, default=DEFAULT_CONVENTION_PROB
            )
            if hoped is None or prob is None or len(problems.items) > n_before:
                return None
            mean, sd = convention_normal(conv, hoped, prob)
    except StatementError as err:
        problems.add(f"{sw}.{err.field}", err.message)
        return None
    return NormalPrior.single(mean, sd)


def _from_centre_and_tail(st: dict[str, Any], sw: str, problems: Any, scale: str, control_rate):
    """``centre`` + ``tail``: the sd that puts the stated probability beyond the tail's effect."""
    from lnbayes.model.spec import NormalPrior

    if "centre" not in st:
        problems.add(
            f"{sw}.centre",
            "missing (the prior's centre: 0 for no effect, "
            "or { scale = 'or', value = ... })",
        )
        return None
    centre = _stated_effect(st["centre"], f"{sw}.centre", problems, scale, control_rate)
    tail = _tail(st["tail"], f"{sw}.tail", problems, scale, control_rate)
    if centre is None or tail is None:
        return None
    value, prob, side = tail
    if side is None:
        side = "above" if value > centre else "below"
    return NormalPrior.single(centre, sd_from_tail(centre, value, prob, side))


def _from_two_tails(st: dict[str, Any], sw: str, problems: Any, scale: str, control_rate):
    """``tails``: the Normal whose two stated tail probabilities fix both centre and sd."""
    from lnbayes.model.spec import NormalPrior

    raw = st["tails"]
    if not isinstance(raw, list) or len(raw) != 2:
        problems.add(f"{sw}.tails", "must be a list of exactly two tails")
        return None
    t = [
        _tail(r, f"{sw}.tails[{i}]", problems, scale, control_rate)
        for i, r in enumerate(raw)
    ]
    if any(x is None for x in t):
        return None
    (v1, p1, s1), (v2, p2, s2) = t
    s1 = s1 or ("below" if v1 < v2 else "above")
    s2 = s2 or ("above" if v1 < v2 else "below")
    mean, sd = normal_from_two_tails(v1, p1, s1, v2, p2, s2)
    if "centre" in st:
        problems.add(
            f"{sw}.centre", "not used with two tails (they fix the centre); remove it"
        )
        return None
    return NormalPrior.single(mean, sd)


def _from_interval(st: dict[str, Any], sw: str, problems: Any, scale: str, control_rate):
    """``interval``: the Normal whose central ``prob`` interval runs from lower to upper."""
    from lnbayes.model.fields import _get_number, check_keys
    from lnbayes.model.spec import NormalPrior

    raw = st["interval"]
    iw = f"{sw}.interval"
    if not isinstance(raw, dict):
        problems.add(iw, "must be a table { lower, upper, scale, prob }")
        return None
    check_keys(raw, ("lower", "upper", "scale", "prob", "control_rate"), iw, problems)
    prob = _get_number(raw, "prob", iw, problems, required=False, default=0.95)
    lo, hi = (
        _stated_effect({"value": raw[end], **{k: raw[k] for k in ("scale", "control_rate")
                                              if k in raw}},
                       f"{iw}.{end}", problems, scale, control_rate) if end in raw else None
        for end in ("lower", "upper")
    )
    for key in ("lower", "upper"):
        if key not in raw:
            problems.add(f"{iw}.{key}", "missing")
    if lo is None or hi is None or prob is None:
        return None
    check_prob(prob, "prob")
    if hi <= lo:
        problems.add(iw, "contradictory: upper must lie above lower")
        return None
    tail = (1 - prob) / 2
    sd = (hi - lo) / (2 * z_upper(tail))
    return NormalPrior.single((lo + hi) / 2, sd)


def beta_from_spec(d: dict[str, Any], where: str, problems: Any):
    """A Beta prior from ``{mean, ess}``, ``{quantiles}`` or earlier data ``{data, power|ess_cap}``.

    ``{mean, ess}``: a = mean * ess, b = (1 - mean) * ess. ``quantiles``: two ``{ p, value }``
    tables, solved exactly by :func:`beta_from_quantiles`. ``data``: a list of ``{ events, n }``
    from earlier studies, discounted by ``power`` (a0) and/or ``ess_cap``
    (:func:`power_prior_beta`),
    on top of ``base`` (default Beta(1, 1)).
    """
    forms = [k for k in ("quantiles", "data", "mean") if k in d]
    if len(forms) != 1:
        problems.add(where, f"give one of mean + ess, quantiles, or data; got {', '.join(forms)}")
        return None
    if "quantiles" in d:
        return _beta_from_quantiles_table(d, where, problems)
    if "data" in d:
        return _beta_from_earlier_data(d, where, problems)
    return _beta_from_mean_and_ess(d, where, problems)


def _beta_from_quantiles_table(d: dict[str, Any], where: str, problems: Any):
    """``quantiles``: the Beta through two ``{ p, value }`` points."""
    from lnbayes.model.fields import _get_number, check_keys
    from lnbayes.model.spec import BetaPrior

    raw = d["quantiles"]
    qw = f"{where}.quantiles"
    if not isinstance(raw, list) or len(raw) != 2 or not all(isinstance(q, dict) for q in raw):
        problems.add(
            qw,
            "must be a list of two tables { p, value }, "
            "e.g. [{ p = 0.5, value = 0.6 }, { p = 0.975, value = 0.8 }]",
        )
        return None
    for i, q in enumerate(raw):
        check_keys(q, ("p", "value"), f"{qw}[{i}]", problems)
    parsed = [
        (
            _get_number(q, "p", f"{qw}[{i}]", problems),
            _get_number(q, "value", f"{qw}[{i}]", problems),
        )
        for i, q in enumerate(raw)
    ]
    if any(x is None for pair in parsed for x in pair):
        return None
    (p1, v1), (p2, v2) = parsed
    try:
        a, b = beta_from_quantiles(p1, v1, p2, v2)
    except StatementError as err:
        problems.add(qw, err.message)
        return None
    return BetaPrior.single(a, b)


def _beta_from_earlier_data(d: dict[str, Any], where: str, problems: Any):
    """``data``: a power prior from earlier studies' counts, discounted by ``power`` and/or ``ess_cap``."""
    from lnbayes.model.fields import _get_count, _get_number, check_keys
    from lnbayes.model.spec import BetaPrior

    raw = d["data"]
    dw = f"{where}.data"
    if not isinstance(raw, list) or not raw or not all(isinstance(x, dict) for x in raw):
        problems.add(dw, "must be a non-empty list of tables { events, n, source }")
        return None
    data = []
    for i, x in enumerate(raw):
        check_keys(x, ("events", "n", "source"), f"{dw}[{i}]", problems)
        e = _get_count(x, "events", f"{dw}[{i}]", problems)
        n = _get_count(x, "n", f"{dw}[{i}]", problems, minimum=1)
        if e is not None and n is not None and e > n:
            problems.add(f"{dw}[{i}].events", f"{e} events exceed n = {n}")
            return None
        data.append((e, n))
    power = _get_number(d, "power", where, problems, required=False)
    cap = _get_number(d, "ess_cap", where, problems, required=False, positive=True)
    base = d.get("base", {"a": 1, "b": 1})
    if not isinstance(base, dict):
        problems.add(f"{where}.base", "must be a table { a, b }")
        return None
    check_keys(base, ("a", "b"), f"{where}.base", problems)
    a_base = _get_number(base, "a", f"{where}.base", problems, positive=True)
    b_base = _get_number(base, "b", f"{where}.base", problems, positive=True)
    if any(e is None or n is None for e, n in data) or a_base is None or b_base is None:
        return None
    if power is None and cap is None:
        problems.add(where, "earlier data need a discount: power (0 < a0 <= 1) and/or ess_cap")
        return None
    try:
        a, b, _ = power_prior_beta(data, power, cap, (a_base, b_base))
    except StatementError as err:
        problems.add(f"{where}.{err.field}", err.message)
        return None
    return BetaPrior.single(a, b)


def _beta_from_mean_and_ess(d: dict[str, Any], where: str, problems: Any):
    """``mean`` + ``ess``: Beta(mean * ess, (1 - mean) * ess)."""
    from lnbayes.model.fields import _get_number
    from lnbayes.model.spec import BetaPrior

    mean = _get_number(d, "mean", where, problems)
    ess = _get_number(d, "ess", where, problems, positive=True)
    if mean is None or ess is None:
        return None
    if not 0 < mean < 1:
        problems.add(f"{where}.mean", f"must lie in (0, 1), got {mean:.4g}")
        return None
    return BetaPrior.single(mean * ess, (1 - mean) * ess)
