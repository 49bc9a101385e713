"""Report side of the figures: assemble the set for one outcome and write it to files.

:func:`make_figures` turns an analysis (``lnbayes.analyses.reanalysis.analyze``) into named Figures;
:func:`save_figures` writes them atomically (PNG at 300 dpi, vector PDF, SVG on request).
:func:`write_figures` is ``lnbayes plot``: analyse (writing no results) and write the set.
The plotting functions themselves (:mod:`lnbayes.outputs.figures.plots`) never write anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

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
    return dict(iter_figures(trial, outcome, analysis, data, diagnostic_priors=diagnostic_priors,
                             heatmap_priors=heatmap_priors, measures=measures))


def iter_figures(trial, outcome, analysis: Mapping[str, Any], data: Mapping[str, Any],
                 diagnostic_priors: Sequence[str] | None = None,
                 heatmap_priors: Sequence[str] | None = None,
                 measures: Sequence[str] = plots.EFFECT_MEASURES) -> Iterator[tuple[str, Any]]:
    """:func:`make_figures`' figures one at a time, as ``(stem, figure)`` in the same order (so
    that each can be saved while the next is drawn)."""
    results = analysis["results"]
    priors = [trial.priors[r["prior"]] for r in results]
    curves = data["curves"]
    yield "effect_prior_posterior", plots.plot_effect_prior_posterior(trial, outcome, analysis,
                                                                      curves, measures=measures)
    yield "forest", plots.plot_forest(trial, outcome, analysis, data["data_only"],
                                      measures=measures)
    yield "arm_posteriors", plots.plot_arm_posteriors(trial, outcome, analysis, curves)
    yield "p_benefit", plots.plot_p_benefit(trial, outcome, analysis)
    sweep = data.get("sweep")
    if sweep is not None:
        marked = priors if heatmap_priors is None else [p for p in priors if p.name in heatmap_priors]
        yield "sweep_heatmap", plots.plot_sweep_heatmap(sweep, trial, named_priors=marked)
    from lnbayes.analyses.sensitivity import prior_is_constant

    # a prior with a constant log density has no power-scaling figure (the appendix and the
    # analysis say why, once; each prior's figure is about that prior only)
    for result, prior in zip(results, priors):
        if result.get("datatree") is None:
            continue
        if diagnostic_priors is not None and prior.name not in diagnostic_priors:
            continue
        if not prior_is_constant(prior):
            yield f"psense_{prior.name}", plots.plot_psense(trial, outcome, result, prior)
        yield f"rank_{prior.name}", plots.plot_rank(trial, outcome, result, prior)


def save_figures(figs: Mapping[str, Any], outdir: str | Path,
                 formats: Sequence[str] = ("png", "pdf"), parallel: bool = False) -> list[Path]:
    """Write each figure in each format, atomically; returns the paths written.

    PNG at 300 dpi, or more for figures narrower than 1,300 px at 300 dpi (single-column
    figures), so that every PNG is at least 1,200 px wide; PDF and SVG are vector (heatmap
    cells rasterised at 300 dpi). The house
    style is active while saving so that save-time settings (fonts embedded as TrueType, tight
    bounding box) apply. Each font is subset for the PDFs once for all of them
    (:func:`lnbayes.outputs.figures.pdf_fonts.shared_font_subsets`). With ``parallel``, a second
    process saves part of them (:class:`FigureSaver`).
    """
    saver = FigureSaver(outdir, formats, parallel=parallel)
    try:
        for stem, fig in figs.items():
            saver.offer(stem, fig)
        return saver.finish()
    finally:
        saver.stop()


def save_figure(fig, outdir: str | Path, stem: str, formats: Sequence[str]) -> list[Path]:
    """Write one figure in each format, atomically (inside the house style and shared font
    subsets, as :func:`save_figures` sets them up)."""
    written = []
    for fmt in formats:
        path = Path(outdir) / f"{stem}.{fmt}"
        with files.atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=png_dpi(fig) if fmt == "png" else DPI,
                        metadata=_metadata(fmt))
        written.append(path)
    return written


_WORKER_STYLE: list = []
"""In a second process saving figures: the house style and shared font subsets, entered once
for the life of the process (its only work is saving figures)."""


def _saving_style():
    """The house style and shared font subsets, entered (an ExitStack to close them)."""
    from contextlib import ExitStack

    from lnbayes.outputs.figures.pdf_fonts import shared_font_subsets

    stack = ExitStack()
    stack.enter_context(house_style())
    stack.enter_context(shared_font_subsets())
    return stack


def _enter_saving_style() -> None:
    if not _WORKER_STYLE:
        _WORKER_STYLE.append(_saving_style())


def save_in_worker(fig, outdir: str, stem: str, formats: Sequence[str]) -> None:
    """A :class:`FigureSaver`'s job in the second process: save one (unpickled) figure."""
    _enter_saving_style()
    save_figure(fig, outdir, stem, formats)


class FigureSaver:
    """Saves figures as they are drawn, sharing the work with a second process.

    Saving is most of the time a report spends on its figures (rendering, zlib for PNG, font
    subsets for PDF) and runs on one core. With ``parallel`` (and a second core, and
    ``LNBAYES_BACKGROUND`` not off: :func:`lnbayes.io.background.start_worker`), a worker
    process starts at once (its imports overlap the drawing) and each figure :meth:`offer` ed
    goes to it, pickled, while it has fewer than :data:`DEPTH` in hand; the main process goes on
    drawing. :meth:`finish` then hands the worker the oldest figures still waiting as it frees
    up and saves the newest itself, until none is left, and saves itself any figure the worker
    did not report saved (it failed, died or was stopped). Each file is written atomically by
    one process with the same settings, so the files are the same whichever writes them;
    :meth:`stop` (always called, as ``finally``) stops the worker on Ctrl-C or an error.
    """

    DEPTH = 2
    """Figures the worker holds at a time: the one it saves and the next (none waits idle)."""

    def __init__(self, outdir: str | Path, formats: Sequence[str], parallel: bool = True):
        from lnbayes.io import background

        self.outdir, self.formats = Path(outdir), tuple(formats)
        self.worker = background.start_worker() if parallel else None
        self.order: list[str] = []
        self.waiting: list[tuple[str, Any]] = []
        self.sent: dict[int, tuple[str, Any]] = {}
        self.done: set[str] = set()
        self._style = None  # this process's saving style, entered when it first saves
        if self.worker is not None:
            self.worker.submit(_enter_saving_style)

    def offer(self, stem: str, fig) -> None:
        """A figure to save (now, later, here or in the worker)."""
        self.order.append(stem)
        self.waiting.append((stem, fig))
        self._feed()

    def _feed(self, timeout: float = 0.0) -> None:
        worker = self.worker
        if worker is None:
            return
        for number, ok in worker.poll(timeout).items():
            if ok and number in self.sent:
                self.done.add(self.sent[number][0])
        while self.waiting and worker.outstanding < self.DEPTH and not worker.broken:
            stem, fig = self.waiting[0]
            try:
                number = worker.submit(save_in_worker, fig, str(self.outdir), stem, self.formats)
            except Exception:  # noqa: BLE001 - a figure that cannot be pickled is saved here
                number = None
            if number is None:
                self._save_here(*self.waiting.pop(0))
                continue
            self.sent[number] = self.waiting.pop(0)

    def _save_here(self, stem: str, fig) -> None:
        if self._style is None:
            self._style = _saving_style()
        save_figure(fig, self.outdir, stem, self.formats)
        self.done.add(stem)

    def finish(self) -> list[Path]:
        """Save every figure offered (those still waiting, and any the worker did not save);
        returns the paths written, in the order offered."""
        try:
            while self.waiting:
                self._feed()
                if self.waiting:
                    self._save_here(*self.waiting.pop())
            if self.worker is not None:
                ended = self.worker.close()
                for number, (stem, fig) in self.sent.items():
                    if ended.get(number):
                        self.done.add(stem)
                    elif stem not in self.done:
                        self._save_here(stem, fig)
        finally:
            self._close_style()
        return [self.outdir / f"{stem}.{fmt}" for stem in self.order for fmt in self.formats]

    def stop(self) -> None:
        """Stop the worker if it still runs (idempotent; after :meth:`finish` it has ended)."""
        if self.worker is not None:
            self.worker.stop()
        self._close_style()

    def _close_style(self) -> None:
        if self._style is not None:
            self._style.close()
            self._style = None


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
