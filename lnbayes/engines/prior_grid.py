"""Fast exact prior sweeps, tipping points and reverse-Bayes (NumPy and SciPy only).

The pure-maths half of ``lnbayes sweep``. Nothing here samples, writes files or knows about
PyMC; :mod:`lnbayes.analyses.sweep` orchestrates, caches and writes.

Effect-level sweeps
-------------------
The model is the one of :func:`lnbayes.engines.exact.effect_posterior`: ``p_control ~ pi_c`` (the Beta
mixture of the trial file), ``theta | p_control ~ Normal(mu, sd^2)`` truncated (for log_rr and
rd) to the ``theta`` that keep ``p_treatment`` in (0, 1), and binomial counts in each arm. For one
outcome and one control prior, everything except the Normal density is fixed, so the posterior
integrals are *linear functionals of the prior density* evaluated on a grid:

    mass(prior) = sum_i A_i / Z_i(mu, sd) * sum_j W_ij B_ij g_j(mu, sd)

with rows ``i`` on ``u = logit(p_control)`` (Simpson weights times ``pi_c * L_c * dp/du`` in
``A_i``), a uniform ``theta`` grid ``j``, the treatment-arm likelihood ``B_ij``, quadrature
weights ``W_ij`` for the part of the row being integrated (all of it, ``theta > 0``, or beyond
the clinical threshold), the Normal density ``g_j`` and the truncation normaliser
``Z_i = Phi((hi_i - mu) / sd) - Phi((lo_i - mu) / sd)`` (1 on the log-OR scale). ``A``, ``B`` and
``W`` are computed once per prior sd; each prior then costs a matrix product. On the log-OR
scale ``Z = 1`` and the row sum collapses to one vector, so a prior costs a dot product.

Quadrature. The ``theta`` spacing is ``min(sd, s_lik) / 8`` or ``/ 12`` (``s_lik``: the width of the
treatment-arm likelihood on the scale), the grid spans every prior centre +- 12 sd (and, when
truncated, 12 sd inside every row's feasible edge). Cut integrals ``int_a^b f`` use the
cumulative trapezoid rule with the Euler-Maclaurin end correction and cubic Hermite
interpolation inside the cut cell (fourth order); feasible edges are cuts too, with the
treatment likelihood ``p^y (1 - p)^(n - y)`` continued as a polynomial across them so the
interpolation stays smooth. Rows: Simpson rule on ``logit(p_control)`` over the range where
``pi_c * L_c`` is within 60 nats of its maximum; 401 nodes on the log-OR scale (801 or 1601 for
sd < 0.1 with a threshold, whose cut moves with p_control), 201 on log RR and RD. The theta
spacing is ``/ 8`` on the log-OR scale and ``/ 12`` on the truncated scales.

Accuracy (checked in tests/test_sweep.py against :func:`lnbayes.engines.exact.effect_posterior`): better
than 1e-4 on P(benefit) and P(beyond threshold) for sd >= 0.02 on log_or / log_rr and
sd >= 0.005 on rd, and prior centres within about 30 sd of the feasible range. Priors where the
truncation normaliser underflows (a centre more than ~35 sd beyond a row's feasible edge) are
flagged (``ok = False``) and the orchestration layer falls back to the exact engine.

Memory (bounded by design): the theta grid of a group of priors spans only where their
posteriors can be (:meth:`EffectSweep._theta_range`), centres are grouped so that no grid exceeds
``MAX_THETA_NODES`` nodes, and a grid is ``rows x nodes x (2 + integrals)`` float64 values (at
most 1601 x 6000 x 5 x 8 bytes = 384 MB, usually a few MB); grids kept for reuse are capped at
``GROUP_CACHE_BYTES`` (256 MB, least recently used dropped first; log-OR grids keep only their
collapsed vectors, and their likelihood values are shared across sds within
``LIK_CACHE_BYTES``), priors are evaluated in
batches of 512, and a grid that would exceed ``GROUP_BYTES_LIMIT`` (1 GiB) is refused with
:class:`lnbayes.errors.LnbayesError` before it is built. A sweep on a trial of 10^6 patients with
5 x 10^5 events peaks at about 200 MB (``benchmarks/memory_bounds.py``).

Quantiles and CDFs for many priors (the explorer's estimate grid)
-----------------------------------------------------------------
:func:`effect_estimates` keeps each row's cumulative integral of the reweighted lattice
(``W``'s rule read at any theta: :func:`lnbayes.numerics.quadrature.cumulative_integral`), so
the CDF of RD, OR or RR at any value is a sum over the rows of one read each (every measure
increases with theta at fixed p_control); quantiles are Newton steps on it inside brackets from
a coarse grid, for all priors of one sd at once. Rows are at most 0.2 prior sds apart
(:data:`ESTIMATE_ROW_SPACING`): a narrow prior turns each row's CDF at a value from 0 to 1
within a fraction of a prior sd of logit(p_control). :func:`truncated_prior_cdf` gives the
truncated prior's own CDF (no data). Accuracy (tests/engines/test_prior_grid.py, and over whole
explorer grids of the gallery): within 1e-3 of the exact engine's cut-aware quantiles (RD; log
scale for ratios; worst seen 8.7e-4, on log RR near the unit square's edge) and 1e-4 on CDFs.

Arm-level sweeps
----------------
Treatment-arm prior ``Beta(m * ess, (1 - m) * ess)``, control prior from the file: both arms are
conjugate, so P(benefit) is a one-dimensional sum over control-arm nodes of Beta CDFs.

Reverse-Bayes
-------------
On the log-OR scale with the normal approximation of the 2x2 table (Woolf's estimate and
standard error), closed forms for the prior centre that reaches a posterior probability and the
advocacy limit of the Analysis of Credibility (Matthews 2018, 2019; Held et al. 2022).

References
----------
Matthews RAJ. Beyond 'significance': principles and practice of the Analysis of Credibility.
R Soc Open Sci 2018;5:171047. doi:10.1098/rsos.171047.
Matthews RAJ. Moving towards the post p < 0.05 era via the analysis of credibility. Am Stat
2019;73(sup1):202-212. doi:10.1080/00031305.2018.1543136.
Held L, Matthews R, Ott M, Pawel S. Reverse-Bayes methods for evidence assessment and research
synthesis. Res Synth Methods 2022;13:295-314 (PMC9305905).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
from scipy import special

from lnbayes.engines.exact import beta_nodes
from lnbayes.errors import LnbayesError
from lnbayes.model import dists, effects
from lnbayes.model.density import BetaMix, arm_mix, binom_logpmf_logit, normal_log_mass, update_beta
from lnbayes.model.effects import MEASURE_OF_EFFECT_SCALE
from lnbayes.numerics import quadrature, roots
from lnbayes.numerics.quadrature import hermite_quantile, interval_weights, interval_weights_rows

N_ROWS = 401
"""Simpson nodes on logit(p_control) (801 or 1601 for narrow log-OR priors with a threshold)."""
NODES_PER_SD = 8
"""theta grid spacing: min(prior sd, likelihood width) / NODES_PER_SD."""
PAD_SD = 12.0
"""The theta grid spans each prior centre +- PAD_SD prior sds."""
ROW_NATS = 60.0
"""Rows span where pi_c * L_c is within ROW_NATS of its maximum."""
TRUNCATED_ROWS = 201
"""Rows for log_rr and rd."""
TRUNCATED_NODES_PER_SD = 12
"""log_rr and rd: finer theta spacing, for the likelihood's behaviour at the feasible edge."""
MAX_THETA_NODES = 6000
"""Larger theta grids are split by prior centre."""
GROUP_CACHE_BYTES = 256 << 20
"""Grids kept for reuse (least recently used first out): at most 256 MB."""
LIK_CACHE_BYTES = 64 << 20
"""Log-OR treatment likelihoods kept per (rows, theta spacing) for reuse across sds (least
recently used out beyond 64 MB; the newest is always kept)."""
GROUP_BYTES_LIMIT = 1 << 30
"""A single grid needing more than 1 GiB is refused (LnbayesError) before it is built."""
SETTINGS = {"rows": N_ROWS, "nodes_per_sd": NODES_PER_SD, "pad_sd": PAD_SD, "row_nats": ROW_NATS,
            "method": "linear functionals of the prior density, version 2 (theta lattice k h)"}



# ---------------------------------------------------------------------------------------------
# Effect-level sweep
# ---------------------------------------------------------------------------------------------


def likelihood_width(scale: str, events: int, n: int) -> float:
    """Approximate standard deviation of the treatment-arm likelihood on ``scale``."""
    p = (events + 0.5) / (n + 1.0)
    if scale == "log_or":
        return float(np.sqrt(1 / (n * p * (1 - p))))
    if scale == "log_rr":
        return float(np.sqrt((1 - p) / (n * p)))
    return float(np.sqrt(p * (1 - p) / n))


@dataclass
class _Group:
    """Precomputed grid for one prior sd and a range of centres."""

    sd: float
    theta: np.ndarray
    wb: dict  # "stacked": (n R, J) quadrature weights times likelihood for n integrals (not kept
    # on the log-OR scale once collapsed)
    b_mask: np.ndarray | None  # (R, J) likelihood on the feasible part (marginal density of
    # theta); None on the log-OR scale once collapsed
    rows: SimpleNamespace | None = None
    collapsed: dict[str, np.ndarray] = field(default_factory=dict)  # log_or: A @ wb


@dataclass
class SweepResult:
    """Arrays over priors: P(theta > 0), P(measure > threshold), posterior median of theta."""

    p_above_zero: np.ndarray
    p_above_threshold: np.ndarray
    median: np.ndarray
    ok: np.ndarray


class EffectSweep:
    """Exact posterior summaries for many Normal effect priors, with one control prior.

    Parameters
    ----------
    control_prior
        :class:`lnbayes.model.spec.BetaPrior` on p_control (a mixture is allowed).
    scale
        ``log_or``, ``log_rr`` or ``rd``.
    outcome
        :class:`lnbayes.model.spec.Outcome` (its counts; the direction is applied by the caller).
    threshold
        ``(measure, value)``: P(measure > value) is computed (``measure`` one of
        risk_difference, risk_ratio, odds_ratio), or None.

    Notes
    -----
    See the module docstring for the method and its accuracy. :meth:`evaluate` takes arrays of
    prior centres and sds and returns :class:`SweepResult`; grids are cached per sd.
    """

    def __init__(self, control_prior, scale: str, outcome, threshold: tuple[str, float] | None = None,
                 n_rows: int = N_ROWS):
        if scale not in MEASURE_OF_EFFECT_SCALE:
            raise ValueError(f"unknown scale {scale!r}")
        self.scale = scale
        self.outcome = outcome
        self.threshold = threshold
        prior_c = arm_mix(control_prior)  # Beta mixture, or Normal mixture on the logit
        yc, nc = outcome.control_events, outcome.control_n

        def log_row(u):
            return prior_c.logpdf_logit(u) + binom_logpmf_logit(yc, nc, u)

        u_c = np.linspace(-40, 40, 1601)
        lr = log_row(u_c)
        keep = np.flatnonzero(lr > np.max(lr) - ROW_NATS)
        step = u_c[1] - u_c[0]
        self._u_range = (u_c[keep[0]] - step, u_c[keep[-1]] + step)
        self._log_row = log_row
        self._row_sets: dict[int, SimpleNamespace] = {}
        self._default_rows = n_rows
        default = self._rows(n_rows)
        self.u, self.x, self.a = default.u, default.x, default.a
        self.lo, self.hi, self.cut = default.lo, default.hi, default.cut
        self.s_lik = likelihood_width(scale, outcome.treatment_events, outcome.treatment_n)
        yt, nt = outcome.treatment_events, outcome.treatment_n
        self._log_lmax = float(dists.binom_logpmf(yt, nt, yt / nt))

        self._groups: OrderedDict[tuple, _Group] = OrderedDict()
        self._lik_cache: OrderedDict[tuple, tuple[int, int, np.ndarray]] = OrderedDict()
        self._group_bytes = 0
        self.lik_lo = self._likelihood_floor()

    # -- grids ---------------------------------------------------------------------------

    def _rows(self, n_rows: int) -> SimpleNamespace:
        """Simpson nodes on logit(p_control), their weights, feasible edges and threshold cuts."""
        if n_rows in self._row_sets:
            return self._row_sets[n_rows]
        u = np.linspace(*self._u_range, n_rows)
        lr = self._log_row(u)
        a = quadrature.simpson_weights(n_rows, u[1] - u[0]) * np.exp(lr - lr.max())
        x = special.expit(u)
        lo, hi = effects.theta_bounds(self.scale, x)
        cut = None
        if self.threshold is not None:
            measure, value = self.threshold
            t = effects.p_treatment_at(measure, x, value)
            with np.errstate(divide="ignore", invalid="ignore"):
                cut = np.where(t >= 1, np.inf, np.where(t <= 0, -np.inf,
                               effects.theta_of(self.scale, x, np.clip(t, 1e-300, 1 - 1e-16))))
        rows = SimpleNamespace(u=u, x=x, a=a / a.sum(), lo=lo, hi=hi, cut=cut)
        self._row_sets[n_rows] = rows
        return rows

    def rows_for_sd(self, sd: float) -> int:
        """Rows on logit(p_control): more for narrow priors, whose threshold cut sharpens in u."""
        if self.scale != "log_or":
            return TRUNCATED_ROWS  # accurate to 1e-5 there (tests); halves the matrix products
        if self.threshold is None or sd >= 0.1:
            return self._default_rows
        return 801 if sd >= 0.04 else 1601

    def _theta_range(self, sd: float, m_lo: float, m_hi: float) -> tuple[float, float]:
        lo, hi = m_lo - PAD_SD * sd, m_hi + PAD_SD * sd
        if self.scale != "log_or":
            rel = self.a > self.a.max() * 1e-30
            edge_hi = self.hi[rel]
            edge_lo = self.lo[rel]
            lo = min(lo, float(np.min(edge_hi)) - PAD_SD * sd)
            if np.all(np.isfinite(edge_lo)):
                hi = max(hi, float(np.max(edge_lo)) + PAD_SD * sd)
            lo = max(lo, float(np.min(self.lo)), self.lik_lo)
            hi = min(hi, float(np.max(self.hi)))
        # where the posterior can be: the grid need not span a wide prior far from a narrow
        # likelihood (large trials); nodes stay on the lattice k h, so dropping far nodes only
        # drops negligible terms
        post_lo, post_hi = self._posterior_window(sd, m_lo, m_hi)
        if post_lo < post_hi:
            new_lo, new_hi = max(lo, post_lo), min(hi, post_hi)
            if new_hi <= new_lo:
                # the prior's span and the posterior's window do not meet (a prior in conflict
                # with the data, or piled up at a feasible edge): span both
                # (an open side of the window, few events there: reach as far again as the
                # prior's span, then the feasible range)
                width = hi - lo
                new_lo = min(lo, post_lo if np.isfinite(post_lo) else post_hi - width)
                new_hi = max(hi, post_hi if np.isfinite(post_hi) else post_lo + width)
                if self.scale != "log_or":
                    new_lo = max(new_lo, float(np.min(self.lo)), self.lik_lo)
                    new_hi = min(new_hi, float(np.max(self.hi)))
            lo, hi = new_lo, new_hi
        return lo, hi

    def _posterior_window(self, sd: float, m_lo: float, m_hi: float) -> tuple[float, float]:
        """Where theta's posterior lies for Normal(m, sd^2) priors with m in [m_lo, m_hi].

        In each row the treatment likelihood is about Normal(theta_hat(x), s_lik^2), so the
        posterior mean is the precision-weighted mean of theta_hat and m, with sd
        s_post = (1/s_lik^2 + 1/sd^2)^(-1/2); the window holds that +- 16 s_post + 4 s_lik for
        every row and centre. A side is bounded only when the likelihood decays there like a
        Normal (at least 5 events, and 5 non-events, on that side); else it is unbounded.
        """
        yt, nt = self.outcome.treatment_events, self.outcome.treatment_n
        rel = self.a > self.a.max() * 1e-30
        p_hat = (yt + 0.5) / (nt + 1.0)
        theta_hat = effects.theta_of(self.scale, self.x[rel], p_hat)
        theta_hat = theta_hat[np.isfinite(theta_hat)]
        if len(theta_hat) == 0:
            return -np.inf, np.inf
        s_lik = self.s_lik
        w = sd**2 / (sd**2 + s_lik**2)
        s_post = 1.0 / np.sqrt(1.0 / s_lik**2 + 1.0 / sd**2)
        reach = 16 * s_post + 4 * s_lik
        lo = w * float(np.min(theta_hat)) + (1 - w) * m_lo - reach if yt >= 5 else -np.inf
        hi = w * float(np.max(theta_hat)) + (1 - w) * m_hi + reach if nt - yt >= 5 else np.inf
        return lo, hi

    def _likelihood_floor(self) -> float:
        """log_rr: below this theta the treatment likelihood is < e^-60 of its maximum in every
        row that matters (the grid need not go lower); -inf on other scales."""
        if self.scale != "log_rr":
            return -np.inf
        yt, nt = self.outcome.treatment_events, self.outcome.treatment_n
        if yt == 0:
            return -np.inf
        p_hat = yt / nt
        # log-likelihood minus its floor, increasing in log p below the maximum at p_hat
        def f(lp: float) -> float:
            return float(dists.binom_logpmf(yt, nt, np.exp(lp))) - (self._log_lmax - ROW_NATS)

        p_lo = float(np.exp(roots.monotone_root(
            f, np.log(1e-300), np.log(p_hat), increasing=True, at_limit="clamp", xtol=1e-10,
            what="the treatment likelihood's floor")))
        x_max = float(np.max(self.x[self.a > self.a.max() * 1e-30]))
        return float(np.log(p_lo) - np.log(x_max)) - 1.0

    def _nodes_per_sd(self) -> int:
        return NODES_PER_SD if self.scale == "log_or" else TRUNCATED_NODES_PER_SD

    def _group(self, sd: float, m_lo: float, m_hi: float) -> _Group:
        key = (float(sd), float(m_lo), float(m_hi))
        if key in self._groups:
            self._groups.move_to_end(key)
            return self._groups[key]
        lo, hi = self._theta_range(sd, m_lo, m_hi)
        rows = self._rows(self.rows_for_sd(sd))
        h = min(sd, self.s_lik) / self._nodes_per_sd()
        # nodes on the lattice k h (k whole), whatever the range: a prior's result does not
        # depend on which other centres share its grid (or on the last bit of their values)
        k_lo, k_hi = int(np.floor(lo / h)), int(np.ceil(hi / h))
        need = 8.0 * len(rows.x) * (k_hi - k_lo + 7) * (3 + 3 + (rows.cut is not None))
        if need > GROUP_BYTES_LIMIT:
            raise LnbayesError(
                f"sweep: a prior sd of {sd:.3g} with this trial's likelihood (width "
                f"{self.s_lik:.2g} on {self.scale}) needs a grid of {len(rows.x)} x "
                f"{k_hi - k_lo + 7} nodes "
                f"(about {need / 2**30:.1f} GiB, limit {GROUP_BYTES_LIMIT / 2**30:.0f} GiB); "
                "sweep wider prior sds or fewer centres"
            )
        theta = h * np.arange(k_lo - 3, k_hi + 4, dtype=float)
        lows = [rows.lo, np.maximum(rows.lo, 0.0)]
        if rows.cut is not None:
            lows.append(np.maximum(rows.lo, rows.cut))
        if self.scale == "log_or":
            # evaluation needs only the collapsed vectors A @ (W B) and A @ B; the (rows x nodes)
            # arrays are not kept, so a 100-sd sweep's grids all stay cached (at a few MB each,
            # the 256 MB cap made the tipping-point search rebuild every grid the sweep had built)
            b_ext = self._log_or_likelihood(rows, h, k_lo - 3, k_hi + 3)
            collapsed = np.stack([rows.a @ (interval_weights_rows(theta, low, rows.hi) * b_ext)
                                  for low in lows])
            group = _Group(sd=float(sd), theta=theta, wb={"n": len(lows)}, b_mask=None,
                           rows=rows, collapsed={"stacked": collapsed, "marginal": rows.a @ b_ext})
        else:
            b_ext, inside = self._truncated_likelihood(rows, theta, h)
            b_mask = np.where(inside, b_ext, 0.0)
            # total, above zero (and above the threshold) stacked: one matrix product per batch
            stacked = np.concatenate([interval_weights(theta, low, rows.hi) * b_ext
                                      for low in lows])
            group = _Group(sd=float(sd), theta=theta, wb={"stacked": stacked, "n": len(lows)},
                           b_mask=b_mask, rows=rows)
        self._groups[key] = group
        self._group_bytes += _group_bytes(group)
        while self._group_bytes > GROUP_CACHE_BYTES and len(self._groups) > 1:
            _, old = self._groups.popitem(last=False)
            self._group_bytes -= _group_bytes(old)
        return group

    def _truncated_likelihood(self, rows: SimpleNamespace, theta: np.ndarray, h: float):
        """log_rr, rd: the treatment likelihood on (rows x theta), continued as a polynomial only
        within 3 nodes of a feasible edge (where cut weights reach), zero further out; and the
        mask of the feasible nodes."""
        th = theta[None, :]
        inside = (th > rows.lo[:, None]) & (th < rows.hi[:, None])
        near = ((th >= rows.hi[:, None]) & (th <= rows.hi[:, None] + 3 * h)) | (
            (th <= rows.lo[:, None]) & (th >= rows.lo[:, None] - 3 * h))
        ii, jj = np.nonzero(inside | near)
        b_ext = np.zeros(inside.shape)
        b_ext[ii, jj] = self._likelihood(rows.x[ii], theta[jj])[0]
        return b_ext, inside

    def _log_or_likelihood(self, rows: SimpleNamespace, h: float, k0: int, k1: int) -> np.ndarray:
        """:meth:`_likelihood` at the rows' p_control nodes and theta = k h, k = k0..k1.

        Sds at or above the likelihood's width share one spacing h, so the values are kept per
        (rows, h) over the union of the ranges asked for and sliced (the same numbers: theta is
        h k whatever the range).
        """
        key = (len(rows.x), h)
        cache = self._lik_cache
        have = cache.get(key)
        if have is None or k0 < have[0] or k1 > have[1]:
            def values_at(a: int, b: int) -> np.ndarray:  # k = a..b (elementwise: same bits)
                theta = h * np.arange(a, b + 1, dtype=float)
                return self._likelihood(rows.x[:, None], theta[None, :])[0]

            if have is None:
                have = (k0, k1, values_at(k0, k1))
            else:  # extend the kept range by the missing nodes only
                lo, hi, values = have
                parts = ([values_at(k0, lo - 1)] if k0 < lo else []) + [values] + (
                    [values_at(hi + 1, k1)] if k1 > hi else [])
                have = (min(k0, lo), max(k1, hi), np.concatenate(parts, axis=1))
            cache.pop(key, None)
            cache[key] = have
            # least recently used out: at most LIK_CACHE_BYTES (the newest entry always kept)
            while len(cache) > 1 and sum(v[2].nbytes for v in cache.values()) > LIK_CACHE_BYTES:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        lo, _, values = have
        return np.ascontiguousarray(values[:, k0 - lo:k1 - lo + 1])

    def _likelihood(self, x, theta):
        """Treatment-arm likelihood / its maximum, continued as a polynomial outside (0, 1)."""
        yt, nt = self.outcome.treatment_events, self.outcome.treatment_n
        if self.scale == "log_or":
            # logit(p_treatment) = u + theta: one transcendental per node
            s = special.logit(x) + theta
            log_lik = binom_logpmf_logit(yt, nt, s)
            return np.exp(log_lik - self._log_lmax), np.ones(s.shape, bool)
        p = effects.p_treatment(self.scale, x, theta)
        inside = (p > 0) & (p < 1)
        log_comb = dists.log_binom_coef(yt, nt)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_abs = log_comb + special.xlogy(yt, np.abs(p)) + special.xlogy(nt - yt, np.abs(1 - p))
            sign = np.where(p < 0, (-1.0) ** yt, 1.0) * np.where(p > 1, (-1.0) ** (nt - yt), 1.0)
            poly = sign * np.exp(np.minimum(log_abs - self._log_lmax, 50.0))
        return np.nan_to_num(poly, nan=0.0, posinf=0.0, neginf=0.0), inside

    # -- evaluation ----------------------------------------------------------------------

    def evaluate(self, means, sds, span: tuple[float, float] | None = None,
                 median: bool = True) -> SweepResult:
        """Summaries for priors ``Normal(means[k], sds[k]^2)`` (arrays of equal length).

        ``span``: build (and cache) the grid for centres in this range instead of the range of
        ``means`` (root-finding evaluates one centre at a time inside a fixed range).
        ``median=False`` leaves the medians NaN (root-finding on P(benefit) needs none; the
        probabilities are the same bits either way).
        """
        means = np.atleast_1d(np.asarray(means, float))
        sds = np.broadcast_to(np.atleast_1d(np.asarray(sds, float)), means.shape)
        out = SweepResult(*(np.full(means.shape, np.nan) for _ in range(3)),
                          ok=np.zeros(means.shape, bool))
        for sd in np.unique(sds):
            idx = np.flatnonzero(sds == sd)
            idx = idx[np.argsort(means[idx])]
            # split the centres so that no theta grid exceeds MAX_THETA_NODES
            if span is not None:
                self._evaluate_group(self._group(sd, *span), means[idx], idx, out, median)
                continue
            h = min(sd, self.s_lik) / self._nodes_per_sd()
            start = 0
            while start < len(idx):
                # the most centres from here whose common grid stays within MAX_THETA_NODES
                # (the grid's range grows with the last centre: bisection on the index)
                m0 = means[idx[start]]
                ok_n, bad_n = 1, len(idx) - start + 1
                while bad_n - ok_n > 1:
                    mid = (ok_n + bad_n) // 2
                    lo, hi = self._theta_range(sd, m0, means[idx[start + mid - 1]])
                    if (hi - lo) / h <= MAX_THETA_NODES:
                        ok_n = mid
                    else:
                        bad_n = mid
                stop = start + ok_n
                chunk = idx[start:stop]
                self._evaluate_group(self._group(sd, means[chunk[0]], means[chunk[-1]]),
                                     means[chunk], chunk, out, median)
                start = stop
        return out

    def _evaluate_group(self, group: _Group, means: np.ndarray, idx: np.ndarray, out: SweepResult,
                        median: bool = True):
        sd = group.sd
        rows = group.rows
        theta = group.theta
        h = theta[1] - theta[0]
        for lo in range(0, len(means), 512):
            mu = means[lo:lo + 512]
            sel = idx[lo:lo + 512]
            z2 = ((theta[None, :] - mu[:, None]) / sd) ** 2
            z2min = z2.min(axis=1)
            g = np.exp(-0.5 * (z2 - z2min[:, None]))  # (K, J), per-prior constant dropped
            if self.scale == "log_or":
                c = group.collapsed
                masses = c["stacked"] @ g.T  # (n, K)
                total, above0 = masses[0], masses[1]
                above_t = masses[2] if len(masses) > 2 else None
                marginal = g * c["marginal"][None, :] if median else None
                ok = np.ones(len(mu), bool)
            else:
                log_z = normal_log_mass(rows.lo[:, None], rows.hi[:, None], mu[None, :], sd)  # (R, K)
                e = -0.5 * z2min[None, :] - log_z
                ok = np.all((e < 600) | (rows.a[:, None] < 1e-300), axis=0)
                ok &= dists.norm_sf(self.lik_lo, mu, sd) > 1e-6
                e_fac = np.exp(np.minimum(e, 600))  # (R, K) 1 / Z up to a per-prior constant
                rw = rows.a[:, None] * e_fac
                R = len(rows.x)
                prod = (group.wb["stacked"] @ g.T).reshape(group.wb["n"], R, -1)  # (n, R, K)
                masses = np.einsum("rk,nrk->nk", rw, prod)
                total, above0 = masses[0], masses[1]
                above_t = masses[2] if len(masses) > 2 else None
                marginal = g * (rw.T @ group.b_mask) if median else None
            ok &= np.isfinite(total) & (total > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                out.p_above_zero[sel] = np.clip(above0 / total, 0.0, 1.0)
                if above_t is not None:
                    out.p_above_threshold[sel] = np.clip(above_t / total, 0.0, 1.0)
            if median:
                out.median[sel] = hermite_quantile(theta, marginal, h, 0.5)
            out.ok[sel] = ok


def _group_bytes(group: _Group) -> int:
    arrays = [group.theta, group.b_mask, group.wb.get("stacked"), *group.collapsed.values()]
    return int(sum(a.nbytes for a in arrays if a is not None))


# ---------------------------------------------------------------------------------------------
# Arm-level sweep (conjugate)
# ---------------------------------------------------------------------------------------------


class ArmSweep:
    """Exact summaries for treatment-arm priors ``Beta(m * ess, (1 - m) * ess)``.

    The control arm keeps the trial file's (mixture) Beta prior; its posterior is a Beta
    mixture, integrated by a Simpson rule on logit(p_control) (``n_rows`` nodes); the treatment
    arm's posterior is ``Beta(m ess + y, (1 - m) ess + n - y)``, whose CDF is exact.
    """

    def __init__(self, control_prior, outcome, scale: str = "rd",
                 threshold: tuple[str, float] | None = None, n_rows: int = 401):
        post_c, _ = update_beta(BetaMix.of(control_prior), outcome.control_events, outcome.control_n)
        self.x, self.w = beta_nodes(post_c, n_rows)
        self.outcome = outcome
        self.scale = scale
        self.threshold = threshold

    def _posterior_shapes(self, means, ess):
        y, n = self.outcome.treatment_events, self.outcome.treatment_n
        return means * ess + y, (1 - means) * ess + n - y

    def prob_above(self, measure: str, value: float, means, ess) -> np.ndarray:
        """P(measure > value) for each prior (``measure='p_control'`` is not allowed)."""
        a, b = self._posterior_shapes(np.asarray(means, float), np.asarray(ess, float))
        t = effects.p_treatment_at(measure, self.x, value)  # (R,)
        cdf = special.betainc(a[None, :], b[None, :], np.clip(t, 0.0, 1.0)[:, None])
        return np.clip(1.0 - self.w @ cdf, 0.0, 1.0)

    def prob_benefit_above(self, means, ess) -> np.ndarray:
        """P(p_treatment > p_control)."""
        return self.prob_above("risk_difference", 0.0, means, ess)

    def median(self, means, ess) -> np.ndarray:
        """Posterior median of the effect on the sweep scale (log OR, log RR or RD)."""
        means = np.asarray(means, float)
        ess = np.asarray(ess, float)
        measure = MEASURE_OF_EFFECT_SCALE[self.scale]
        a, b = self._posterior_shapes(means, ess)

        def cdf(v):  # v: (K,) on the scale; returns P(effect <= v)
            value = np.exp(v) if self.scale != "rd" else v
            t = effects.p_treatment_at(measure, self.x[:, None], value[None, :])
            return self.w @ special.betainc(a[None, :], b[None, :], np.clip(t, 0.0, 1.0))

        lo = np.full(means.shape, -1.0 if self.scale == "rd" else -40.0)
        hi = np.full(means.shape, 1.0 if self.scale == "rd" else 40.0)
        for _ in range(60 if self.scale != "rd" else 45):
            mid = 0.5 * (lo + hi)
            below = cdf(mid) < 0.5
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        return 0.5 * (lo + hi)


# ---------------------------------------------------------------------------------------------
# Tipping points by root-finding
# ---------------------------------------------------------------------------------------------


def tipping_centre(prob_of_centre, level: float, lo: float, hi: float, direction: int = 1,
                   xtol: float = 1e-8) -> dict:
    """The least enthusiastic centre in [lo, hi] at which a probability reaches ``level``.

    Parameters
    ----------
    prob_of_centre
        Callable: centre -> P(benefit), increasing in ``direction * centre``.
    level
        Target probability.
    lo, hi
        Searched range of centres.
    direction
        +1 when larger centres are more enthusiastic, -1 when smaller ones are.

    Returns
    -------
    dict
        ``status`` (``found``, ``reached_at_start`` when the least enthusiastic centre searched
        already reaches the level, ``not_reached``), ``centre`` (None unless found), and the
        probabilities at both ends of the range.
    """
    least, most = (lo, hi) if direction > 0 else (hi, lo)
    p_least, p_most = prob_of_centre(least), prob_of_centre(most)
    out = {"p_at_least_enthusiastic": p_least, "p_at_most_enthusiastic": p_most, "centre": None}
    if p_least >= level:
        out["status"] = "reached_at_start"
    elif p_most < level:
        out["status"] = "not_reached"
    else:
        out["centre"] = roots.monotone_root(
            lambda c: prob_of_centre(c) - level, lo, hi, increasing=direction > 0, xtol=xtol,
            what=f"the centre reaching P(benefit) = {level:g}")
        out["status"] = "found"
    return out


# ---------------------------------------------------------------------------------------------
# Reverse-Bayes on the normal approximation
# ---------------------------------------------------------------------------------------------


def wald_log_or(outcome) -> tuple[float, float]:
    """Log odds ratio (treatment vs control) and its Woolf standard error from the 2x2 table.

    With a zero cell, 0.5 is added to every cell (Haldane-Anscombe correction).
    """
    a, b = outcome.treatment_events, outcome.treatment_n - outcome.treatment_events
    c, d = outcome.control_events, outcome.control_n - outcome.control_events
    cells = np.array([a, b, c, d], float)
    if np.any(cells == 0):
        cells = cells + 0.5
    a, b, c, d = cells
    return float(np.log(a * d / (b * c))), float(np.sqrt(np.sum(1 / cells)))


def normal_tipping_centre(estimate: float, se: float, prior_sd: float, level: float) -> float:
    """Prior centre mu at which a Normal(mu, prior_sd^2) prior gives P(theta > 0 | data) = level.

    Normal likelihood (estimate, se): the posterior is Normal with precision
    ``1/se^2 + 1/prior_sd^2`` and mean ``(estimate/se^2 + mu/prior_sd^2) / precision``, so
    ``P(theta > 0) = Phi(mean * sqrt(precision))`` and, solving for mu,

        mu = prior_sd^2 * (z_level * sqrt(1/se^2 + 1/prior_sd^2) - estimate / se^2).

    References
    ----------
    Held L, Matthews R, Ott M, Pawel S. Reverse-Bayes methods for evidence assessment and
    research synthesis. Res Synth Methods 2022;13:295-314 (PMC9305905).
    """
    z = dists.norm_ppf(level)
    return float(prior_sd**2 * (z * np.sqrt(1 / se**2 + 1 / prior_sd**2) - estimate / se**2))


def advocacy_limit(lower: float, upper: float) -> float:
    """Advocacy limit of the Analysis of Credibility for a non-significant interval (L < 0 < U).

    ``AL = -(U + L) (U - L)^2 / (2 U L)`` (Matthews 2018, eq. for non-significant findings;
    Matthews 2019). The advocacy prior is Normal with its central ``1 - alpha`` interval
    ``(0, AL)`` (mean ``AL/2``, sd ``AL / (2 z)``); combined with the normal likelihood whose
    ``1 - alpha`` interval is ``(L, U)`` it gives a posterior ``1 - alpha`` interval whose limit
    nearest 0 lies exactly at 0. AL has the sign of the estimate: it is the least extreme prior
    advocacy of an effect *in the direction the data point*.

    References
    ----------
    Matthews RAJ. Beyond 'significance': principles and practice of the Analysis of Credibility.
    R Soc Open Sci 2018;5:171047. doi:10.1098/rsos.171047.
    Matthews RAJ. Moving towards the post p < 0.05 era via the analysis of credibility. Am Stat
    2019;73(sup1):202-212. doi:10.1080/00031305.2018.1543136.
    """
    if not lower < 0 < upper:
        raise ValueError("the advocacy limit is for intervals that include 0 (L < 0 < U)")
    return float(-(upper + lower) * (upper - lower) ** 2 / (2 * upper * lower))


def normal_posterior(estimate: float, se: float, prior_mean: float, prior_sd: float) -> tuple[float, float]:
    """Posterior mean and sd of the normal-normal model (a point prior, sd 0, is its own
    posterior: the advocacy limit of an estimate exactly at no effect is 0)."""
    if prior_sd == 0:
        return float(prior_mean), 0.0
    if se == 0:
        return float(estimate), 0.0
    prec = 1 / se**2 + 1 / prior_sd**2
    return float((estimate / se**2 + prior_mean / prior_sd**2) / prec), float(1 / np.sqrt(prec))


# ---------------------------------------------------------------------------------------------
# Quantiles and CDFs of every measure for many Normal effect priors (the explorer's estimates)
# ---------------------------------------------------------------------------------------------

ESTIMATE_CELLS = 4_000_000
"""Nodes x rows x theta values held at once by :func:`effect_estimates` (32 MB per array)."""
ESTIMATE_COARSE = 24
"""Shared points per measure that bracket every prior's quantiles before the per-prior search."""


@dataclass
class EstimateResult:
    """Arrays over priors: quantiles of each measure and the CDF of the effect at given points."""

    quantiles: dict  # measure -> (levels, K); ratios on their own scale (not logged)
    cdf: np.ndarray  # (K, len(at)): P(theta <= at) on the sweep's scale
    ok: np.ndarray


def _cut_of(scale: str, x: np.ndarray, measure: str, z: np.ndarray):
    """theta at which ``measure`` equals its value at ``z`` (the RD, or the log ratio), per row
    ``x`` (broadcast): +inf where the measure cannot reach it (the whole row lies below), -inf
    where the row lies above; and d theta / d z there."""
    value = z if measure == "risk_difference" else np.exp(np.minimum(z, 700.0))
    t = effects.p_treatment_at(measure, x, value)
    tc = np.clip(t, 1e-300, 1 - 1e-16)
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = np.where(t >= 1, np.inf, np.where(t <= 0, -np.inf, effects.theta_of(scale, x, tc)))
    dt_dz = {"risk_difference": 1.0, "risk_ratio": tc, "odds_ratio": tc * (1 - tc)}[measure]
    dtheta_dt = {"log_or": 1 / (tc * (1 - tc)), "log_rr": 1 / tc, "rd": 1.0}[scale]
    return cut, dt_dz * dtheta_dt


ESTIMATE_NODES_PER_SD = 4
"""theta spacing of the estimates' lattice: min(prior sd, likelihood width) / 4."""


def effect_estimates(sweep: EffectSweep, means, sd: float, measures, levels, at,
                     xtol: float = 1e-8, nodes_per_sd: int = ESTIMATE_NODES_PER_SD) -> EstimateResult:
    """Quantiles of each measure and the CDF of the effect for Normal(means[k], sd^2) priors.

    The lattice of :class:`EffectSweep` (its rows on logit p_control; theta = k h with
    h = min(sd, likelihood width) / ``nodes_per_sd``) is reweighted by each prior's Normal density
    (divided, on log_rr and rd, by its mass over the row's feasible range, as in
    :meth:`EffectSweep.evaluate`); along each row the cumulative integral is the fourth-order rule
    of :func:`lnbayes.numerics.quadrature.interval_weights`, kept at the nodes
    (:func:`~lnbayes.numerics.quadrature.cumulative_integral`) and read at any theta
    (:func:`~lnbayes.numerics.quadrature.cumulative_at`). The CDF of a measure at a value is the
    sum over the rows of each row's integral from its feasible edge up to the theta at which the
    measure takes that value (each measure increases with theta at fixed p_control; rows the
    value lies beyond count whole). Quantiles (on the RD or the log ratio) are bracketed on
    ``ESTIMATE_COARSE`` values shared by a chunk of priors, then found by Newton steps kept
    inside the bracket, to ``xtol`` of the searched span. Priors are taken a few at a time, each
    chunk on the rows and theta range where its posteriors carry more than 1e-16 of their mass.
    ``ok`` is False where the truncation normaliser underflows (as in :meth:`EffectSweep.evaluate`).
    """
    means = np.atleast_1d(np.asarray(means, float))
    at = np.asarray(at, float)
    levels = np.asarray(levels, float)
    order = np.argsort(means)
    lo_t, hi_t = sweep._theta_range(sd, means[order[0]], means[order[-1]])
    rows = _estimate_rows(sweep, sd)
    h = min(sd, sweep.s_lik) / nodes_per_sd
    k_lo, k_hi = int(np.floor(lo_t / h)), int(np.ceil(hi_t / h))
    theta = h * np.arange(k_lo - 3, k_hi + 4, dtype=float)
    if sweep.scale == "log_or":
        b = sweep._likelihood(rows.x[:, None], theta[None, :])[0]
    else:
        b = sweep._truncated_likelihood(rows, theta, h)[0]
    lattice = SimpleNamespace(x=rows.x, a=rows.a, lo=rows.lo, hi=rows.hi, b=b, theta=theta, h=h)
    out = EstimateResult({m: np.full((len(levels), len(means)), np.nan) for m in measures},
                         np.full((len(means), len(at)), np.nan), np.zeros(len(means), bool))
    chunk = int(np.clip(ESTIMATE_CELLS // b.size, 1, ESTIMATE_CHUNK))
    for start in range(0, len(means), chunk):
        sel = order[start:start + chunk]
        _estimate_chunk(sweep, lattice, means[sel], sd, measures, levels, at, xtol, out, sel)
    return out


ESTIMATE_ROW_SPACING = 0.2
"""Rows of the estimates' lattice are at most this many prior sds apart in logit(p_control)
(a narrow prior's posterior turns each row's CDF of RD or RR at a value from 0 to 1 within about
a prior sd of logit(p_control))."""
ESTIMATE_MAX_ROWS = 2001
"""At most this many rows."""


def _estimate_rows(sweep: EffectSweep, sd: float) -> SimpleNamespace:
    """Simpson rows on logit(p_control) over where the sweep's rows carry more than 1e-20 of
    the control arm's weight, as many as the sweep's and at most ESTIMATE_ROW_SPACING prior sds
    apart (odd, at most ESTIMATE_MAX_ROWS)."""
    base = sweep._rows(sweep.rows_for_sd(sd))
    live = np.flatnonzero(base.a > base.a.max() * 1e-20)
    u0, u1 = base.u[max(live[0] - 1, 0)], base.u[min(live[-1] + 1, len(base.u) - 1)]
    n = max(len(live) + 2, int(np.ceil((u1 - u0) / (ESTIMATE_ROW_SPACING * sd))) + 1)
    n = min(n + (n % 2 == 0), ESTIMATE_MAX_ROWS)
    u = np.linspace(u0, u1, n)
    lr = sweep._log_row(u)
    a = quadrature.simpson_weights(n, u[1] - u[0]) * np.exp(lr - lr.max())
    x = special.expit(u)
    lo, hi = effects.theta_bounds(sweep.scale, x)
    return SimpleNamespace(u=u, x=x, a=a / a.sum(), lo=lo, hi=hi, cut=None)


ESTIMATE_CHUNK = 13
"""Priors (neighbouring centres) per chunk: each chunk's lattice spans only their posteriors."""


def _estimate_chunk(sweep, lat, mu, sd, measures, levels, at, xtol, out, sel) -> None:
    """One chunk of priors (means ``mu``): their CDFs at ``at`` and quantiles into ``out[sel]``."""
    g, r, ok = _chunk_weights(sweep, lat, mu, sd)
    rows = _ChunkRows.build(lat, g, r, ok)
    if rows is None:
        out.ok[sel] = False
        return
    if sweep.scale == "log_or":  # no feasible edges: the rows' sum is the marginal's integral
        out.cdf[sel] = rows.marginal_cdf(at)
    else:
        out.cdf[sel] = rows.cdf_at_cuts(np.broadcast_to(at[None, None, :],
                                                        (1, rows.n_rows, len(at))))
    out.ok[sel] = rows.ok
    q = _chunk_quantiles(rows, sweep.scale, measures, np.asarray(levels), xtol)
    n_l = len(levels)
    for i, m in enumerate(measures):
        qm = q[:, i * n_l:(i + 1) * n_l]
        out.quantiles[m][:, sel] = (qm if m == "risk_difference" else np.exp(qm)).T


def _chunk_weights(sweep, lat, mu, sd):
    """Each prior's Normal density on the lattice's theta values, ``g`` (K, J), per-prior
    constant dropped; each row's weight under each prior, ``r`` (K, R) (on log_rr and rd divided
    by the prior's mass over the row's feasible range); and which priors' normalisers are finite,
    ``ok`` (K)."""
    z2 = ((lat.theta[None, :] - mu[:, None]) / sd) ** 2
    z2min = z2.min(axis=1)
    g = np.exp(-0.5 * (z2 - z2min[:, None]))
    if sweep.scale == "log_or":
        return g, np.broadcast_to(lat.a, (len(mu), len(lat.a))), np.ones(len(mu), bool)
    log_z = normal_log_mass(lat.lo[None, :], lat.hi[None, :], mu[:, None], sd)  # (K, R)
    e = -0.5 * z2min[:, None] - log_z
    ok = np.all(e < 600, axis=1) & (dists.norm_sf(sweep.lik_lo, mu, sd) > 1e-6)
    return g, lat.a[None, :] * np.exp(np.minimum(e, 600.0)), ok


@dataclass
class _ChunkRows:
    """A chunk's posteriors, row by row, on the rows and theta range that carry them.

    ``c`` and ``f``: the cumulative integrals and integrands of every (prior, row) along theta
    (flattened; ``origin`` indexes (prior, row, 0)); ``base``: each row's integral up to its
    lower feasible edge; ``rn``: the row weights normalised to a unit posterior mass.
    """

    theta: np.ndarray
    x: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    b: np.ndarray
    g: np.ndarray
    r: np.ndarray
    h: float
    c: np.ndarray
    f: np.ndarray
    origin: np.ndarray
    base: np.ndarray
    mass: np.ndarray
    rn: np.ndarray
    ok: np.ndarray

    @property
    def n_rows(self) -> int:
        return self.b.shape[0]

    @classmethod
    def build(cls, lat, g, r, ok) -> "_ChunkRows | None":
        """Keep the rows and theta values where the chunk's posteriors carry more than 1e-16
        of their mass (None if there are none), and integrate along each row."""
        row_mass = r * (lat.b @ g.T).T  # (K, R)
        keep_r = np.flatnonzero(np.max(
            row_mass / np.maximum(row_mass.sum(axis=1, keepdims=True), 1e-300), axis=0) > 1e-16)
        marg = (r[:, keep_r] @ lat.b[keep_r]) * g
        col = np.max(marg / np.maximum(marg.max(axis=1, keepdims=True), 1e-300), axis=0)
        nz = np.flatnonzero(col > 1e-16)
        if len(keep_r) == 0 or len(nz) == 0:
            return None
        j0, j1 = max(nz[0] - 4, 0), min(nz[-1] + 5, len(lat.theta))
        b = lat.b[keep_r, j0:j1]
        g, r = g[:, j0:j1], r[:, keep_r]
        n_rows, n_theta = b.shape
        f = b[None, :, :] * g[:, None, :]  # (K, R, J)
        c = quadrature.cumulative_integral(f, lat.h).ravel()
        origin = (np.arange(g.shape[0])[:, None, None] * n_rows
                  + np.arange(n_rows)[None, :, None]) * n_theta
        rows = cls(theta=lat.theta[j0:j1], x=lat.x[keep_r], lo=lat.lo[keep_r],
                   hi=lat.hi[keep_r], b=b, g=g, r=r, h=lat.h, c=c, f=f.ravel(), origin=origin,
                   base=None, mass=None, rn=None, ok=ok)
        rows.base = rows.at_theta(rows.lo[None, :, None])[..., 0]  # (K, R)
        rows.mass = r * np.maximum(rows.at_theta(rows.hi[None, :, None])[..., 0] - rows.base,
                                   0.0)
        total = rows.mass.sum(axis=1)
        rows.ok = ok & np.isfinite(total) & (total > 0)
        rows.rn = r / np.where(rows.ok, total, 1.0)[:, None]
        return rows

    def cell(self, v):
        return quadrature.grid_cell(self.theta[0], self.h, len(self.theta), v)

    def at_theta(self, v):
        """The rows' cumulative integrals at v (K or 1, R, M), clipped to each row's range."""
        k, t = self.cell(np.clip(v, self.lo[None, :, None], self.hi[None, :, None]))
        return quadrature.cumulative_at(self.c, self.f, self.origin + k, t, self.h)

    def cdf_at_cuts(self, cuts):
        """cuts (K or 1, R, M) -> P(theta <= its row's cut) (K, M)."""
        val = self.at_theta(cuts)
        return np.clip(np.einsum("kr,krm->km", self.rn,
                                 np.maximum(val - self.base[..., None], 0.0)), 0.0, 1.0)

    def marginal_cdf(self, at):
        """P(theta <= at) (K, len(at)) from the marginal of theta (log_or: rows have no
        feasible edges)."""
        marginal = (self.rn @ self.b) * self.g  # (K, J)
        cm = quadrature.cumulative_integral(marginal, self.h).ravel()
        start = (np.arange(self.g.shape[0]) * len(self.theta))[:, None]
        k, t = self.cell(at)
        low = quadrature.cumulative_at(cm, marginal.ravel(), start + 1, np.zeros((1, 1)), self.h)
        return np.clip(quadrature.cumulative_at(cm, marginal.ravel(), start + k[None, :],
                                                t[None, :], self.h) - low, 0.0, 1.0)

    def cdf_and_density(self, k, cut, dcut):
        """For priors ``k`` and one cut per row (theta at a measure's value, d theta / dz):
        the measure's CDF and its derivative in z."""
        kk, tt = self.cell(np.clip(cut, self.lo[None, :], self.hi[None, :]))
        val, dens = quadrature.cumulative_at(self.c, self.f, self.origin[k, :, 0] + kk, tt,
                                             self.h, True)
        rk = self.rn[k]
        p = np.clip(np.sum(rk * np.maximum(val - self.base[k], 0.0), axis=1), 0.0, 1.0)
        inside = (cut > self.lo[None, :]) & (cut < self.hi[None, :])
        return p, np.sum(rk * np.where(inside, dens * dcut, 0.0), axis=1)


def _chunk_quantiles(rows: _ChunkRows, scale: str, measures, levels, xtol) -> np.ndarray:
    """Every measure's quantiles at ``levels`` for the chunk's priors, (K, measures x levels),
    on the RD or the log ratio: bracketed on a coarse grid per measure shared by the chunk's
    priors, then searched per prior."""
    n_k, n_l, n_m = rows.g.shape[0], len(levels), len(measures)
    span_col = np.max((rows.rn @ rows.b) * rows.g, axis=0)
    weight = np.max(rows.mass * rows.rn / np.maximum(rows.r, 1e-300), axis=0)  # largest share
    spans = [_measure_span(scale, m, rows.x, rows.theta, weight, span_col) for m in measures]
    xr = rows.x[None, :, None]
    lv = np.tile(levels, n_m)[None, :]
    coarse_z = np.stack([np.linspace(lo_s, hi_s, ESTIMATE_COARSE) for lo_s, hi_s in spans])
    cuts = np.concatenate([_cut_of(scale, xr, m, coarse_z[i][None, None, :])[0]
                           for i, m in enumerate(measures)], axis=2)
    coarse = rows.cdf_at_cuts(cuts).reshape(n_k, n_m, 1, ESTIMATE_COARSE)
    idx = np.sum(coarse < levels[None, None, :, None], axis=3)  # coarse[idx - 1] < q <= coarse[idx]
    idx = np.clip(idx, 1, ESTIMATE_COARSE - 1).reshape(n_k, -1)
    mz = np.repeat(np.arange(n_m), n_l)[None, :]
    flat = coarse[:, :, 0, :].reshape(n_k, n_m, ESTIMATE_COARSE)
    kk = np.arange(n_k)[:, None]
    a_z, b_z = coarse_z[mz, idx - 1], coarse_z[mz, idx]
    pa, pb = flat[kk, mz, idx - 1], flat[kk, mz, idx]
    mcol = np.repeat(np.arange(n_m), n_l)

    def cdf_of(k, col, z):
        """The CDF of column ``col``'s measure at z, and its derivative, for the (prior k,
        column) pairs given as flat arrays (only the searches still running are evaluated)."""
        cut = np.empty((len(k), rows.n_rows))
        dcut = np.empty((len(k), rows.n_rows))
        for i, m in enumerate(measures):
            sel_m = mcol[col] == i
            if sel_m.any():
                cut[sel_m], dcut[sel_m] = _cut_of(scale, rows.x[None, :], m, z[sel_m, None])
        return rows.cdf_and_density(k, cut, dcut)

    tol = np.repeat([xtol * max(1.0, hi_s - lo_s) for lo_s, hi_s in spans], n_l)[None, :]
    return _quantile_search(cdf_of, a_z, b_z, pa, pb, lv, tol)


def _measure_span(scale, measure, x, theta, weight, col) -> tuple[float, float]:
    """Values of the measure (RD, log ratio) that hold every prior's posterior: its value at the
    first and last theta where any prior's marginal density ``col`` is non-negligible, over the
    rows that carry weight."""
    live = np.flatnonzero(col > col.max() * 1e-12)
    t0, t1 = theta[max(live[0] - 1, 0)], theta[min(live[-1] + 1, len(theta) - 1)]
    xs = x[weight > 1e-16]
    vals = []
    for t in (t0, t1):
        p = np.clip(effects.p_treatment(scale, xs, t), 1e-300, 1 - 1e-16)
        v = effects.effect(measure, xs, p)
        vals.append(v if measure == "risk_difference" else np.log(v))
    lo, hi = float(np.min(vals[0])), float(np.max(vals[1]))
    if measure == "risk_difference":
        lo, hi = max(lo, -1.0), min(hi, 1.0)
    else:
        lo, hi = max(lo, -40.0), min(hi, 40.0)
    return lo, hi


def _quantile_search(cdf, a, b, pa, pb, lv, tol, max_iter: int = 60) -> np.ndarray:
    """Roots of ``cdf(k, col, z) = lv`` (over priors k x columns col; ``cdf`` takes flat arrays of
    the pairs still searched and returns the CDF and its derivative in z) in the brackets
    [a, b] with CDF values pa < lv <= pb: Newton steps kept inside the bracket, which each value
    narrows (where a step would leave it, regula falsi with the Illinois modification), until a
    step moves less than ``tol``. A level the CDF does not reach inside the brackets gives the
    nearer end."""
    shape = a.shape
    lv, tol = np.broadcast_to(lv, shape).ravel(), np.broadcast_to(tol, shape).ravel()
    a, b, pa, pb = (np.array(v, float).ravel() for v in (a, b, pa, pb))
    below, above = pa >= lv, pb < lv
    fa, fb = pa - lv, pb - lv
    gap = fb - fa
    z = np.where(gap > 0, a - fa / np.where(gap > 0, gap, 1.0) * (b - a), 0.5 * (a + b))
    k_all, col_all = np.divmod(np.arange(a.size), shape[1])
    side = np.zeros(a.size, int)
    todo = np.flatnonzero(~(below | above))
    for _ in range(max_iter):
        if len(todo) == 0:
            break
        p, d = cdf(k_all[todo], col_all[todo], z[todo])
        fz = p - lv[todo]
        left = fz < 0
        sd_, fa_t, fb_t = side[todo], fa[todo], fb[todo]
        # Illinois: the end kept a second time in a row has its value halved
        fb_t = np.where(left & (sd_ < 0), 0.5 * fb_t, fb_t)
        fa_t = np.where(~left & (sd_ > 0), 0.5 * fa_t, fa_t)
        zt = z[todo]
        a_t = np.where(left, zt, a[todo])
        b_t = np.where(left, b[todo], zt)
        fa_t = np.where(left, fz, fa_t)
        fb_t = np.where(left, fb_t, fz)
        a[todo], b[todo], fa[todo], fb[todo] = a_t, b_t, fa_t, fb_t
        side[todo] = np.where(left, -1, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = fz / d
            new = zt - step
            bad = ~np.isfinite(new) | (new <= a_t) | (new >= b_t)
            falsi = a_t - fa_t / (fb_t - fa_t) * (b_t - a_t)
        falsi = np.where(np.isfinite(falsi) & (falsi > a_t) & (falsi < b_t), falsi, 0.5 * (a_t + b_t))
        finished = (~bad & (np.abs(step) <= tol[todo])) | (b_t - a_t <= tol[todo]) | (fz == 0)
        z[todo] = np.where(finished, zt, np.where(bad, falsi, new))
        todo = todo[~finished]
    return np.where(below, a, np.where(above, b, z)).reshape(shape)


PRIOR_ROWS = 4001
"""Nodes on logit(p_control) of :func:`truncated_prior_cdf`'s cumulative integrals."""
PRIOR_RESOLVE = 0.5
"""Largest change of log(pi_c / Z) between neighbouring rows for which the truncated prior's
CDF is trusted (else ``ok`` is False and the caller falls back to the exact engine)."""
PRIOR_NODES_PER_SD = 16
PRIOR_MAX_STEP = 0.005
"""theta spacing of :func:`truncated_prior_cdf`'s density lattice: prior sd / 16, at most
0.005 (the density has a kink at 0, where the feasible p_control start to be cut off)."""


def truncated_prior_cdf(control_prior, scale: str, means, sd: float, at) -> tuple[np.ndarray, np.ndarray]:
    """A-priori P(theta <= at) for Normal(means[k], sd^2) priors on log_rr or rd truncated, given
    p_control, to the feasible range (shape (K, len(at))), and ``ok`` per prior.

    :func:`_truncated_prior_cdf` on :data:`PRIOR_ROWS` rows; priors it cannot resolve there are
    computed again, one by one, on as many rows as they need (at most :data:`PRIOR_MAX_ROWS`;
    beyond, ``ok`` is False and the caller falls back to the exact engine).
    """
    means = np.atleast_1d(np.asarray(means, float))
    cdf, ratio = _truncated_prior_cdf(control_prior, scale, means, sd, at, PRIOR_ROWS)
    ok = ratio <= PRIOR_RESOLVE
    for k in np.flatnonzero(~ok):
        n = int(np.ceil(PRIOR_ROWS * ratio[k] / PRIOR_RESOLVE * 1.1))
        if n > PRIOR_MAX_ROWS:
            continue
        cdf_k, ratio_k = _truncated_prior_cdf(control_prior, scale, means[k:k + 1], sd, at, n + (n % 2 == 0))
        if ratio_k[0] <= PRIOR_RESOLVE:
            cdf[k], ok[k] = cdf_k[0], True
    return cdf, ok


PRIOR_MAX_ROWS = 200_001
"""Most rows :func:`truncated_prior_cdf` spends on one prior."""


def _truncated_prior_cdf(control_prior, scale: str, means, sd: float, at, n_rows: int):
    """:func:`truncated_prior_cdf` on ``n_rows`` rows, and per prior the largest change of
    log(pi_c / Z) between neighbouring rows (to compare with :data:`PRIOR_RESOLVE`).

    The prior density of theta is ``phi(theta) * I(theta)``, ``I(theta)`` the integral over
    the p_control at which theta is feasible of ``pi_c / Z`` (Z the truncation normaliser,
    :func:`lnbayes.model.density.normal_log_mass`): p_control below 1 - theta (rd, theta > 0),
    above -theta (rd, theta < 0), below exp(-theta) (log_rr). ``I`` is read from cumulative
    integrals of ``pi_c / Z`` on logit(p_control) (from the side that holds the interval, so
    nothing cancels), the density on a theta lattice is integrated again, and both integrals
    are the fourth-order rule of :func:`lnbayes.numerics.quadrature.cumulative_integral`.
    """
    prior_c = arm_mix(control_prior)
    u = np.linspace(-40, 40, 1601)
    lp = prior_c.logpdf_logit(u)
    keep = np.flatnonzero(lp > np.max(lp) - ROW_NATS)
    u = np.linspace(u[max(keep[0] - 3, 0)], u[min(keep[-1] + 3, len(u) - 1)], n_rows)
    hu = u[1] - u[0]
    lp = prior_c.logpdf_logit(u)
    x = special.expit(u)
    lo, hi = effects.theta_bounds(scale, x)
    means = np.atleast_1d(np.asarray(means, float))
    at = np.asarray(at, float)
    log_phi = lp[None, :] - normal_log_mass(lo[None, :], hi[None, :], means[:, None], sd)  # (K, R)
    shift = log_phi.max(axis=1, keepdims=True)
    phi = np.exp(log_phi - shift)
    left = quadrature.cumulative_integral(phi, hu)
    right = quadrature.cumulative_integral(phi[:, ::-1], hu)  # from the top end down
    # the density of theta on a lattice over every prior's +-12 sd and 0 (a prior beyond a row's
    # feasible edge piles up at that edge, between its centre and 0), within the feasible range
    t_lo = min(float(np.min(means)) - PAD_SD * sd, 0.0)
    t_hi = min(max(float(np.max(means)) + PAD_SD * sd, 0.0), float(np.max(hi)))
    if scale == "rd":
        t_lo = max(t_lo, -1.0)
    step = min(sd / PRIOR_NODES_PER_SD, PRIOR_MAX_STEP)
    t = t_lo + step * np.arange(-4, int(np.ceil((t_hi - t_lo) / step)) + 5)
    with np.errstate(divide="ignore", invalid="ignore"):
        if scale == "rd":
            edge = special.logit(np.clip(np.where(t > 0, 1 - t, -t), 0.0, 1.0))
        else:
            edge = special.logit(np.clip(np.exp(-t), 0.0, 1.0))
    from_left = (t > 0) if scale == "rd" else np.ones(len(t), bool)
    n_r = len(u)
    k, f = quadrature.grid_cell(u[0], hu, n_r, np.where(from_left, edge, -edge + u[0] + u[-1]))
    rows = np.arange(len(means))[:, None] * n_r

    def read(cum, vals):  # the cumulative integral up to each lattice theta's edge
        start = quadrature.cumulative_at(cum.ravel(), vals.ravel(), rows + 1, np.zeros((1, 1)), hu)
        got = quadrature.cumulative_at(cum.ravel(), vals.ravel(), rows + k[None, :], f[None, :], hu)
        return np.maximum(got - start, 0.0)

    inner = np.where(from_left[None, :], read(left, phi), read(right, phi[:, ::-1]))
    with np.errstate(divide="ignore"):
        dens = np.exp(dists.norm_logpdf(t[None, :], means[:, None], sd) + shift + np.log(inner))
    cum = quadrature.cumulative_integral(dens, step).ravel()
    trows = np.arange(len(means))[:, None] * len(t)

    def cdf_at(v):
        kt, ft = quadrature.grid_cell(t[0], step, len(t), v)
        return quadrature.cumulative_at(cum, dens.ravel(), trows + kt[None, :], ft[None, :], step)

    c0, c1 = cdf_at(np.array([t[0]])), cdf_at(np.array([t[-1]]))
    # resolved where pi_c / Z changes by less than PRIOR_RESOLVE nats between rows: a centre
    # far beyond a row's feasible edge makes 1 / Z grow like exp(z^2 / 2) across the rows
    z_out = np.maximum((lo[None, :] - means[:, None]) / sd, (means[:, None] - hi[None, :]) / sd)
    slope = (x * (1 - x) if scale == "rd" else 1 - x)[None, :] * np.maximum(z_out, 1.0) / sd
    live = lp > lp.max() - 30.0
    ratio = np.max(np.where(live[None, :], slope * hu, 0.0), axis=1)
    return np.clip((cdf_at(at) - c0) / (c1 - c0), 0.0, 1.0), ratio
