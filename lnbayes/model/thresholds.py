"""Clinically meaningful thresholds and the ROPE on every effect scale (pure Python).

A threshold stated as a risk difference, a risk ratio or an odds ratio means different things at
different control rates: at a control rate of 0.83, an odds ratio of 1.5 is a risk difference of
0.05, not 0.10. :func:`consistency` restates each stated threshold (and the ROPE's bounds) on all
three scales at one control rate, and says where the stated ones disagree.
"""

from __future__ import annotations

from typing import Any

SCALES = ("rd", "rr", "or")
NULL = {"rd": 0.0, "rr": 1.0, "or": 1.0}
AGREEMENT = 0.2
"""Two effects are said to agree when the risk differences they imply at the control rate differ
by at most 20% of the larger one."""


def treatment_rate(scale: str, value: float, p_control: float) -> float:
    """The treatment-arm rate at which the effect on ``scale`` equals ``value``.

    May lie outside [0, 1]: the effect is then not attainable at this control rate.
    """
    if scale == "rd":
        return p_control + value
    if scale == "rr":
        return p_control * value
    if scale == "or":
        odds = value * p_control / (1.0 - p_control)
        return odds / (1.0 + odds)
    raise ValueError(f"unknown threshold scale {scale!r}")


def on_every_scale(scale: str, value: float, p_control: float) -> dict[str, float | None]:
    """``{"rd", "rr", "or", "p_treatment"}`` for the effect, ``None`` where it is undefined."""
    p_t = treatment_rate(scale, value, p_control)
    if not 0.0 <= p_t <= 1.0:
        return {"p_treatment": p_t, "rd": None, "rr": None, "or": None}
    out: dict[str, float | None] = {"p_treatment": p_t, "rd": p_t - p_control,
                                    "rr": p_t / p_control if p_control > 0 else None}
    if 0.0 < p_t < 1.0 and 0.0 < p_control < 1.0:
        out["or"] = (p_t / (1.0 - p_t)) / (p_control / (1.0 - p_control))
    else:
        out["or"] = None
    out[scale] = value  # the stated value itself, not its round trip
    return out


def control_rate(events: int, n: int) -> tuple[float, str]:
    """The observed control rate, or (events + 0.5) / (n + 1) when it is 0 or 1 (and why)."""
    if 0 < events < n:
        return events / n, f"the observed control rate {events}/{n}"
    return (events + 0.5) / (n + 1), (f"({events} + 0.5)/({n} + 1), because the observed control "
                                      f"rate {events}/{n} leaves ratios undefined")


def consistency(thresholds, rope, lower_is_better: bool, p_control: float) -> dict[str, Any]:
    """Each threshold and the ROPE's benefit-side bound on every scale, and the disagreements.

    ``thresholds``: ``(scale, value)`` pairs (clinically meaningful benefit); ``rope``:
    ``(scale, lower, upper)`` or ``None``. A warning is given when two thresholds imply risk
    differences that differ by more than :data:`AGREEMENT` of the larger, and when the ROPE's
    bound on the side of benefit does not meet a clinically meaningful threshold (effects between
    the two are then neither equivalent nor meaningful, or both).
    """
    rows = [dict(stated={"scale": s, "value": v}, **on_every_scale(s, v, p_control))
            for s, v in thresholds]
    warnings = []
    usable = [r for r in rows if r["rd"] is not None]
    for r in rows:
        if r["rd"] is None:
            warnings.append(f"{_name(r['stated'])} is not attainable at a control rate of "
                            f"{p_control:.3g} (it needs a treatment rate of "
                            f"{r['p_treatment']:.3g})")
    for i, a in enumerate(usable):
        for b in usable[i + 1:]:
            if not _agree(a["rd"], b["rd"]):
                warnings.append(
                    f"{_name(a['stated'])} and {_name(b['stated'])} disagree at a control rate of "
                    f"{p_control:.3g}: they are risk differences of {a['rd']:.3g} and "
                    f"{b['rd']:.3g}")
    rope_row = None
    if rope is not None:
        scale, lo, hi = rope
        bound = lo if lower_is_better else hi
        rope_row = dict(stated={"scale": scale, "value": bound},
                        **on_every_scale(scale, bound, p_control))
        for t in usable if rope_row["rd"] is not None else ():
            if _agree(rope_row["rd"], t["rd"]):
                continue
            gap = ("effects in between are neither practically equivalent nor clinically "
                   "meaningful" if abs(rope_row["rd"]) < abs(t["rd"]) else
                   "some effects count as both")
            warnings.append(
                f"the ROPE ends at {_name(rope_row['stated'])} (a risk difference of "
                f"{rope_row['rd']:.3g}) but clinically meaningful benefit starts at "
                f"{_name(t['stated'])} ({t['rd']:.3g}): {gap}")
    return {"p_control": p_control, "thresholds": rows, "rope_bound": rope_row,
            "warnings": warnings}


def _agree(a: float, b: float) -> bool:
    if (a > 0) != (b > 0):
        return False
    return abs(a - b) <= AGREEMENT * max(abs(a), abs(b))


def _name(stated: dict[str, Any]) -> str:
    return f"{stated['scale'].upper()} {stated['value']:g}"

