"""An independent high-precision reference for the exact engine (scipy.integrate.quad, nested).

Nothing here calls :mod:`lnbayes.exact` or :mod:`lnbayes.effects`: the model is written out
again from its definition. Arm-level priors: one adaptive quad over the logit of the more
regular arm, the other arm's exact Beta CDF inside. Effect-level priors: an adaptive quad over
logit(p_control) of an adaptive quad over theta (one per effect-prior component, with the prior
centre, the likelihood's centre and their precision-weighted mean as break points), the effect
prior truncated to the feasible range and renormalised per p_control. Quantiles are roots of the
reference CDF (brentq, xtol 1e-14 relative), bracketed from importance-sampling estimates.

``python tests/exact_reference.py`` rewrites tests/data/exact_reference.json (several minutes).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy import integrate, optimize, special, stats

QUAD = dict(epsabs=0.0, epsrel=1e-12, limit=400)
LEVELS = (0.025, 0.5, 0.975)
MEASURES = ("risk_difference", "risk_ratio", "odds_ratio", "p_control", "p_treatment")
DATA = Path(__file__).parent / "data" / "exact_reference.json"


def _t_at(measure, pc, v):
    """p_treatment at which the measure equals v (outside (0, 1): not reachable)."""
    if measure == "risk_difference":
        return pc + v
    if measure == "risk_ratio":
        return v * pc
    if measure == "odds_ratio":
        return v * pc / (1 - pc + v * pc)
    return v  # p_treatment


def _cuts(measure, v):
    """logit(p_control) where p_treatment at the value v reaches 0 or 1 (kinks of the CDF's
    integrand over p_control)."""
    if measure == "risk_difference":
        pts = [-v, 1 - v]
    elif measure == "risk_ratio":
        pts = [1 / v] if v > 0 else []
    else:
        pts = []
    return [float(special.logit(p)) for p in pts if 0 < p < 1]


def _cuts_treatment(measure, v):
    """logit(p_treatment) where p_control at the value v reaches 0 or 1."""
    if measure == "risk_difference":
        pts = [v, 1 + v]
    elif measure == "risk_ratio":
        pts = [v]
    else:
        pts = []
    return [float(special.logit(p)) for p in pts if 0 < p < 1]


def _c_at(measure, pt, v):
    """p_control at which the measure equals v given p_treatment."""
    if measure == "risk_difference":
        return pt - v
    if measure == "risk_ratio":
        return pt / v
    if measure == "odds_ratio":
        return pt / (pt + v * (1 - pt))
    raise ValueError(measure)


class BetaMixRef:
    def __init__(self, w, a, b):
        self.w, self.a, self.b = (np.asarray(z, float) for z in (w, a, b))

    def updated(self, y, n):
        a1, b1 = self.a + y, self.b + n - y
        log_m = np.log(self.w) + special.betaln(a1, b1) - special.betaln(self.a, self.b)
        return BetaMixRef(np.exp(log_m - special.logsumexp(log_m)), a1, b1)

    def pdf_logit(self, u):
        """Density of logit(X) at u."""
        return float(np.sum(self.w * np.exp(self.a * special.log_expit(u) + self.b * special.log_expit(-u)
                                            - special.betaln(self.a, self.b))))

    def cdf(self, x):
        return float(np.sum(self.w * stats.beta.cdf(x, self.a, self.b)))

    def sf(self, x):
        return float(np.sum(self.w * stats.beta.sf(x, self.a, self.b)))

    def ppf(self, q):
        if len(self.w) == 1:
            return float(stats.beta.ppf(q, self.a[0], self.b[0]))
        return optimize.brentq(lambda x: self.cdf(x) - q, 1e-300, 1 - 1e-16, xtol=1e-300, rtol=1e-15)

    def logit_window(self):
        """Centres (logit means) and a window holding all but ~1e-30 of each component."""
        mu = special.digamma(self.a) - special.digamma(self.b)
        sd = np.sqrt(special.polygamma(1, self.a) + special.polygamma(1, self.b))
        lo = float(np.min(special.logit(np.maximum(stats.beta.ppf(1e-30, self.a, self.b), 1e-300))))
        hi = float(np.max(-special.logit(np.maximum(stats.beta.ppf(1e-30, self.b, self.a), 1e-300))))
        lo = max(lo, float(np.min(mu - 60 * sd)), -690.0)
        hi = min(hi, float(np.max(mu + 60 * sd)), 37.0)
        return list(mu), lo, hi

    def regularity(self):
        return float(min(np.min(self.a), np.min(self.b)))


def _quad_pieces(f, lo, hi, points):
    pts = sorted({p for p in points if lo < p < hi})
    edges = [lo, *pts, hi]
    return sum(integrate.quad(f, a, b, **QUAD)[0] for a, b in zip(edges[:-1], edges[1:]))


class ArmRef:
    """Independent Beta (mixture) priors on each arm."""

    def __init__(self, control, treatment, outcome):
        yt, nt, yc, nc = outcome
        self.pc = BetaMixRef(*control).updated(yc, nc)
        self.pt = BetaMixRef(*treatment).updated(yt, nt)
        self.on_control = BetaMixRef(*control).regularity() >= BetaMixRef(*treatment).regularity()

    def cdf(self, measure, v):
        if measure == "p_control":
            return self.pc.cdf(v)
        if measure == "p_treatment":
            return self.pt.cdf(v)
        if self.on_control:
            node, (centres, lo, hi) = self.pc, self.pc.logit_window()

            def f(u):
                x = special.expit(u)
                t = _t_at(measure, x, v)
                side = 0.0 if t <= 0 else 1.0 if t >= 1 else self.pt.cdf(t)
                return node.pdf_logit(u) * side
            centres = centres + _cuts(measure, v)
        else:
            node, (centres, lo, hi) = self.pt, self.pt.logit_window()

            def f(u):
                t = special.expit(u)
                c = _c_at(measure, t, v)
                side = 1.0 if c <= 0 else 0.0 if c >= 1 else self.pc.sf(c)
                return node.pdf_logit(u) * side
            centres = centres + _cuts_treatment(measure, v)
        return _quad_pieces(f, lo, hi, centres)

    def sample(self, rng, k=200_000):
        def draw(mix):
            comp = rng.choice(len(mix.w), size=k, p=mix.w)
            return rng.beta(mix.a[comp], mix.b[comp])
        return draw(self.pc), draw(self.pt), np.ones(k)


def _gl(a, b, panels, k):
    """Gauss-Legendre nodes and weights, ``k`` per panel, ``panels`` equal panels on [a, b]."""
    x, w = np.polynomial.legendre.leggauss(k)
    edges = np.linspace(a, b, panels + 1)
    mid, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
    return (mid[:, None] + half[:, None] * x).ravel(), (half[:, None] * w).ravel()


class EffectRef:
    """Beta (mixture) on p_control, Normal (mixture) on theta, truncated to the feasible range.

    For every node u of a fixed Gauss-Legendre rule over logit(p_control) (64 panels of 24 nodes
    over where the marginal is within 80 nats of its peak, located on a 2,000-point scan), the
    theta integral is one adaptive ``scipy.integrate.quad_vec`` over all nodes at once: theta is
    a piecewise-linear map of s in [0, 1] whose knots (break points of quad_vec) are the feasible
    or window ends, the integral's upper limit, and each prior centre, the likelihood's centre and
    their precision-weighted mean with 10 sd either side, so that no peak hides between nodes.
    """

    N_KNOTS = 24

    def __init__(self, control, scale, effect, outcome, panels=64):
        self.yt, self.nt, self.yc, self.nc = outcome
        self.prior_c = BetaMixRef(*control)
        self.scale = scale
        self.w, self.m, self.s = (np.asarray(z, float) for z in effect)
        p_hat = (self.yt + 0.5) / (self.nt + 1)
        self.p_hat = p_hat
        self.lik_sd = {"log_or": math.sqrt(1 / (self.yt + 0.5) + 1 / (self.nt - self.yt + 0.5)),
                       "log_rr": math.sqrt((1 - p_hat) / ((self.nt + 1) * p_hat)),
                       "rd": math.sqrt(p_hat * (1 - p_hat) / (self.nt + 1))}[scale]
        self.log_comb = (special.gammaln(self.nt + 1) - special.gammaln(self.yt + 1)
                         - special.gammaln(self.nt - self.yt + 1))
        # locate the marginal of u = logit(p_control)
        scan = np.linspace(-45, 37, 2000)
        lm = self.log_marginal(scan)
        keep = np.flatnonzero(lm > np.max(lm) - 80)
        step = scan[1] - scan[0]
        lo, hi = scan[keep[0]] - step, scan[keep[-1]] + step
        self.u, self.uw = _gl(lo, hi, panels, 24)
        self.log_outer = self.log_marginal_c(self.u)
        self._z = None

    def bounds(self, pc):
        if self.scale == "log_or":
            return np.full_like(pc, -np.inf), np.full_like(pc, np.inf)
        if self.scale == "log_rr":
            return np.full_like(pc, -np.inf), -np.log(pc)
        return -pc, 1 - pc

    def theta_of(self, pc, u, t):
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.scale == "log_or":
                return special.logit(t) - u
            if self.scale == "log_rr":
                return np.log(t) - np.log(pc)
            return t - pc

    def log_lik_t(self, pc, u, th):
        y, n = self.yt, self.nt
        if self.scale == "log_or":
            v = u + th
            return self.log_comb + y * special.log_expit(v) + (n - y) * special.log_expit(-v)
        p = pc * np.exp(th) if self.scale == "log_rr" else pc + th
        p = np.clip(p, 0.0, 1.0)
        return self.log_comb + special.xlogy(y, p) + special.xlog1py(n - y, -p)

    def log_marginal_c(self, u):
        pc = special.expit(u)
        lp = np.log([self.prior_c.pdf_logit(v) for v in u])
        return lp + stats.binom.logpmf(self.yc, self.nc, pc)

    def log_marginal(self, u):
        with np.errstate(divide="ignore"):
            return self.log_marginal_c(u) + np.log(self.inner(u))

    def _knots(self, pc, u, upper):
        lo, hi = self.bounds(pc)
        th_lik = self.theta_of(pc, u, self.p_hat)
        cands = [th_lik + k * self.lik_sd for k in (-40, -10, 0, 10, 40)]
        for m, s in zip(self.m, self.s):
            prec = 1 / s**2 + 1 / self.lik_sd**2
            mid = (m / s**2 + th_lik / self.lik_sd**2) / prec
            sp = 1 / math.sqrt(prec)
            cands += [m - 40 * s, m - 10 * s, m, m + 10 * s, m + 40 * s, mid - 10 * sp, mid, mid + 10 * sp]
        c = np.stack([np.broadcast_to(z, pc.shape) for z in cands], axis=1)
        a = np.maximum(np.min(c, axis=1), lo)
        b = np.minimum(np.max(c, axis=1), hi)
        # the tiny inset keeps log(1 - p) finite at a feasible edge (the density is 0 there)
        a = np.where(np.isfinite(lo) & (a == lo), a + 1e-13 * np.maximum(np.abs(a), 1), a)
        b = np.where(np.isfinite(hi) & (b == hi), b - 1e-13 * np.maximum(np.abs(b), 1), b)
        if upper is not None:
            b = np.minimum(b, upper)
        b = np.maximum(a, b)
        inner = np.sort(np.clip(c, a[:, None], b[:, None]), axis=1)
        knots = np.concatenate([a[:, None], inner, b[:, None]], axis=1)
        return knots  # (U, K)

    def inner(self, u, upper=None):
        """Per u, the integral over theta (below ``upper``) of prior(theta | pc) * lik_t."""
        u = np.asarray(u, float)
        pc = special.expit(u)
        lo, hi = self.bounds(pc)
        mass = np.sum(self.w * (stats.norm.cdf(hi[:, None], self.m, self.s)
                                - stats.norm.cdf(lo[:, None], self.m, self.s)), axis=1)
        knots = self._knots(pc, u, upper)
        K = knots.shape[1]
        grid = np.linspace(0, 1, K)

        def f(s):
            j = min(int(s * (K - 1)), K - 2)
            t = s * (K - 1) - j
            th = knots[:, j] + t * (knots[:, j + 1] - knots[:, j])
            jac = (knots[:, j + 1] - knots[:, j]) * (K - 1)
            z = (th[:, None] - self.m) / self.s
            prior = np.sum(self.w * np.exp(-0.5 * z * z) / (self.s * math.sqrt(2 * math.pi)), axis=1)
            return prior * np.exp(self.log_lik_t(pc, u, th)) * jac

        val = integrate.quad_vec(f, 0.0, 1.0, epsabs=0.0, epsrel=1e-13, points=list(grid[1:-1]),
                                 norm="max", limit=20000)[0]
        return val / mass

    def integral(self, upper=None, u_top=None, cuts=()):
        """The integral over the window of u (below ``u_top``), theta below ``upper(u)``; the
        outer rule is split at ``cuts`` (where the upper limit leaves the feasible range and the
        integrand has a kink), each piece with its own 64-panel Gauss-Legendre rule."""
        lo, hi = self.u[0] - 1e-9, self.u[-1] + 1e-9
        if u_top is not None:
            hi = min(hi, u_top)
        if hi <= lo:
            return 0.0
        if u_top is None and not cuts:
            uu, ww, lo_c = self.u, self.uw, self.log_outer
        else:
            edges = [lo, *sorted(c for c in cuts if lo < c < hi), hi]
            parts = [_gl(a, b, 64, 24) for a, b in zip(edges[:-1], edges[1:])]
            uu = np.concatenate([p[0] for p in parts])
            ww = np.concatenate([p[1] for p in parts])
            lo_c = self.log_marginal_c(uu)
        return float(np.sum(ww * np.exp(lo_c) * self.inner(uu, None if upper is None else upper(uu))))

    def total(self):
        if self._z is None:
            self._z = self.integral()
        return self._z

    def cdf(self, measure, v):
        if measure == "p_control":
            return self.integral(u_top=special.logit(v)) / self.total()

        def upper(u):
            pc = special.expit(u)
            t = _t_at(measure, pc, v)
            th = self.theta_of(pc, u, np.clip(t, 1e-300, 1 - 1e-16))
            return np.where(t <= 0, -np.inf, np.where(t >= 1, np.inf, th))
        return self.integral(upper, cuts=_cuts(measure, v)) / self.total()

    def sample(self, rng, k=400_000):
        """Importance sample (p_control from its conjugate posterior, theta from the prior)."""
        post_c = self.prior_c.updated(self.yc, self.nc)
        comp = rng.choice(len(post_c.w), size=k, p=post_c.w)
        pc = np.clip(rng.beta(post_c.a[comp], post_c.b[comp]), 1e-300, 1 - 1e-16)
        cj = rng.choice(len(self.w), size=k, p=self.w)
        th = rng.normal(self.m[cj], self.s[cj])
        pt = {"log_or": lambda: special.expit(special.logit(pc) + th),
              "log_rr": lambda: pc * np.exp(th), "rd": lambda: pc + th}[self.scale]()
        ok = (pt > 0) & (pt < 1)
        lo, hi = self.bounds(pc)
        mass = np.sum(self.w * (stats.norm.cdf(hi[:, None], self.m, self.s)
                                - stats.norm.cdf(lo[:, None], self.m, self.s)), axis=1)
        wt = np.where(ok, stats.binom.pmf(self.yt, self.nt, np.clip(pt, 0, 1)) / mass, 0.0)
        return pc, np.clip(pt, 1e-300, 1 - 1e-16), wt


def _value(measure, pc, pt):
    if measure == "risk_difference":
        return pt - pc
    if measure == "risk_ratio":
        return pt / pc
    if measure == "odds_ratio":
        return pt * (1 - pc) / (pc * (1 - pt))
    return pc if measure == "p_control" else pt


def quantile(ref, measure, q, sample):
    """Root of the reference CDF, bracketed around a weighted-sample estimate."""
    pc, pt, wt = sample
    vals = _value(measure, pc, pt)
    order = np.argsort(vals)
    cw = np.cumsum(wt[order]) / wt.sum()
    guess = vals[order][min(np.searchsorted(cw, q), len(vals) - 1)]
    log = measure in ("risk_ratio", "odds_ratio", "p_control", "p_treatment")
    if log and not (1e-250 < guess < 1e250):
        return None  # degenerate (p_control piled at 0 under a Beta(1e-9, 1) prior)
    z0 = math.log(guess) if log else guess
    to_v = math.exp if log else (lambda z: z)

    def f(z):
        return ref.cdf(measure, to_v(z)) - q
    step = 0.02 * (1 + abs(z0))
    a, b = z0 - step, z0 + step
    fa, fb = f(a), f(b)
    while fa > 0:
        a, b, fb = a - 4 * step, a, fa
        fa = f(a)
    while fb < 0:
        a, b, fa = b, b + 4 * step, fb
        fb = f(b)
    z = optimize.brentq(f, a, b, xtol=1e-14 * max(1.0, abs(z0)), rtol=1e-15)
    return to_v(z)


# the cases: (name, kind, prior spec, outcome (yt, nt, yc, nc), lower_is_better, thresholds)
DENG = (9, 12, 5, 6)
CASES = [
    ("arm_flat_deng", "arm", ((1,), (1,), (1,)), ((1,), (1,), (1,)), DENG, False),
    ("arm_mixture_deng", "arm", ((0.8, 0.2), (5.6, 1), (4.4, 1)), ((0.5, 0.5), (6.0, 1), (4.0, 1)), DENG, False),
    ("arm_extreme_control_zero", "arm", ((1,), (1e-9,), (1,)), ((1,), (1,), (1,)), (3, 20, 0, 20), False),
    ("arm_large_lower", "arm", ((1,), (1,), (1,)), ((1,), (1,), (1,)), (420, 1500, 450, 1500), True),
    ("effect_log_or_sceptical", "effect", ((1,), (1,), (1,)), ("log_or", (1,), (0.0,), (0.668,)), DENG, False),
    ("effect_log_or_enthusiastic", "effect", ((1,), (1,), (1,)), ("log_or", (1,), (math.log(3),), (0.668,)), DENG, False),
    ("effect_log_or_vague", "effect", ((1,), (1,), (1,)), ("log_or", (1,), (0.0,), (10.0,)), DENG, False),
    ("effect_log_or_mixtures", "effect", ((0.7, 0.3), (12, 1), (8, 1)), ("log_or", (0.5, 0.5), (0.0, 1.0), (0.2, 1.0)), DENG, False),
    ("effect_log_rr", "effect", ((1,), (1,), (1,)), ("log_rr", (1,), (0.0,), (0.5,)), DENG, False),
    ("effect_log_rr_near_edge", "effect", ((1,), (2,), (2,)), ("log_rr", (1,), (0.8,), (0.3,)), DENG, False),
    ("effect_rd", "effect", ((1,), (2,), (2,)), ("rd", (1,), (0.2,), (0.1,)), DENG, False),
    ("effect_rd_lower", "effect", ((1,), (1,), (1,)), ("rd", (1,), (0.0,), (0.3,)), (2, 15, 5, 14), True),
    ("effect_log_or_large", "effect", ((1,), (1,), (1,)), ("log_or", (1,), (0.0,), (1.0,)), (420, 1500, 450, 1500), True),
    ("effect_log_or_jeffreys_zero", "effect", ((1,), (0.5,), (0.5,)), ("log_or", (1,), (0.0,), (1.5,)), (2, 10, 0, 10), False),
]
THRESHOLDS = (("risk_difference", 0.1), ("odds_ratio", 1.5), ("risk_ratio", 1.2))


def make_ref(case):
    name, kind, c, e, outcome, lower = case
    if kind == "arm":
        return ArmRef(c, e, outcome)
    scale, w, m, s = e
    return EffectRef(c, scale, (w, m, s), outcome)


def compute(case, rng):
    name, kind, c, e, outcome, lower = case
    ref = make_ref(case)
    out = {"name": name}
    p0 = ref.cdf("risk_difference", 0.0)
    out["p_benefit"] = p0 if lower else 1 - p0
    out["thresholds"] = []
    for measure, v in THRESHOLDS:
        v = -v if (lower and measure == "risk_difference") else (1 / v if lower and measure != "risk_difference" else v)
        c_ = ref.cdf(measure, v)
        out["thresholds"].append({"measure": measure, "value": v, "cdf": c_})
    sample = ref.sample(rng)
    out["quantiles"] = {m: [quantile(ref, m, q, sample) for q in LEVELS] for m in MEASURES}
    if kind == "effect":
        out["log_evidence"] = math.log(ref.total())
    return out


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore")
    names = sys.argv[1:]
    rng = np.random.default_rng(1)
    old = json.loads(DATA.read_text()) if DATA.exists() else {}
    for case in CASES:
        if names and case[0] not in names:
            continue
        try:
            old[case[0]] = compute(case, rng)
        except Exception as err:  # report and go on with the other cases
            print(case[0], "failed:", repr(err), flush=True)
            continue
        print(case[0], old[case[0]]["p_benefit"], flush=True)
        DATA.write_text(json.dumps(old, indent=1, sort_keys=True))
