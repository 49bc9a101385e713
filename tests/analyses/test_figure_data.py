"""lnbayes.analyses.figure_data: the figures' density curves, kept in the record cache."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lnbayes.analyses import densities, figure_data


def test_curves_are_cached_exactly_and_keyed_by_prior_and_counts(monkeypatch, tmp_path, trial):
    """A second call reads back the same floats without integrating; another prior or other
    counts are computed afresh; with the cache off the curves are the same."""
    monkeypatch.setenv("LNBAYES_CACHE_DIR", str(tmp_path))
    outcome = trial.primary_outcome
    analysis = {"results": [{"prior": "flat"}, {"prior": "sceptical"}]}
    calls = []
    compute = densities.density_curves
    monkeypatch.setattr(densities, "density_curves",
                        lambda *a, **k: calls.append(a[0].name) or compute(*a, **k))
    first = figure_data.curves(trial, outcome, analysis)
    assert calls == ["flat", "sceptical"]
    assert len(list((tmp_path / "curves").glob("*.json"))) == 2
    again = figure_data.curves(trial, outcome, analysis)
    assert calls == ["flat", "sceptical"]
    for prior in first:
        for measure, curves in first[prior].items():
            for key, values in curves.items():
                assert np.array_equal(again[prior][measure][key], values)
                assert again[prior][measure][key].dtype == values.dtype
    more = replace(outcome, treatment_events=outcome.treatment_events - 1)
    other = figure_data.curves(trial, more, {"results": [{"prior": "sceptical"}]})
    assert calls[-1] == "sceptical" and len(calls) == 3
    assert not np.array_equal(other["sceptical"]["risk_difference"]["posterior"],
                              first["sceptical"]["risk_difference"]["posterior"])
    monkeypatch.setenv("LNBAYES_CACHE_DIR", "off")
    fresh = figure_data.curves(trial, outcome, {"results": [{"prior": "flat"}]})
    assert len(calls) == 4
    for measure, curves in fresh["flat"].items():
        for key, values in curves.items():
            assert np.array_equal(first["flat"][measure][key], values)
