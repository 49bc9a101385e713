"""ArviZ summaries of PyMC draws: direction-aware probabilities with MCSE, intervals, diagnostics."""

from __future__ import annotations

from typing import Any

import numpy as np

from lnbayes.model import effects

RHAT_MAX = 1.01
ESS_MIN = 400
"""Convergence criteria (Vehtari et al. 2021, doi:10.1214/20-BA1221): R-hat <= 1.01 and bulk
and tail ESS >= 400 for every parameter and derived quantity; no divergent transitions."""

DIAGNOSED = ("p_control", "p_treatment", "log_or", "log_rr", "rd", "risk_difference",
             "risk_ratio", "odds_ratio")


def _posterior(datatree):
    return datatree["posterior"].to_dataset()


def _prob_with_mcse(indicator) -> tuple[float, float]:
    import arviz as az

    p = float(indicator.mean())
    if p in (0.0, 1.0):
        return p, 0.0
    return p, float(az.mcse(indicator.astype(float), method="mean"))


def draws_summary(datatree, outcome, thresholds=None, prob: float = 0.95) -> dict[str, Any]:
    """P(benefit) and threshold probabilities with their MCSE, and posterior intervals (ETI)."""
    post = _posterior(datatree)
    lower = outcome.lower_is_better
    p_c, p_t = post["p_control"], post["p_treatment"]
    benefit = (p_t < p_c) if lower else (p_t > p_c)
    p_benefit, mcse = _prob_with_mcse(benefit)
    thresholds = outcome.thresholds if thresholds is None else thresholds
    rows = []
    for t in thresholds:
        values = post[effects.MEASURE_OF_SCALE[t.scale]]
        beyond = (values < t.value) if lower else (values > t.value)
        p, p_mcse = _prob_with_mcse(beyond)
        rows.append({"scale": t.scale, "value": t.value, "p": p, "p_mcse": p_mcse})
    tail = (1 - prob) / 2
    estimates = {}
    for measure in effects.MEASURES:
        flat = post[measure].values.ravel()
        lo, med, hi = np.quantile(flat, [tail, 0.5, 1 - tail])
        estimates[measure] = {"median": float(med), "lower": float(lo), "upper": float(hi)}
    return {
        "p_benefit": p_benefit,
        "p_benefit_mcse": mcse,
        "thresholds": rows,
        "estimates": estimates,
        "n_draws": int(p_c.size),
    }


def diagnostics(datatree) -> dict[str, Any]:
    """R-hat, bulk and tail ESS for every parameter and derived quantity, and divergences."""
    import arviz as az

    post = _posterior(datatree)
    names = [n for n in DIAGNOSED if n in post]
    rhat = az.rhat(post[names])
    ess_bulk = az.ess(post[names], method="bulk")
    ess_tail = az.ess(post[names], method="tail")
    per_var = {
        n: {
            "r_hat": float(rhat[n]),
            "ess_bulk": float(ess_bulk[n]),
            "ess_tail": float(ess_tail[n]),
        }
        for n in names
    }
    stats = datatree["sample_stats"].to_dataset()
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    problems = []
    for n, d in per_var.items():
        if not np.isfinite(d["r_hat"]) or d["r_hat"] > RHAT_MAX:
            problems.append(f"R-hat of {n} is {d['r_hat']:.3f} (> {RHAT_MAX})")
        if not np.isfinite(d["ess_bulk"]) or d["ess_bulk"] < ESS_MIN:
            problems.append(f"bulk ESS of {n} is {d['ess_bulk']:.0f} (< {ESS_MIN})")
        if not np.isfinite(d["ess_tail"]) or d["ess_tail"] < ESS_MIN:
            problems.append(f"tail ESS of {n} is {d['ess_tail']:.0f} (< {ESS_MIN})")
    if divergences:
        problems.append(f"{divergences} divergent transitions")
    return {
        "converged": not problems,
        "problems": problems,
        "divergences": divergences,
        "max_r_hat": max(d["r_hat"] for d in per_var.values()),
        "min_ess_bulk": min(d["ess_bulk"] for d in per_var.values()),
        "min_ess_tail": min(d["ess_tail"] for d in per_var.values()),
        "chains": int(post.sizes["chain"]),
        "draws_per_chain": int(post.sizes["draw"]),
        "variables": per_var,
        "criteria": {"r_hat_max": RHAT_MAX, "ess_min": ESS_MIN, "divergences": 0},
    }


# --- issue 7: evidence summaries ---


def rope_probability(datatree, rope: tuple[str, float, float]) -> dict[str, float]:
    """P(lower < effect < upper) from the draws, with its MCSE (the region of practical
    equivalence ``rope = (scale, lower, upper)``, scale rd, rr or or)."""
    post = _posterior(datatree)
    scale, lower, upper = rope
    values = post[effects.MEASURE_OF_SCALE[scale]]
    p, mcse = _prob_with_mcse((values > lower) & (values < upper))
    return {"p_inside": p, "p_inside_mcse": mcse}
