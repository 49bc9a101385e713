"""What a MAP prior is made of, for ``lnbayes priors``: the studies, tau, the exact MAP, its
mixture, ESS, posterior weights and prior-data conflict (JSON-ready dicts), and what its figure
draws."""

from __future__ import annotations

from typing import Any

import numpy as np

from lnbayes.model import density, dists
from lnbayes.priors import map as mp
from lnbayes.priors.conflict import _beta_binomial_pmf, box_p

ARMS = ("control", "treatment")


def _mixture_list(beta) -> list[dict[str, float]]:
    return [{"weight": w, "a": a, "b": b} for w, a, b in zip(beta.weights, beta.a, beta.b)]


def arm_conflict_p(beta, events: int, n: int) -> float:
    """Box's p of the arm's count under the Beta(-mixture)-binomial prior predictive."""
    pmf = _beta_binomial_pmf(beta, n)
    return box_p(pmf[:, None], events, 0)


def map_arm_record(beta, events: int | None = None, n: int | None = None) -> dict[str, Any]:
    """Everything ``lnbayes priors`` shows for one MAP arm (``beta`` carries its derivation);
    with the arm's ``events`` out of ``n``, the components' posterior weights and the conflict."""
    from lnbayes.io import map_cache

    derivation = mp.derivation_of(beta)

    def exact_summary() -> dict[str, Any]:
        pred = derivation.predictive
        return {"summary": pred.summary(), "ess": mp.map_ess(pred)}

    exact = map_cache.predictive_summary(derivation.spec, exact_summary)
    summary, ess_map = exact["summary"], exact["ess"]
    fit = derivation.fit
    ess_by = {"map": ess_map, "mixture": mp.mixture_ess(fit.beta)}
    robust = derivation.robust
    if robust is not None:
        ess_by["robust"] = mp.mixture_ess(beta)
    record = {
        "studies": [{"events": s.events, "n": s.n, "source": s.source}
                    for s in derivation.spec.studies],
        "model": {"tau_prior": derivation.spec.tau.describe(),
                  "mu_prior": {"mean": derivation.spec.mu_mean, "sd": derivation.spec.mu_sd},
                  "description": derivation.describe()},
        "mean": summary["mean"],
        "sd": summary["sd"],
        "quantiles": summary["quantiles"],
        "tau": summary["tau"],
        "mixture": _mixture_list(fit.beta),
        "mixture_max_cdf_error": fit.max_cdf_error,
        "mixture_criterion": (f"fewest Beta components (1 to {mp.MAX_COMPONENTS}) whose CDF is "
                              f"within {mp.CDF_TOLERANCE:g} of the MAP's"),
        "components_tried": [{"components": k, "max_cdf_error": e} for k, e in fit.tried],
        "robust": None if robust is None else {"weight": robust.weight, "a": robust.a,
                                               "b": robust.b},
        "robust_mixture": _mixture_list(beta),
        "ess": ess_map,
        "ess_by_prior": ess_by,
        "ess_note": ("ELIR (Neuenschwander et al. 2020), moment, and Morita as RBesT computes it "
                     "(at the mode; Morita et al. 2008)"),
    }
    if events is not None and n is not None:
        record["data"] = {"events": events, "n": n}
        record["posterior_weights"] = list(mp.posterior_weights(beta, events, n))
        record["conflict_p"] = arm_conflict_p(beta, events, n)
    return record


def map_records(prior, outcome) -> dict[str, Any] | None:
    """``{"control": record, "treatment": record}`` for the MAP arms of ``prior`` (None if none)."""
    counts = {"control": (outcome.control_events, outcome.control_n),
              "treatment": (outcome.treatment_events, outcome.treatment_n)}
    out = {}
    for arm in ARMS:
        beta = getattr(prior, arm, None)
        if beta is not None and mp.derivation_of(beta) is not None:
            out[arm] = map_arm_record(beta, *counts[arm])
            out[arm]["robust_sweep"] = robust_weight_sweep(prior, outcome, arm)
    effect = getattr(prior, "effect", None)
    if effect is not None and getattr(effect, "derivation", None) is not None:
        out["effect"] = effect_map_record(effect, outcome)
    return out or None


def effect_map_record(normal, outcome=None) -> dict[str, Any]:
    """What ``lnbayes priors`` shows for a MAP prior of the log odds ratio. With the trial's
    ``outcome`` (both arms non-empty): the variance-matched ESS of the exact MAP, its mixture and
    the robust mixture at the trial's allocation and observed arm rates (else 1:1 at the earlier
    trials' pooled control rate in both arms), and the components' posterior weights after the
    trial's log OR (continuity-corrected if an arm has 0 or n events)."""
    from lnbayes.priors import effective_size as es
    from lnbayes.priors import map_effect as me

    derivation = normal.derivation
    pred = derivation.predictive
    summary = me.effect_summary(pred)
    robust = derivation.robust
    studies = derivation.spec.studies
    has_data = (outcome is not None and outcome.treatment_n and outcome.control_n)
    if has_data:
        yt, nt, yc, nc = (outcome.treatment_events, outcome.treatment_n, outcome.control_events,
                          outcome.control_n)
        rt, rc = es.observed_rate(yt, nt), es.observed_rate(yc, nc)
        basis = "the trial's allocation and observed arm rates"
        ess_args = dict(allocation=(nt, nc), rate_treatment=rt, rate_control=rc,
                        n_treatment=nt, n_control=nc)
    else:
        rate = (sum(s.control_events for s in studies) + 0.5) / (sum(s.control_n for s in studies)
                                                                 + 1)
        basis = f"1:1 allocation at the earlier trials' pooled control rate {rate:.3g}"
        ess_args = dict(allocation=(1, 1), rate_treatment=rate, rate_control=rate)
    ess_by = me.effect_map_ess(pred, derivation.fit.normal,
                               None if robust is None else normal, **ess_args)
    record = {
        "scale": "log_or",
        "studies": [{"treatment_events": s.treatment_events, "treatment_n": s.treatment_n,
                     "control_events": s.control_events, "control_n": s.control_n,
                     "source": s.source} for s in derivation.spec.studies],
        "model": {"tau_prior": derivation.spec.tau.describe(),
                  "mu_prior": {"mean": derivation.spec.mu_mean, "sd": derivation.spec.mu_sd},
                  "description": derivation.describe()},
        **summary,
        "mixture": _normal_list(derivation.fit.normal),
        "mixture_max_cdf_error": derivation.fit.max_cdf_error,
        "components_tried": [{"components": k, "max_cdf_error": e}
                             for k, e in derivation.fit.tried],
        "robust": None if robust is None else {"weight": robust.weight, "mean": robust.mean,
                                               "sd": robust.sd},
        "robust_mixture": _normal_list(normal),
        "ess": ess_by["map"],
        "ess_by_prior": ess_by,
        "ess_note": ("variance-matched (not ELIR): the patients, at " + basis + ", whose data "
                     "carry the prior's precision about the log odds ratio; "
                     "prior_precision_share is the prior's share of the posterior precision"),
    }
    if has_data:
        cells = np.array([yt, nt - yt, yc, nc - yc], float)
        cells += 0.5 if cells.min() == 0 else 0.0
        est = float(np.log(cells[0] / cells[1]) - np.log(cells[2] / cells[3]))
        var = float(np.sum(1 / cells))
        record["data"] = {"log_or": est, "variance": var}
        record["posterior_weights"] = list(me.normal_posterior_weights(normal, est, var))
    return record


def _normal_list(normal) -> list[dict[str, float]]:
    return [{"weight": w, "mean": m, "sd": sd}
            for w, m, sd in zip(normal.weights, normal.means, normal.sds)]


def effect_figure_data(normal, n_points: int = 801) -> dict[str, Any]:
    """What the effect-MAP forest draws: each earlier trial's log OR with its 95% Wald interval
    (0.5 added to every cell when a cell is 0), the MAP's median and 95% interval, and the
    densities of the exact MAP, its Normal mixture and the robust mixture on a grid of log OR."""
    derivation = normal.derivation
    pred = derivation.predictive
    studies = []
    for s in derivation.spec.studies:
        cells = (s.treatment_events, s.treatment_n - s.treatment_events, s.control_events,
                 s.control_n - s.control_events)
        c = 0.5 if min(cells) == 0 else 0.0
        yt, ft, yc, fc = (x + c for x in cells)
        est = float(np.log(yt / ft) - np.log(yc / fc))
        se = float(np.sqrt(1 / yt + 1 / ft + 1 / yc + 1 / fc))
        studies.append({"label": s.source or f"{s.treatment_events}/{s.treatment_n} vs "
                                              f"{s.control_events}/{s.control_n}",
                        "treatment": f"{s.treatment_events}/{s.treatment_n}",
                        "control": f"{s.control_events}/{s.control_n}",
                        "n": s.treatment_n + s.control_n, "log_or": est,
                        "lower": est - 1.959963984540054 * se,
                        "upper": est + 1.959963984540054 * se})
    q = {k: pred.logit_quantile(k) for k in (0.025, 0.5, 0.975)}
    lo = min(pred.logit_quantile(0.001), min(s["lower"] for s in studies))
    hi = max(pred.logit_quantile(0.999), max(s["upper"] for s in studies))
    pad = 0.05 * (hi - lo)
    x = np.linspace(lo - pad, hi + pad, n_points)

    def mixture_pdf(nm):
        return np.exp(density.NormalMix.of(nm).logpdf(x))

    curves = {"map": pred.logit_pdf(x), "mixture": mixture_pdf(derivation.fit.normal)}
    if derivation.robust is not None:
        curves["robust"] = mixture_pdf(normal)
    return {"studies": studies, "map": {"median": q[0.5], "lower": q[0.025], "upper": q[0.975]},
            "x": x, "curves": curves, "xlim": (float(x[0]), float(x[-1])),
            "description": derivation.describe(),
            "max_cdf_error": derivation.fit.max_cdf_error}


def map_figure_data(beta, n_points: int = 801) -> dict[str, Any]:
    """What the MAP forest figure draws: each study's rate with its 95% Clopper-Pearson interval,
    the MAP's median and 95% interval, and the densities of the MAP, its mixture and the robust
    prior on a grid of p."""
    derivation = mp.derivation_of(beta)
    pred = derivation.predictive
    studies = []
    for s in derivation.spec.studies:
        lo = 0.0 if s.events == 0 else float(dists.beta_ppf(0.025, s.events, s.n - s.events + 1))
        hi = 1.0 if s.events == s.n else float(dists.beta_isf(0.025, s.events + 1, s.n - s.events))
        studies.append({"label": s.source or f"{s.events}/{s.n}", "events": s.events, "n": s.n,
                        "rate": s.events / s.n, "lower": lo, "upper": hi})
    q = {k: pred.quantile(k) for k in (0.025, 0.5, 0.975)}
    lo = min(pred.quantile(0.001), min(s["lower"] for s in studies))
    hi = max(pred.quantile(0.999), max(s["upper"] for s in studies))
    xlim = (max(lo - 0.05, 0.0), min(hi + 0.05, 1.0))
    p = np.linspace(max(xlim[0], 1e-4), min(xlim[1], 1 - 1e-4), n_points)

    def mixture_pdf(b):
        return np.exp(density.BetaMix.of(b).logpdf(p))

    curves = {"map": pred.pdf(p), "mixture": mixture_pdf(derivation.fit.beta)}
    if derivation.robust is not None:
        curves["robust"] = mixture_pdf(beta)
    return {"studies": studies, "map": {"median": q[0.5], "lower": q[0.025], "upper": q[0.975]},
            "p": p, "curves": curves, "xlim": xlim, "description": derivation.describe(),
            "max_cdf_error": derivation.fit.max_cdf_error}


SWEEP_WEIGHTS = tuple(i / 20 for i in range(21))
"""Robust weights of the sweep: 0, 0.05, ..., 1."""


def robust_weight_sweep(prior, outcome, arm: str, weights=SWEEP_WEIGHTS) -> list[dict[str, float]]:
    """P(benefit) (exact) after the outcome's data when the MAP arm's robust weight runs from 0
    (the MAP mixture alone) to 1 (the vague component alone); the vague component is the prior's
    own (Beta(1, 1) when the MAP has none). Each row: weight, p_benefit, the MAP arm's posterior
    weight on the vague component and the arm's posterior mean."""
    from dataclasses import replace

    from lnbayes.engines import exact

    beta = getattr(prior, arm)
    derivation = mp.derivation_of(beta)
    robust = derivation.robust or mp.Robust(0.0, 1.0, 1.0)
    events, n = ((outcome.control_events, outcome.control_n) if arm == "control"
                 else (outcome.treatment_events, outcome.treatment_n))
    rows = []
    for w in weights:
        if w >= 1:
            arm_prior = mp.BetaPrior.single(robust.a, robust.b)
        elif w <= 0:
            arm_prior = derivation.fit.beta
        else:
            arm_prior = mp.robustify(derivation.fit.beta, w, robust.a, robust.b)
        post = exact.posterior(replace(prior, **{arm: arm_prior}), outcome)
        post_w = mp.posterior_weights(arm_prior, events, n)
        vague = 1.0 if w >= 1 else (0.0 if w <= 0 else post_w[-1])
        a = np.asarray(arm_prior.a) + events
        b = np.asarray(arm_prior.b) + n - events
        rows.append({"weight": float(w), "p_benefit": post.prob_benefit(outcome.lower_is_better),
                     "posterior_vague_weight": float(vague),
                     "posterior_mean": float(np.dot(post_w, a / (a + b)))})
    return rows
