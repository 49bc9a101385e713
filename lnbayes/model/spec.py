"""Trial and prior specifications: plain frozen dataclasses.

Nothing here knows about PyMC or files. A prior is data (a Beta mixture for an arm, a Normal
mixture for an effect); the engines turn it into maths or into a PyMC model. Trial files are read
and validated in :mod:`lnbayes.io.trialfile`, which reports every problem with its location
(``models/x.toml: priors.sceptical.effect.sd: must be > 0``), not only the first one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lnbayes.errors import LnbayesError
from lnbayes.formatting import short
from lnbayes.model.effects import SCALE_WORDS

THRESHOLD_SCALES = ("rd", "rr", "or")
"""Scales a threshold can be stated on: risk difference, risk ratio, odds ratio."""

SCALE_ALIASES = {
    "log_or": "log_or", "log-or": "log_or", "logor": "log_or",
    "log_rr": "log_rr", "log-rr": "log_rr", "logrr": "log_rr",
    "rd": "rd", "risk_difference": "rd", "risk-difference": "rd",
}
SCALE_LABELS = SCALE_WORDS
"""The effect scales in words (:data:`lnbayes.model.effects.SCALE_WORDS`)."""

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
"""Names of trials, outcomes and priors (matched in full: no newline, no '/', no '..')."""
MAX_NAME = 64
"""Longest trial id, outcome or prior name: they become file names (outcome__prior.nc)."""
SEED_MAX = 2**32 - 1
DEFAULT_SEED = 20170506


@dataclass(frozen=True)
class BetaPrior:
    """A mixture of Beta distributions on an event probability (one component: a plain Beta)."""

    weights: tuple[float, ...]
    a: tuple[float, ...]
    b: tuple[float, ...]

    @classmethod
    def single(cls, a: float, b: float) -> BetaPrior:
        return cls((1.0,), (float(a),), (float(b),))

    @property
    def is_mixture(self) -> bool:
        return len(self.weights) > 1

    def describe(self) -> str:
        if not self.is_mixture:
            return f"Beta({short(self.a[0])}, {short(self.b[0])})"
        return " + ".join(
            f"{short(w)} Beta({short(a)}, {short(b)})" for w, a, b in zip(self.weights, self.a, self.b)
        )

    def as_dict(self) -> dict[str, Any]:
        if not self.is_mixture:
            return {"dist": "beta", "a": self.a[0], "b": self.b[0]}
        return {
            "dist": "beta_mixture",
            "components": [
                {"weight": w, "a": a, "b": b} for w, a, b in zip(self.weights, self.a, self.b)
            ],
        }


@dataclass(frozen=True)
class _NormalComponents:
    """Weights, means and sds of a Normal mixture (one component: a plain Normal); the
    subclasses say what the Normal is on (:attr:`LABEL`, :attr:`DIST`)."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    sds: tuple[float, ...]

    LABEL: ClassVar[str] = "Normal"
    DIST: ClassVar[str] = "normal"

    @classmethod
    def single(cls, mean: float, sd: float):
        return cls((1.0,), (float(mean),), (float(sd),))

    @property
    def is_mixture(self) -> bool:
        return len(self.weights) > 1

    def describe(self) -> str:
        if not self.is_mixture:
            return f"{self.LABEL}({short(self.means[0])}, {short(self.sds[0])}²)"
        return " + ".join(
            f"{short(w)} {self.LABEL}({short(m)}, {short(s)}²)"
            for w, m, s in zip(self.weights, self.means, self.sds)
        )

    def as_dict(self) -> dict[str, Any]:
        if not self.is_mixture:
            return {"dist": self.DIST, "mean": self.means[0], "sd": self.sds[0]}
        return {
            "dist": f"{self.DIST}_mixture",
            "components": [
                {"weight": w, "mean": m, "sd": s}
                for w, m, s in zip(self.weights, self.means, self.sds)
            ],
        }


@dataclass(frozen=True)
class NormalPrior(_NormalComponents):
    """A mixture of Normal distributions on a treatment effect (one component: a plain Normal)."""


@dataclass(frozen=True)
class LogitNormalPrior(_NormalComponents):
    """A Normal (mixture) prior on an arm's logit, logit(p) ~ Normal(mean, sd^2): the intercept
    prior of brms and rstanarm re-analyses (one component: a plain Normal). Its description
    reads after "p_control ~ ": the distribution is on logit(p)."""

    LABEL: ClassVar[str] = "logit-Normal"
    DIST: ClassVar[str] = "logit_normal"


def is_logit_normal(arm_prior) -> bool:
    """Whether an arm's prior is a Normal on its logit (not a Beta mixture)."""
    return isinstance(arm_prior, LogitNormalPrior)


@dataclass(frozen=True)
class Prior:
    """A named prior of a trial file.

    ``family == "arm"``: independent Beta (mixture) priors on p_control and p_treatment.
    ``family == "effect"``: a Beta (mixture) prior on p_control, or a Normal (mixture) on its
    logit (:class:`LogitNormalPrior`), and a Normal (mixture) prior on the effect on ``scale``; for ``log_rr`` and ``rd`` the effect prior is truncated, given
    p_control, to the values that keep p_treatment inside (0, 1).
    """

    name: str
    family: str
    control: BetaPrior | LogitNormalPrior
    treatment: BetaPrior | None = None
    scale: str | None = None
    effect: NormalPrior | None = None
    label: str = ""
    role: str = ""
    statement: str = ""
    justification: str = ""
    citations: tuple[str, ...] = ()
    outcomes: tuple[str, ...] | None = None
    grid: str | None = None
    """Member of a grid of priors, e.g. "neutral/weak" (Zampieri et al. 2021)."""

    def applies_to(self, outcome: str) -> bool:
        return self.outcomes is None or outcome in self.outcomes

    def describe(self) -> str:
        if self.family == "arm":
            return f"p_control ~ {self.control.describe()}; p_treatment ~ {self.treatment.describe()}"
        return (
            f"p_control ~ {self.control.describe()}; "
            f"{SCALE_LABELS[self.scale]} ~ {self.effect.describe()}"
        )

    def parameters(self) -> dict[str, Any]:
        out: dict[str, Any] = {"family": self.family, "control": self.control.as_dict()}
        if self.family == "arm":
            out["treatment"] = self.treatment.as_dict()
        else:
            out["scale"] = self.scale
            out["effect"] = self.effect.as_dict()
        return out


@dataclass(frozen=True)
class Threshold:
    """An effect value beyond which benefit counts as clinically meaningful.

    ``scale`` is ``rd``, ``rr`` or ``or``. "Beyond" is in the direction of benefit: above the
    value when higher is better, below it when lower is better.
    """

    scale: str
    value: float


@dataclass(frozen=True)
class Outcome:
    """A binary outcome observed in both arms."""

    name: str
    label: str
    treatment_events: int
    treatment_n: int
    control_events: int
    control_n: int
    better: str = "higher"
    primary: bool = False
    source: str = ""
    thresholds: tuple[Threshold, ...] = ()
    rope: tuple[str, float, float] | None = None
    safety: bool = False
    """A safety outcome (e.g. death, serious adverse events): its 'harm' enters the benefit-harm
    summary of ``analyze --outcome all``."""
    harm_margin: Threshold | None = None
    """For a safety outcome: the effect beyond which harm counts as clinically relevant, in the
    direction of harm (an RD of 0.05 means 5 more patients in 100 with the event on treatment
    when fewer are better). ``None``: the trial file states none (see :func:`harm_margin`)."""

    @property
    def lower_is_better(self) -> bool:
        return self.better == "lower"


def harm_margin(outcome: Outcome) -> tuple[Threshold | None, str]:
    """The harm margin of ``outcome`` and where it comes from.

    The stated ``harm_margin`` if any ("stated"); otherwise the outcome's first clinically
    meaningful threshold mirrored to the side of harm (RD v -> -v, RR or OR v -> 1/v;
    "mirrored from thresholds[0]"); otherwise ``None`` ("none stated": only P(any harm)).
    """
    if outcome.harm_margin is not None:
        return outcome.harm_margin, "stated"
    if outcome.thresholds:
        t = outcome.thresholds[0]
        value = -t.value if t.scale == "rd" else 1.0 / t.value
        return Threshold(t.scale, value), "mirrored from thresholds[0]"
    return None, "none stated"


@dataclass(frozen=True)
class Design:
    """Design assumptions of a trial file's ``[design]`` table (for ``lnbayes design``).

    ``control_rate``: the expected event rate in the control arm; the hoped-for effect as a
    treatment-arm rate (``hoped_for_rate``) or an odds ratio (``hoped_for_or``); ``threshold``:
    declare benefit if P(benefit) >= threshold; ``target_power`` for the sample size search.
    """

    control_rate: float
    hoped_for_rate: float
    hoped_for_or: float
    threshold: float = 0.95
    target_power: float = 0.8
    outcome: str | None = None


@dataclass(frozen=True)
class Trial:
    """A two-arm randomised trial with one or more binary outcomes and a set of named priors."""

    id: str
    title: str
    treatment_name: str
    control_name: str
    outcomes: dict[str, Outcome]
    priors: dict[str, Prior]
    reference: str = ""
    registration: str = ""
    planned_enrolment: int | None = None
    allocation: tuple[int, int] | None = None
    treatment_description: str = ""
    control_description: str = ""
    notes: str = ""
    condition: str = ""
    """The condition treated, a phrase that reads after "for" ("severe sepsis")."""
    population: str = ""
    """Who was eligible, in one sentence."""
    blinding: str = ""
    """"double-blind", "open-label", ..."""
    comparator: str = ""
    """"placebo", "usual care", "an active control"."""
    stopped_early: bool | None = None
    """True if the trial stopped before its planned enrolment; None when the file does not say."""
    rationale: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    """Text for the appendix: ``earlier_evidence``, ``hoped_for``, ``stopping``, ``stopping_rule`` (RATIONALE_KEYS)."""
    source_path: str | None = None
    seed: int = 20170506
    design: Design | None = None

    @property
    def primary_outcome(self) -> Outcome:
        for outcome in self.outcomes.values():
            if outcome.primary:
                return outcome
        return next(iter(self.outcomes.values()))

    def outcome(self, name: str | None) -> Outcome:
        if name is None:
            return self.primary_outcome
        if name not in self.outcomes:
            raise LnbayesError(
                f"{self.source_path or '<inline>'}: outcomes.{name}: unknown outcome "
                f"(known: {', '.join(self.outcomes)})"
            )
        return self.outcomes[name]

    def priors_for(self, outcome: Outcome, names: list[str] | None = None) -> list[Prior]:
        """The named priors (all that apply to ``outcome`` when ``names`` is empty)."""
        if names:
            unknown = [n for n in names if n not in self.priors]
            if unknown:
                raise LnbayesError(
                    f"{self.source_path or '<inline>'}: priors.{unknown[0]}: unknown prior "
                    f"(known: {', '.join(self.priors)})"
                )
            return [self.priors[n] for n in names]
        return [p for p in self.priors.values() if p.applies_to(outcome.name)]


def planned_arms(planned: int, allocation: tuple[int, int]) -> tuple[int, int]:
    """Planned arm sizes from a total and an allocation ratio (treatment, control).

    25 at 2:1 gives 17 and 8 (the treatment arm gets the rounded share).
    """
    a_t, a_c = allocation
    n_t = int(round(planned * a_t / (a_t + a_c)))
    return n_t, planned - n_t
