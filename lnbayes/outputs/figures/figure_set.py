"""Report side of the figures: assemble the set for one outcome and write it to files.

:func:`make_figures` turns an analysis (``lnbayes.analyses.reanalysis.analyze``) into named Figures;
:func:`save_figures` writes them atomically (PNG at 300 dpi, vector PDF, SVG on request).
:func:`write_figures` is ``lnbayes plot``: analyse (writing no results) and write the set.
The plotting functions themselves (:mod:`lnbayes.outputs.figures.plots`) never write anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from lnbayes.io import files
from lnbayes.outputs.figures import plots
from lnbayes.outputs.figures.style import DPI, house_style

FORMATS = ("png", "pdf", "svg")


def write_figures(trial, outcome_name, prior_names, outdir, formats, engine="pymc", seed=None,
                  settings=None, sweep=None, progress: Callable[[str], None] | None = None) -> list:
    """Analyse (without writing results) and write every figure; returns the paths written.

    ``settings`` are the :class:`lnbayes.engines.mcmc.SamplerSettings` of ``engine="pymc"``;
    ``progress`` receives a short message as each prior is analysed and as drawing starts.
    """
    from lnbayes.analyses import figure_data, reanalysis

    def say(message: str) -> None:
        if progress:
            progress(message)

    def on_prior(name: str, i: int, n: int) -> None:
        say(f"prior {i + 1}/{n}: {name} ({engine})")

    result = reanalysis.analyze(trial, outcome_name, prior_names, engine=engine, seed=seed,
                                settings=settings, outdir=None, on_prior=on_prior)
    say("drawing figures...")
    outcome = trial.outcome(outcome_name)
    data = figure_data.figure_data(trial, outcome, result, sweep=sweep, seed=seed)
    figs = make_figures(trial, outcome, result, data)
    say("writing figures...")
    return save_figures(figs, outdir, formats)


def make_figures(trial, outcome, analysis: Mapping[str, Any], data: Mapping[str, Any],
                 diagnostic_priors: Sequence[str] | None = None,
                 heatmap_priors: Sequence[str] | None = None,
                 measures: Sequence[str] = plots.EFFECT_MEASURES) -> dict[str, Any]:
    """All figures for one outcome, by file stem.

    ``effect_prior_posterior``, ``forest``, ``arm_posteriors``, ``p_benefit``,
    ``sweep_heatmap`` (when ``data`` has a sweep), and for PyMC
    results ``psense_<prior>`` (priors that are not constant) and ``rank_<prior>`` per prior
    (supplement); ``diagnostic_priors`` limits those two kinds to the priors named, and
    ``heatmap_priors`` the priors marked on the sweep heatmap. ``measures``: the effect measures
    of the prior/posterior and forest figures (the risk difference and the ratio measure on
    which the priors are stated). ``data``: the density curves and the sweep the figures draw,
    from :func:`lnbayes.analyses.figure_data.figure_data`; nothing here computes.
    """
    results = analysis["results"]
    priors = [trial.priors[r["prior"]] for r in results]
    curves = data["curves"]
    figs: dict[str, Any] = {
        "effect_prior_posterior": plots.plot_effect_prior_posterior(trial, outcome, analysis,
                                                                    curves, measures=measures),
        "forest": plots.plot_forest(trial, outcome, analysis, data["data_only"], measures=measures),
        "arm_posteriors": plots.plot_arm_posteriors(trial, outcome, analysis, curves),
        "p_benefit": plots.plot_p_benefit(trial, outcome, analysis),
    }
    sweep = data.get("sweep")
    if sweep is not None:
        marked = priors if heatmap_priors is None else [p for p in priors if p.name in heatmap_priors]
        figs["sweep_heatmap"] = plots.plot_sweep_heatmap(sweep, trial, named_priors=marked)
    from lnbayes.analyses.sensitivity import prior_is_constant

    # a prior with a constant log density has no power-scaling figure (the appendix and the
    # analysis say why, once; each prior's figure is about that prior only)
    for result, prior in zip(results, priors):
        if result.get("datatree") is None:
            continue
        if diagnostic_priors is not None and prior.name not in diagnostic_priors:
            continue
        if not prior_is_constant(prior):
            figs[f"psense_{prior.name}"] = plots.plot_psense(trial, outcome, result, prior)
        figs[f"rank_{prior.name}"] = plots.plot_rank(trial, outcome, result, prior)
    return figs


def save_figures(figs: Mapping[str, Any], outdir: str | Path,
                 formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write each figure in each format, atomically; returns the paths written.

    PNG at 300 dpi, or more for figures narrower than 1,300 px at 300 dpi (single-column
    figures), so that every PNG is at least 1,200 px wide; PDF and SVG are vector (heatmap
    cells rasterised at 300 dpi). The house
    style is active while saving so that save-time settings (fonts embedded as TrueType, tight
    bounding box) apply. Each font is subset for the PDFs once for all of them
    (:func:`lnbayes.outputs.figures.pdf_fonts.shared_font_subsets`).
    """
    from lnbayes.outputs.figures.pdf_fonts import shared_font_subsets

    outdir = Path(outdir)
    written = []
    with house_style(), shared_font_subsets():
        for stem, fig in figs.items():
            for fmt in formats:
                path = outdir / f"{stem}.{fmt}"
                with files.atomic_path(path) as tmp:
                    fig.savefig(tmp, format=fmt, dpi=png_dpi(fig) if fmt == "png" else DPI,
                                metadata=_metadata(fmt))
                written.append(path)
    return written


MIN_PNG_WIDTH = 1300
"""Pixels a PNG is rendered at before the tight bounding box trims the margins (>= 1,200 after)."""


def png_dpi(fig) -> int:
    """300 dpi, raised for narrow figures so that the PNG is at least ~1,200 px wide."""
    import math

    return max(DPI, math.ceil(MIN_PNG_WIDTH / fig.get_figwidth()))


def _metadata(fmt: str) -> dict[str, Any] | None:
    # no creation dates, so that the same inputs give the same files
    if fmt == "pdf":
        return {"CreationDate": None, "Creator": "lnbayes"}
    if fmt == "svg":
        return {"Date": None, "Creator": "lnbayes"}
    if fmt == "png":
        return {"Software": "lnbayes"}
    return None
