"""Compare this checkout's exact numbers with the committed reports/deng2017/results.json.

Recomputes, with the exact engine only (no sampling), every exact number the report holds:
per outcome and prior, ``p_benefit_exact``, each threshold's ``p_exact``, the exact medians and
intervals of every estimate, the evidence block (prior and posterior P(benefit), Bayes factors,
Savage-Dickey densities, ROPE), and the ``predict`` and ``design`` summaries and the ``priors``
report. Prints every number that differs by more than the tolerance (default 1e-9, absolute or
relative, whichever is larger) and exits 1 if any does.

Usage: ``python benchmarks/compare_exact_results.py [--tol 1e-9] [--all]``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from lnbayes.analyses import planning, prior_checks, reanalysis
from lnbayes.io import trialfile

ROOT = Path(__file__).resolve().parents[1]


def _flatten(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flatten(v, f"{prefix}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _flatten(v, f"{prefix}/{i}")
    elif isinstance(obj, bool) or obj is None or isinstance(obj, str):
        yield prefix, obj
    elif isinstance(obj, (int, float)):
        yield prefix, float(obj)


def _compare(name, new, old, tol, rows):
    old_flat = dict(_flatten(old))
    for key, value in _flatten(new):
        if key not in old_flat or key.endswith("/seconds"):  # run times, not results
            continue
        ref = old_flat[key]
        if isinstance(value, float) and isinstance(ref, float):
            if math.isnan(value) and math.isnan(ref):
                continue
            diff = abs(value - ref)
            if not diff <= tol * max(1.0, abs(ref)):
                rows.append((f"{name}{key}", ref, value, diff))
        elif value != ref:
            rows.append((f"{name}{key}", ref, value, None))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tol", type=float, default=1e-9)
    parser.add_argument("--all", action="store_true", help="also list the numbers that agree")
    args = parser.parse_args()
    committed = json.loads((ROOT / "reports" / "deng2017" / "results.json").read_text())
    trial = trialfile.load_trial(str(ROOT / "models" / "deng2017.toml"))
    rows: list[tuple] = []
    checked = 0
    for block in committed["outcomes"]:
        outcome = trial.outcome(block["outcome"])
        for result in block["results"]:
            prior = trial.priors[result["prior"]]
            new = reanalysis.exact_result(prior, outcome, outcome.thresholds)
            old = {
                "p_benefit_exact": result["p_benefit_exact"],
                "thresholds": [{"p": t["p_exact"]} for t in result["thresholds"]],
                "estimates": {m: {"exact": v["exact"]} for m, v in result["estimates"].items()},
                "evidence": {k: v for k, v in result["evidence"].items() if k != "rope"},
                "rope_exact": (result["evidence"].get("rope") or {}).get("p_inside_exact"),
                "log_evidence": result.get("log_evidence"),
            }
            mine = {
                "p_benefit_exact": new["p_benefit"],
                "thresholds": [{"p": t["p"]} for t in new["thresholds"]],
                "estimates": {m: {"exact": v["exact"]} for m, v in new["estimates"].items()},
                "evidence": {k: v for k, v in new["evidence"].items() if k != "rope"},
                "rope_exact": (new["evidence"].get("rope") or {}).get("p_inside"),
                "log_evidence": new["log_evidence"],
            }
            checked += sum(1 for _ in _flatten(old))
            _compare(f"{outcome.name}/{prior.name}", mine, old, args.tol, rows)
    predict = planning.predict(trial)
    for r in predict["results"]:
        r.pop("completions")
        r.pop("seconds")
    predict.pop("provenance")
    old_predict = dict(committed["predict"])
    old_predict.pop("provenance", None)
    for r in old_predict["results"]:
        r.pop("seconds", None)
    _compare("predict", predict, old_predict, args.tol, rows)
    checked += sum(1 for _ in _flatten(old_predict))
    if committed.get("design"):
        design = planning.design(trial)
        for d in (design, committed["design"]):
            d.pop("seconds", None)
            d.pop("provenance", None)
        _compare("design", design, committed["design"], args.tol, rows)
        checked += sum(1 for _ in _flatten(committed["design"]))
    if committed.get("prior_checks"):
        checks = prior_checks.priors_report(trial)
        _compare("priors", checks, committed["prior_checks"], args.tol, rows)
        checked += sum(1 for _ in _flatten(committed["prior_checks"]))
    print(f"{checked} committed values compared (tolerance {args.tol:g}); {len(rows)} differ")
    for key, ref, value, diff in rows:
        if diff is None:
            print(f"  {key}: committed {ref!r}, now {value!r}")
        else:
            print(f"  {key}: committed {ref!r}, now {value!r} (diff {diff:.3g})")
    return 1 if rows else 0


if __name__ == "__main__":
    sys.exit(main())
