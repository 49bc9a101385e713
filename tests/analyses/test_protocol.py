"""lnbayes.analyses.protocol and its figure: the design as a protocol states it. The figure's
curves (type I error and power under the flat prior) are checked against an independent
enumeration written here (Beta posteriors by scipy.integrate.quad, binomial sums by
scipy.stats.binom)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from lnbayes.analyses import planning, protocol


def flat_declare(n_t, n_c, threshold):
    out = np.zeros((n_c + 1, n_t + 1), bool)
    for yc in range(n_c + 1):
        post_c = stats.beta(1 + yc, 1 + n_c - yc)
        for yt in range(n_t + 1):
            post_t = stats.beta(1 + yt, 1 + n_t - yt)
            p, _ = integrate.quad(lambda x: post_c.pdf(x) * post_t.sf(x), 0, 1, epsabs=1e-13,
                                  epsrel=1e-12, limit=200)
            out[yc, yt] = p >= threshold
    return out


def power(decl, p_c, p_t):
    n_c, n_t = decl.shape[0] - 1, decl.shape[1] - 1
    return float(np.outer(stats.binom.pmf(np.arange(n_c + 1), n_c, p_c),
                          stats.binom.pmf(np.arange(n_t + 1), n_t, p_t))[decl].sum())


@pytest.fixture(scope="module")
def design(trial):
    return planning.design(trial, with_reverse=False)


@pytest.fixture(scope="module")
def stated(trial, design):
    return protocol.protocol(trial, design)


@pytest.mark.heavy
def test_flat_curves_match_an_independent_enumeration(stated):
    assert stated["analysis_prior"] == "flat" and stated["control_rate"] == 0.6
    flat = stated["priors"][0]
    rates = stated["curve_rates"]
    for size in flat["by_size"]:
        decl = flat_declare(size["n_treatment"], size["n_control"], 0.95)
        want_t1 = [power(decl, r, r) for r in rates]
        want_power = [power(decl, 0.6, r) for r in rates]
        np.testing.assert_allclose(size["curve_type_i"], want_t1, atol=1e-12, rtol=0)
        np.testing.assert_allclose(size["curve_power"], want_power, atol=1e-12, rtol=0)
        for row in size["power_by_effect"]:
            assert row["power"] == pytest.approx(power(decl, 0.6, row["p_treatment"]), abs=1e-12)
            odds = row["p_treatment"] / (1 - row["p_treatment"]) / (0.6 / 0.4)
            assert odds == pytest.approx(row["odds_ratio"], rel=1e-12)


def test_borrowing_prior_is_compared_and_inflates_type_i_error(stated, design):
    assert [p["prior"] for p in stated["priors"]] == ["flat", "evidence_based"]
    assert [(s["label"], s["n_treatment"], s["n_control"]) for s in stated["sizes"]] == [
        ("stopped", 12, 6), ("planned", 17, 8)]
    flat, borrow = stated["priors"]
    # the robust MAP control prior: type I error well above the flat prior's at high rates
    assert borrow["by_size"][1]["type_i_max"]["max"] > 2 * flat["by_size"][1]["type_i_max"]["max"]
    # the flat prior at the planned size is the design's own rule
    assert flat["by_size"][1]["type_i_max"]["max"] == pytest.approx(design["type_i_error"]["max"],
                                                                    abs=1e-12)
    assert flat["by_size"][1]["power_hoped_for"] == pytest.approx(design["power"]["power"],
                                                                  abs=1e-12)
    assert flat["sample_size"]["total"] == design["sample_size_80"]["total"]
    assert stated["looks"] is None and "no interim analysis" in stated["looks_note"]


def test_protocol_figure_draws_the_curves(stated):
    from matplotlib.figure import Figure

    from lnbayes.outputs.figures.planning_plots import protocol_figure

    fig = protocol_figure(stated)
    assert isinstance(fig, Figure)
    left, right = fig.axes[:2]
    drawn_t1 = [line.get_ydata() for line in left.get_lines() if len(line.get_ydata()) > 2]
    drawn_power = [line.get_ydata() for line in right.get_lines() if len(line.get_ydata()) > 2]
    want_t1 = [s["curve_type_i"] for p in stated["priors"] for s in p["by_size"]]
    want_power = [s["curve_power"] for p in stated["priors"] for s in p["by_size"]]
    assert len(drawn_t1) == len(want_t1) and len(drawn_power) == len(want_power)
    for got, want in zip(drawn_t1 + drawn_power, want_t1 + want_power):
        np.testing.assert_array_equal(got, want)
    import matplotlib.pyplot as plt

    plt.close(fig)
