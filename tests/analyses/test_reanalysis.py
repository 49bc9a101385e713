"""lnbayes.analyses.reanalysis: PyMC (nutpie) against the exact engine for both model families
and every effect scale (each sampled probability within 3 Monte Carlo standard errors of the exact
value), saved draws, and analyze_all over every outcome with its direction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lnbayes.analyses import reanalysis
from lnbayes.model.spec import BetaPrior, NormalPrior, Outcome, Prior, Threshold
from tests.conftest import PYMC_GROUP, ROOT
from tests.references import flat_p_greater

# the tests of this file share module- and session-scoped fixtures (sampled or computed once),
# and some sample with PyMC: pytest-xdist (make test) runs them in the one worker that runs
# every in-process PyMC test (tests/conftest.py: PYMC_GROUP)
pytestmark = pytest.mark.xdist_group(PYMC_GROUP)

DENG = Outcome(
    "remission", "Remission", 9, 12, 5, 6,
    thresholds=(Threshold("rd", 0.1), Threshold("or", 1.5)),
)

PRIORS = {
    "flat": Prior("flat", "arm", BetaPrior.single(1, 1), treatment=BetaPrior.single(1, 1)),
    "arm_informative": Prior("arm_informative", "arm", BetaPrior.single(11, 9),
                             treatment=BetaPrior.single(6, 4)),
    "log_or": Prior("log_or", "effect", BetaPrior.single(1, 1), scale="log_or",
                    effect=NormalPrior.single(0.0, 0.668)),
    "rd": Prior("rd", "effect", BetaPrior.single(2, 2), scale="rd",
                effect=NormalPrior.single(0.1, 0.15)),
    "log_rr": Prior("log_rr", "effect", BetaPrior.single(1, 1), scale="log_rr",
                    effect=NormalPrior.single(0.0, 0.4)),
}



@pytest.fixture(scope="module", params=sorted(PRIORS))
def sampled(request, small_settings):
    prior = PRIORS[request.param]
    return reanalysis.pymc_result(prior, DENG, DENG.thresholds, seed=11, settings=small_settings,
                                netcdf_path=None, provenance={})



@pytest.mark.slow
def test_p_benefit_within_3_mcse_of_exact(sampled):
    assert sampled["p_benefit_mcse"] > 0
    z = abs(sampled["p_benefit"] - sampled["p_benefit_exact"]) / sampled["p_benefit_mcse"]
    assert z <= 3, sampled["prior"]



@pytest.mark.slow
def test_thresholds_within_3_mcse_of_exact(sampled):
    for row in sampled["thresholds"]:
        assert abs(row["p"] - row["p_exact"]) <= 3 * row["p_mcse"], (sampled["prior"], row)



@pytest.mark.slow
def test_intervals_close_to_exact(sampled):
    """Posterior medians within 3 MCSE of the exact ones (MCSE of the median from ArviZ)."""
    import arviz as az

    post = sampled["datatree"]["posterior"].to_dataset()
    for measure in ("p_control", "p_treatment", "risk_difference"):
        mcse = float(az.mcse(post[measure], method="median"))
        exact_median = sampled["estimates"][measure]["exact"]["median"]
        assert abs(sampled["estimates"][measure]["median"] - exact_median) <= 3 * mcse, measure



@pytest.mark.slow
def test_diagnostics_pass(sampled):
    diag = sampled["diagnostics"]
    assert diag["converged"], diag["problems"]
    assert diag["divergences"] == 0
    assert set(diag["variables"]) >= {"p_control", "p_treatment", "risk_difference",
                                      "risk_ratio", "odds_ratio"}



@pytest.mark.slow
def test_same_seed_same_numbers(small_settings):
    prior = PRIORS["log_or"]
    a = reanalysis.pymc_result(prior, DENG, (), seed=5, settings=small_settings, netcdf_path=None,
                             provenance={})
    b = reanalysis.pymc_result(prior, DENG, (), seed=5, settings=small_settings, netcdf_path=None,
                             provenance={})
    np.testing.assert_array_equal(
        a["datatree"]["posterior"]["log_or"].values, b["datatree"]["posterior"]["log_or"].values
    )
    assert a["p_benefit"] == b["p_benefit"]



@pytest.mark.slow
def test_lower_is_better_direction(small_settings):
    death = Outcome("death", "Death", 1, 12, 0, 6, better="lower")
    r = reanalysis.pymc_result(PRIORS["flat"], death, (), seed=3, settings=small_settings,
                             netcdf_path=None, provenance={})
    # benefit means fewer deaths on treatment: with 1/12 vs 0/6 that is less likely than not
    assert r["p_benefit_exact"] < 0.5
    assert abs(r["p_benefit"] - r["p_benefit_exact"]) <= 3 * r["p_benefit_mcse"]



@pytest.mark.slow
def test_netcdf_written_and_readable(tmp_path, small_settings):
    import arviz as az

    path = tmp_path / "posterior" / "remission__flat.nc"
    r = reanalysis.pymc_result(PRIORS["flat"], DENG, (), seed=1, settings=small_settings,
                             netcdf_path=path, provenance={"seed": 1})
    back = az.from_netcdf(path)
    assert back.attrs["lnbayes_seed"] == 1
    np.testing.assert_array_equal(back["posterior"]["p_control"].values,
                                  r["datatree"]["posterior"]["p_control"].values)
    assert not list(path.parent.glob("*.part"))



@pytest.mark.slow
def test_saved_draws_are_reused_only_for_the_same_run(tmp_path, small_settings):
    path = tmp_path / "posterior" / "remission__flat.nc"
    first = reanalysis.pymc_result(PRIORS["flat"], DENG, (), seed=2, settings=small_settings,
                                 netcdf_path=path, provenance={})
    assert not first["from_cache"]
    again = reanalysis.pymc_result(PRIORS["flat"], DENG, (), seed=2, settings=small_settings,
                                 netcdf_path=path, provenance={})
    assert again["from_cache"] and again["p_benefit"] == first["p_benefit"]
    other_seed = reanalysis.pymc_result(PRIORS["flat"], DENG, (), seed=3, settings=small_settings,
                                      netcdf_path=path, provenance={})
    assert not other_seed["from_cache"]


def test_saved_draws_of_another_model_form_are_not_reused(monkeypatch, small_settings):
    """A new PyMC graph can move a seed's draws, so the run key names the model's form."""
    from lnbayes.engines import mcmc

    key = reanalysis.run_key(PRIORS["flat"], DENG, 2, small_settings)
    assert reanalysis.run_key(PRIORS["flat"], DENG, 2, small_settings) == key
    monkeypatch.setattr(mcmc, "MODEL_FORM", mcmc.MODEL_FORM + 1)
    assert reanalysis.run_key(PRIORS["flat"], DENG, 2, small_settings) != key


def test_model_data_holds_the_prior_and_counts_in_the_model_layout():
    """The two data containers: the counts in COUNTS order, the hyperparameters one after the
    other (the slices build_model reads)."""
    from lnbayes.engines import mcmc

    prior = Prior("mix", "effect", control=BetaPrior((0.3, 0.7), (2.0, 5.0), (3.0, 1.0)),
                  scale="log_rr", effect=NormalPrior((1.0,), (0.1,), (0.5,)))
    data = mcmc.model_data(prior, DENG)
    assert data["counts"].dtype == np.int64
    assert data["counts"].tolist() == [DENG.control_n, DENG.control_events, DENG.treatment_n,
                                       DENG.treatment_events]
    assert data["hyperparameters"].tolist() == [0.3, 0.7, 2.0, 5.0, 3.0, 1.0, 1.0, 0.1, 0.5]



@pytest.fixture(scope="session")
def all_flat(trial, tmp_path_factory):
    return reanalysis.analyze_all(trial, ["flat"], engine="exact",
                                outdir=tmp_path_factory.mktemp("all"))






def test_all_outcomes_with_their_direction(trial, all_flat):
    names = [e["outcome"] for e in all_flat["outcomes"]]
    assert names == list(trial.outcomes)
    by_name = {e["outcome"]: e for e in all_flat["outcomes"]}
    # death: 1/12 vs 0/6, lower is better, so benefit is P(p_t < p_c)
    death = by_name["death"]["results"][0]
    assert by_name["death"]["outcome_info"]["better"] == "lower"
    assert death["p_benefit"] == pytest.approx(1 - flat_p_greater(1, 12, 0, 6), abs=1e-6)
    remission = by_name["remission"]["results"][0]
    assert remission["p_benefit"] == pytest.approx(flat_p_greater(9, 12, 5, 6), abs=1e-6)



def test_single_outcome_contract_kept(all_flat):
    entry = all_flat["outcomes"][0]
    for key in ("trial", "title", "outcome", "outcome_info", "engine", "results", "provenance"):
        assert key in entry
    result = entry["results"][0]
    for key in ("prior", "engine", "p_benefit", "p_benefit_mcse", "p_benefit_exact",
                "agrees_with_exact", "thresholds", "estimates", "diagnostics", "log_evidence",
                "evidence", "prior_info"):
        assert key in result



def _flat_p_rd_above(y_t, n_t, y_c, n_c, margin):
    """P(p_t - p_c > margin) under Beta(1, 1) priors: 1-D quadrature over p_c (scipy only)."""
    from scipy import integrate, stats

    post_t, post_c = stats.beta(y_t + 1, n_t - y_t + 1), stats.beta(y_c + 1, n_c - y_c + 1)
    value, _ = integrate.quad(lambda pc: post_c.pdf(pc) * post_t.sf(min(pc + margin, 1.0)),
                              0, 1, epsabs=1e-12, epsrel=1e-12, limit=200)
    return value


def test_benefit_harm_side_by_side_without_joint(all_flat):
    bh = all_flat["benefit_harm"]
    assert bh["safety_outcomes"] == ["serious_adverse_events", "death"]
    assert "independent" in bh["note"]
    assert not any("joint" in key for key in bh)
    benefit = bh["benefit"][0]
    assert benefit["prior"] == "flat"
    assert benefit["p_benefit"] == pytest.approx(flat_p_greater(9, 12, 5, 6), abs=1e-6)
    rd = next(t for t in benefit["meaningful"] if t["scale"] == "rd")
    assert rd["p"] == pytest.approx(_flat_p_rd_above(9, 12, 5, 6, rd["value"]), abs=1e-6)
    safety = {s["outcome"]: s for s in bh["safety"]}
    for name, (y_t, y_c) in {"serious_adverse_events": (2, 2), "death": (1, 0)}.items():
        s = safety[name]
        row = s["by_prior"][0]
        assert row["prior"] == "flat"  # each safety outcome under its own priors
        assert row["p_harm"] == pytest.approx(flat_p_greater(y_t, 12, y_c, 6), abs=1e-6)
        margin = s["margin"]
        assert margin["scale"] == "rd" and margin["value"] > 0 and margin["source"] == "stated"
        expected = _flat_p_rd_above(y_t, 12, y_c, 6, margin["value"])
        assert row["p_harm_beyond_margin"] == pytest.approx(expected, abs=1e-6)
        assert row["p_harm_beyond_margin"] < row["p_harm"]


def test_harm_margin_mirrored_or_absent():
    from lnbayes.model.spec import Outcome, Threshold, harm_margin

    base = dict(name="x", label="X", treatment_events=1, treatment_n=10, control_events=1,
                control_n=10, better="lower", safety=True)
    assert harm_margin(Outcome(**base)) == (None, "none stated")
    mirrored = Outcome(**base, thresholds=(Threshold("rd", -0.1),))
    assert harm_margin(mirrored) == (Threshold("rd", 0.1), "mirrored from thresholds[0]")
    ratio = Outcome(**base, thresholds=(Threshold("or", 0.5),))
    assert harm_margin(ratio)[0] == Threshold("or", 2.0)
    stated = Outcome(**base, thresholds=(Threshold("rd", -0.1),), harm_margin=Threshold("rr", 1.5))
    assert harm_margin(stated) == (Threshold("rr", 1.5), "stated")


def test_all_written_atomically(all_flat):
    from pathlib import Path

    data = json.loads(Path(all_flat["written"]).read_text())
    assert [e["outcome"] for e in data["outcomes"]] == [e["outcome"] for e in all_flat["outcomes"]]



def test_rope_and_bayes_factors_in_results(all_flat):
    by_name = {e["outcome"]: e for e in all_flat["outcomes"]}
    ev = by_name["remission"]["results"][0]["evidence"]
    assert ev["rope"]["scale"] == "rd" and 0 < ev["rope"]["p_inside"] < 1
    assert by_name["death"]["results"][0]["evidence"]["rope"] is None
    p = ev["posterior_p_benefit"]
    assert ev["bf_benefit"] == pytest.approx((p / (1 - p)) / 1.0, abs=1e-9)



@pytest.mark.slow
def test_pymc_rope_within_3_mcse(trial):
    from lnbayes.engines.mcmc import SamplerSettings

    settings = SamplerSettings(draws=500, tune=500, chains=2, cores=1)
    outcome = trial.outcomes["remission"]
    result = reanalysis.pymc_result(trial.priors["flat"], outcome, outcome.thresholds, 11,
                                  settings, None, {})
    rope = result["evidence"]["rope"]
    assert rope["p_inside_mcse"] > 0
    assert abs(rope["p_inside"] - rope["p_inside_exact"]) <= 3 * rope["p_inside_mcse"]
    assert rope["agrees_with_exact"]



def _key_order(value):
    if isinstance(value, dict):
        return [(k, _key_order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_key_order(v) for v in value]
    return type(value).__name__


@pytest.mark.heavy
def test_draw_summaries_read_back_from_the_record_cache_as_computed(deng, tmp_path, monkeypatch):
    """Saved draws' summaries are kept under their digest: a hit gives the same numbers, types
    and order of keys (the appendix's rows follow it) as computing them; other thresholds are
    another record."""
    from lnbayes.io import files

    monkeypatch.setenv("LNBAYES_CACHE_DIR", str(tmp_path / "cache"))
    path = ROOT / "reports" / "deng2017" / "posterior" / "remission__sceptical.nc"
    tree = files.read_netcdf(path)
    prior, outcome = deng.priors["sceptical"], deng.outcome("remission")
    digest = tree.attrs[reanalysis.DIGEST_ATTR]
    fresh = reanalysis.draw_summaries(tree, prior, outcome, outcome.thresholds, None)
    assert not (tmp_path / "cache").exists()  # no digest: nothing stored
    stored = reanalysis.draw_summaries(tree, prior, outcome, outcome.thresholds, digest)
    assert len(list((tmp_path / "cache" / "draw_summaries").iterdir())) == 1
    hit = reanalysis.draw_summaries(None, prior, outcome, outcome.thresholds, digest)  # no draws read
    for got in (stored, hit):
        assert got == fresh
        assert _key_order(got) == _key_order(fresh)
    other = (*outcome.thresholds, Threshold("rd", 0.3))
    again = reanalysis.draw_summaries(tree, prior, outcome, other, digest)
    assert len(again["drawn"]["thresholds"]) == len(fresh["drawn"]["thresholds"]) + 1
    assert len(list((tmp_path / "cache" / "draw_summaries").iterdir())) == 2
