"""The lnbayes house style for figures: sizes, fonts and a colour-blind-safe palette.

Applied with :func:`house_style` (a ``matplotlib.rc_context``) around each plotting function;
importing this module changes nothing global.

References
----------
Okabe M, Ito K. Color Universal Design (CUD): how to make figures and presentations that are
friendly to colorblind people. 2008. https://jfly.uni-koeln.de/color/
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

SINGLE_COLUMN = 3.5
"""Width in inches of a single journal column."""
DOUBLE_COLUMN = 7.0
"""Width in inches of a full page width (two columns)."""
DPI = 300
"""Resolution of raster (PNG) output."""

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
PRIOR_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
"""Colours of the named priors, in the order of the trial file (Okabe-Ito, yellow left out)."""
ARM_COLOURS = {"treatment": "#D55E00", "control": "#0072B2"}
PRIOR_CURVE = "#7A7A7A"
"""Prior densities: mid grey, dashed."""
BENEFIT_FILL = "#009E73"
"""The benefit region is tinted bluish green at low opacity."""
BENEFIT_ALPHA = 0.10
REFERENCE_LINE = "#444444"
SEQUENTIAL_CMAP = "cividis"
"""Heatmaps: perceptually uniform and readable with every common colour-vision deficiency."""

RC = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica", "Liberation Sans"],
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.titleweight": "bold",
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "legend.frameon": False,
    "figure.titlesize": 9,
    "axes.linewidth": 0.6,
    "axes.edgecolor": "#333333",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "patch.linewidth": 0.5,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    "figure.constrained_layout.use": True,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "image.cmap": SEQUENTIAL_CMAP,
    "mathtext.default": "regular",
}
"""rcParams of the house style (used only inside :func:`house_style`)."""


@contextmanager
def house_style() -> Iterator[None]:
    """Apply the house style for the duration of a block (``matplotlib.rc_context``)."""
    import matplotlib as mpl
    from cycler import cycler

    with mpl.rc_context({**RC, "axes.prop_cycle": cycler(color=list(PRIOR_COLOURS))}):
        yield


def prior_colour(index: int) -> str:
    """The colour of the prior at position ``index`` among the named priors."""
    return PRIOR_COLOURS[index % len(PRIOR_COLOURS)]


PRIOR_LINESTYLES = ("-", (0, (5, 1.5)), (0, (1.2, 1.2)), (0, (5, 1.5, 1.2, 1.5)))
"""Line styles that tell priors apart once :data:`PRIOR_COLOURS` has been used up."""


def prior_linestyle(index: int) -> str | tuple:
    """The line style of the prior at position ``index``: solid for the first round of colours.

    Together with :func:`prior_colour` it gives every one of up to 28 priors its own look.
    """
    return PRIOR_LINESTYLES[(index // len(PRIOR_COLOURS)) % len(PRIOR_LINESTYLES)]
