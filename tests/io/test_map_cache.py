"""lnbayes.io.map_cache: fitted MAP mixtures cached on disk, exactly, and never trusted blindly."""

from __future__ import annotations

import copy
import json

import pytest

from lnbayes.io import map_cache, record_cache
from lnbayes.priors import map as mp

SPEC = mp.MapSpec((mp.Study(20, 50), mp.Study(30, 60), mp.Study(12, 40)),
                  mp.TauPrior("half_normal", 0.5))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LNBAYES_CACHE_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def direct_fit():
    """The beta-mixture fit of SPEC, computed once for the module (it costs seconds)."""
    return mp.fit_beta_mixture(mp.map_predictive(SPEC), tolerance=mp.CDF_TOLERANCE)


@pytest.fixture
def counted_fit(monkeypatch, direct_fit):
    """mp.fit_beta_mixture replaced by one that records its calls and, for SPEC's predictive
    at CDF_TOLERANCE (the only call these tests make), returns the module's direct fit: the
    cache's logic is under test here, the fit itself in test_hit_... and tests/priors."""
    calls = []

    def fit(pred, *args, **kwargs):
        assert pred is mp.map_predictive(SPEC) and not args
        assert kwargs == {"tolerance": mp.CDF_TOLERANCE}
        calls.append(1)
        return direct_fit

    monkeypatch.setattr(mp, "fit_beta_mixture", fit)
    return calls


def _files(folder):
    return sorted((folder / "map").glob("*.json")) if (folder / "map").exists() else []


@pytest.mark.heavy
def test_hit_returns_exactly_the_fitted_numbers(cache, direct_fit):
    direct = direct_fit
    first = map_cache.fitted_mixture(SPEC, mp.CDF_TOLERANCE)
    assert len(_files(cache)) == 1
    again = map_cache.fitted_mixture(SPEC, mp.CDF_TOLERANCE)
    for fit in (first, again):
        assert fit.beta.weights == direct.beta.weights
        assert (fit.beta.a, fit.beta.b) == (direct.beta.a, direct.beta.b)
        assert fit.max_cdf_error == direct.max_cdf_error and fit.tried == direct.tried


@pytest.mark.heavy
def test_damaged_record_is_computed_again(cache, counted_fit, direct_fit):
    good = map_cache.fitted_mixture(SPEC, mp.CDF_TOLERANCE)
    assert counted_fit == [1] and good.beta == direct_fit.beta
    (path,) = _files(cache)
    wrapper = json.loads(path.read_text())
    wrapper["record"]["a"][0] *= 2  # a changed number: its checksum no longer matches
    path.write_text(json.dumps(wrapper))
    again = map_cache.fitted_mixture(SPEC, mp.CDF_TOLERANCE)
    assert counted_fit == [1, 1] and again.beta == good.beta
    path.write_text("{ not json")
    assert map_cache.fitted_mixture(SPEC, mp.CDF_TOLERANCE).beta == good.beta
    assert counted_fit == [1, 1, 1]
    assert json.loads(path.read_text())["record"]["a"] == list(good.beta.a)  # rewritten


def test_key_follows_the_spec_and_the_algorithm(cache, monkeypatch):
    other = mp.MapSpec(SPEC.studies, mp.TauPrior("half_normal", 1.0))
    assert map_cache._key(SPEC, 0.005) != map_cache._key(other, 0.005)
    assert map_cache._key(SPEC, 0.005) != map_cache._key(SPEC, 0.01)
    before = map_cache._key(SPEC, 0.005)
    monkeypatch.setattr(mp, "ALGORITHM", mp.ALGORITHM + "-changed")
    assert map_cache._key(SPEC, 0.005) != before


@pytest.mark.heavy
def test_off_and_unwritable(tmp_path, monkeypatch, counted_fit, direct_fit):
    monkeypatch.setenv("LNBAYES_CACHE_DIR", "off")
    assert record_cache.cache_dir() is None
    off = map_cache.fitted_mixture(SPEC, mp.CDF_TOLERANCE)
    assert off.max_cdf_error < mp.CDF_TOLERANCE and off.beta == direct_fit.beta
    assert counted_fit == [1]
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LNBAYES_CACHE_DIR", str(blocker))
    blocked = map_cache.fitted_mixture(SPEC, mp.CDF_TOLERANCE)
    assert blocked.max_cdf_error < mp.CDF_TOLERANCE and blocked.beta == direct_fit.beta
    assert counted_fit == [1, 1]


@pytest.mark.heavy
def test_predictive_summary_is_computed_once_and_returned_exactly(cache):
    pred = mp.map_predictive(SPEC)
    direct = {"summary": pred.summary(), "ess": mp.map_ess(pred)}
    calls = []

    def compute():  # a fresh copy of the same numbers: the cache's logic is under test
        calls.append(1)
        return copy.deepcopy(direct)

    first = map_cache.predictive_summary(SPEC, compute)
    again = map_cache.predictive_summary(SPEC, compute)
    assert calls == [1]  # the second came from the record
    assert first == direct and again == direct  # floats exactly, through JSON
    # and in the order computed (results.json shows it as it is): the same JSON text
    assert json.dumps(again) == json.dumps(direct)
    other = mp.MapSpec(SPEC.studies[:2], SPEC.tau)
    map_cache.predictive_summary(other, compute)
    assert calls == [1, 1]  # another MAP: another record


@pytest.mark.heavy
def test_effect_map_fit_is_cached_exactly(cache):
    from lnbayes.priors import map_effect as me

    spec = me.EffectMapSpec((me.TwoArmStudy(15, 40, 8, 40), me.TwoArmStudy(22, 60, 14, 58)),
                            mp.TauPrior("half_normal", 0.5))
    direct = me.fit_normal_mixture(me.effect_map_predictive(spec))
    first = map_cache.fitted_normal_mixture(spec, mp.CDF_TOLERANCE)
    assert len(_files(cache)) == 1
    again = map_cache.fitted_normal_mixture(spec, mp.CDF_TOLERANCE)
    for fit in (first, again):
        assert fit.normal == direct.normal  # every float, through JSON
        assert fit.max_cdf_error == direct.max_cdf_error and fit.tried == direct.tried
    prior = me.map_normal_prior(spec, me.EffectRobust(0.2), fit=again)
    # ``direct`` is the fit map_normal_prior makes without ``fit`` (the same call, deterministic)
    assert prior == me.map_normal_prior(spec, me.EffectRobust(0.2), fit=direct)
