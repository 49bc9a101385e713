"""Prior sweeps: grids of priors, tipping points, reverse-Bayes and the output files.

Orchestration over :mod:`lnbayes.engines.prior_grid` (the exact engine for sweeps) and, with
``engine="pymc"``, over :mod:`lnbayes.engines.mcmc` (compiled once, re-sampled per grid point).
:func:`run_sweep` returns the JSON-ready dict that ``lnbayes sweep --json`` prints; the CLI and
the report layer only format and write it.

Cache
-----
Every grid point's result is stored in an SQLite database ``<outdir>/cache/sweep.sqlite`` under
a key hashing the trial file's SHA-256, the outcome, the mode and scale, the control prior, the
prior's parameters, the engine, its settings, the point's seed and the package versions. SQLite
commits are atomic and durable (rollback journal), so a kill leaves either the whole point or
nothing; a PyMC sweep commits after every point, so an interrupted sweep resumes where it
stopped, and a repeated sweep reads every point back at once. One database file rather than one
file per point: a 10,000-point exact sweep writes one transaction instead of 10,000 files.
Each record is stored with its SHA-256 and checked when read; a damaged record is recomputed and
an unreadable database set aside (:class:`lnbayes.io.cache.SweepCache`), each with a warning. A PyMC point is
summarised only from complete draws (:func:`lnbayes.engines.mcmc.sample`), so an interrupted fit
is never committed.
"""

from __future__ import annotations

import csv
import hashlib
import io as _io
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lnbayes.engines import prior_grid
from lnbayes.errors import LnbayesError
from lnbayes.formatting import ratio as format_ratio
from lnbayes.io import files
from lnbayes.io.cache import SweepCache, cache_key, cache_keys
from lnbayes.model import dists, effects
from lnbayes.model.spec import SCALE_ALIASES, SCALE_LABELS, BetaPrior, NormalPrior, Prior, Trial

LEVELS = (0.5, 0.8, 0.95)
"""Probability levels of the tipping points (0.95 first in sentences)."""
MODES = ("effect", "arm")
ENGINES = ("exact", "pymc")
MAX_POINTS = 250_000
CACHE_VERSION = 2

DEFAULT_EFFECT_GRID = {
    "log_or": ((-1.0, 2.5, 36), (0.1, 2.0, 20)),
    "log_rr": ((-1.0, 1.0, 41), (0.1, 2.0, 20)),
    "rd": ((-0.5, 0.5, 41), (0.05, 0.5, 10)),
}
"""Default prior centres and sds (START, STOP, N) per scale."""
DEFAULT_ARM_GRID = ((0.05, 0.95, 19), (2.0, 40.0, 20))
"""Default treatment-arm prior means and effective sample sizes (START, STOP, N)."""

_RATIO = {"log_or": ("odds ratio", "OR", 1.0), "log_rr": ("risk ratio", "RR", 1.0),
          "rd": ("risk difference", "RD", 0.0)}


# ---------------------------------------------------------------------------------------------
# Grid ranges
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridRange:
    """``n`` evenly spaced values from ``start`` to ``stop`` (both included)."""

    start: float
    stop: float
    n: int

    def values(self) -> np.ndarray:
        return np.round(np.linspace(self.start, self.stop, self.n), 12)

    def text(self) -> str:
        return f"{self.start:g}:{self.stop:g}:{self.n}"


def default_ranges(mode: str, scale: str, lower_is_better: bool = False
                   ) -> tuple[GridRange, GridRange]:
    """The default grid; in effect mode the centres are mirrored when lower is better, so that
    most of the grid lies on the side of benefit (log OR -2.5 to 1 rather than -1 to 2.5)."""
    first, second = DEFAULT_ARM_GRID if mode == "arm" else DEFAULT_EFFECT_GRID[scale]
    if mode == "effect" and lower_is_better:
        first = (-first[1], -first[0], first[2])
    return GridRange(*first), GridRange(*second)


# ---------------------------------------------------------------------------------------------
# The control prior and the threshold
# ---------------------------------------------------------------------------------------------


def control_prior_for(trial: Trial, outcome, name: str | None = None,
                      family: str = "effect") -> tuple[str, BetaPrior]:
    """The control-arm prior: that of prior ``name``, else of the first prior of ``family``
    (effect- or arm-level, as the sweep's mode) that applies to the outcome, else of the first
    prior; Beta(1, 1) when the file has none."""
    if name is not None:
        if name not in trial.priors:
            raise LnbayesError(f"{trial.source_path or '<inline>'}: priors.{name}: unknown prior "
                               f"(known: {', '.join(trial.priors)})")
        return name, trial.priors[name].control
    candidates = trial.priors_for(outcome)
    for prior in candidates:
        if prior.family == family:
            return prior.name, prior.control
    if candidates:
        return candidates[0].name, candidates[0].control
    return "beta(1,1)", BetaPrior.single(1, 1)


def first_threshold(outcome):
    """The outcome's first clinically meaningful threshold, or None."""
    return outcome.thresholds[0] if outcome.thresholds else None


def point_seed(seed: int, outcome: str, label: str) -> int:
    """A per-point seed from the run's seed, independent of the order of the grid."""
    return (seed * 1_000_003 + zlib.crc32(f"sweep/{outcome}/{label}".encode())) % (2**32)


# ---------------------------------------------------------------------------------------------
# Exact evaluation of grid points
# ---------------------------------------------------------------------------------------------


class _Problem:
    """Everything fixed during one sweep: outcome, direction, control prior, threshold."""

    def __init__(self, trial, outcome, mode, scale, control_name, control, threshold):
        self.trial, self.outcome, self.mode, self.scale = trial, outcome, mode, scale
        self.control_name, self.control = control_name, control
        self.threshold = threshold
        self.lower = outcome.lower_is_better
        measure_value = None
        if threshold is not None:
            measure_value = (effects.MEASURE_OF_SCALE[threshold.scale], threshold.value)
        self.measure_value = measure_value
        if mode == "effect":
            self.engine = prior_grid.EffectSweep(control, scale, outcome, measure_value)
        else:
            self.engine = prior_grid.ArmSweep(control, outcome, scale, measure_value)

    def prior(self, first: float, second: float) -> Prior:
        return _sweep_prior(self.mode, self.control, self.scale, first, second)

    def exact_points(self, first: np.ndarray, second: np.ndarray) -> list[dict]:
        """P(benefit), P(beyond threshold) and the posterior median for each prior."""
        if self.mode == "effect":
            res = self.engine.evaluate(first, second)
            above0, above_t, median, ok = res.p_above_zero, res.p_above_threshold, res.median, res.ok
            method = np.where(ok, "sweep", "exact_fallback").astype(object)
            for k in np.flatnonzero(~ok):  # far outside the feasible range: per-prior quadrature
                above0[k], above_t[k], median[k] = self._oracle(first[k], second[k])
        else:
            above0 = self.engine.prob_benefit_above(first, second)
            above_t = (self.engine.prob_above(*self.measure_value, first, second)
                       if self.measure_value else np.full(first.shape, np.nan))
            median = self.engine.median(first, second)
            method = np.full(first.shape, "conjugate", dtype=object)
        p_benefit = 1.0 - above0 if self.lower else above0
        p_thr = (1.0 - above_t if self.lower else above_t) if self.measure_value else above_t
        out = []
        for k in range(len(first)):
            out.append({
                "p_benefit": float(p_benefit[k]),
                "p_threshold": None if self.measure_value is None else float(p_thr[k]),
                "median_effect": float(median[k]),
                "method": str(method[k]),
            })
        return out

    def _oracle(self, mean: float, sd: float) -> tuple[float, float, float]:
        from lnbayes.engines import exact

        post = exact.effect_posterior(self.control, self.scale, NormalPrior.single(mean, sd), self.outcome)
        above0 = 1.0 - post.prob_benefit(True)
        above_t = np.nan
        if self.measure_value:
            above_t = post.prob_beyond(*self.measure_value, False)
        med = post.quantile(effects.MEASURE_OF_EFFECT_SCALE[self.scale], 0.5)
        return above0, above_t, (med if self.scale == "rd" else float(np.log(med)))

    def p_benefit_of(self, first: float, second: float, span) -> float:
        """P(benefit) for one prior, on a grid fixed for ``span`` (for root-finding)."""
        if self.mode == "effect":
            res = self.engine.evaluate([first], [second], span=span, median=False)
            if not res.ok[0]:
                above0 = self._oracle(first, second)[0]
            else:
                above0 = float(res.p_above_zero[0])
        else:
            above0 = float(self.engine.prob_benefit_above(np.array([first]), np.array([second]))[0])
        return 1.0 - above0 if self.lower else above0

    def prior_p_benefit(self, first: float, second: float) -> float:
        """Prior probability of benefit (effect mode: the untruncated Normal, as the sweep states
        its priors)."""
        if self.mode == "effect":
            from lnbayes.model.density import prior_prob_benefit

            prior = _sweep_prior("effect", self.control, self.scale, first, second)
            return prior_prob_benefit(prior, self.lower, truncated=False)
        return float("nan")


# ---------------------------------------------------------------------------------------------
# PyMC evaluation of grid points
# ---------------------------------------------------------------------------------------------


def _sweep_prior(mode: str, control: BetaPrior, scale: str, first: float, second: float) -> Prior:
    if mode == "effect":
        return Prior(name="sweep", family="effect", control=control, scale=scale,
                     effect=NormalPrior.single(first, second))
    return Prior(name="sweep", family="arm", control=control,
                 treatment=BetaPrior.single(first * second, (1 - first) * second))


def _pymc_run(prior: Prior, outcome, threshold, scale: str, seed: int, settings) -> dict:
    """Sample one grid point's posterior (compiled model reused) and summarise it."""
    from lnbayes.engines import draws, mcmc

    thresholds = (threshold,) if threshold is not None else ()
    datatree = mcmc.sample(prior, outcome, seed=seed, settings=settings)
    drawn = draws.draws_summary(datatree, outcome, thresholds)
    diag = draws.diagnostics(datatree)
    median = drawn["estimates"][effects.MEASURE_OF_EFFECT_SCALE[scale]]["median"]
    return {
        "p_benefit": drawn["p_benefit"],
        "p_benefit_mcse": drawn["p_benefit_mcse"],
        "p_threshold": drawn["thresholds"][0]["p"] if thresholds else None,
        "p_threshold_mcse": drawn["thresholds"][0]["p_mcse"] if thresholds else None,
        "median_effect": median if scale == "rd" else float(np.log(median)),
        "n_draws": drawn["n_draws"],
        "seed": seed,
        "diagnostics": {k: diag[k] for k in ("converged", "max_r_hat", "min_ess_bulk",
                                             "min_ess_tail", "divergences", "problems")},
    }


def _pymc_point(problem: _Problem, first: float, second: float, seed: int, settings) -> dict:
    return _pymc_run(problem.prior(first, second), problem.outcome, problem.threshold, problem.scale,
                     seed, settings)


def _pymc_worker(payload: tuple) -> tuple[int, dict]:
    """Worker process entry: one grid point (each worker compiles its model once)."""
    k, mode, control, scale, first, second, outcome, threshold, seed, settings = payload
    prior = _sweep_prior(mode, control, scale, first, second)
    return k, _pymc_run(prior, outcome, threshold, scale, seed, settings)


# ---------------------------------------------------------------------------------------------
# Tipping points and reverse-Bayes
# ---------------------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _centre_value(problem: _Problem, centre: float) -> str:
    """A prior centre in words: 'odds ratio 2.48 (log odds ratio 0.907)', 'prior mean 0.8'."""
    if problem.mode == "arm":
        return f"prior mean {centre:.3g}"
    name = _RATIO[problem.scale][0]
    if problem.scale == "rd":
        return f"{name} {_fmt(centre)}"
    return f"{name} {_fmt(float(np.exp(centre)))} ({SCALE_LABELS[problem.scale]} {_fmt(centre)})"


def _belief(problem: _Problem, centre: float) -> str:
    more = "less" if problem.lower else "more"
    if problem.mode == "arm":
        label = problem.outcome.label[:1].lower() + problem.outcome.label[1:]
        return (f"the {problem.trial.treatment_name} arm's probability of {label} had a prior mean of "
                f"{centre:.3g} or {more}")
    name = _RATIO[problem.scale][0]
    if problem.scale == "rd":
        return f"the {name} was centred at {_fmt(centre)} or {more}"
    return (f"the {name} was centred at {_fmt(float(np.exp(centre)))} ({SCALE_LABELS[problem.scale]} "
            f"{_fmt(centre)}) or {more}")


ORACLE_CHECKS = 12
"""Tipping points re-evaluated with the per-prior oracle (evenly spread over the spreads): each
costs about 0.2 s, and checking all of a 100-sd sweep's took 10 of its 16 seconds."""


def tipping_points(problem: _Problem, seconds: np.ndarray, span: tuple[float, float],
                   levels=LEVELS, grid: dict | None = None, check_exact: bool = True) -> dict:
    """For each prior sd (or ess) and level, the least enthusiastic centre reaching P(benefit).

    Root-finding (Brent's method) on the exact sweep engine for the P(benefit) of one prior as a
    function of its centre; with ``check_exact`` the root is re-evaluated with
    :func:`lnbayes.engines.exact.posterior` (the per-prior quadrature oracle): at the highest level
    only (about 0.2 s each; at most :data:`ORACLE_CHECKS` of them, evenly spread over the
    spreads), or at every level with ``check_exact="all"``.
    """
    from lnbayes.engines import exact

    direction = -1 if problem.lower else 1
    second_name = "prior_sd" if problem.mode == "effect" else "prior_ess"
    rows = []
    checks: list[float] = []
    to_check: list[dict] = []
    for second in seconds:
        for level in levels:
            found = prior_grid.tipping_centre(
                lambda c: problem.p_benefit_of(c, float(second), span), level, span[0], span[1], direction)
            row = {second_name: float(second), "level": level, "prior_mean": found["centre"],
                   "status": found["status"],
                   "p_benefit_at_least_enthusiastic": found["p_at_least_enthusiastic"],
                   "p_benefit_at_most_enthusiastic": found["p_at_most_enthusiastic"],
                   "search_range": list(span)}
            if found["centre"] is not None:
                c = found["centre"]
                row["prior_p_benefit"] = problem.prior_p_benefit(c, float(second)) if problem.mode == "effect" else None
                if check_exact and (check_exact == "all" or level == max(levels)):
                    to_check.append(row)
                if grid is not None:
                    row["grid_bracket"] = grid.get((float(second), level))
            row["sentence"] = _tipping_sentence(problem, row, second_name)
            rows.append(row)
    if check_exact != "all" and len(to_check) > ORACLE_CHECKS:
        picks = np.unique(np.round(np.linspace(0, len(to_check) - 1, ORACLE_CHECKS)).astype(int))
        to_check = [to_check[i] for i in picks]
    for row in to_check:
        prior = problem.prior(row["prior_mean"], row[second_name])
        row["p_benefit_exact_at_root"] = exact.posterior(prior, problem.outcome).prob_benefit(
            problem.lower)
        checks.append(abs(row["p_benefit_exact_at_root"] - row["level"]))
    return {"levels": list(levels), "search_range": list(span), "direction": (
        "lower centres are more enthusiastic" if direction < 0 else "higher centres are more enthusiastic"),
        "method": "brentq on the exact sweep engine (xtol 1e-8); roots at the highest level re-evaluated with lnbayes.engines.exact.posterior (at most "
                  f"{ORACLE_CHECKS}, evenly spread over the prior spreads)",
        "oracle_check": {"roots_checked": len(checks),
                         "max_abs_p_benefit_error": max(checks) if checks else None},
        "by_sd" if problem.mode == "effect" else "by_ess": rows}


def _tipping_sentence(problem: _Problem, row: dict, second_name: str) -> str:
    level = row["level"]
    second = row[second_name]
    if problem.mode == "effect":
        spread = f"with a prior sd of {_fmt(second)} on the {SCALE_LABELS[problem.scale]}"
    else:
        spread = f"with a prior effective sample size of {_fmt(second)} in the {problem.trial.treatment_name} arm"
    lo, hi = row["search_range"]
    if row["status"] == "found":
        text = (f"To reach P(benefit) >= {level:g} {spread}, one must have believed beforehand that "
                f"{_belief(problem, row['prior_mean'])}")
        if problem.mode == "effect":
            name, short, null = _RATIO[problem.scale]
            side = "<" if problem.lower else ">"
            text += f" (P({short} {side} {null:g}) a priori = {row['prior_p_benefit']:.3f})"
        return text + "."
    least, most = (hi, lo) if problem.lower else (lo, hi)
    if row["status"] == "reached_at_start":
        return (f"P(benefit) >= {level:g} {spread} is reached already at the least enthusiastic centre "
                f"searched ({_centre_value(problem, least)}: P(benefit) = "
                f"{row['p_benefit_at_least_enthusiastic']:.3f}); less enthusiastic centres were not searched.")
    return (f"No prior {spread} and a centre between {_fmt(lo)} and {_fmt(hi)} reaches P(benefit) >= "
            f"{level:g}: at the most enthusiastic centre searched ({_centre_value(problem, most)}) "
            f"P(benefit) = {row['p_benefit_at_most_enthusiastic']:.3f}; more enthusiastic centres were "
            f"not searched.")


def reverse_bayes(outcome, prior_sds, levels=LEVELS, alpha: float = 0.05,
                  control_name: str = "control") -> dict:
    """Reverse-Bayes on the log-OR scale with the normal approximation of the 2x2 table.

    For each prior sd and level: the prior centre at which the normal-normal posterior gives
    P(benefit) = level (closed form, :func:`lnbayes.engines.prior_grid.normal_tipping_centre`), and the
    Analysis of Credibility: the advocacy limit for a non-significant result (Matthews 2018,
    2019), or the sceptical limit ``(U - L)^2 / (4 sqrt(U L))`` for a significant one
    (Matthews 2001). ``control_name`` names the control arm in the sentences.

    References
    ----------
    Matthews RAJ. Moving towards the post p < 0.05 era via the analysis of credibility. Am Stat
    2019;73(sup1):202-212. doi:10.1080/00031305.2018.1543136.
    Held L, Matthews R, Ott M, Pawel S. Reverse-Bayes methods for evidence assessment and
    research synthesis. Res Synth Methods 2022;13:295-314 (PMC9305905).
    """
    estimate, se = prior_grid.wald_log_or(outcome)
    z = float(dists.norm_isf(alpha / 2))
    lower_ci, upper_ci = estimate - z * se, estimate + z * se
    sign = -1.0 if outcome.lower_is_better else 1.0  # benefit is theta * sign > 0
    side, word = ("<", "less") if outcome.lower_is_better else (">", "more")
    rows = []
    for sd in prior_sds:
        for level in levels:
            mu = sign * prior_grid.normal_tipping_centre(sign * estimate, se, float(sd), level)
            prior_p = float(dists.norm_sf(0.0, sign * mu, float(sd)))
            rows.append({
                "prior_sd": float(sd), "level": level, "prior_mean": mu, "prior_or": float(np.exp(mu)),
                "prior_p_benefit": prior_p,
                "sentence": (f"Normal approximation: to reach P(benefit) >= {level:g} with a prior sd of "
                             f"{_fmt(float(sd))} on the log odds ratio, one must have believed beforehand "
                             f"that the odds ratio was centred at {_fmt(float(np.exp(mu)))} or {word} "
                             f"(P(OR {side} 1) a priori = {prior_p:.3f})."),
            })
    out = {
        "scale": "log_or", "approximation": "normal likelihood: Woolf log odds ratio and standard error",
        "estimate": estimate, "se": se, "odds_ratio": float(np.exp(estimate)),
        "ci": [lower_ci, upper_ci], "ci_level": 1 - alpha,
        "p_value_two_sided": float(2 * dists.norm_sf(abs(estimate) / se)),
        "by_sd": rows,
    }
    favours = "treatment" if sign * estimate > 0 else "control"
    out["estimate_favours"] = favours
    out["analysis_of_credibility"] = _analysis_of_credibility(estimate, se, z, favours, control_name)
    return out


def _analysis_of_credibility(estimate: float, se: float, z: float, favours: str,
                             control_name: str) -> dict[str, Any]:
    """The advocacy limit of a non-significant log OR, or the sceptical limit of a significant one."""
    lower_ci, upper_ci = estimate - z * se, estimate + z * se

    def or_text(log_value: float) -> str:  # an advocacy limit can be an OR of 1e-59
        return format_ratio(float(np.exp(log_value)))

    result = f"OR {or_text(estimate)}, 95% CI {or_text(lower_ci)} to {or_text(upper_ci)}"
    if lower_ci < 0 < upper_ci:
        al = prior_grid.advocacy_limit(lower_ci, upper_ci)
        prior_mean, prior_sd = al / 2, abs(al) / (2 * z)
        post_mean, post_sd = prior_grid.normal_posterior(estimate, se, prior_mean, prior_sd)
        ancred = {
            "kind": "advocacy", "formula": "AL = -(U + L)(U - L)^2 / (2 U L) on the log-OR scale",
            "advocacy_limit": al, "advocacy_limit_or": float(np.exp(al)),
            "prior_mean": prior_mean, "prior_sd": prior_sd,
            "posterior_limit_nearest_zero": post_mean - np.sign(al) * z * post_sd,
        }
        if favours == "treatment":
            ancred["sentence"] = (
                f"Analysis of credibility: the result ({result}) is not significant; it becomes "
                f"credible evidence of benefit only for an advocate whose prior 95% interval for the "
                f"odds ratio runs from 1 to {or_text(al)} or beyond.")
        else:
            harm_interval = f"{or_text(al)} to 1" if al < 0 else f"1 to {or_text(al)}"
            ancred["sentence"] = (
                f"Analysis of credibility: the estimate favours {control_name} ({result}), so no "
                f"advocacy prior for benefit (a Normal prior whose 95% interval starts at no effect) "
                f"can make benefit credible: under any such prior the posterior 95% interval still "
                f"includes no effect. The advocacy limit (OR {or_text(al)}) describes the opposite "
                f"claim: an advocate of harm would need a prior 95% interval for the odds ratio from "
                f"{harm_interval}.")
        return ancred
    sl = (upper_ci - lower_ci) ** 2 / (4 * np.sqrt(upper_ci * lower_ci))
    return {"kind": "sceptical", "formula": "SL = (U - L)^2 / (4 sqrt(U L)) on the log-OR scale",
            "sceptical_limit": float(sl), "sceptical_limit_or": float(np.exp(sl)),
            "sentence": (f"Analysis of credibility: the result is significant; it stays credible "
                         f"against sceptics whose prior 95% interval for the odds ratio is no "
                         f"narrower than {or_text(-sl)} to {or_text(sl)}.")}


# ---------------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------------


def run_sweep(
    trial: Trial,
    outcome: str | None = None,
    scale: str = "log_or",
    centres: GridRange | None = None,
    sds: GridRange | None = None,
    engine: str = "exact",
    seed: int | None = None,
    mode: str = "effect",
    settings=None,
    outdir: str | Path | None = None,
    levels=LEVELS,
    control_prior: str | None = None,
    use_cache: bool = True,
    check_roots: bool | str = True,
    on_point: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Sweep the effect-level (or arm-level) prior over a grid; returns the JSON-ready result.

    Parameters
    ----------
    trial, outcome
        The trial and the outcome's name (default: the primary outcome).
    scale
        ``log_or``, ``log_rr`` or ``rd``: the effect prior's scale (effect mode) and the scale of
        the reported posterior median (both modes).
    centres, sds
        Grids of prior centres and sds (effect mode) or treatment-arm prior means and effective
        sample sizes (arm mode). Defaults: :data:`DEFAULT_EFFECT_GRID`, :data:`DEFAULT_ARM_GRID`.
    engine
        ``exact`` (:mod:`lnbayes.engines.prior_grid`) or ``pymc`` (one compiled model re-sampled per
        point; every point also gets its exact value and the disagreement in MCSE units).
    seed
        Run seed (default: the trial file's); per-point seeds derive from it.
    mode
        ``effect`` (Normal prior on the effect) or ``arm`` (Beta prior on the treatment arm).
    settings
        :class:`lnbayes.engines.mcmc.SamplerSettings` for ``engine="pymc"``.
    outdir
        Where ``sweep_<outcome>_<scale|arm>_<engine>.json`` and ``.csv`` and ``cache/`` go;
        None writes nothing and uses no cache.
    levels
        Probability levels of the tipping points.
    control_prior
        Name of the prior whose control-arm Beta is used (default: see :func:`control_prior_for`).
    on_point
        Called as ``on_point(done, total)`` after each point is computed or read from the cache.
    workers
        PyMC only: sample grid points in this many processes (each compiles once and samples
        with ``cores=1``) instead of one process using ``settings.cores`` for its chains.
    """
    _check_choices(mode, engine, scale)
    outcome_obj = trial.outcome(outcome)
    control_name, control = control_prior_for(trial, outcome_obj, control_prior, mode)
    centres, sds = _grid_ranges(mode, scale, outcome_obj, centres, sds)
    seed = trial.seed if seed is None else seed
    if engine == "pymc" and settings is None:
        from lnbayes.engines.mcmc import SamplerSettings

        settings = SamplerSettings()
    problem = _Problem(trial, outcome_obj, mode, scale, control_name, control, first_threshold(outcome_obj))
    points = _GridPoints.of(centres, sds, mode)
    provenance = _provenance(trial, seed, engine, settings)
    context = _cache_context(problem, provenance)
    cache = SweepCache(Path(outdir) / "cache" / "sweep.sqlite" if (outdir is not None and use_cache) else None)
    t_start = time.perf_counter()
    try:
        # exact values for every point (the answer for engine=exact, the check for pymc)
        exact_points, n_cached_exact = _exact_points(problem, points, cache, context)
        t_exact = time.perf_counter() - t_start
        if engine == "exact" and on_point:
            on_point(points.n, points.n)
        pymc_points, n_cached_pymc, t_pymc = [None] * points.n, 0, 0.0
        if engine == "pymc":
            pymc_points, n_cached_pymc, t_pymc = _pymc_points(problem, points, cache, context, seed,
                                                              settings, workers, on_point)
        grid = _grid_rows(problem, points, exact_points, pymc_points, engine)
        tipping = _sweep_tipping(problem, points, centres, grid, levels, check_roots, cache, context)
        elapsed = time.perf_counter() - t_start
    finally:
        cache.close()

    out = _assemble(problem, points, levels, engine, grid, tipping, provenance)
    out["timing"] = {"total_s": elapsed, "exact_s": t_exact, "pymc_s": t_pymc, "points": points.n,
                     "exact_points_from_cache": n_cached_exact,
                     "pymc_points_from_cache": n_cached_pymc if engine == "pymc" else None}
    out["provenance"] = provenance
    if engine == "pymc":
        out["pymc_check"] = _pymc_check(grid, points.second_name)
    if outdir is not None:
        _write_sweep(out, grid, outdir, outcome_obj.name, mode, scale, engine)
    return out


def _check_choices(mode: str, engine: str, scale: str) -> None:
    """The programming errors a caller can make (the CLI checks its own arguments first)."""
    if mode not in MODES:
        raise ValueError(f"sweep: mode must be one of {MODES}, got {mode!r}")
    if engine not in ENGINES:
        raise ValueError(f"sweep: engine must be one of {ENGINES}, got {engine!r}")
    if scale not in SCALE_ALIASES.values():
        raise ValueError(f"sweep: scale must be log_or, log_rr or rd, got {scale!r}")


def _grid_ranges(mode: str, scale: str, outcome, centres: GridRange | None,
                 sds: GridRange | None) -> tuple[GridRange, GridRange]:
    """The grid's two ranges, defaulted per mode and scale and checked."""
    d_first, d_second = default_ranges(mode, scale, outcome.lower_is_better)
    centres = centres or d_first
    sds = sds or d_second
    if mode == "arm" and not (0 < centres.start and centres.stop < 1):
        raise LnbayesError(f"sweep: prior means of an arm must lie in (0, 1), got {centres.text()}")
    if sds.start <= 0:
        raise LnbayesError(f"sweep: prior sds (or sizes) must be > 0, got START = {sds.start:g}")
    if centres.n * sds.n > MAX_POINTS:
        raise LnbayesError(f"sweep: {centres.n * sds.n} grid points exceed {MAX_POINTS}")
    return centres, sds


@dataclass(frozen=True)
class _GridPoints:
    """The prior grid: the two axes and the flattened points, centres varying fastest."""

    first_vals: np.ndarray
    second_vals: np.ndarray
    first: np.ndarray
    second: np.ndarray
    second_name: str

    @classmethod
    def of(cls, centres: GridRange, sds: GridRange, mode: str) -> "_GridPoints":
        first_vals, second_vals = centres.values(), sds.values()
        return cls(first_vals, second_vals, np.tile(first_vals, len(second_vals)),
                   np.repeat(second_vals, len(first_vals)),
                   "prior_sd" if mode == "effect" else "prior_ess")

    @property
    def n(self) -> int:
        return len(self.first)


def _provenance(trial: Trial, seed: int, engine: str, settings) -> dict[str, Any]:
    return {
        "command": files.command_line(),
        "trial_file": trial.source_path,
        "trial_file_sha256": _trial_hash(trial),
        "seed": seed, "engine": engine,
        "sampler_settings": settings.as_dict() if engine == "pymc" else None,
        "exact_settings": prior_grid.SETTINGS, "versions": files.versions(),
    }


def _cache_context(problem: "_Problem", provenance: dict) -> dict[str, Any]:
    """Everything a cached point depends on besides its own coordinates."""
    o, threshold = problem.outcome, problem.threshold
    return {
        "cache_version": CACHE_VERSION, "trial_sha256": provenance["trial_file_sha256"],
        "trial": problem.trial.id,
        "outcome": [o.name, o.treatment_events, o.treatment_n, o.control_events, o.control_n, o.better],
        "threshold": None if threshold is None else [threshold.scale, threshold.value],
        "mode": problem.mode, "scale": problem.scale, "control": problem.control.as_dict(),
        "exact_settings": prior_grid.SETTINGS, "versions": provenance["versions"],
    }


def _exact_points(problem: "_Problem", points: _GridPoints, cache: SweepCache,
                  context: dict) -> tuple[list[dict], int]:
    """The exact record of every point, from the cache or computed; and how many were cached."""
    exact_keys = cache_keys(context, [{"engine": "exact", "first": a, "second": b}
                                      for a, b in zip(points.first.tolist(), points.second.tolist())])
    cached = cache.get_many(exact_keys)
    todo = [k for k, key in enumerate(exact_keys) if key not in cached]
    exact_points: list[dict | None] = [cached.get(key) for key in exact_keys]
    if todo:
        idx = np.array(todo)
        fresh = problem.exact_points(points.first[idx], points.second[idx])
        for k, rec in zip(todo, fresh):
            exact_points[k] = rec
        cache.put_many({exact_keys[k]: exact_points[k] for k in todo})
    return exact_points, points.n - len(todo)


def _pymc_points(problem: "_Problem", points: _GridPoints, cache: SweepCache, context: dict, seed: int,
                 settings, workers: int,
                 on_point: Callable[[int, int], None] | None) -> tuple[list[dict], int, float]:
    """The sampled record of every point, from the cache or sampled; cached count; sampling seconds."""
    from lnbayes.engines.mcmc import MODEL_FORM

    n_points = points.n
    # nutpie's draws for a seed do not depend on the number of cores (checked), so the
    # cache key leaves cores out: a point sampled by a worker is the same point
    settings_key = {k: v for k, v in settings.as_dict().items() if k != "cores"}
    labels = [f"{problem.mode}/{problem.scale}/{float(a)!r}/{float(b)!r}"
              for a, b in zip(points.first, points.second)]
    seeds = [point_seed(seed, problem.outcome.name, lab) for lab in labels]
    # the model's form as well: a new graph can move a seed's draws (see MODEL_FORM)
    pymc_keys = [cache_key(context, engine="pymc", settings=settings_key, seed=s,
                           model_form=MODEL_FORM, first=float(a), second=float(b))
                 for a, b, s in zip(points.first, points.second, seeds)]
    cached = cache.get_many(pymc_keys)
    pymc_points: list[dict | None] = [cached.get(key) for key in pymc_keys]
    n_cached = sum(p is not None for p in pymc_points)
    done = n_cached
    if on_point:
        on_point(done, n_points)
    t0 = time.perf_counter()
    todo = [k for k in range(n_points) if pymc_points[k] is None]
    if workers > 1 and len(todo) > 1:
        arriving = _pymc_parallel(problem, todo, points.first, points.second, seeds, settings, workers)
        try:
            for k, rec in arriving:
                cache.put_many({pymc_keys[k]: rec})  # committed as each point arrives
                pymc_points[k] = rec
                done += 1
                if on_point:
                    on_point(done, n_points)
        finally:
            arriving.close()  # on an interrupt, the workers are stopped at once
    for k in todo:
        if pymc_points[k] is not None:
            continue
        rec = _pymc_point(problem, float(points.first[k]), float(points.second[k]), seeds[k], settings)
        cache.put_many({pymc_keys[k]: rec})  # committed before moving on
        pymc_points[k] = rec
        done += 1
        if on_point:
            on_point(done, n_points)
    return pymc_points, n_cached, time.perf_counter() - t0


def _grid_rows(problem: "_Problem", points: _GridPoints, exact_points: list[dict],
               pymc_points: list[dict | None], engine: str) -> list[dict[str, Any]]:
    """One JSON row per grid point: the engine's answer beside the exact one."""
    grid = []
    for k in range(points.n):
        first, second = float(points.first[k]), float(points.second[k])
        row = {"prior_mean": first, points.second_name: second}
        if problem.mode == "arm":
            row["prior_sd"] = float(np.sqrt(first * (1 - first) / (second + 1)))
        if engine == "exact":
            row.update(_exact_row(exact_points[k]))
        else:
            row.update(_pymc_row(pymc_points[k], exact_points[k]))
        row["prior_p_benefit"] = problem.prior_p_benefit(first, second) if problem.mode == "effect" else None
        grid.append(row)
    return grid


def _exact_row(ex: dict) -> dict[str, Any]:
    return {
        "p_benefit": ex["p_benefit"], "p_benefit_mcse": None, "p_benefit_exact": ex["p_benefit"],
        "p_benefit_z": None,
        "p_threshold": ex["p_threshold"], "p_threshold_mcse": None,
        "p_threshold_exact": ex["p_threshold"],
        "median_effect": ex["median_effect"], "median_effect_exact": ex["median_effect"],
        "method": ex["method"],
    }


def _pymc_row(pm_: dict, ex: dict) -> dict[str, Any]:
    from lnbayes.analyses.reanalysis import agreement

    agree = agreement(pm_["p_benefit"], ex["p_benefit"], pm_["p_benefit_mcse"], pm_["n_draws"])
    return {
        "p_benefit": pm_["p_benefit"], "p_benefit_mcse": pm_["p_benefit_mcse"],
        "p_benefit_exact": ex["p_benefit"], "p_benefit_z": agree["z"],
        "agrees_with_exact": agree["agrees"],
        "p_threshold": pm_["p_threshold"], "p_threshold_mcse": pm_["p_threshold_mcse"],
        "p_threshold_exact": ex["p_threshold"],
        "p_threshold_z": (agreement(pm_["p_threshold"], ex["p_threshold"], pm_["p_threshold_mcse"],
                                    pm_["n_draws"])["z"] if pm_["p_threshold"] is not None else None),
        "median_effect": pm_["median_effect"], "median_effect_exact": ex["median_effect"],
        "method": "pymc", "seed": pm_["seed"], "diagnostics": pm_["diagnostics"],
    }


def _sweep_tipping(problem: "_Problem", points: _GridPoints, centres: GridRange, grid: list[dict],
                   levels, check_roots: bool | str, cache: SweepCache, context: dict) -> dict[str, Any]:
    """Tipping points: root-finding over the centre range, per sd (or ess) and level (cached)."""
    span = (float(centres.start), float(centres.stop))
    brackets = _grid_brackets(grid, points.first_vals, points.second_vals, points.second_name, levels,
                              problem.lower)
    tip_key = cache_key(context, engine="exact", tipping=[list(span), [float(s) for s in points.second_vals],
                                                         list(levels), check_roots])
    tipping = cache.get_many([tip_key]).get(tip_key)
    if tipping is None:
        if centres.n == 1 or centres.start == centres.stop:
            tipping = {"levels": list(levels), "search_range": list(span),
                       "note": "a single centre: no range to search"}
        else:
            tipping = tipping_points(problem, points.second_vals, span, levels, brackets, check_roots)
        cache.put_many({tip_key: tipping})
    for row in tipping.get("by_sd") or tipping.get("by_ess") or []:  # wording is not cached
        row["sentence"] = _tipping_sentence(problem, row, points.second_name)
    return tipping


def _assemble(problem: "_Problem", points: _GridPoints, levels, engine: str, grid: list[dict],
              tipping: dict, provenance: dict) -> dict[str, Any]:
    """The result's JSON body up to ``reverse_bayes`` (timing, provenance and checks follow)."""
    trial, o, threshold, second_name = problem.trial, problem.outcome, problem.threshold, points.second_name
    return {
        "trial": trial.id, "title": trial.title, "outcome": o.name,
        "outcome_label": o.label, "better": o.better,
        "counts": {"treatment": [o.treatment_events, o.treatment_n],
                   "control": [o.control_events, o.control_n]},
        "mode": problem.mode, "scale": problem.scale, "scale_label": SCALE_LABELS[problem.scale],
        "engine": engine,
        "levels": list(levels),
        "axes": {"x": "prior_mean", "y": second_name,
                 "prior_mean": [float(v) for v in points.first_vals],
                 second_name: [float(v) for v in points.second_vals]},
        "control_prior": {"from": problem.control_name, **problem.control.as_dict()},
        "threshold": None if threshold is None else {
            "scale": threshold.scale, "value": threshold.value,
            "meaning": f"P({threshold.scale} {'<' if problem.lower else '>'} {threshold.value:g})"},
        "median_effect_scale": problem.scale,
        "grid": grid,
        "tipping_point": tipping,
        "reverse_bayes": reverse_bayes(o, points.second_vals if problem.mode == "effect" else [0.5, 1.0],
                                       levels, control_name=trial.control_name),
    }


def _pymc_check(grid: list[dict], second_name: str) -> dict[str, Any]:
    """The sampled grid against the exact one: the worst disagreement and convergence."""
    z = np.array([r["p_benefit_z"] for r in grid])
    worst = int(np.argmax(z))
    return {
        "points": len(grid), "worst_z": float(z[worst]),
        "worst_point": {"prior_mean": grid[worst]["prior_mean"], second_name: grid[worst][second_name]},
        "fraction_beyond_3_mcse": float(np.mean(z > 3.0)),
        "threshold_worst_z": max((r["p_threshold_z"] for r in grid if r["p_threshold_z"] is not None),
                                 default=None),
        "all_converged": all(r["diagnostics"]["converged"] for r in grid),
    }


def _write_sweep(out: dict, grid: list[dict], outdir, outcome_name: str, mode: str, scale: str,
                 engine: str) -> None:
    """Write the result's JSON and the grid's CSV, recording their paths in ``out["written"]``."""
    stem = f"sweep_{outcome_name}_{scale if mode == 'effect' else 'arm'}_{engine}"
    json_path = Path(outdir) / f"{stem}.json"
    csv_path = Path(outdir) / f"{stem}.csv"
    out["written"] = {"json": str(json_path), "csv": str(csv_path)}
    files.write_text(csv_path, grid_csv(grid))
    files.write_json(json_path, out)


def _pymc_parallel(problem, todo, grid_first, grid_second, seeds, settings, workers):
    """Yield (index, record) from ``workers`` processes, each sampling with ``cores=1``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from dataclasses import replace

    one_core = replace(settings, cores=1)
    payloads = [(k, problem.mode, problem.control, problem.scale, float(grid_first[k]), float(grid_second[k]),
                 problem.outcome, problem.threshold, seeds[k], one_core) for k in todo]
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = [pool.submit(_pymc_worker, p) for p in payloads]
        for future in as_completed(futures):
            yield future.result()
    except BaseException:
        # Ctrl-C, SIGTERM or an error: stop the workers now rather than after their current
        # point (whose result would be lost anyway); committed points stay in the cache
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _trial_hash(trial: Trial) -> str:
    """SHA-256 of the trial file, or of the trial's contents when it has no file."""
    if trial.source_path and Path(trial.source_path).is_file():
        return files.file_sha256(trial.source_path)
    return hashlib.sha256(repr((trial.id, trial.outcomes, trial.priors)).encode()).hexdigest()


def _grid_brackets(grid, first_vals, second_vals, second_name, levels, lower) -> dict:
    """Per (sd, level): the two neighbouring grid centres between which P(benefit) crosses."""
    out = {}
    n1 = len(first_vals)
    for j, second in enumerate(second_vals):
        p = np.array([grid[j * n1 + i]["p_benefit_exact"] for i in range(n1)])
        c = np.asarray(first_vals)
        if lower:
            p, c = p[::-1], c[::-1]
        for level in levels:
            above = np.flatnonzero(p >= level)
            if len(above) and above[0] > 0:
                out[(float(second), level)] = [float(c[above[0] - 1]), float(c[above[0]])]
    return out


CSV_COLUMNS = ("prior_mean", "prior_sd", "prior_ess", "p_benefit", "p_benefit_mcse", "p_benefit_exact",
               "p_benefit_z", "p_threshold", "p_threshold_mcse", "p_threshold_exact", "p_threshold_z", "median_effect",
               "median_effect_exact", "prior_p_benefit", "method", "seed", "converged", "max_r_hat",
               "min_ess_bulk", "divergences")


def grid_csv(grid: list[dict]) -> str:
    """The grid as tidy CSV: one row per prior, empty cells for what does not apply."""
    buf = _io.StringIO()
    cols = [c for c in CSV_COLUMNS if any(c in r or c in (r.get("diagnostics") or {}) for r in grid)]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for r in grid:
        diag = r.get("diagnostics") or {}
        vals = []
        for c in cols:
            v = r.get(c, diag.get(c))
            vals.append("" if v is None else (f"{v:.10g}" if isinstance(v, float) else v))
        writer.writerow(vals)
    return buf.getvalue()


def summary_lines(result: dict) -> list[str]:
    """Plain sentences for the terminal: tipping points at the headline level, reverse-Bayes."""
    lines = []
    tp = result["tipping_point"]
    rows = tp.get("by_sd") or tp.get("by_ess") or []
    top = max(result["levels"])
    for r in rows:
        if r["level"] == top:
            lines.append(r["sentence"])
    rb = result["reverse_bayes"]
    lines.append(rb["analysis_of_credibility"]["sentence"])
    return lines
