"""Reading fields of plain dicts with located problems: the checks every file reader shares."""

from __future__ import annotations

import difflib
import math
from typing import Any

from lnbayes.errors import LnbayesError
from lnbayes.formatting import short
from lnbayes.model.spec import MAX_NAME, NAME_RE

# ---------------------------------------------------------------------------------------------
# Reading and validation
# ---------------------------------------------------------------------------------------------


class _Problems:
    """Collects problems with their location in a file."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, problem: str) -> None:
        self.items.append(f"{self.source}: {where}: {problem}")

    def raise_if_any(self) -> None:
        if self.items:
            raise LnbayesError(self.items)


def check_keys(d: dict, known, where: str, problems: _Problems) -> None:
    """Report every key of ``d`` that is not in ``known``, with the nearest known key.

    A typo must not be silently ignored (``beter = "lower"`` would analyse a harmful outcome
    as a beneficial one), so an unknown key is an error: ``outcomes.x.beter: unknown key (did you
    mean `better`?)``.
    """
    known = tuple(known)
    for key in d:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}"
        problems.add(f"{where}.{key}" if where else str(key), f"unknown key ({hint})")


def check_name(name: Any, where: str, problems: _Problems, what: str) -> bool:
    """A name used in file names: letters, digits, '_' and '-', starting with a letter, <= 64."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        problems.add(where, f"{what} use letters, digits, '_' and '-' and start with a letter, "
                            f"got {name!r}")
        return False
    if len(name) > MAX_NAME:
        problems.add(where, f"{what} are at most {MAX_NAME} characters, got {len(name)}")
        return False
    return True


def _get_bool(d: dict, key: str, where: str, problems: _Problems, default: bool | None = False):
    value = d.get(key, default)
    if value is not None and not isinstance(value, bool):
        problems.add(f"{where}.{key}", f"must be true or false, got {value!r}")
        return default
    return value


def _get_str(d: dict, key: str, where: str, problems: _Problems, default: str = "") -> str:
    value = d.get(key, default)
    if not isinstance(value, str):
        problems.add(f"{where}.{key}", f"must be text, got {value!r}")
        return default
    return value


def _get_number(
    d: dict, key: str, where: str, problems: _Problems, *, positive: bool = False,
    required: bool = True, default: float | None = None,
) -> float | None:
    if key not in d:
        if required:
            problems.add(f"{where}.{key}", "missing")
        return default
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.add(f"{where}.{key}", f"must be a number, got {value!r}")
        return default
    value = float(value)
    if not math.isfinite(value):
        problems.add(f"{where}.{key}", f"must be finite, got {value!r}")
        return default
    if positive and value <= 0:
        problems.add(f"{where}.{key}", f"must be > 0, got {short(value)}")
        return default
    return value


def _get_count(d: dict, key: str, where: str, problems: _Problems, *, minimum: int = 0) -> int | None:
    if key not in d:
        problems.add(f"{where}.{key}", "missing")
        return None
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.add(f"{where}.{key}", f"must be a whole number, got {value!r}")
        return None
    if isinstance(value, float) and not value.is_integer():
        problems.add(f"{where}.{key}", f"must be a whole number, got {value!r}")
        return None
    value = int(value)
    if value < minimum:
        problems.add(f"{where}.{key}", f"must be >= {minimum}, got {value}")
        return None
    return value


def _parse_weights(
    components: list, where: str, problems: _Problems
) -> list[tuple[float, dict]] | None:
    if not isinstance(components, list) or not components:
        problems.add(where, "a mixture needs a non-empty list of components")
        return None
    out = []
    for i, comp in enumerate(components):
        cw = f"{where}[{i}]"
        if not isinstance(comp, dict):
            problems.add(cw, "each mixture component must be a table")
            return None
        w = _get_number(comp, "weight", cw, problems, positive=True)
        out.append((w, comp))
    weights = [w for w, _ in out if w is not None]
    if len(weights) == len(out) and abs(sum(weights) - 1.0) > 1e-6:
        problems.add(f"{where}", f"mixture weights must sum to 1, they sum to {short(sum(weights))}")
    return out
