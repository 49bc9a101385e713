"""The exact engine: closed-form and quadrature posteriors (NumPy and SciPy only).

Both model families are reduced to one representation: quadrature nodes ``x_i`` for p_control
with probability weights ``w_i`` (summing to 1), and for each node the conditional posterior CDF
of p_treatment, ``F_i(t) = P(p_treatment <= t | p_control = x_i, data)``. Because every effect
measure increases with p_treatment at fixed p_control, any posterior probability is a weighted
sum of conditional CDFs:

    P(measure <= v | data) = sum_i w_i F_i(t_i(v)),  t_i(v) = p_treatment at which measure = v.

*Arm-level priors* (Beta mixtures on each arm) are conjugate: each arm's posterior is again a
Beta mixture and ``F_i`` is its CDF for every i. The p_control nodes are a Simpson rule on the
logit scale spanning the posterior, spaced at most 0.25 and a third of either arm's logit-scale
sd apart (about 115 nodes for a trial of 12 and 6 patients).

*Effect-level priors* (Beta mixture on p_control, Normal mixture on theta) are integrated by
deterministic 2-D quadrature. Rows: uniform in logit(p_control) over where the marginal posterior
is within 60 nats of its maximum (located by two coarse passes), spaced at most 0.25 and 1/1.5
of the narrowest scale of the integrand, and halved (midpoint rows interleaved) until the
degree-7 interpolant of the log row integral matches fresh rows to 1e-9; sums over the rows use
the trapezoid rule (geometric convergence: the integrand is smooth and negligible at both ends),
while ``w`` keeps the Simpson pattern that :func:`lnbayes.analyses.densities.p_control_density`
divides out. Each row: Gauss-Legendre panels (10 nodes) between the union of uniform grids over
each prior component's 12-sd span, the likelihood's span, the gaps of a prior in conflict with
the data, the no-effect point, and (log_rr, rd) panels halving toward the feasible edge; the
conditional CDF at any theta is the panel sums below plus the exact integral of the panel's
degree-9 interpolant up to theta. For log_rr and rd the theta prior is truncated, given
p_control, to the feasible range (effects.theta_bounds) and renormalised, so p_control keeps its
stated prior. The marginal CDF of p_control integrates (Gauss-Legendre) the closed-form factor
times the interpolated row integral.

*Cuts.* Where the line {measure = v} leaves the unit square inside the posterior (risk
difference; risk ratio above 1), the other arm's conditional probability reaches 0 or 1 with a
kink of finite order and no fixed-node rule converges fast across it (an error of 2e-5 at 85
rows for P(RR <= 1.2) under a log-OR prior). Such probabilities use a Gauss-Legendre rule over
the node arm's logit on the side of the cut where it is not constant, panels halving toward the
cut, plus the node arm's exact mass beyond (arm-level: the other arm's Beta CDF at every node;
effect-level: across-row interpolation at fixed theta for log_or, fresh rows for log_rr and rd),
unless the sum over the rows agrees with the sum over every other row to 1e-12. Quantiles are
found on the node sums: bracketed by a coarse and a fine grid on every 4th node (confirmed, and
moved where they miss, on all nodes), then safeguarded secant steps on the probit of the CDF
(nearly linear there) over all nodes; all levels of all measures together, and polished
together by secant steps on the cut-aware CDF.

For arm-level priors the nodes lie on the arm whose prior is the more regular (larger smallest
Beta shape): with a Beta(1e-9, 1) control prior they lie on p_treatment, and the control arm
enters through its exact Beta CDF (:class:`TreatmentNodesPosterior`). Priors whose posterior
mass the logit windows cannot hold (Beta shapes far below 0.4; :data:`TAIL_TOL`) are refused
with :class:`lnbayes.errors.LnbayesError` naming the prior.

Probabilities are computed on the side asked for (survival functions, not ``1 - cdf``) and lie in
[0, 1]; quantiles beyond the searched range (ratios outside exp(+-40)) are the range's end.

Accuracy: within 1e-8 on probabilities and 1e-7 (relative) on quantiles of an independent
nested-quadrature reference (tests/exact_reference.py; worst seen 1.5e-9 and 8e-9) over both
families, all scales, truncated and mixture priors, lower-is-better outcomes, a Beta(1e-9, 1)
arm prior and 1,500 patients per arm. Cost on the embedded trial (P(benefit), thresholds,
medians and intervals of every measure): about 20 ms of CPU per prior on a machine where it
was 30 ms before the quantile searches were batched (``make bench``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import Any, Callable

import numpy as np
from scipy import special

from lnbayes.errors import LnbayesError
from lnbayes.model import density, dists, effects
from lnbayes.model.density import (  # noqa: F401 (BetaMix, NormalMix, update_beta: the engine's public names)
    TAIL_TOL,
    U_MAX,
    BetaMix,
    NormalMix,
    update_beta,
)
from lnbayes.numerics import quadrature

_RATIO_MEASURES = ("risk_ratio", "odds_ratio")
_SEARCH = {
    "risk_difference": (-1.0, 1.0, lambda z: z),
    "risk_ratio": (-40.0, 40.0, np.exp),
    "odds_ratio": (-40.0, 40.0, np.exp),
    "probability": (-40.0, 40.0, special.expit),  # p_treatment, p_control: on the logit scale
}
"""Quantile search ranges (lo, hi, value of z): the risk difference itself, the log of the
ratios, the logit of the probabilities."""


# ---------------------------------------------------------------------------------------------
# The posterior representation
# ---------------------------------------------------------------------------------------------


@dataclass
class ExactPosterior:
    """A posterior over (p_control, p_treatment) as p_control nodes and conditional CDFs.

    Probabilities are computed on the side they are asked for (a survival function where one is
    given, not ``1 - cdf``) and clipped to [0, 1], so none falls outside [0, 1] by rounding and
    tiny tail probabilities keep their relative accuracy.
    """

    x: np.ndarray
    """p_control quadrature nodes."""
    w: np.ndarray
    """Posterior probability weights of the nodes (sum to 1)."""
    cond_cdf: Callable[[np.ndarray], np.ndarray]
    """t of shape (len(x), k) -> P(p_treatment <= t | p_control = x_i) of the same shape."""
    pc_cdf: Callable[[float], float]
    """Marginal posterior CDF of p_control."""
    log_evidence: float
    """log marginal likelihood of the two arms' counts."""
    family: str
    scale: str | None = None
    cond_sf: Callable[[np.ndarray], np.ndarray] | None = None
    """t -> P(p_treatment > t | p_control = x_i), computed directly (default: 1 - cond_cdf)."""
    pc_ppf: Callable[[float], float] | None = None
    """Closed-form quantile function of p_control, where there is one."""
    pt_ppf: Callable[[float], float] | None = None
    """Closed-form quantile function of p_treatment, where there is one (arm-level priors)."""
    control: BetaMix | None = None
    """Arm-level priors: the posterior Beta mixtures of the two arms."""
    treatment: BetaMix | None = None
    node_window: tuple[float, float] | None = None
    """Arm-level priors: the logit range of the node arm and the node spacing in it."""
    node_step: float | None = None
    sum_rows: np.ndarray | None = None
    """Effect-level priors: the rows whose weight counts in the sums (the others are below
    1e-20 of the largest), and the conditional probabilities of those rows by index:"""
    cond_rows: Callable[[np.ndarray, np.ndarray, bool], np.ndarray] | None = None
    pc_ppf_many: Callable[[np.ndarray], np.ndarray] | None = None
    """pc_ppf for an array of levels at once, where it is cheaper so."""
    sum_w: np.ndarray | None = None
    """Weights of the sums over the nodes, where they differ from ``w`` (effect-level priors:
    trapezoid weights; ``w`` has Simpson's pattern, which p_control_density divides out)."""
    precise: Callable[[str, np.ndarray, bool], np.ndarray] | None = None
    """Effect-level priors: (measure, values, upper) -> the cut-aware probabilities, NaN where
    the sum over the rows is accurate."""

    PRECISE_MAX = 16
    """Values per call up to which effect-level cdf and sf are cut-aware (longer grids, such as
    those density plots differentiate, use the sum over the rows)."""

    def _nodes_on_control(self) -> bool:
        return True

    def cdf(self, measure: str, values) -> np.ndarray:
        """P(measure <= v | data) for each v in ``values``."""
        return self._prob(measure, values, upper=False)

    def sf(self, measure: str, values) -> np.ndarray:
        """P(measure > v | data) for each v, computed as a survival function."""
        return self._prob(measure, values, upper=True)

    def _prob(self, measure: str, values, upper: bool, fast: bool = False) -> np.ndarray:
        """P(measure <= v) or (``upper``) P(measure > v): the sum over the nodes, replaced by the
        cut-aware value where the line {measure = v} leaves the unit square where the posterior
        lives (unless ``fast``)."""
        values = np.atleast_1d(np.asarray(values, dtype=float))
        if self.control is not None and measure in ("p_control", "p_treatment"):
            mix = self.control if measure == "p_control" else self.treatment
            return mix.sf(values) if upper else mix.cdf(values)
        if measure == "p_control":
            c = np.clip(np.array([self.pc_cdf(v) for v in values]), 0.0, 1.0)
            return np.clip(1.0 - c, 0.0, 1.0) if upper else c
        if fast or self.control is not None or self.precise is None or len(values) > self.PRECISE_MAX:
            out = self._node_sum(measure, values, upper)
            if fast:
                return out
            if self.control is not None:  # arm-level: the cut-aware rule is cheap, for every value
                cut = np.array([self._arm_cut_inside(measure, float(v)) for v in values], dtype=bool)
                if np.any(cut):
                    out[cut] = self._arm_precise(measure, values[cut], upper)
            return out
        out = self.precise(measure, values, upper)  # the sum over the rows only where it is accurate
        sums = np.isnan(out)
        if np.any(sums):
            out[sums] = self._node_sum(measure, values[sums], upper)
        return out

    def _node_sum(self, measure: str, values: np.ndarray, upper: bool) -> np.ndarray:
        if not self._nodes_on_control():  # nodes on p_treatment (TreatmentNodesPosterior)
            c = _p_control_at(measure, self.x[:, None], values[None, :])
            cc = np.clip(np.nan_to_num(c, nan=0.0), 0.0, 1.0)
            if upper:  # P(p_control < c)
                side = np.where(c <= 0, 0.0, np.where(c >= 1, 1.0, self.control.cdf(cc)))
            else:
                side = np.where(c <= 0, 1.0, np.where(c >= 1, 0.0, self.control.sf(cc)))
            return np.clip(self.w @ side, 0.0, 1.0)
        if self.sum_rows is not None:
            t = effects.p_treatment_at(measure, self.x[self.sum_rows, None], values[None, :])
            return self._rows_sum(t, upper)
        t = effects.p_treatment_at(measure, self.x[:, None], values[None, :])
        side = self._sf_clipped(t) if upper else self._cdf_clipped(t)
        return np.clip(self._weights() @ side, 0.0, 1.0)

    def _arm_cut_inside(self, measure: str, v: float) -> bool:
        """Whether the line {measure = v} leaves the unit square inside the node arm's window."""
        if measure in _RATIO_MEASURES and v <= 0:
            return False
        lo, hi, _, _ = _inside_interval(measure, v, self._nodes_on_control())
        u0, u1 = self.node_window
        return (u0 < _logit(lo) < u1) or (u0 < _logit(hi) < u1)

    def _arm_precise(self, measure: str, values: np.ndarray, upper: bool) -> np.ndarray:
        on_control = self._nodes_on_control()
        node, other = (self.control, self.treatment) if on_control else (self.treatment, self.control)
        return _arm_cut_prob(node, other, on_control, self.node_window, self.node_step,
                             measure, values, upper)

    def _precise_value(self, measure: str, v: float, upper: bool):
        """The cut-aware probability at one value, or None where the node sum is accurate."""
        if self.control is not None:
            if not self._arm_cut_inside(measure, v):
                return None
            return float(self._arm_precise(measure, np.array([v]), upper)[0])
        if self.precise is None:
            return None
        p = float(self.precise(measure, np.array([v]), upper)[0])
        return None if math.isnan(p) else p

    def _cdf_clipped(self, t: np.ndarray) -> np.ndarray:
        return self._conditional(self.cond_cdf, t, np.where(t >= 1, 1.0, 0.0))

    def _sf_clipped(self, t: np.ndarray) -> np.ndarray:
        if self.cond_sf is None:
            return 1.0 - self._cdf_clipped(t)
        return self._conditional(self.cond_sf, t, np.where(t <= 0, 1.0, 0.0))

    def _conditional(self, func, t: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``func`` of t (t of shape (len(x), k)) where 0 < t < 1, else ``out``. Under arm-level
        priors ``func`` is one Beta mixture's, elementwise: evaluated only inside."""
        inside = (t > 0) & (t < 1)
        if not inside.any():
            return out
        if self.control is not None:
            out[inside] = func(np.clip(t[inside], 1e-300, 1 - 1e-16))
            return out
        return np.where(inside, func(np.clip(t, 1e-300, 1 - 1e-16)), out)

    def _rows_sum(self, t: np.ndarray, upper: bool) -> np.ndarray:
        """The weighted sum over the live rows of P(p_treatment <= t) (``upper``: > t), t of
        shape (len(sum_rows), k)."""
        rows = self.sum_rows
        inside = (t > 0) & (t < 1)
        if upper:
            out = np.where(t <= 0, 1.0, 0.0)
        else:
            out = np.where(t >= 1, 1.0, 0.0)
        if inside.any():  # the conditional CDFs only where they are not 0 or 1
            at = np.nonzero(inside)
            t_in = np.minimum(np.maximum(t[at], 1e-300), 1 - 1e-16)
            out[at] = self.cond_rows(rows[at[0]], t_in, upper)
        return np.minimum(np.maximum(self.sum_w[rows] @ out, 0.0), 1.0)

    def prob_benefit(self, lower_is_better: bool = False) -> float:
        """P(p_treatment > p_control), or P(p_treatment < p_control) when lower is better."""
        if self.sum_rows is not None:
            return float(self._rows_sum(self.x[self.sum_rows, None], not lower_is_better)[0])
        t = self.x[:, None]
        side = self._cdf_clipped(t) if lower_is_better else self._sf_clipped(t)
        return float(np.clip(self._weights() @ side[:, 0], 0.0, 1.0))

    def _weights(self) -> np.ndarray:
        return self.w if self.sum_w is None else self.sum_w

    def prob_beyond(self, measure: str, value: float, lower_is_better: bool = False) -> float:
        """P(measure > value), or P(measure < value) when lower is better."""
        if lower_is_better:
            return float(self.cdf(measure, [value])[0])
        return float(self.sf(measure, [value])[0])

    def prob_between(self, measure: str, lower: float, upper: float) -> float:
        lo, hi = self.cdf(measure, [lower, upper])
        return float(min(max(hi - lo, 0.0), 1.0))

    def quantile(self, measure: str, q: float) -> float:
        """The q-quantile of a measure.

        Closed forms where they exist (p_control and p_treatment under arm-level priors: Beta
        quantiles; p_control under effect-level priors: the inverse of its interpolated CDF);
        otherwise the root of ``cdf - q``, bracketed on a grid (on the log scale for ratio
        measures, the logit scale for p_treatment) and refined by :func:`_bracketed_root`.
        Quantiles beyond the searched range (odds and risk ratios outside exp(+-40)) are
        reported as the range's end.
        """
        return float(self.quantiles(measure, [q])[0])

    def quantiles(self, measure: str, qs) -> np.ndarray:
        """The quantiles of a measure at the levels ``qs``, found together."""
        return self.quantiles_of({measure: qs})[measure]

    def quantiles_of(self, levels: dict, polish: bool = True, rtol: float = 1e-12) -> dict:
        """Quantiles of several measures ({measure: levels}), found together: the node sums of
        all measures' search points go into one evaluation per step.

        ``polish=False`` stops at the root of the sum over the nodes, without the cut-aware
        secant steps: where the unit square's edge cuts the rows (the upper RR limit when the
        control rate is high), that root is off by up to about 1e-3 on the log scale.
        ``rtol``: the roots' tolerance, as a share of each measure's search range (1e-7 is
        enough for grids read at the explorer's 0.005, at about 0.7 of the cost)."""
        out, search = {}, []
        for measure, qs in levels.items():
            qs = np.atleast_1d(np.asarray(qs, dtype=float))
            if np.any(~((qs >= 0) & (qs <= 1))):
                raise ValueError(f"a quantile level must lie in [0, 1], got {qs!r}")
            if measure == "p_control" and self.pc_ppf_many is not None:
                out[measure] = self.pc_ppf_many(qs)
            elif measure == "p_control" and self.pc_ppf is not None:
                out[measure] = np.array([float(self.pc_ppf(q)) for q in qs])
            elif measure == "p_treatment" and self.pt_ppf is not None:
                out[measure] = np.array([float(self.pt_ppf(q)) for q in qs])
            else:
                search.append((measure, qs))
        if not search:
            return out
        names = [m for m, _ in search]
        spec = [_SEARCH[m] if m in _SEARCH else _SEARCH["probability"] for m in names]
        qs = np.concatenate([q for _, q in search])
        mid = np.concatenate([np.full(len(q), i) for i, (_, q) in enumerate(search)])
        lo = np.array([spec[i][0] for i in mid])
        hi = np.array([spec[i][1] for i in mid])

        def node_cdf(post):
            def cdf(z, which):  # the sums over the nodes (cut-aware refinement below)
                z = np.asarray(z, dtype=float)
                which = np.broadcast_to(which, z.shape)
                res = np.empty(z.shape)
                parts = [(i, which == i) for i in range(len(names)) if np.any(which == i)]
                values = [spec[i][2](z[sel]) for i, sel in parts]
                sums = post._node_sums([names[i] for i, _ in parts], values)
                for (i, sel), val in zip(parts, sums):
                    res[sel] = val
                return res
            return cdf

        cdf = node_cdf(self)
        found = None
        coarse = self._coarse_rule()
        if coarse is not None:  # brackets on a quarter of the nodes, confirmed on all of them
            a, b, _, _, start, below, above = _bracket(node_cdf(coarse), lo, hi, qs, mid)
            if not (np.any(below) or np.any(above)):
                a, b, fa, fb = _confirm_brackets(cdf, a, b, lo, hi, qs, mid)
                found = a, b, fa, fb, start, below, above
        a, b, fa, fb, start, below, above = found or _bracket(cdf, lo, hi, qs, mid)
        xtol = rtol * np.maximum(1.0, hi - lo)
        z = _secant_root(lambda z, i: _probit_gap(cdf(z, mid[i]), qs[i]), a, b, fa, fb, start,
                         xtol=xtol)
        if polish and (self.precise is not None or self.control is not None):
            todo = np.flatnonzero(~below & ~above)
            z[todo] = self._polish(names, spec, cdf, mid[todo], z[todo], qs[todo], xtol[todo],
                                   lo[todo], hi[todo])
        z = np.where(below, lo, np.where(above, hi, z))
        for i, (measure, q) in enumerate(search):
            sel = mid == i
            out[measure] = spec[i][2](z[sel])
        return out

    def _node_sums(self, measures: list, values: list) -> list:
        """_node_sum (cdf side) for several measures in one evaluation of the conditional CDFs."""
        if self.sum_rows is not None and len(measures) > 1:
            xs = self.x[self.sum_rows, None]
            ts = [effects.p_treatment_at(m, xs, np.ravel(v)[None, :]) for m, v in zip(measures, values)]
            return _split_columns(self._rows_sum(np.concatenate(ts, axis=1), False), values)
        if (self.control is not None and self._nodes_on_control() and len(measures) > 1
                and "p_treatment" not in measures and "p_control" not in measures):
            ts = [effects.p_treatment_at(m, self.x[:, None], np.ravel(v)[None, :])
                  for m, v in zip(measures, values)]
            sums = np.clip(self.w @ self._cdf_clipped(np.concatenate(ts, axis=1)), 0.0, 1.0)
            return _split_columns(sums, values)
        return [self._prob(m, np.ravel(v), False, fast=True).reshape(np.shape(v))
                for m, v in zip(measures, values)]

    COARSE_EVERY = 4
    """The quantile searches bracket their roots on every COARSE_EVERY-th node (the same
    integrand at that multiple of the spacing), where there are at least COARSE_MIN of them."""
    COARSE_MIN = 16

    def _coarse_rule(self) -> ExactPosterior | None:
        """This posterior on every COARSE_EVERY-th node (the trapezoid rule on them), or None
        where that leaves fewer than COARSE_MIN. Its node sums only place the quantile searches'
        brackets, which are then confirmed on every node (:func:`_confirm_brackets`)."""
        k = self.COARSE_EVERY
        if self.sum_rows is not None:
            rows = self.sum_rows[::k]
            if len(rows) < self.COARSE_MIN:
                return None
            w = np.zeros(len(self.sum_w))
            w[rows] = self.sum_w[rows] / np.sum(self.sum_w[rows])
            return replace(self, sum_rows=rows, sum_w=w)
        if self.control is None or len(self.x) < k * self.COARSE_MIN:
            return None
        # every k-th (even) node: Simpson's weights there are twice the density (once at the
        # ends, where the density is negligible), so the trapezoid rule's weights are theirs
        return replace(self, x=self.x[::k], w=self.w[::k] / np.sum(self.w[::k]))

    def _precise_at(self, names, spec, mid: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The cut-aware CDFs of the roots (measure ``names[mid[i]]`` at ``z[i]``), NaN where the
        node sum is accurate: one call of the cut-aware rule for all of them (effect-level), or
        one per measure (arm-level)."""
        values = np.empty(len(z))
        for m in np.unique(mid):
            values[mid == m] = spec[m][2](z[mid == m])
        if self.control is None:
            if self.precise is None:
                return np.full(len(z), np.nan)
            return self.precise([names[m] for m in mid], values, False)
        out = np.full(len(z), np.nan)
        for m in np.unique(mid):
            sel = np.flatnonzero(mid == m)
            cut = np.array([self._arm_cut_inside(names[m], float(v)) for v in values[sel]], dtype=bool)
            if np.any(cut):
                out[sel[cut]] = self._arm_precise(names[m], values[sel[cut]], False)
        return out

    def _polish(self, names, spec, cdf, mid, z, q, xtol, lo, hi) -> np.ndarray:
        """The roots of the cut-aware CDFs near the node-sum roots ``z``, all at once: secant
        steps (the first slope from the node sum, every step one evaluation of all the roots
        still open), else, root by root, a bracket grown around z and regula falsi
        (:meth:`_polish_fallback`)."""
        z = np.array(z, dtype=float)
        p = self._precise_at(names, spec, mid, z)
        go = np.flatnonzero(~np.isnan(p) & (p != q))
        if not go.size:
            return z
        mid, q, xtol, lo, hi = mid[go], q[go], xtol[go], lo[go], hi[go]
        zz, pp = z[go], p[go]
        z0, p0 = zz.copy(), pp.copy()
        dz = 1e-5 * (hi - lo)
        c2 = cdf(np.stack([zz - dz, zz + dz]), mid[None, :])  # the first slopes, all at once
        slope = (c2[1] - c2[0]) / (2 * dz)
        secant = np.zeros(len(go), dtype=bool)  # convergence is only trusted on a slope from
        found = np.full(len(go), np.nan)        # cut-aware values
        open_ = np.ones(len(go), dtype=bool)
        for _ in range(8):
            open_ &= (slope > 0) & np.isfinite(slope)
            i = np.flatnonzero(open_)
            if not i.size:
                break
            reach = 0.05 * (hi[i] - lo[i])
            step = np.minimum(np.maximum((pp[i] - q[i]) / slope[i], -reach), reach)
            z_new = np.minimum(np.maximum(zz[i] - step, lo[i]), hi[i])
            done = (np.abs(step) <= xtol[i]) & secant[i]
            found[i[done]], open_[i[done]] = z_new[done], False
            i, z_new = i[~done], z_new[~done]
            if not i.size:
                break
            p_new = self._precise_at(names, spec, mid[i], z_new)
            none = np.isnan(p_new)  # no cut there: the node sum is the CDF
            if np.any(none):
                p_new[none] = cdf(z_new[none], mid[i][none])
            hit = np.abs(p_new - q[i]) <= 1e-13
            found[i[hit]], open_[i[hit]] = z_new[hit], False
            move = ~hit & (z_new != zz[i]) & (p_new != pp[i])
            k = i[move]
            slope[k] = (p_new[move] - pp[k]) / (z_new[move] - zz[k])
            secant[k] = True
            zz[i[~hit]], pp[i[~hit]] = z_new[~hit], p_new[~hit]
        for k in np.flatnonzero(np.isnan(found)):
            m = int(mid[k])
            found[k] = self._polish_fallback(names[m], spec[m][2], lambda zz, m=m: cdf(zz, m),
                                             float(z0[k]), float(p0[k]), float(q[k]),
                                             float(xtol[k]), float(lo[k]), float(hi[k]))
        z[go] = found
        return z

    def _polish_fallback(self, measure, to_value, cdf, z0: float, p0: float, q: float,
                         xtol: float, lo: float, hi: float) -> float:
        """The root of the cut-aware CDF near z0 (where it is p0) where secant steps did not
        converge: a bracket grown from z0 by factors of 4, then regula falsi."""
        def either(zz: float) -> float:
            p_z = self._precise_value(measure, float(to_value(zz)), False)
            return float(cdf(np.array([zz]))[0]) if p_z is None else p_z

        delta = 1e-4 * (hi - lo)
        a = b = z0
        fa = fb = p0 - q
        while fa > 0 and a > lo:
            a = max(a - delta, lo)
            fa = either(a) - q
            delta *= 4
        delta = 1e-4 * (hi - lo)
        while fb < 0 and b < hi:
            b = min(b + delta, hi)
            fb = either(b) - q
            delta *= 4
        if not (fa <= 0 <= fb):
            return z0
        f = np.vectorize(lambda zz: either(zz) - q)
        return float(_bracketed_root(f, [a], [b], [min(fa, 0.0)], [max(fb, 0.0)], xtol=xtol)[0])

    def interval(self, measure: str, prob: float = 0.95) -> dict[str, float]:
        return self.intervals([measure], prob)[measure]

    def intervals(self, measures, prob: float = 0.95, polish: bool = True,
                  rtol: float = 1e-12) -> dict[str, dict[str, float]]:
        """Median and central ``prob`` interval of each measure, found together
        (``polish``, ``rtol``: see :meth:`quantiles_of`)."""
        tail = (1 - prob) / 2
        found = self.quantiles_of({m: [0.5, tail, 1 - tail] for m in measures}, polish=polish,
                                 rtol=rtol)
        return {m: {"median": float(found[m][0]), "lower": float(found[m][1]),
                    "upper": float(found[m][2])} for m in measures}

    def mean(self, measure: str) -> float:
        """Posterior mean, by the quadrature of the conditional distribution on a t grid."""
        t = np.linspace(0, 1, 4001)
        f = self._cdf_clipped(np.broadcast_to(t, (len(self.x), len(t))))
        dens = np.gradient(f, t, axis=1)
        vals = effects.effect(measure, self.x[:, None], t[None, :])
        vals = np.where(np.isfinite(vals), vals, 0.0)
        row = np.trapezoid(dens * vals, t, axis=1)
        return float(self._weights() @ row)


# ---------------------------------------------------------------------------------------------
# Arm-level priors
# ---------------------------------------------------------------------------------------------


def beta_nodes(post: BetaMix, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and probability weights for a Beta (mixture) distribution.

    Simpson's rule on the logit scale over the distribution's support (1e-15 tails).
    """
    lo, hi = post.support_logit()
    u = np.linspace(lo, hi, n_nodes)
    x = special.expit(u)
    log_dens = post.logpdf_logit(u)
    w = quadrature.simpson_weights(n_nodes, u[1] - u[0]) * np.exp(log_dens - log_dens.max())
    return x, w / w.sum()


# TAIL_TOL (imported from model.density): the largest posterior mass a quadrature window may
# leave out (else the posterior is refused): Beta shapes down to about 0.4 pass with any data
# (Jeffreys' 0.5 with 0 of 1000 leaves 5e-10). U_MAX: the effect-level engine's rows span at
# most logit(p_control) in [-U_MAX, U_MAX].


ARM_PANEL, ARM_LEVELS = 6, 5
"""The cut-aware arm-level rule: panels of 4 node spacings (over the node arm's whole window),
halving 8 times toward both ends of each value's interval."""
ARM_STEP = 0.25
"""Largest spacing of the arm-level nodes on the logit scale; at most a third of the narrower
arm's logit-scale posterior sd, sqrt(1/a + 1/b), as well."""


def _logit_sd(mix: BetaMix) -> float:
    """The smallest logit-scale sd among a Beta mixture's components (about sqrt(1/a + 1/b))."""
    return float(np.min(np.sqrt(1 / mix.a + 1 / mix.b)))


def _arm_nodes(post: BetaMix, other: BetaMix, n_nodes: int | None):
    """beta_nodes spaced at most ARM_STEP apart on the logit scale, and at most a third of either
    arm's logit-scale sd (the integrand is the node arm's density times the other arm's CDF),
    refusing a distribution whose mass lies beyond what the logit window can hold (shapes far
    below 0.1)."""
    lo, hi = post.support_logit()
    outside = (post.mass_below_logit(lo) + post.mass_above_logit(hi))
    if outside > TAIL_TOL:
        raise LnbayesError(
            f"Beta shapes {post.regularity():.3g} on both arms put {outside:.2g} of the posterior "
            "below p = 1e-300 or above 1 - 1e-16, which the exact engine cannot integrate; give "
            "at least one arm a prior with both shapes of about 0.1 or more"
        )
    step = min(ARM_STEP, _logit_sd(post) / 3, _logit_sd(other) / 3)
    need = int(math.ceil((hi - lo) / step)) + 1
    if n_nodes is not None:
        need = max(need, int(n_nodes))
    x, w = beta_nodes(post, need + (1 - need % 2))
    return x, w, (lo, hi), step


def arm_posterior(control_prior, treatment_prior, outcome, n_nodes: int | None = None) -> ExactPosterior:
    """Exact posterior under independent Beta (mixture) priors on each arm.

    The quadrature nodes lie on the arm whose prior is the more regular (larger smallest shape;
    p_control when equal); the other arm's posterior enters through its exact Beta CDF, so a
    prior such as Beta(1e-9, 1) on one arm is integrated correctly. ``n_nodes``: the least
    number of nodes (default: as the spacing rule of :func:`_arm_nodes` needs).
    """
    prior_c, prior_t = BetaMix.of(control_prior), BetaMix.of(treatment_prior)
    post_c, ev_c = update_beta(prior_c, outcome.control_events, outcome.control_n)
    post_t, ev_t = update_beta(prior_t, outcome.treatment_events, outcome.treatment_n)
    if prior_c.regularity() >= prior_t.regularity():
        x, w, window, step = _arm_nodes(post_c, post_t, n_nodes)
        return ExactPosterior(
            x=x, w=w, cond_cdf=post_t.cdf, pc_cdf=lambda v: float(post_c.cdf(v)),
            log_evidence=ev_c + ev_t, family="arm", cond_sf=post_t.sf, pc_ppf=post_c.ppf,
            pt_ppf=post_t.ppf, control=post_c, treatment=post_t, node_window=window,
            node_step=step,
        )
    x, w, window, step = _arm_nodes(post_t, post_c, n_nodes)
    return TreatmentNodesPosterior(
        x=x, w=w, cond_cdf=post_t.cdf, pc_cdf=lambda v: float(post_c.cdf(v)),
        log_evidence=ev_c + ev_t, family="arm", pc_ppf=post_c.ppf, pt_ppf=post_t.ppf,
        control=post_c, treatment=post_t, node_window=window, node_step=step,
    )


def _p_control_at(measure: str, p_treat, value):
    """The p_control at which ``measure`` equals ``value`` given p_treatment (NaN where none)."""
    p_treat = np.asarray(p_treat, dtype=float)
    value = np.asarray(value, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "risk_difference":
            return p_treat - value
        if measure == "risk_ratio":
            return np.where(value > 0, p_treat / value, np.inf)
        if measure == "odds_ratio":
            return np.where(value > 0, p_treat / (p_treat + value * (1 - p_treat)), np.inf)
    raise ValueError(f"unknown measure {measure!r}")


@dataclass
class TreatmentNodesPosterior(ExactPosterior):
    """An arm-level posterior whose quadrature nodes ``x`` lie on p_treatment.

    Used when the control arm's prior is the less regular: every measure decreases in
    p_control at fixed p_treatment, so ``P(measure <= v) = sum_j w_j P(p_control >= c_j(v))``
    with ``c_j(v)`` the p_control at which the measure equals v given p_treatment ``x_j``.
    """

    def _nodes_on_control(self) -> bool:
        return False

    def prob_benefit(self, lower_is_better: bool = False) -> float:
        side = self.control.sf(self.x) if lower_is_better else self.control.cdf(self.x)
        return float(np.clip(self.w @ side, 0.0, 1.0))

    def mean(self, measure: str) -> float:
        c = np.linspace(0, 1, 4001)
        dens = np.gradient(self.control.cdf(c), c)
        vals = effects.effect(measure, c[None, :], self.x[:, None])
        vals = np.where(np.isfinite(vals), vals, 0.0)
        return float(self.w @ np.trapezoid(dens[None, :] * vals, c, axis=1))


# ---------------------------------------------------------------------------------------------
# Gauss-Legendre panels: integrals, and partial integrals to any point, of a smooth density
# ---------------------------------------------------------------------------------------------

GL_K = quadrature.GL_K
_GL_S, _GL_WS = quadrature.GL_NODES, quadrature.GL_WEIGHTS
_GL_T, _GL_W = quadrature.GL_NODES_01, quadrature.GL_WEIGHTS_01


@dataclass
class _Panels:
    """Per row, a density on GL_K Gauss-Legendre nodes in each of P panels between sorted
    breakpoints ``b`` (R, P + 1); ``f`` (R, P, GL_K) is the density divided by its row maximum."""

    b: np.ndarray
    f: np.ndarray
    below: np.ndarray  # (R, P + 1) mass below each breakpoint
    above: np.ndarray  # (R, P + 1) mass above each breakpoint (summed from the top)
    total: np.ndarray  # (R,)
    keys: np.ndarray  # breakpoints mapped to [2 i, 2 i + 1] for row i, flattened (sorted)
    anti: np.ndarray = None  # (R, P, GL_K) antiderivative coefficients of each panel
    at_m1: np.ndarray = None  # (R, P) the antiderivative at the panel's start
    frac: np.ndarray = None  # (R, P) each panel's integral per unit width
    lo: np.ndarray = None  # (R,) each row's first and last breakpoint, and the span between
    hi: np.ndarray = None
    span: np.ndarray = None

    @classmethod
    def build(cls, b: np.ndarray, f: np.ndarray) -> _Panels:
        frac = f @ _GL_W  # each panel's integral per unit width
        mass = np.diff(b, axis=1) * frac
        zeros = np.zeros((len(b), 1))
        below = np.concatenate([zeros, np.cumsum(mass, axis=1)], axis=1)
        above = np.concatenate([np.cumsum(mass[:, ::-1], axis=1)[:, ::-1], zeros], axis=1)
        span = np.maximum(b[:, -1:] - b[:, :1], 1e-300)
        keys = ((b - b[:, :1]) / span + 2.0 * np.arange(len(b))[:, None]).ravel()
        # the antiderivative of each panel's interpolant: 0.5 sum_p anti[p] s^(p+1) - at_m1
        anti = 0.5 * (f @ quadrature.GL_ANTI.T)
        at_m1 = 0.5 * (f @ quadrature.GL_ANTI_M1)
        return cls(b=b, f=f, below=below, above=above, total=below[:, -1], keys=keys, anti=anti,
                   at_m1=at_m1, frac=frac, lo=b[:, 0].copy(), hi=b[:, -1].copy(), span=span[:, 0])

    @classmethod
    def interleave(cls, a: _Panels, b: _Panels) -> _Panels:
        """The rows of a and b interleaved (a first), padded to a common number of panels with
        zero-width panels at the top."""
        P = max(a.f.shape[1], b.f.shape[1])

        def pad(p: _Panels):
            extra = P - p.f.shape[1]
            bb = np.concatenate([p.b, np.repeat(p.b[:, -1:], extra, axis=1)], axis=1)
            ff = np.concatenate([p.f, np.zeros((len(p.f), extra, GL_K))], axis=1)
            return bb, ff

        (ba, fa), (bb, fb) = pad(a), pad(b)
        return cls.build(_interleave(ba, bb), _interleave(fa, fb))

    def cdf(self, th: np.ndarray, upper: bool = False, rows: np.ndarray | None = None) -> np.ndarray:
        """P(theta <= th) per row (``upper``: P(theta > th), summed from the top), th (R, k);
        or, with ``rows`` (an index array shaped like th), for those rows."""
        if rows is None:
            rows = np.broadcast_to(np.arange(len(self.b))[:, None], th.shape)
        if th.shape[-1] > 256 and th.ndim == 2:  # bound the (R, k, GL_K) temporaries
            return np.concatenate([self.cdf(th[:, i:i + 256], upper, rows[:, i:i + 256])
                                   for i in range(0, th.shape[1], 256)], axis=1)
        P1 = self.b.shape[1]
        th = np.where(np.isnan(th), 0.0, th)
        lo, hi = self.lo[rows], self.hi[rows]
        # (np.minimum/np.maximum rather than np.clip: the same values, without np.clip's
        # per-call overhead on these small arrays)
        key = np.minimum(np.maximum((th - lo) / self.span[rows], 0.0), 1.0) + 2.0 * rows
        j = np.searchsorted(self.keys, key.ravel(), side="right").reshape(th.shape) - 1 - P1 * rows
        j = np.minimum(np.maximum(j, 0), P1 - 2)
        at_b = rows * P1 + j  # flat indices: breakpoint j of each row, and panel j
        at_p = at_b - rows
        b = self.b.reshape(-1)
        b0 = b[at_b]
        width = b[at_b + 1] - b0
        wide = width > 0
        s = np.where(wide, 2.0 * (th - b0) / np.where(wide, width, 1.0) - 1.0, -1.0)
        s = np.minimum(np.maximum(s, -1.0), 1.0)
        coef = self.anti.reshape(-1, GL_K)[at_p]  # (..., GL_K): Horner in s
        acc = coef[..., GL_K - 1]
        for p in range(GL_K - 2, -1, -1):
            acc = acc * s + coef[..., p]
        lower = acc * s - self.at_m1.reshape(-1)[at_p]  # the panel's fraction below th, per unit width
        if upper:
            val = self.above.reshape(-1)[at_b + 1] + width * (self.frac.reshape(-1)[at_p] - lower)
        else:
            val = self.below.reshape(-1)[at_b] + width * lower
        total = self.total[rows]
        out = np.minimum(np.maximum(val / np.where(total > 0, total, 1.0), 0.0), 1.0)
        low_end, high_end = (1.0, 0.0) if upper else (0.0, 1.0)
        out = np.where(th <= lo, low_end, out)
        return np.where(th >= hi, high_end, out)


def _interleave(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a[0], b[0], a[1], b[1], ..., a[-1] (len(b) == len(a) - 1) along the first axis."""
    out = np.empty((len(a) + len(b),) + a.shape[1:], dtype=a.dtype)
    out[0::2], out[1::2] = a, b
    return out


def _distinct_breaks(b: np.ndarray) -> np.ndarray:
    """Each row's breakpoints sorted, without repeats: the union of grids repeats a point
    wherever a grid collapses on a row (a gap that only other rows have), and those zero-width
    panels would carry a third to a half of the density evaluations for nothing. Rows are padded
    at the top with their last breakpoint (zero-width panels there, as _Panels.interleave pads)."""
    b = np.sort(b, axis=1)
    repeat = np.zeros(b.shape, dtype=bool)
    repeat[:, 1:] = b[:, 1:] == b[:, :-1]
    if not np.any(repeat):
        return b
    width = b.shape[1] - int(np.min(np.sum(repeat, axis=1)))
    top = b[:, -1:]
    b = np.sort(np.where(repeat, np.inf, b), axis=1)[:, :width]
    return np.where(np.isinf(b), top, b)


def _theta_panels(x, u, scale, effect_prior: NormalMix, outcome, n_prior=16, n_lik=16,
                  n_gap=8, totals_only=False):
    """Per p_control node, the conditional posterior of theta on Gauss-Legendre panels between
    the breakpoints of :func:`_theta_breaks`. Returns (log row integrals, panels or None)."""
    feas_lo, feas_hi = effects.theta_bounds(scale, x)
    b = _theta_breaks(x, scale, effect_prior, outcome, feas_lo, feas_hi, n_prior, n_lik, n_gap)
    theta = b[:, :-1, None] + np.diff(b, axis=1)[:, :, None] * _GL_T  # (R, P, K)
    log_trunc = effect_prior.log_mass(feas_lo, feas_hi)  # (R,)
    y, n = outcome.treatment_events, outcome.treatment_n
    log_f = (effect_prior.logpdf(theta) - log_trunc[:, None, None]
             + density.log_lik_treatment(scale, x[:, None, None], u[:, None, None], theta, y, n))
    row_max = np.max(log_f, axis=(1, 2))
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    f = np.exp(log_f - row_max[:, None, None])
    if totals_only:
        total = np.diff(b, axis=1) * (f @ _GL_W)
        with np.errstate(divide="ignore"):
            return np.log(np.sum(total, axis=1)) + row_max, None
    panels = _Panels.build(b, f)
    with np.errstate(divide="ignore"):
        log_z = np.log(panels.total) + row_max
    return log_z, panels


def _clip(a, lo, hi):
    """np.clip's values without its per-call overhead (these arrays are small)."""
    return np.minimum(np.maximum(a, lo), hi)


@lru_cache(maxsize=None)
def _unit_grid(k: int) -> np.ndarray:
    grid = np.linspace(0, 1, k + 1)
    grid.setflags(write=False)
    return grid


def _segment(a, b, k):
    """k equal panels from a to b, per row: (R, k + 1) breakpoints."""
    return a[:, None] + (b - a)[:, None] * _unit_grid(k)[None, :]


def _theta_breaks(x, scale, effect_prior: NormalMix, outcome, feas_lo, feas_hi, n_prior: int,
                  n_lik: int, n_gap: int) -> np.ndarray:
    """The theta breakpoints per p_control node (R, P + 1), distinct and sorted: the union of
    uniform grids over each prior component's 12-sd span (``n_prior`` panels of 1.5 sd), over the
    likelihood's span (1e-15 quantiles of Beta(y + 1, n - y + 1); ``n_lik`` panels), over the
    gaps a prior in conflict with the data leaves (:func:`_conflict_gaps`), halving toward a
    feasible edge (log_rr, rd), and the no-effect point; all cut to the feasible range."""
    y, n = outcome.treatment_events, outcome.treatment_n
    q_lo = max(dists.beta_ppf(1e-15, y + 1, n - y + 1), 1e-300)
    q_hi = min(dists.beta_isf(1e-15, y + 1, n - y + 1), 1 - 1e-16)
    lk_lo, lk_hi = effects.theta_of(scale, x, q_lo), effects.theta_of(scale, x, q_hi)
    lo_in, hi_in, beyond = _prior_window(effect_prior, feas_lo, feas_hi)
    parts = [_segment(lo_in, hi_in, n_prior)]
    if len(effect_prior.m) > 1 and not beyond:  # each component on its own scale
        for m, s in zip(effect_prior.m, effect_prior.s):
            parts.append(_segment(_clip(m - 12 * s, lo_in, hi_in), _clip(m + 12 * s, lo_in, hi_in),
                                  n_prior))
    parts.append(_segment(_clip(lk_lo, lo_in, hi_in), _clip(lk_hi, lo_in, hi_in), n_lik))
    gaps, o_lo_in, o_hi_in = _conflict_gaps(effect_prior, lk_lo, lk_hi, lo_in, hi_in, feas_lo,
                                            feas_hi, n_lik, n_gap)
    parts += gaps
    if scale != "log_or":  # panels halving toward a feasible edge, where the density can pile up
        top = np.max(np.concatenate(parts, axis=1), axis=1)
        bottom = np.min(np.concatenate(parts, axis=1), axis=1)
        halving = 2.0 ** -np.arange(1, EDGE_LEVELS + 1)
        width = (top - bottom) / n_lik
        parts.append(_clip(top[:, None] - width[:, None] * halving, bottom[:, None], top[:, None]))
        if scale == "rd":
            parts.append(_clip(bottom[:, None] + width[:, None] * halving, bottom[:, None],
                               top[:, None]))
    zero = _clip(np.zeros((len(x), 1)), o_lo_in[:, None], o_hi_in[:, None])
    return _distinct_breaks(np.concatenate([*parts, zero], axis=1))


def _prior_window(effect_prior: NormalMix, feas_lo, feas_hi):
    """Where the prior's panels go, per row: its 12-sd span cut to the feasible range, inset by
    1e-12 at a feasible edge (log(1 - p) stays finite there; the density is 0 anyway). A prior
    whose span lies wholly beyond a feasible edge piles up at that edge once truncated, and
    decays into the feasible range at the rate d / s^2 (d: the nearest centre's distance from
    the edge): its panels then span 60 nats of that decay. Returns (lo_in, hi_in, beyond)."""
    pr_lo, pr_hi = effect_prior.span(12.0)
    lo, hi = np.maximum(pr_lo, feas_lo), np.minimum(pr_hi, feas_hi)
    s_max = float(np.max(effect_prior.s))
    beyond_lo = pr_hi <= feas_lo
    beyond_hi = pr_lo >= feas_hi
    beyond = bool(np.any(beyond_lo | beyond_hi))
    if beyond:
        with np.errstate(divide="ignore", invalid="ignore"):
            reach_lo = 60 * s_max**2 / np.maximum(feas_lo - float(np.max(effect_prior.m)), 1e-300)
            reach_hi = 60 * s_max**2 / np.maximum(float(np.min(effect_prior.m)) - feas_hi, 1e-300)
        lo = np.where(beyond_lo, feas_lo,
                      np.where(beyond_hi, np.maximum(feas_lo, feas_hi - reach_hi), lo))
        hi = np.where(beyond_lo, np.minimum(feas_hi, feas_lo + reach_lo),
                      np.where(beyond_hi, feas_hi, hi))
    span = hi - lo
    lo_in = lo + 1e-12 * np.maximum(span, 1.0) * np.isfinite(feas_lo) * (lo == feas_lo)
    hi_in = hi - 1e-12 * np.maximum(span, 1.0) * np.isfinite(feas_hi) * (hi == feas_hi)
    return lo_in, hi_in, beyond


def _conflict_gaps(effect_prior: NormalMix, lk_lo, lk_hi, lo_in, hi_in, feas_lo, feas_hi,
                   n_lik: int, n_gap: int):
    """A prior in conflict with the data: the posterior can lie between the prior's centre and
    the likelihood, and beyond the prior's 12 sd; grids over those gaps where any row has one.
    Returns (grids, o_lo_in, o_hi_in): the grids, and the feasible span of prior and likelihood
    together (inset at a feasible edge), where the no-effect point is kept."""
    pr_lo, pr_hi = effect_prior.span(12.0)
    centre = float(np.sum(effect_prior.w * effect_prior.m))
    o_lo = np.maximum(np.minimum(pr_lo, lk_lo), feas_lo)
    o_hi = np.minimum(np.maximum(pr_hi, lk_hi), feas_hi)
    o_span = o_hi - o_lo
    o_step = 1e-12 * np.where(np.isfinite(o_span), np.maximum(o_span, 1.0), 1.0)
    o_lo_in = o_lo + np.where(np.isfinite(feas_lo) & (o_lo == feas_lo), o_step, 0.0)
    o_hi_in = o_hi - np.where(np.isfinite(feas_hi) & (o_hi == feas_hi), o_step, 0.0)
    lk_lo_o, lk_hi_o = _clip(lk_lo, o_lo_in, o_hi_in), _clip(lk_hi, o_lo_in, o_hi_in)
    c_lo = _clip(np.minimum(centre, lk_lo), lo_in, hi_in)
    c_hi = _clip(np.maximum(centre, lk_hi), lo_in, hi_in)
    gaps = [
        (c_lo, np.maximum(_clip(lk_lo, lo_in, hi_in), c_lo), n_gap),  # centre below the data
        (np.minimum(_clip(lk_hi, lo_in, hi_in), c_hi), c_hi, n_gap),  # centre above the data
        (np.minimum(lk_lo_o, lo_in), np.minimum(lk_hi_o, lo_in), n_lik),  # the likelihood
        (np.minimum(lk_hi_o, lo_in), lo_in, n_gap),  # the gap to the prior's span
        (np.maximum(lk_lo_o, hi_in), np.maximum(lk_hi_o, hi_in), n_lik),
        (hi_in, np.maximum(lk_lo_o, hi_in), n_gap),
    ]
    grids = [_segment(a, b, k) for a, b, k in gaps
             if np.any(b - a > 1e-9 * np.maximum(np.abs(a), 1.0))]
    return grids, o_lo_in, o_hi_in


# ---------------------------------------------------------------------------------------------
# A marginal density known (in logs) at uniform nodes: its CDF and quantiles
# ---------------------------------------------------------------------------------------------


CROSS_STENCIL = 12
"""Rows of the interpolant across rows at a fixed theta (cut-aware log-OR integrals)."""


class _UniformLogCdf:
    """CDF and quantiles of a density exp(log_c(u) + log_z(u)) with log_c known in closed form
    and log_z given at uniform nodes ``u`` (the density vanishing at both ends): on each interval
    log_z is the degree-7 interpolant of the 8 nearest nodes, and the density is integrated by
    Gauss-Legendre, to the interval's end or to any point."""

    def __init__(self, u: np.ndarray, log_z: np.ndarray, log_c: Callable, peak: float):
        n = len(u)
        self.u0, self.h, self.n = float(u[0]), float(u[1] - u[0]), n
        self.log_c, self.peak = log_c, peak
        lz = np.where(np.isfinite(log_z), log_z, -np.inf)
        lz = np.maximum(lz, np.max(lz) - 2000.0)  # finite where Z underflows (far tails)
        j = np.arange(n - 1)
        start = np.clip(j - 3, 0, n - quadrature.STENCIL)
        self.start = start
        self.stencil = lz[start[:, None] + np.arange(quadrature.STENCIL)]  # (n - 1, 8)
        mass = self._mass(j, np.ones(n - 1))
        self.cum = np.concatenate([[0.0], np.cumsum(mass)])
        self.total = float(self.cum[-1])

    def _mass(self, j: np.ndarray, tau: np.ndarray) -> np.ndarray:
        """Mass from u_j to u_j + tau h, unnormalised (j intervals, tau in [0, 1])."""
        pos = (j - self.start[j])[:, None] + tau[:, None] * _GL_T[None, :]
        vals = np.einsum("jkm,jm->jk", quadrature.lagrange_basis(pos), self.stencil[j])
        at = self.u0 + (j[:, None] + tau[:, None] * _GL_T[None, :]) * self.h
        with np.errstate(over="ignore"):
            dens = np.exp(np.minimum(vals + self.log_c(at) - self.peak, 700.0))
        return self.h * tau * (dens @ _GL_W)

    def _at(self, j: np.ndarray, tau: np.ndarray) -> np.ndarray:
        """Mass below u_j + tau h, unnormalised."""
        return self.cum[j] + self._mass(j, tau)

    def cdf(self, u) -> np.ndarray:
        u = np.atleast_1d(np.asarray(u, dtype=float))
        z = (u - self.u0) / self.h
        j = np.minimum(np.maximum(np.floor(z).astype(np.intp), 0), self.n - 2)
        tau = np.minimum(np.maximum(z - j, 0.0), 1.0)
        out = self._at(j, tau) / self.total
        out = np.where(z <= 0, 0.0, out)
        return np.minimum(np.maximum(np.where(z >= self.n - 1, 1.0, out), 0.0), 1.0)

    def ppf(self, q) -> np.ndarray:
        """The u at which the CDF equals each q."""
        q = np.atleast_1d(np.asarray(q, dtype=float))
        target = q * self.total
        j = np.clip(np.searchsorted(self.cum, target, side="left") - 1, 0, self.n - 2)

        def f(tau, i):
            return self._at(j[i], tau) - target[i]

        lo, hi = np.zeros(len(q)), np.ones(len(q))
        fa, fb = self.cum[j] - target, self.cum[j + 1] - target
        tau = _secant_root(f, lo, hi, np.minimum(fa, 0.0), np.maximum(fb, 0.0),
                           np.full(len(q), np.nan), xtol=1e-13)
        return self.u0 + (j + tau) * self.h


def _split_columns(sums: np.ndarray, values: list) -> list:
    """The sums of concatenated columns, split back into one array per measure, each shaped
    as its values."""
    out, start = [], 0
    for v in values:
        k = int(np.size(v))
        out.append(sums[start:start + k].reshape(np.shape(v)))
        start += k
    return out


def _bracket(cdf, lo: np.ndarray, hi: np.ndarray, qs: np.ndarray, mid: np.ndarray):
    """Brackets of the quantiles ``qs`` (measure ``mid[i]`` searched over ``lo[i]..hi[i]``):
    a coarse grid per measure, then a finer one inside each level's bracket. Returns
    ``(a, b, fa, fb, start, below, above)``: cdf(a) < q <= cdf(b) with ``fa``, ``fb`` the
    signed gaps on the probit scale (:func:`_probit_gap`), a start from the inverse cubic
    through the four fine points around the bracket on that scale (NaN where it cannot be
    formed), and the levels below or above the search range."""
    n_grid = 13
    grids = np.linspace(lo, hi, n_grid, axis=1)  # (L, n_grid)
    first = {int(i): int(np.flatnonzero(mid == i)[0]) for i in np.unique(mid)}
    c_m = {i: row for i, row in zip(first, cdf(np.stack([grids[j] for j in first.values()]),
                                               np.array(list(first))[:, None]))}
    c = np.stack([c_m[int(i)] for i in mid])
    rows = np.arange(len(qs))
    k = np.sum(c < qs[:, None], axis=1)  # c[k - 1] < q <= c[k]
    below, above = k == 0, k == n_grid
    k = np.clip(k, 1, n_grid - 1)
    a, b = grids[rows, k - 1], grids[rows, k]
    fine = a[:, None] + (b - a)[:, None] * np.linspace(0, 1, 9)[None, 1:-1]
    cf = cdf(fine, mid[:, None])
    kf = np.sum(cf < qs[:, None], axis=1)
    pts = np.concatenate([a[:, None], fine, b[:, None]], axis=1)
    allc = np.concatenate([c[rows, k - 1][:, None], cf, c[rows, k][:, None]], axis=1)
    a, b = pts[rows, kf], pts[rows, kf + 1]
    # the bracket keeps cdf(a) < q <= cdf(b); the gaps are on the probit scale (_probit_gap)
    fa = np.minimum(_probit_gap(allc[rows, kf], qs), 0.0)
    fb = np.maximum(_probit_gap(allc[rows, kf + 1], qs), 0.0)
    j0 = np.clip(kf - 1, 0, pts.shape[1] - 4)
    near = j0[:, None] + np.arange(4)
    zc, fc = pts[rows[:, None], near], _probit(allc[rows[:, None], near])
    start = np.full(len(qs), np.nan)
    distinct = np.all(np.diff(fc, axis=1) > 0, axis=1)
    if np.any(distinct):
        fd, zd, qd = fc[distinct], zc[distinct], _probit(qs[distinct])
        lag = np.ones_like(fd)
        # CDF values a few ulps apart (a posterior far narrower than the grid) overflow the
        # Lagrange weights: such a start is not finite, and the root search ignores it
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            for m in range(4):
                for o in range(4):
                    if o != m:
                        lag[:, m] *= (qd - fd[:, o]) / (fd[:, m] - fd[:, o])
            start[distinct] = np.sum(lag * zd, axis=1)
    return a, b, fa, fb, start, below, above


def _confirm_brackets(cdf, a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                      qs: np.ndarray, mid: np.ndarray):
    """Brackets cdf(a) < q <= cdf(b) of the quantiles ``qs`` from brackets found on another rule
    (:meth:`ExactPosterior._coarse_rule`): each end is checked, and where a bracket misses its
    root it is moved past the failing end, doubling its width, until it holds (or reaches the
    search range's end, which then is the bracket's). Returns ``(a, b, fa, fb)`` as
    :func:`_bracket` has them."""
    a, b = np.array(a, dtype=float), np.array(b, dtype=float)
    ca, cb = cdf(np.stack([a, b]), mid[None, :])
    for _ in range(64):
        low = (ca >= qs) & (a > lo)
        high = (cb < qs) & (b < hi) & ~low
        if not (np.any(low) or np.any(high)):
            break
        width = b - a
        # the root lies below a (or above b): the old end is the new bracket's other end
        b, cb = np.where(low, a, b), np.where(low, ca, cb)
        a = np.where(low, np.maximum(a - 2 * width, lo), a)
        a, ca = np.where(high, b, a), np.where(high, cb, ca)
        b = np.where(high, np.minimum(b + 2 * width, hi), b)
        moved = np.flatnonzero(low | high)
        ends = np.where(low[moved], a[moved], b[moved])
        c = cdf(ends, mid[moved])
        ca[moved] = np.where(low[moved], c, ca[moved])
        cb[moved] = np.where(high[moved], c, cb[moved])
    fa = np.minimum(_probit_gap(ca, qs), 0.0)
    fb = np.maximum(_probit_gap(cb, qs), 0.0)
    return a, b, fa, fb


def _probit(p):
    """The Normal quantile of probabilities, finite (+-40 at 0 and 1)."""
    return np.clip(special.ndtri(p), -40.0, 40.0)


def _probit_gap(c, q):
    """probit(c) - probit(q), with the sign of c - q (0 where c == q or where the two probits
    round to one value): the gap that the quantile searches drive to 0. A posterior CDF is
    close to a Normal's, so on this scale it is close to linear over a bracket spanning its
    tails, and secant steps converge in a few steps where on the CDF itself they crawl."""
    d = _probit(c) - _probit(q)
    return np.where(c > q, np.maximum(d, 0.0), np.where(c < q, np.minimum(d, 0.0), 0.0))


def _secant_root(func, a, b, fa, fb, start, xtol, max_iter=60):
    """Roots of an increasing ``func`` in brackets fa <= 0 <= fb (elementwise over arrays):
    secant steps from ``start`` (NaN: regula falsi), safeguarded by the brackets (a step
    outside, or one that does not shrink the bracket enough, bisects); stops when every step
    or bracket is below ``xtol``. ``func(x, i)``: the function of the roots of indices ``i`` at
    ``x`` (only the roots still searched for are evaluated)."""
    a, b = np.array(a, dtype=float), np.array(b, dtype=float)
    fa, fb = np.array(fa, dtype=float), np.array(fb, dtype=float)
    hit = (fa == 0) | (fb == 0)
    root = np.where(fa == 0, a, np.where(fb == 0, b, 0.5 * (a + b)))
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(np.isfinite(start) & (start > a) & (start < b), start,
                     a - fa * (b - a) / (fb - fa))
    x = np.where((x > a) & (x < b), x, 0.5 * (a + b))
    x_prev = f_prev = None
    done = hit | (b - a <= xtol)
    for it in range(max_iter):
        if done.all():
            break
        x = np.where(done, root, x)
        open_ = np.flatnonzero(~done)
        f = np.zeros(x.shape)
        f[open_] = func(x[open_], open_)
        hit_now = (f == 0) & ~done
        root = np.where(hit_now, x, root)
        below = (f < 0) & ~done
        above = (f > 0) & ~done
        a, fa = np.where(below, x, a), np.where(below, f, fa)
        b, fb = np.where(above, x, b), np.where(above, f, fb)
        with np.errstate(invalid="ignore", divide="ignore"):
            if x_prev is None:
                nxt = a - fa * (b - a) / (fb - fa)
            else:
                nxt = x - f * (x - x_prev) / (f - f_prev)
        step = np.abs(nxt - x)
        converged = (step <= xtol) & (nxt > a - xtol) & (nxt < b + xtol)
        root = np.where(converged & ~done, np.clip(nxt, a, b), root)
        done = done | hit_now | converged | (b - a <= xtol)
        bad = ~(nxt > a) | ~(nxt < b) | (it % 6 == 5)
        x_prev, f_prev = x, f
        x = np.where(bad, 0.5 * (a + b), nxt)
    return np.where(done, root, 0.5 * (a + b))


def _bracketed_root(func, a, b, fa, fb, xtol, max_iter=200):
    """Roots of an increasing ``func`` (elementwise over arrays) in brackets fa <= 0 <= fb.

    Regula falsi with the Illinois modification, vectorised over the brackets (each keeps its
    own bracket; every fourth step bisects, so the bracket at least halves that often); stops
    when every bracket is narrower than ``xtol`` or a root is hit exactly.
    """
    a, b = np.array(a, dtype=float), np.array(b, dtype=float)
    fa, fb = np.array(fa, dtype=float), np.array(fb, dtype=float)
    side = np.zeros(a.shape, dtype=np.int8)
    hit = (fa == 0) | (fb == 0)
    root = np.where(fa == 0, a, np.where(fb == 0, b, 0.5 * (a + b)))
    for it in range(max_iter):
        done = hit | (b - a <= xtol)
        if done.all():
            break
        mid = 0.5 * (a + b)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = a - fa * (b - a) / (fb - fa)
        c = np.where((it % 4 == 3) | ~(c > a) | ~(c < b), mid, c)
        c = np.where(done, root, c)
        fc = func(c)
        now_hit = (fc == 0) & ~done
        left = (fc < 0) & ~done  # the root lies above c
        right = (fc > 0) & ~done
        fb = np.where(left & (side == -1), 0.5 * fb, fb)
        fa = np.where(right & (side == 1), 0.5 * fa, fa)
        a, fa = np.where(left, c, a), np.where(left, fc, fa)
        b, fb = np.where(right, c, b), np.where(right, fc, fb)
        side = np.where(left, -1, np.where(right, 1, side)).astype(np.int8)
        root = np.where(now_hit, c, root)
        hit = hit | now_hit
    return np.where(hit, root, 0.5 * (a + b))


# ---------------------------------------------------------------------------------------------
# Probabilities whose region meets the edge of the unit square (cut-aware quadrature)
# ---------------------------------------------------------------------------------------------
#
# P(measure <= v) = int f(node arm) G(node) with G the other arm's conditional probability. Where
# the line {measure = v} leaves the unit square (risk difference, risk ratio above 1), G reaches 0
# or 1 at a node value (the cut) with a kink of finite order (the other arm's density vanishes
# there only like (1 - p)^(n - y)), and no rule on fixed nodes converges fast across it. These
# integrals use a Gauss-Legendre rule on the side of the cut where G is not constant, with panels
# halving toward the cut, and the node arm's exact mass beyond it.


def _inside_interval(measure: str, v: float, nodes_on_control: bool) -> tuple[float, float, float, float]:
    """Where the other arm's conditional probability is not constant, as an interval (lo, hi) of
    the node arm's probability, and that probability's value (cdf form) below lo and above hi."""
    if nodes_on_control:  # t = p_treatment_at(measure, x, v); t <= 0: F = 0, t >= 1: F = 1
        if measure == "risk_difference":
            lo, hi = max(0.0, -v), min(1.0, 1.0 - v)
        elif measure == "risk_ratio":
            lo, hi = 0.0, (min(1.0, 1.0 / v) if v > 0 else 0.0)
        elif measure == "odds_ratio":
            lo, hi = 0.0, (1.0 if v > 0 else 0.0)
        else:  # p_treatment: constant in x
            lo, hi = (0.0, 1.0) if 0 < v < 1 else ((0.0, 0.0) if v <= 0 else (1.0, 1.0))
        return lo, max(lo, hi), 0.0, 1.0
    # nodes on p_treatment: c = _p_control_at(measure, t, v); G = P(p_control >= c)
    if measure == "risk_difference":
        lo, hi = max(0.0, v), min(1.0, 1.0 + v)
    elif measure == "risk_ratio":
        lo, hi = (0.0, min(1.0, v)) if v > 0 else (1.0, 1.0)
    elif measure == "odds_ratio":
        lo, hi = (0.0, 1.0) if v > 0 else (1.0, 1.0)
    else:
        raise ValueError(measure)
    return lo, max(lo, hi), 1.0, 0.0


def _logit(p: float) -> float:
    return -np.inf if p <= 0 else np.inf if p >= 1 else float(special.logit(p))


def _inside_arrays(measure, v: np.ndarray, nodes_on_control: bool):
    """:func:`_inside_interval` for an array of values (lo, hi, g_lo, g_hi); ``measure`` one
    name, or one per value."""
    names = [measure] * len(v) if isinstance(measure, str) else measure
    out = [_inside_interval(m, float(val), nodes_on_control) for m, val in zip(names, v)]
    return tuple(np.array([o[k] for o in out], dtype=float).reshape(len(v)) for k in range(4))


def _p_treatment_of(measures: np.ndarray, p_control, values):
    """effects.p_treatment_at with a measure per value (``measures`` broadcast against the
    result)."""
    names = set(np.ravel(measures).tolist())
    if len(names) == 1:
        return effects.p_treatment_at(names.pop(), p_control, values)
    p_control, values = np.broadcast_arrays(np.asarray(p_control, float), np.asarray(values, float))
    measures = np.broadcast_to(measures, p_control.shape)
    out = np.empty(p_control.shape)
    for m in names:
        sel = measures == m
        out[sel] = effects.p_treatment_at(str(m), p_control[sel], values[sel])
    return out


def _arm_cut_prob(node: BetaMix, other: BetaMix, nodes_on_control: bool, window, step: float,
                  measure: str, values: np.ndarray, upper: bool) -> np.ndarray:
    """P(measure <= v) (``upper``: > v) under arm-level priors, by the cut-aware rule over the
    logit of the node arm (``window``: its 1e-15 support), all values at once: each gets the same
    number of panels over its own interval, halving 8 times toward both ends."""
    u0, u1 = window
    values = np.asarray(values, dtype=float)
    lo, hi, g_lo, g_hi = _inside_arrays(measure, values, nodes_on_control)
    if upper:
        g_lo, g_hi = 1.0 - g_lo, 1.0 - g_hi
    total = np.where(g_lo > 0, g_lo * node.cdf(lo), 0.0) + np.where(g_hi > 0, g_hi * node.sf(hi), 0.0)
    with np.errstate(divide="ignore"):
        a = np.maximum(u0, special.logit(lo))
        b = np.minimum(u1, special.logit(hi))
    live = b > a
    if np.any(live):
        a, b, v = a[live], b[live], values[live]
        n_panels = max(2, int(math.ceil((u1 - u0) / (ARM_PANEL * step))))
        frac = quadrature.graded_edges(0.0, 1.0, n_panels, ARM_LEVELS, ARM_LEVELS)
        edges = a[:, None] + (b - a)[:, None] * frac[None, :]
        gs, gw = _GL_S, _GL_WS
        mid = (edges[:, 1:] + edges[:, :-1]) / 2
        half = (edges[:, 1:] - edges[:, :-1]) / 2
        uu = (mid[..., None] + half[..., None] * gs).reshape(len(v), -1)
        ww = (half[..., None] * gw).reshape(len(v), -1)
        y = special.expit(uu)
        f = np.exp(node.logpdf_logit(uu))
        if nodes_on_control:
            t = np.clip(effects.p_treatment_at(measure, y, v[:, None]), 0.0, 1.0)
            g = other.sf(t) if upper else other.cdf(t)
        else:
            c = np.clip(_p_control_at(measure, y, v[:, None]), 0.0, 1.0)
            g = other.cdf(c) if upper else other.sf(c)
        total[live] += np.sum(ww * f * g, axis=1)
    return np.clip(total, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Effect-level priors
# ---------------------------------------------------------------------------------------------


EDGE_LEVELS = 6
"""Halvings of the theta panels toward the feasible edges (log_rr, rd)."""

LOCATE_PANELS = {"n_prior": 6, "n_lik": 6, "n_gap": 3, "totals_only": True}
"""Theta panels per row in the passes that locate p_control's posterior range (a third of the
final rows': those passes compare row integrals with a 60-nat cut, so a relative error of 1e-6
changes nothing)."""

ROW_STEP = 0.25
"""Largest spacing of the p_control rows on the logit scale."""
PRECISE_PANEL, PRECISE_K, PRECISE_LEVELS = 3, 8, 6
"""The cut-aware rule over logit(p_control): panels of 3 row spacings, 8 Gauss-Legendre nodes
each, and 6 halvings toward a cut."""
REFINE_MAX, REFINE_PROBES, REFINE_TOL = 3, 6, 1e-9
"""Halvings of the row spacing at most, the midpoints probed for each, and the largest error
of the interpolated log row integral there."""


def _control_factor(prior_c, outcome):
    """The control arm's part: a tail function (mass of p_control's conjugate posterior beyond
    logit +-limit; none for a Normal on the logit) and the posterior's sd on the logit."""
    y_c, n_c = outcome.control_events, outcome.control_n
    if isinstance(prior_c, density.LogitNormalMix):
        # the logit's prior density is exact on the rows; Normal tails leave nothing beyond +-36
        def control_tail(limit: float) -> float:
            return 0.0

        return control_tail, prior_c.posterior_logit_sd(y_c, n_c)
    post_c, _ = update_beta(prior_c, y_c, n_c)

    def control_tail(limit: float) -> float:
        return post_c.mass_below_logit(-limit) + post_c.mass_above_logit(limit)

    return control_tail, _logit_sd(post_c)


def _locate(log_marginal, control_tail, prior_c, arm_scale: float):
    """Where the marginal posterior of u = logit(p_control) lives: ``(u_lo, u_hi, u_m, lm_m)``,
    the range and the last locating pass's rows and log marginal."""
    # coarse pass over a wide logit range to find where the marginal posterior lives
    u_c = np.linspace(-30, 30, 61)
    lm_c, _, _ = log_marginal(u_c, locate=True)
    keep = np.flatnonzero(lm_c > np.max(lm_c) - 60)
    step = u_c[1] - u_c[0]
    limit = 36.0
    if keep[0] == 0 or keep[-1] == len(u_c) - 1:
        # the marginal is still within 60 nats at logit +-30: how much of the control arm's
        # conjugate posterior lies beyond +-36 (heavy-tailed Beta priors, shapes below 1)?
        if control_tail(limit) > TAIL_TOL:
            limit = U_MAX
            u_c = np.linspace(-U_MAX, U_MAX, 201)
            lm_c, _, _ = log_marginal(u_c, locate=True)
            keep = np.flatnonzero(lm_c > np.max(lm_c) - 60)
            step = u_c[1] - u_c[0]
            outside = control_tail(U_MAX)
            if (keep[0] == 0 or keep[-1] == len(u_c) - 1) and outside > TAIL_TOL:
                raise LnbayesError(
                    f"control prior Beta shapes {prior_c.regularity():.3g} leave {outside:.2g} of "
                    f"p_control's posterior beyond logit +-{U_MAX:g}, which the exact engine "
                    "cannot integrate; use shapes of about 0.4 or more"
                )
    u_lo = max(u_c[keep[0]] - step, -limit)
    u_hi = min(u_c[keep[-1]] + step, limit)
    # second pass on the located range (repeated while the range is much wider than the arms'
    # scales: a huge trial's marginal is far narrower than the coarse pass's step)
    for _ in range(4):
        u_m = np.linspace(u_lo, u_hi, 61)
        lm_m, _, _ = log_marginal(u_m, locate=True)
        keep = np.flatnonzero(lm_m > np.max(lm_m) - 60)
        step = u_m[1] - u_m[0]
        u_lo, u_hi = u_m[keep[0]] - step, u_m[keep[-1]] + step
        if u_hi - u_lo <= 200 * arm_scale or keep[-1] - keep[0] > 20:
            break
    return u_lo, u_hi, u_m, lm_m


def _row_count(log_marginal, u_m, lm_m, u_lo: float, u_hi: float, scales: list,
               n_rows: int) -> int:
    """The number of Simpson rows (odd): the spacing is ROW_STEP, and at most 1/1.5 of the
    narrowest scale on which the integrand varies in logit(p_control): the control arm's
    posterior components, the treatment arm's likelihood (the conditional of theta moves with
    p_control), and the marginal's own curvature at its peak (an informative effect prior
    narrows it)."""
    u_pk = float(u_m[np.argmax(lm_m)])
    d = 0.02
    lm3, _, _ = log_marginal(np.array([u_pk - d, u_pk, u_pk + d]), locate=True)
    curv = -(lm3[0] - 2 * lm3[1] + lm3[2]) / d**2
    scales = list(scales)
    if curv > 0:
        scales.append(1 / math.sqrt(curv))
    row_step = min(ROW_STEP, min(scales) / 1.5)
    n = max(int(n_rows), int(math.ceil((u_hi - u_lo) / row_step)) + 1)
    return n + 1 - n % 2


def _refined_rows(log_marginal, log_c, u_lo: float, u_hi: float, n: int):
    """The rows, refined: the local quantities (p_control's CDF, probabilities cut by the unit
    square's edge) interpolate across the rows, so the spacing is halved until the degree-7
    interpolant of the log marginal matches fresh rows at midpoints where the marginal lives
    (to REFINE_TOL). Returns ``(u, log_m, panels, x)``."""
    u = np.linspace(u_lo, u_hi, n)
    log_m, panels, x = log_marginal(u)
    for refinement in range(REFINE_MAX + 1):
        h = u[1] - u[0]
        peak = np.max(log_m)
        log_z = log_m - log_c(u)  # the part known at the rows only
        live = np.flatnonzero(log_m[:-1] > peak - 25)
        probe = live[np.unique(np.linspace(0, len(live) - 1, REFINE_PROBES).astype(int))]
        mid = u[probe] + h / 2
        lm_probe, _, _ = log_marginal(mid)
        got = quadrature.interp_uniform(log_z, (mid - u[0]) / h) + log_c(mid)
        if np.max(np.abs(got - lm_probe)) <= REFINE_TOL or refinement == REFINE_MAX:
            break
        # halve the spacing: new rows at the midpoints, interleaved with the old ones
        u_mid = (u[1:] + u[:-1]) / 2
        lm_mid, panels_mid, x_mid = log_marginal(u_mid)
        n = 2 * n - 1
        u = np.linspace(u_lo, u_hi, n)
        log_m = _interleave(log_m, lm_mid)
        x = _interleave(x, x_mid)
        panels = _Panels.interleave(panels, panels_mid)
    return u, log_m, panels, x


@dataclass(frozen=True)
class _EffectRows:
    """The rows of an effect-level posterior, what the cut-aware rule needs of them."""

    scale: str
    u: np.ndarray
    x: np.ndarray
    log_z: np.ndarray
    panels: Any
    w_sum: np.ndarray
    w_half: np.ndarray
    marginal: Any
    peak: float
    r0: float
    r1: float
    log_c: Callable
    log_marginal: Callable


def _effect_precise(rows: _EffectRows, measure, values, upper: bool) -> np.ndarray:
    """The cut-aware values of P(measure <= v) (or > v) at several values (``measure``: one
    name, or one per value), NaN where no cut lies where the marginal of p_control lives (the sum
    over the rows is then accurate). Each value is computed as it would be alone (its own panels,
    its own sums); only the NumPy calls are shared."""
    values = np.atleast_1d(np.asarray(values, dtype=float))
    measure = np.array([measure] * len(values) if isinstance(measure, str) else measure)
    out = np.full(len(values), np.nan)
    lo, hi, g_lo, g_hi = _inside_arrays(list(measure), values, True)
    with np.errstate(divide="ignore"):
        a_cut, b_cut = special.logit(lo), special.logit(hi)  # -inf at 0, inf at 1
    cut_lo, cut_hi = (rows.r0 < a_cut) & (a_cut < rows.r1), (rows.r0 < b_cut) & (b_cut < rows.r1)
    live = np.flatnonzero(cut_lo | cut_hi)
    if not live.size:
        return out
    # the sum over the rows is still exact where it agrees with the sum over every other row
    # (a kink of high order, or one where the marginal is negligible): no cut-aware rule
    x = rows.x
    t_rows = _p_treatment_of(measure[None, live], x[:, None], values[None, live])
    inside = (t_rows > 0) & (t_rows < 1)
    side = np.where(t_rows >= 1, 0.0 if upper else 1.0, 1.0 if upper else 0.0)
    row_of = np.broadcast_to(np.arange(len(x))[:, None], t_rows.shape)[inside]
    side[inside] = rows.panels.cdf(effects.theta_of(rows.scale, x[row_of], t_rows[inside]),
                                   upper, rows=row_of)
    cut = []
    for k, i in enumerate(live):
        full, half = float(rows.w_sum @ side[:, k]), float(rows.w_half @ side[::2, k])
        if abs(full - half) <= 1e-12:
            out[i] = min(max(full, 0.0), 1.0)
        else:
            cut.append(i)
    if cut:
        cut = np.array(cut)
        out[cut] = _effect_cut_rule(rows, measure[cut], values[cut], upper, a_cut[cut], b_cut[cut],
                                    cut_lo[cut], cut_hi[cut], g_lo[cut], g_hi[cut])
    return out


def _effect_cut_rule(rows: _EffectRows, measure: np.ndarray, v: np.ndarray, upper: bool, a_cut, b_cut,
                     cut_lo, cut_hi, g_lo, g_hi) -> np.ndarray:
    """The cut-aware rule of :func:`_effect_precise` at the values ``v`` (their cuts on the
    logit of p_control, whether each lies where the marginal lives, and the probability beyond
    each): the marginal's exact mass beyond the cuts, plus Gauss-Legendre panels (graded toward
    the cuts) over the logit of p_control between them."""
    scale, marginal = rows.scale, rows.marginal
    if upper:
        g_lo, g_hi = 1.0 - g_lo, 1.0 - g_hi
    total = np.zeros(len(v))
    beyond_lo, beyond_hi = (g_lo > 0) & cut_lo, (g_hi > 0) & cut_hi
    if np.any(beyond_lo):
        total[beyond_lo] += g_lo[beyond_lo] * marginal.cdf(a_cut[beyond_lo])
    if np.any(beyond_hi):
        total[beyond_hi] += g_hi[beyond_hi] * (1.0 - marginal.cdf(b_cut[beyond_hi]))
    a, b = np.maximum(rows.r0, a_cut), np.minimum(rows.r1, b_cut)
    u, n = rows.u, len(rows.u)
    h, u0 = u[1] - u[0], float(u[0])
    between = np.flatnonzero(b > a)
    if not between.size:
        return np.minimum(np.maximum(total, 0.0), 1.0)
    nodes = []  # each value's own Gauss-Legendre rule, concatenated
    for i in between:
        n_panels = max(2, int(math.ceil((b[i] - a[i]) / (PRECISE_PANEL * h))))
        edges = quadrature.graded_edges(float(a[i]), float(b[i]), n_panels,
                                        PRECISE_LEVELS * bool(cut_lo[i]), PRECISE_LEVELS * bool(cut_hi[i]))
        nodes.append(quadrature.gauss_legendre_panels(edges, PRECISE_K))
    sizes = [len(uu) for uu, _ in nodes]
    uu = np.concatenate([uu for uu, _ in nodes])
    vv = np.repeat(v[between], sizes)
    x_f = special.expit(uu)
    t = np.clip(_p_treatment_of(np.repeat(measure[between], sizes), x_f, vv), 1e-300, 1 - 1e-16)
    th = effects.theta_of(scale, x_f, t)
    if scale == "log_or":
        # m(u) P(theta <= th | u) at fixed th is analytic in u: interpolate it across
        # the 8 nearest rows (in logs where all are positive)
        pos = (uu - u0) / h
        wide = min(CROSS_STENCIL, n)
        start = np.clip(np.floor(pos).astype(np.intp) - (wide // 2 - 1), 0, n - wide)
        idx = start[:, None] + np.arange(wide)
        vals = rows.panels.cdf(np.broadcast_to(th[:, None], idx.shape), upper, rows=idx)
        lag = quadrature.lagrange_basis(pos - start, wide)
        lz_rows = rows.log_z[idx]
        top = np.max(lz_rows, axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            logv = lz_rows - top + np.log(vals)
        positive = np.all(vals > 0, axis=1)
        in_logs = np.exp(np.sum(lag * np.where(positive[:, None], logv, 0.0), axis=1))
        in_values = np.maximum(np.sum(lag * np.exp(logv), axis=1), 0.0)
        g = np.where(positive, in_logs, in_values) * np.exp(top[:, 0] + rows.log_c(uu) - rows.peak)
    else:  # truncated scales: at fixed theta the feasible edge crosses the rows
        g = np.concatenate([_truncated_g(rows, uu_i, th_i, upper)
                            for uu_i, th_i in zip(np.split(uu, np.cumsum(sizes)[:-1]),
                                                  np.split(th, np.cumsum(sizes)[:-1]))])
    wg = np.concatenate([ww for _, ww in nodes]) * g
    for k, part in zip(between, np.split(wg, np.cumsum(sizes)[:-1])):
        total[k] += float(np.sum(part)) / marginal.total
    return np.minimum(np.maximum(total, 0.0), 1.0)


def _truncated_g(rows: _EffectRows, uu: np.ndarray, th: np.ndarray, upper: bool) -> np.ndarray:
    """m(u) P(theta <= th | u) on fresh rows at ``uu`` (one value's nodes: the rows' theta panels
    depend on the set of rows asked for)."""
    lm_f, panels_f, _ = rows.log_marginal(uu)
    return np.exp(lm_f - rows.peak) * panels_f.cdf(th[:, None], upper=upper)[:, 0]


def effect_posterior(
    control_prior, scale: str, effect_prior, outcome, n_rows: int = 81
) -> ExactPosterior:
    """Posterior under a Beta (mixture) prior on p_control, or a Normal (mixture) on its logit
    (exact either way: the rows are on the logit), and a Normal (mixture) on theta.

    ``n_rows`` is the least number of p_control rows (more where the located range is wider
    than ``(n_rows - 1) * ROW_STEP`` on the logit scale). The rows are located
    (:func:`_locate`), counted (:func:`_row_count`) and refined (:func:`_refined_rows`);
    probabilities cut by the unit square's edge use :func:`_effect_precise`.
    """
    prior_c = density.arm_mix(control_prior)  # a Beta mixture, or a Normal mixture on the logit
    prior_e = NormalMix.of(effect_prior)
    control_tail, control_sd = _control_factor(prior_c, outcome)

    def log_c(u):  # the closed-form factor of the marginal of u = logit(p_control)
        return (prior_c.logpdf_logit(u)
                + density.binom_logpmf_logit(outcome.control_events, outcome.control_n, u))

    def log_marginal(u, locate=False):
        x = np.clip(special.expit(u), 1e-300, 1 - 2**-53)
        nodes = LOCATE_PANELS if locate else {}
        log_z, panels = _theta_panels(x, u, scale, prior_e, outcome, **nodes)
        return log_c(u) + log_z, panels, x

    y_t, n_t = outcome.treatment_events, outcome.treatment_n
    treatment_scale = math.sqrt(1 / (y_t + 0.5) + 1 / (n_t - y_t + 0.5))
    u_lo, u_hi, u_m, lm_m = _locate(log_marginal, control_tail, prior_c,
                                    min(control_sd, treatment_scale))
    n = _row_count(log_marginal, u_m, lm_m, u_lo, u_hi, [control_sd, treatment_scale], n_rows)
    u, log_m, panels, x = _refined_rows(log_marginal, log_c, u_lo, u_hi, n)
    n = len(u)
    h = u[1] - u[0]
    peak = np.max(log_m)
    log_z = log_m - log_c(u)
    dens = np.exp(log_m - peak)
    # the trapezoid rule (geometric convergence: the integrand is smooth and negligible at both
    # ends) for every sum over the rows; ``w`` keeps the Simpson pattern its readers expect
    w_sum = dens / dens.sum()
    w_half = dens[::2] / dens[::2].sum()  # the trapezoid rule on every other row
    w = quadrature.simpson_weights(n, h) * dens
    log_evidence = float(np.log(dens.sum() * h) + peak)
    w = w / w.sum()
    marginal = _UniformLogCdf(u, log_z, log_c, peak)
    # where the marginal is within 32 nats of its peak: beyond it the rules add < 1e-12
    live = np.flatnonzero(log_m > peak - 32)
    rows = _EffectRows(scale=scale, u=u, x=x, log_z=log_z, panels=panels, w_sum=w_sum,
                       w_half=w_half, marginal=marginal, peak=peak,
                       r0=float(u[max(live[0] - 1, 0)]), r1=float(u[min(live[-1] + 1, n - 1)]),
                       log_c=log_c, log_marginal=log_marginal)

    def pc_cdf(v: float) -> float:
        if v <= 0:
            return 0.0
        if v >= 1:
            return 1.0
        return float(marginal.cdf(special.logit(v))[0])

    def pc_ppf_many(qs: np.ndarray) -> np.ndarray:
        qs = np.asarray(qs, dtype=float)
        inner = (qs > 0) & (qs < 1)
        out = np.where(qs >= 1, 1.0, 0.0)
        if np.any(inner):
            out[inner] = special.expit(marginal.ppf(qs[inner]))
        return out

    def cond_rows(rows_, t, upper):
        return panels.cdf(effects.theta_of(scale, x[rows_], t), upper, rows=rows_)

    return ExactPosterior(
        x=x, w=w, pc_cdf=pc_cdf, log_evidence=log_evidence, family="effect", scale=scale,
        cond_cdf=lambda t: panels.cdf(effects.theta_of(scale, x[:, None], t)),
        cond_sf=lambda t: panels.cdf(effects.theta_of(scale, x[:, None], t), upper=True),
        pc_ppf=lambda q: float(pc_ppf_many(np.array([q]))[0]),
        precise=partial(_effect_precise, rows), sum_rows=np.flatnonzero(log_m > peak - 46),
        cond_rows=cond_rows, pc_ppf_many=pc_ppf_many, sum_w=w_sum,
    )


def posterior(prior, outcome) -> ExactPosterior:
    """The exact posterior of a :class:`lnbayes.model.spec.Prior` given an outcome's counts.

    Raises :class:`lnbayes.errors.LnbayesError` (naming the prior) for priors whose posterior
    the quadrature cannot hold (Beta shapes far below 0.1 on every integrated arm).
    """
    try:
        if prior.family == "arm":
            return arm_posterior(prior.control, prior.treatment, outcome)
        return effect_posterior(prior.control, prior.scale, prior.effect, outcome)
    except LnbayesError as err:
        raise LnbayesError(f"priors.{prior.name}: {err.problems[0]}") from None


def summarise(post: ExactPosterior, outcome, thresholds=None, prob: float = 0.95) -> dict:
    """P(benefit), threshold probabilities and posterior intervals, direction-aware."""
    lower = outcome.lower_is_better
    thresholds = outcome.thresholds if thresholds is None else thresholds
    out = {
        "p_benefit": post.prob_benefit(lower),
        "thresholds": [
            {
                "scale": t.scale,
                "value": t.value,
                "p": post.prob_beyond(effects.MEASURE_OF_SCALE[t.scale], t.value, lower),
            }
            for t in thresholds
        ],
        "estimates": post.intervals(effects.MEASURES, prob),
    }
    return out


def log_or_density_at_0(prior, outcome, log_evidence: float) -> float:
    """Posterior density of the log odds ratio at 0, per unit of the log OR, for one dataset.

    The density of delta = u_t - u_c at 0 is the joint posterior integrated along the diagonal
    u_t = u_c: ``int pi(u, u) L_c(u) L_t(u) du / evidence``, with ``pi`` the joint prior on the
    logit scale (Jacobian and truncation included, :func:`lnbayes.model.density.log_prior_density`)
    and ``log_evidence`` the posterior's own (:attr:`ExactPosterior.log_evidence`, the same
    likelihood convention). The integrand is smooth and decays fast at both ends, so the trapezoid
    rule converges geometrically: it is located on a wide grid, then the spacing is halved until
    two successive sums agree to 1e-10. One dataset costs milliseconds, where the all-datasets
    lattice of :mod:`lnbayes.engines.datasets` costs seconds on a trial of thousands.
    """
    y_t, n_t = outcome.treatment_events, outcome.treatment_n
    y_c, n_c = outcome.control_events, outcome.control_n

    def log_f(u):
        return (density.log_prior_density(prior, u, u) + density.binom_logpmf_logit(y_c, n_c, u)
                + density.binom_logpmf_logit(y_t, n_t, u))

    u = np.linspace(-U_MAX, U_MAX, 2001)
    for _ in range(6):  # narrow the window to where the integrand lives (within 60 nats)
        lf = log_f(u)
        keep = np.flatnonzero(lf > np.max(lf) - 60)
        lo, hi = float(u[max(keep[0] - 1, 0)]), float(u[min(keep[-1] + 1, len(u) - 1)])
        if keep[-1] - keep[0] >= 200:
            break
        u = np.linspace(lo, hi, 401)
    n = 257
    u = np.linspace(lo, hi, n)
    lf = log_f(u)
    previous = None
    for _ in range(REFINE_MAX + 4):
        h = (hi - lo) / (n - 1)
        peak = float(np.max(lf))
        value = math.log(float(np.sum(np.exp(lf - peak))) * h) + peak
        if previous is not None and abs(value - previous) <= 1e-10:
            break
        previous = value
        mid = (u[1:] + u[:-1]) / 2
        lf = _interleave(lf, log_f(mid))
        n = 2 * n - 1
        u = np.linspace(lo, hi, n)
    return math.exp(value - log_evidence)
