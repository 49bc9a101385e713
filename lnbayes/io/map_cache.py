"""A disk cache of fitted MAP mixtures, so that reading a trial file with MAP priors is fast.

Fitting a MAP prior (quadrature over (mu, tau), then the Beta-mixture fit) takes seconds; every
command reads the trial file, and the embedded trial has a MAP prior. The fit is a pure function
of the MAP's specification and of the algorithm (:data:`lnbayes.priors.map.ALGORITHM`), so it is
stored under the SHA-256 of both, in ``$LNBAYES_CACHE_DIR`` (default
``$XDG_CACHE_HOME/lnbayes`` or ``~/.cache/lnbayes``), one JSON file per fit, written atomically
and checked against its own checksum when read. A record that is missing, unreadable, damaged or
of another algorithm is computed again (and rewritten); a cache folder that cannot be written is
skipped. ``LNBAYES_CACHE_DIR=off`` turns the cache off. Either way the numbers are the same: a
hit returns exactly the floats that were computed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from lnbayes.io import files


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off."""
    chosen = os.environ.get("LNBAYES_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "none") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lnbayes"


def _key(spec, tolerance: float) -> str:
    from lnbayes.priors import map as mp

    text = json.dumps({
        "algorithm": mp.ALGORITHM,
        "studies": [[s.events, s.n] for s in spec.studies],
        "tau": [spec.tau.family, spec.tau.scale, spec.tau.df, spec.tau.sd],
        "mu": [spec.mu_mean, spec.mu_sd],
        "tolerance": tolerance,
    }, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


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


def _read(path: Path):
    try:
        wrapper = json.loads(path.read_text())
        body = wrapper["record"]
        if hashlib.sha256(files.dumps(body).encode()).hexdigest() != wrapper["sha256"]:
            return None
        return _decode(body)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def fitted_mixture(spec, tolerance: float):
    """The :class:`lnbayes.priors.map.MixtureFit` of ``spec``, from the cache or computed."""
    from lnbayes.priors import map as mp

    folder = cache_dir()
    path = None if folder is None else folder / "map" / f"{_key(spec, tolerance)}.json"
    if path is not None and path.exists():
        hit = _read(path)
        if hit is not None:
            return hit
    fit = mp.fit_beta_mixture(mp.map_predictive(spec), tolerance=tolerance)
    if path is not None:
        body = _encode(fit)
        wrapper = {"sha256": hashlib.sha256(files.dumps(body).encode()).hexdigest(), "record": body}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            files.write_text(path, json.dumps(wrapper))
        except OSError:
            pass  # a cache that cannot be written is skipped, never an error
    return fit
