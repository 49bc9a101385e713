"""A disk cache of fitted MAP mixtures, so that reading a trial file with MAP priors is fast.

Fitting a MAP prior (quadrature over (mu, tau), then the Beta-mixture fit) takes seconds; every
command reads the trial file, and the embedded trial has a MAP prior. The fit is a pure function
of the MAP's specification and of the algorithm (:data:`lnbayes.priors.map.ALGORITHM`), so it is
stored under the SHA-256 of both in the record cache (:mod:`lnbayes.io.record_cache`: folder
``map`` of ``$LNBAYES_CACHE_DIR``, checksummed, atomic, ``off`` to disable). A record that is
missing, unreadable, damaged or of another algorithm is computed again (and rewritten). Either
way the numbers are the same: a hit returns exactly the floats that were computed.
"""

from __future__ import annotations

from typing import Any

from lnbayes.io import record_cache

KIND = "map"


def _key(spec, tolerance: float) -> str:

    return record_cache.key({**_model(spec), "tolerance": tolerance})


def _model(spec) -> dict[str, Any]:
    from lnbayes.priors import map as mp

    return {
        "algorithm": mp.ALGORITHM,
        "studies": [[s.events, s.n] for s in spec.studies],
        "tau": [spec.tau.family, spec.tau.scale, spec.tau.df, spec.tau.sd],
        "mu": [spec.mu_mean, spec.mu_sd],
    }


def _encode(fit) -> dict[str, Any]:
    b = fit.beta
    return {"weights": list(b.weights), "a": list(b.a), "b": list(b.b),
            "max_cdf_error": fit.max_cdf_error, "kl": fit.kl,
            "tried": [list(t) for t in fit.tried]}


def _decode(record: dict[str, Any]):
    from lnbayes.model.spec import BetaPrior
    from lnbayes.priors import map as mp

    beta = BetaPrior(tuple(float(w) for w in record["weights"]),
                     tuple(float(a) for a in record["a"]), tuple(float(b) for b in record["b"]))
    return mp.MixtureFit(beta=beta, max_cdf_error=float(record["max_cdf_error"]),
                         kl=float(record["kl"]),
                         tried=tuple((int(k), float(e)) for k, e in record["tried"]))


def fitted_mixture(spec, tolerance: float):
    """The :class:`lnbayes.priors.map.MixtureFit` of ``spec``, from the cache or computed."""
    from lnbayes.priors import map as mp

    digest = _key(spec, tolerance)
    hit = record_cache.read(KIND, digest)
    if hit is not None:
        try:
            return _decode(hit)
        except (KeyError, TypeError, ValueError):
            pass
    fit = mp.fit_beta_mixture(mp.map_predictive(spec), tolerance=tolerance)
    record_cache.write(KIND, digest, _encode(fit))
    return fit


def predictive_summary(spec, compute) -> dict[str, Any]:
    """The exact MAP predictive's summary and ESS (``compute()``: ``{"summary", "ess"}``), from
    the cache or computed: the quadrature and the ESS's 4,001-node derivatives cost seconds,
    and every ``lnbayes priors`` and report shows them. Stored under the MAP's key (the
    algorithm's version included) in the same folder, in the order computed: results.json shows
    the summary as it is, the same whether it was computed or read back."""
    return record_cache.cached(KIND, {"summary_of": _model(spec)}, compute, keep_order=True)


def _effect_model(spec) -> dict[str, Any]:
    from lnbayes.priors import map as mp

    return {
        "algorithm": mp.ALGORITHM,
        "effect_studies": [[s.treatment_events, s.treatment_n, s.control_events, s.control_n]
                           for s in spec.studies],
        "tau": [spec.tau.family, spec.tau.scale, spec.tau.df, spec.tau.sd],
        "mu": [spec.mu_mean, spec.mu_sd],
        "baseline_sd": spec.baseline_sd,
    }


def fitted_normal_mixture(spec, tolerance: float):
    """The :class:`lnbayes.priors.map_effect.NormalMixtureFit` of an effect MAP ``spec`` (log
    odds ratios of two-arm trials), from the cache or computed (about 3 s: the binomial-normal
    quadrature and the EM fit, paid by every command that read such a trial file)."""
    from lnbayes.model.spec import NormalPrior
    from lnbayes.priors import map_effect as me

    def compute() -> dict[str, Any]:
        fit = me.fit_normal_mixture(me.effect_map_predictive(spec), tolerance=tolerance)
        n = fit.normal
        return {"weights": list(n.weights), "means": list(n.means), "sds": list(n.sds),
                "max_cdf_error": fit.max_cdf_error, "tried": [list(t) for t in fit.tried]}

    rec = record_cache.cached(KIND, {**_effect_model(spec), "tolerance": tolerance}, compute)
    normal = NormalPrior(tuple(float(w) for w in rec["weights"]),
                         tuple(float(m) for m in rec["means"]), tuple(float(s) for s in rec["sds"]))
    return me.NormalMixtureFit(normal, float(rec["max_cdf_error"]),
                               tuple((int(k), float(e)) for k, e in rec["tried"]))
