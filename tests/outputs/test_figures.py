"""lnbayes.outputs.figures: the figures' structure (they were also looked at), atomic saving,
and the rank-envelope lookup against arviz-stats."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from scipy import integrate, stats

from lnbayes import formatting
from lnbayes.analyses import figure_data, planning, reanalysis
from lnbayes.engines import exact
from lnbayes.io.trialfile import load_trial
from lnbayes.model.spec import NormalPrior
from lnbayes.outputs.figures import figure_set, plots
from tests.conftest import PYMC_GROUP, ROOT

# the tests of this file share module- and session-scoped fixtures (sampled or computed once),
# and some sample with PyMC: pytest-xdist (make test) runs them in the one worker that runs
# every in-process PyMC test (tests/conftest.py: PYMC_GROUP)
pytestmark = pytest.mark.xdist_group(PYMC_GROUP)


@pytest.fixture(scope="session")
def outcome(trial):
    return trial.primary_outcome



@pytest.fixture(scope="session")
def exact_analysis(trial, outcome):
    return reanalysis.analyze(trial, outcome.name, engine="exact")



@pytest.fixture(scope="session")
def curves(trial, outcome, exact_analysis):
    return figure_data.curves(trial, outcome, exact_analysis)



def _flat_p_benefit(outcome) -> float:
    """P(p_t > p_c) under Beta(1, 1) priors, by scipy.integrate (independent of lnbayes)."""
    c = stats.beta(1 + outcome.control_events, 1 + outcome.control_n - outcome.control_events)
    t = stats.beta(1 + outcome.treatment_events, 1 + outcome.treatment_n - outcome.treatment_events)
    value, _ = integrate.quad(lambda x: c.pdf(x) * t.sf(x), 0, 1, epsabs=1e-12)
    return value



def _texts(fig) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts]
        out += [ax.get_title(loc) for loc in ("left", "center", "right")]
        out += [ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_yticklabels()]
    for legend in fig.legends:
        out += [t.get_text() for t in legend.get_texts()]
    return out



@pytest.mark.heavy
def test_the_plot_heatmap_is_the_exact_sweep_of_the_report(trial, outcome, exact_analysis):
    """``lnbayes plot`` draws the report's sweep (no stand-in grid): same grid, P(benefit) of the
    sweep engine equal to the one-prior exact engine (docs/sweep.md: within 1e-4)."""
    data = figure_data.figure_data(trial, outcome, exact_analysis)
    sweep = data["sweep"]
    scale = figure_data.sweep_scale(trial)
    centres, sds = figure_data.sweep_axes(trial, scale)
    assert sweep["scale"] == scale and len(sweep["grid"]) == centres.n * sds.n
    control = trial.priors[sweep["control_prior"]["from"]].control
    rows = sweep["grid"][:: max(1, len(sweep["grid"]) // 5)]
    for row in rows:
        post = exact.effect_posterior(control, scale,
                                      NormalPrior.single(row["prior_mean"], row["prior_sd"]),
                                      outcome)
        assert row["p_benefit"] == pytest.approx(post.prob_benefit(), abs=1e-4), row
    assert set(data["curves"]) == {r["prior"] for r in exact_analysis["results"]}


def test_figures_leave_global_rcparams_alone(trial, outcome, exact_analysis, curves):
    before = dict(matplotlib.rcParams)
    plots.plot_effect_prior_posterior(trial, outcome, exact_analysis, curves)
    plots.plot_p_benefit(trial, outcome, exact_analysis)
    after = dict(matplotlib.rcParams)
    assert before == after



def test_effect_figure(trial, outcome, exact_analysis, curves):
    fig = plots.plot_effect_prior_posterior(trial, outcome, exact_analysis, curves)
    n = len(exact_analysis["results"])
    assert len(fig.axes) == 2 * n
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert "Risk difference, hUC-MSC minus placebo" in labels
    assert "Odds ratio, hUC-MSC vs placebo" in labels
    assert fig.axes[1].get_xscale() == "log"
    texts = _texts(fig)
    flat_text = f"P(benefit) = {formatting.probability(_flat_p_benefit(outcome))}"
    assert texts.count(flat_text) >= 2  # on both panels of the flat prior's row
    for result in exact_analysis["results"]:
        assert texts.count(plots.p_benefit_text(result)) >= 2
        assert plots.prior_label(result) in texts
    for ax in fig.axes:
        assert len(ax.get_lines()) >= 3  # prior, posterior, no-effect line
        assert ax.patches  # benefit region
    assert any("Benefit (hUC-MSC better)" == t for t in texts)



def test_forest(trial, outcome, exact_analysis):
    fig = plots.plot_forest(trial, outcome, exact_analysis,
                            figure_data.figure_data(trial, outcome, exact_analysis, include_sweep=False)["data_only"])
    texts = _texts(fig)
    assert "Data only" in texts
    assert "P(benefit)" in texts
    for result in exact_analysis["results"]:
        assert plots.prior_label(result) in texts
        assert formatting.probability(result["p_benefit_exact"]) in texts
    rd_ax = fig.axes[0]
    # the no-effect line at 0 and a data-only diamond at the sample risk difference
    assert any(np.allclose(line.get_xdata(), 0) and len(line.get_xdata()) == 2
               for line in rd_ax.get_lines())
    observed = outcome.treatment_events / outcome.treatment_n - outcome.control_events / outcome.control_n
    assert any(line.get_marker() == "D" and np.allclose(line.get_xdata(), observed)
               for line in rd_ax.get_lines())



def test_arm_figure_names_both_arms(trial, outcome, exact_analysis, curves):
    fig = plots.plot_arm_posteriors(trial, outcome, exact_analysis, curves)
    texts = " | ".join(_texts(fig))
    assert "hUC-MSC: observed 9/12" in texts and "placebo: observed 5/6" in texts
    assert fig._supxlabel.get_text() == "Probability of remission (partial + complete) at 6 months"



def test_p_benefit_dot_chart(trial, outcome, exact_analysis):
    fig = plots.plot_p_benefit(trial, outcome, exact_analysis)
    (ax,) = fig.axes
    level_lines = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert sorted(float(line.get_xdata()[0]) for line in level_lines) == [0.5, 0.8, 0.95]
    texts = _texts(fig)
    assert formatting.probability(_flat_p_benefit(outcome)) in texts



def test_sweep_heatmap(trial, outcome):
    from lnbayes.analyses.sweep import GridRange, run_sweep

    sweep = run_sweep(trial, outcome.name, scale="log_or", centres=GridRange(-1.5, 1.5, 7),
                      sds=GridRange(0.2, 2.0, 6), outdir=None, check_roots=False)
    fig = plots.plot_sweep_heatmap(sweep, trial, named_priors=list(trial.priors.values()))
    ax = fig.axes[0]
    contours = [c for c in ax.collections if hasattr(c, "levels")]
    assert contours and list(contours[0].levels) == [0.5, 0.8, 0.95]
    markers = [line for line in ax.get_lines() if line.get_marker() == "o"]
    means, sds = [g["prior_mean"] for g in sweep["grid"]], [g["prior_sd"] for g in sweep["grid"]]
    on_grid = [p for p in trial.priors.values()
               if p.family == "effect" and p.scale == "log_or" and len(p.effect.means) == 1
               and min(means) <= p.effect.means[0] <= max(means)
               and min(sds) <= p.effect.sds[0] <= max(sds)]
    # arm-level priors and priors outside the grid are not marked (they are listed below it)
    assert len(on_grid) >= 2 and len(markers) == len(on_grid)
    texts = " | ".join(_texts(fig)) + fig._supxlabel.get_text()
    assert "Sceptical" in texts and "Not on this grid: Flat" in texts
    assert ax.get_xlabel() == "Prior mean of the log odds ratio"



def test_save_figures_is_atomic_and_complete(tmp_path, trial, outcome, exact_analysis):
    fig = plots.plot_p_benefit(trial, outcome, exact_analysis)
    paths = figure_set.save_figures({"p_benefit": fig}, tmp_path, ["png", "svg"])
    assert [p.name for p in paths] == ["p_benefit.png", "p_benefit.svg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p_benefit.png", "p_benefit.svg"]



@pytest.fixture
def second_core(monkeypatch):
    from lnbayes.io import background

    monkeypatch.delenv("LNBAYES_BACKGROUND", raising=False)
    monkeypatch.setattr(background, "cores", lambda: 2)


def _some_figures(trial, outcome, exact_analysis, curves):
    import matplotlib.figure

    unpicklable = matplotlib.figure.Figure(figsize=(2, 1))
    unpicklable.add_subplot().xaxis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))  # a lambda: saved here
    return {
        "p_benefit": plots.plot_p_benefit(trial, outcome, exact_analysis),
        "arm_posteriors": plots.plot_arm_posteriors(trial, outcome, exact_analysis, curves),
        "unpicklable": unpicklable,
    }


@pytest.mark.heavy
def test_figures_saved_by_a_second_process_are_the_same_files(tmp_path, trial, outcome,
                                                              exact_analysis, curves,
                                                              second_core):
    # fresh figures for each: saving a figure can change it (layout), as the report never does
    alone = figure_set.save_figures(_some_figures(trial, outcome, exact_analysis, curves),
                                    tmp_path / "alone", ("png", "pdf"))
    figs = _some_figures(trial, outcome, exact_analysis, curves)
    saver = figure_set.FigureSaver(tmp_path / "shared", ("png", "pdf"))
    assert saver.worker is not None
    try:
        for stem, fig in figs.items():
            saver.offer(stem, fig)
        shared = saver.finish()
        sent = {stem for stem, _ in saver.sent.values()}
    finally:
        saver.stop()
    assert "p_benefit" in sent and "unpicklable" not in sent  # the worker saved some of them
    assert [p.name for p in shared] == [p.name for p in alone]
    for a, b in zip(alone, shared):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == sorted(p.name for p in shared)


@pytest.mark.heavy
def test_what_a_dead_worker_did_not_save_is_saved_here(tmp_path, trial, outcome, exact_analysis,
                                                       curves, second_core):
    figs = _some_figures(trial, outcome, exact_analysis, curves)
    saver = figure_set.FigureSaver(tmp_path, ("png",))
    try:
        saver.worker._process.kill()
        saver.worker._process.wait()
        for stem, fig in figs.items():
            saver.offer(stem, fig)
        written = saver.finish()
    finally:
        saver.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    assert len(written) == 3


@pytest.fixture(scope="session")
def pymc_analysis(trial, outcome):
    from lnbayes.engines.mcmc import SamplerSettings

    return reanalysis.analyze(trial, outcome.name, ["flat", "sceptical"], engine="pymc",
                            settings=SamplerSettings(draws=300, tune=300, chains=2))



@pytest.mark.slow
def test_pymc_figures(trial, outcome, pymc_analysis):
    data = figure_data.figure_data(trial, outcome, pymc_analysis, include_sweep=False)
    assert data["sweep"] is None
    import matplotlib.pyplot as plt

    open_before = set(plt.get_fignums())  # figures another test of this worker left open
    figs = figure_set.make_figures(trial, outcome, pymc_analysis, data)
    assert "psense_sceptical" in figs and "psense_flat" not in figs
    assert {"rank_flat", "rank_sceptical"} <= set(figs)
    psense = figs["psense_sceptical"]
    assert len(psense.axes) == 4  # (risk difference, odds ratio) x (prior, likelihood)
    # each prior's figure is about that prior: no note about the flat prior's absence
    assert "Flat" not in psense._supxlabel.get_text() and "sensitivity" in psense._supxlabel.get_text()
    with pytest.raises(ValueError, match="constant"):
        plots.plot_psense(trial, outcome, pymc_analysis["results"][0], trial.priors["flat"])
    # the panel titles show the sensitivity the analysis stored; the figure computes nothing
    stored = pymc_analysis["results"][1]["power_scaling"]["variables"]
    titles = " ".join(ax.get_title() for ax in psense.axes)
    for var in ("risk_difference", "log_odds_ratio"):
        for group in ("prior", "likelihood"):
            assert f"sensitivity {stored[var][group]:.3f}" in titles, (var, group, titles)
    planted = dict(pymc_analysis["results"][1])
    planted["power_scaling"] = {"variables": {
        v: {"prior": 0.123, "likelihood": 0.456} for v in stored}}
    fig = plots.plot_psense(trial, outcome, planted, trial.priors["sceptical"])
    titles = [ax.get_title() for ax in fig.axes]
    assert sum("sensitivity 0.123" in t for t in titles) == 2, titles
    assert sum("sensitivity 0.456" in t for t in titles) == 2, titles
    # MCMC draws are overlaid on the exact curves
    effect = figs["effect_prior_posterior"]
    assert "Posterior (MCMC draws)" in _texts(effect)
    assert any(len(ax.patches) >= 2 for ax in effect.axes)  # benefit region + histogram
    assert set(plt.get_fignums()) <= open_before  # ArviZ figures are detached from pyplot



@pytest.mark.parametrize("n_draws, n_chains", [(50, 4), (400, 4), (37, 3)])
def test_vectorised_rank_envelope_lookup_equals_arviz_stats(n_draws, n_chains):
    """The rank plots' envelope simulation runs with a vectorised hypergeometric lookup; it must
    return arviz-stats's values exactly (negative counts, counts at and past the top included)."""
    from arviz_stats import ecdf_utils

    rng = np.random.default_rng(n_draws)
    total = n_draws * n_chains
    counts = np.linspace(1, total, n_draws - 1, dtype=int, endpoint=False)
    for _ in range(5):
        x = rng.integers(-3, n_draws + 3, size=n_draws - 1)
        expected = ecdf_utils._hypergeometric_cdf_lookup(x, total, n_draws, counts)
        got = plots._vectorised_hypergeometric_cdf_lookup(x, total, n_draws, counts)
        assert np.array_equal(expected, got, equal_nan=True)



def test_rank_envelope_patch_is_undone():
    from arviz_stats import ecdf_utils

    original = ecdf_utils._hypergeometric_cdf_lookup
    with plots._fast_rank_envelope():
        assert ecdf_utils._hypergeometric_cdf_lookup is plots._vectorised_hypergeometric_cdf_lookup
    assert ecdf_utils._hypergeometric_cdf_lookup is original



@pytest.fixture(scope="session")
def design_flat(trial):
    # without the reverse questions (under every prior; tested in tests/analyses/test_reverse.py)
    return planning.design(trial, "flat", with_reverse=False)



def test_predictive_figure(trial):
    import matplotlib.pyplot as plt

    from lnbayes.outputs.figures.planning_plots import predictive_figure

    result = planning.predict(trial, ["flat", "sceptical"])
    fig = predictive_figure(result)
    curves, grid = fig.axes[0], fig.axes[1]
    assert len([line for line in curves.get_lines() if line.get_drawstyle() == "steps-pre"]) == 2
    assert "P(benefit)" in curves.get_ylabel()
    assert len(grid.images) == 1 and grid.images[0].get_array().shape == (3, 6)
    assert len(grid.texts) == 18
    assert curves.get_legend() is None and len(fig.legends[0].get_texts()) == 2
    plt.close(fig)



@pytest.mark.heavy
def test_predictive_figure_of_a_large_trial_is_one_image_and_one_outline():
    """A trial stopped at 400 + 395 of 1,200 has 41,406 completions: no label per cell (the
    CAPE COD figure took 4 minutes to save with one), the window holds the central 99.9% of the
    predictive probability along each axis, and the outline is one collection."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    from lnbayes.outputs.figures.planning_plots import MAX_LABELLED_CELLS, predictive_figure

    gallery = load_trial(ROOT / "models" / "capecod2023.toml")
    result = planning.predict(gallery, ["flat"])
    comps = result["results"][0]["completions"]
    assert len(comps) > 100 * MAX_LABELLED_CELLS
    fig = predictive_figure(result)
    grid = fig.axes[1]
    assert len(grid.texts) == 0 and len(grid.patches) == 0
    assert len([c for c in grid.collections if isinstance(c, LineCollection)]) == 1
    (image,) = grid.images
    x0, x1, y0, y1 = image.get_extent()
    inside = sum(c["probability"] for c in comps
                 if x0 < c["future_treatment_events"] < x1 and y0 < c["future_control_events"] < y1)
    assert 0.998 - 1e-9 <= inside < 1.0  # 0.1% left out at most on each of two axes
    assert image.get_array().shape == (round(y1 - y0), round(x1 - x0))
    plt.close(fig)


def test_outline_segments_of_a_known_mask():
    from lnbayes.outputs.figures.planning_plots import _outline

    mask = np.zeros((5, 6), dtype=bool)
    mask[1:3, 2:4] = True  # a 2 x 2 block: 8 unit edges around it
    segs = {tuple(map(tuple, s)) for s in _outline(mask, 0, 4, 0, 5)}
    assert len(segs) == 8
    assert ((1.5, 0.5), (2.5, 0.5)) in segs and ((3.5, 1.0), (3.5, 2.0)) not in segs
    assert ((3.5, 0.5), (3.5, 1.5)) in segs
    # a block touching the window's edge has no boundary along it
    assert len(_outline(mask, 1, 4, 0, 5)) == 6


def test_predictive_figure_tells_every_prior_apart(trial):
    """With more priors than colours, line styles keep each curve distinct (one look per prior)."""
    import matplotlib.pyplot as plt

    from lnbayes.outputs.figures.planning_plots import predictive_figure

    result = planning.predict(trial, list(trial.priors))
    assert len(result["results"]) > 8
    fig = predictive_figure(result)
    steps = [line for line in fig.axes[0].get_lines() if line.get_drawstyle() == "steps-pre"]
    assert len(steps) == len(result["results"])
    # colour and dash pattern (matplotlib has no public getter for a custom dash pattern)
    looks = {(line.get_color(), repr(line._unscaled_dash_pattern)) for line in steps}
    assert len(looks) == len(steps)
    plt.close(fig)



def test_operating_characteristics_figure(design_flat):
    import matplotlib.pyplot as plt

    from lnbayes.outputs.figures.planning_plots import operating_characteristics_figure

    fig = operating_characteristics_figure(design_flat)
    oc, power = fig.axes[0], fig.axes[1]
    assert oc.get_xlabel() == "True treatment-arm rate"
    assert len(oc.get_legend().get_texts()) == 5
    assert power.get_ylabel() == "Power at the hoped-for effect"
    plt.close(fig)



def test_rank_envelope_is_kept_in_the_record_cache(monkeypatch, tmp_path):
    """The envelope simulation runs once per (values, probability, simulations, chains): a later
    process (memo cleared) reads back the same floats from the record cache."""
    from arviz_stats import ecdf_utils

    monkeypatch.setenv("LNBAYES_CACHE_DIR", str(tmp_path))
    calls = []

    def original(vals, ci_prob, n_simulations, n_chains=1, rng=None):
        calls.append(n_chains)
        return ecdf_utils.ecdf_pit(vals, ci_prob, n_simulations, n_chains=n_chains, rng=rng)

    vals = np.linspace(0, 1, 60)
    first = plots._remembered_ecdf_pit(original)(vals, 0.95, 50, n_chains=4)
    plots._ENVELOPES.clear()
    again = plots._remembered_ecdf_pit(original)(vals, 0.95, 50, n_chains=4)
    assert calls == [4] and len(list((tmp_path / "rank_envelope").glob("*.json"))) == 1
    for a, b in zip(first, again):
        assert np.array_equal(a, b)
    plots._remembered_ecdf_pit(original)(vals, 0.95, 50, n_chains=3)
    assert calls == [4, 3]
    expected = ecdf_utils.ecdf_pit(vals, 0.95, 50, n_chains=4)
    for a, b in zip(expected, again):
        assert np.array_equal(a, b)
