"""Dual-criterion (multi-criterion) decision rules: parsing and representation (pure Python).

A rule is a list of criteria; benefit is declared when every criterion holds (Roychoudhury et al.
2018). Each criterion is written ``[SCALE:VALUE:]PROB``:

- ``0.95``: P(benefit) >= 0.95 (benefit: p_treatment > p_control, or < when lower is better);
- ``or:1.5:0.5``: P(OR beyond 1.5) >= 0.5, "beyond" in the direction of benefit (OR > 1.5 when
  higher is better, OR < 1.5 when lower is better), as the trial file's thresholds are; scales
  ``rd``, ``rr`` and ``or``;
- ``median:rd:0.1``: the posterior median RD is at least 0.1 (at most, when lower is better).
  For a continuous posterior this is exactly P(RD beyond 0.1) >= 0.5, and it is computed so.

References
----------
Roychoudhury S, Scheuer N, Neuenschwander B. Beyond p-values: a phase II dual-criterion design
with statistical significance and clinical relevance. Clin Trials 2018;15:452-461.
doi:10.1177/1740774518770661
"""

from __future__ import annotations

from dataclasses import dataclass

from lnbayes.errors import LnbayesError

SCALES = ("rd", "rr", "or")
SCALE_NAMES = {"rd": "RD", "rr": "RR", "or": "OR"}


@dataclass(frozen=True)
class Criterion:
    """One condition of a decision rule: P(effect beyond ``value`` on ``scale``) >= ``prob``.

    ``scale is None``: P(benefit) >= ``prob``. ``median``: the posterior median is beyond
    ``value`` (``prob`` is then 0.5).
    """

    prob: float
    scale: str | None = None
    value: float | None = None
    median: bool = False

    @property
    def text(self) -> str:
        """The criterion as typed: ``0.95``, ``or:1.5:0.5``, ``median:rd:0.1``."""
        if self.scale is None:
            return f"{self.prob:g}"
        if self.median:
            return f"median:{self.scale}:{self.value:g}"
        return f"{self.scale}:{self.value:g}:{self.prob:g}"

    def label(self, lower_is_better: bool = False) -> str:
        """In words, direction-aware: ``P(OR > 1.5) >= 0.5``, ``median RD <= -0.1``."""
        if self.scale is None:
            return f"P(benefit) >= {self.prob:g}"
        op = "<" if lower_is_better else ">"
        name = SCALE_NAMES[self.scale]
        if self.median:
            return f"posterior median {name} {op}= {self.value:g}"
        return f"P({name} {op} {self.value:g}) >= {self.prob:g}"

    def as_dict(self) -> dict:
        return {"criterion": self.text, "scale": self.scale, "value": self.value,
                "prob": self.prob, "median": self.median}


def _number(text: str, what: str, where: str, original: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise LnbayesError(f"{where}: {what} must be a number, got {text!r} in {original!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise LnbayesError(f"{where}: {what} must be finite, got {text!r} in {original!r}")
    return number


def _check_value(scale: str, value: float, where: str, original: str) -> None:
    if scale in ("rr", "or") and value <= 0:
        raise LnbayesError(f"{where}: a ratio ({scale}) must be > 0, got {value:g} in {original!r}")
    if scale == "rd" and not -1 < value < 1:
        raise LnbayesError(f"{where}: a risk difference must lie strictly between -1 and 1, got "
                           f"{value:g} in {original!r}")


def parse_criterion(text: str, where: str = "criterion") -> Criterion:
    """Parse ``PROB``, ``SCALE:VALUE:PROB`` or ``median:SCALE:VALUE``.

    Raises :class:`lnbayes.errors.LnbayesError` with one line located at ``where``.
    """
    original = text
    parts = [p.strip().lower() for p in str(text).split(":")]
    if len(parts) == 1:
        prob = _number(parts[0], "the probability", where, original)
        _check_prob(prob, where, original)
        return Criterion(prob)
    if len(parts) != 3:
        raise LnbayesError(f"{where}: expected PROB, SCALE:VALUE:PROB or median:SCALE:VALUE such "
                           f"as 0.95, or:1.5:0.5 or median:rd:0.1, got {original!r}")
    if parts[0] == "median":
        scale, value_text = parts[1], parts[2]
        median = True
    else:
        scale, value_text = parts[0], parts[1]
        median = False
    if scale not in SCALES:
        raise LnbayesError(f"{where}: scale must be rd, rr or or, got {scale!r} in {original!r}")
    value = _number(value_text, "the threshold", where, original)
    _check_value(scale, value, where, original)
    if median:
        return Criterion(0.5, scale, value, median=True)
    prob = _number(parts[2], "the probability", where, original)
    _check_prob(prob, where, original)
    return Criterion(prob, scale, value)


def _check_prob(prob: float, where: str, original: str) -> None:
    if not 0 < prob < 1:
        raise LnbayesError(f"{where}: the probability must lie strictly between 0 and 1, got "
                           f"{prob:g} in {original!r}")


def parse_criteria(texts, where: str = "criterion") -> tuple[Criterion, ...]:
    """Every criterion of a rule, in order; duplicates are refused."""
    out = tuple(parse_criterion(t, where) for t in texts or ())
    seen = set()
    for c in out:
        if c in seen:
            raise LnbayesError(f"{where}: {c.text!r} is given twice")
        seen.add(c)
    return out


def rule_text(criteria, lower_is_better: bool = False) -> str:
    """``declare benefit if P(benefit) >= 0.95 and P(OR > 1.5) >= 0.5``."""
    return "declare benefit if " + " and ".join(c.label(lower_is_better) for c in criteria)
