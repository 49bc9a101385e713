"""The interactive explorer: one self-contained HTML page (Bokeh, inline resources).

The page is built with Bokeh (https://bokeh.org): a well-kept library whose standalone output
carries its JavaScript inline, whose widgets are ordinary, keyboard-operable form controls
(sliders, number fields, selects), and whose ``CustomJS`` callbacks let the page run without a
server. Only the ``bokeh`` and ``bokeh-widgets`` bundles are inlined (the tables, WebGL and
MathJax bundles are not needed), and no resource is loaded from the network.

The page computes no statistics: one callback (``explorer_page.js`` beside this module) looks
values up in, and interpolates between, the nodes of grids computed by
:func:`lnbayes.analyses.explorer_data.explorer_data` with lnbayes's exact engines. The grids
travel quantised: probabilities and estimates as 16-bit integers over each grid's range
(error below 1e-4 of the range), density curves as 8-bit integers of each curve's maximum.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import numpy as np

from lnbayes.analyses.explorer_data import RANGES
from lnbayes.io import files
from lnbayes.outputs.figures import style

BUNDLES = ("bokeh", "bokeh-widgets")
"""The BokehJS bundles inlined in the page."""
MAX_BYTES = 5 * 1024 * 1024
"""The page must stay within 5 MB."""
INITIAL_PRIOR = {"log_or": (0.0, 1.0), "log_rr": (0.0, 0.5), "rd": (0.0, 0.1)}

PAGE_CSS = """
body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; color: #222; margin: 16px 24px;
       max-width: 1280px; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
p.lead { margin: 2px 0 10px 0; font-size: 14px; max-width: 1100px; }
footer { font-size: 12px; color: #444; margin-top: 14px; max-width: 1100px; }
button.print { font-size: 13px; padding: 4px 10px; margin: 0 0 8px 0; }
button.print:focus, a:focus { outline: 3px solid #E69F00; }
@media print {
  @page { size: A4 landscape; margin: 10mm; }
  body { margin: 0; max-width: none; font-size: 10pt; }
  button.print { display: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .bk-root, .bk-Column, .bk-Row { break-inside: avoid; page-break-inside: avoid; }
}
"""

DIV_CSS = """
.lnbx-results p.sentence { font-size: 17px; margin: 6px 0; }
.lnbx-results p.small, p.small { font-size: 12px; color: #333; margin: 4px 0; }
table.lnbx { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
table.lnbx th, table.lnbx td { border-bottom: 1px solid #ccc; padding: 2px 8px; text-align: left; }
table.lnbx td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.lnbx tr.chosen td, table.lnbx tr.you td { background: #E8F4EE; font-weight: bold; }
ul { margin: 2px 0; padding-left: 20px; font-size: 13px; }
"""


def _encode(values) -> dict[str, Any]:
    """A grid as 16-bit integers over its range, base64 (little-endian)."""
    a = np.asarray(values, float).ravel()
    lo, hi = float(np.min(a)), float(np.max(a))
    if not hi > lo:
        hi = lo + 1.0
    q = np.round((a - lo) / (hi - lo) * 65535).astype("<u2")
    return {"lo": lo, "hi": hi, "b64": base64.b64encode(q.tobytes()).decode("ascii")}


def decode(enc: dict[str, Any]) -> np.ndarray:
    """The values of :func:`_encode` (as the page decodes them)."""
    q = np.frombuffer(base64.b64decode(enc["b64"]), "<u2").astype(float)
    return enc["lo"] + (enc["hi"] - enc["lo"]) * q / 65535


def _encode_curves(curves) -> dict[str, Any]:
    """Density curves (nodes x points) as 8-bit integers of each curve's maximum."""
    c = np.asarray(curves, float)
    c = c.reshape(-1, c.shape[-1])
    scale = c.max(axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    q = np.round(np.clip(c / scale[:, None], 0, 1) * 255).astype(np.uint8)
    return {"points": int(c.shape[1]), "scales": [float(f"{v:.6g}") for v in scale],
            "b64": base64.b64encode(q.tobytes()).decode("ascii")}


def _axis(ax: dict[str, Any]) -> dict[str, Any]:
    return {"values": [round(float(v), 12) for v in ax["values"]], "transform": ax["transform"]}


def page_data(data: dict[str, Any]) -> dict[str, Any]:
    """The JSON the page carries: the grids quantised, identical density curves stored once."""
    curves: dict[str, Any] = {}

    def curve_ref(arr) -> str:
        enc = _encode_curves(arr)
        ref = hashlib.sha256(enc["b64"].encode() + json.dumps(enc["scales"]).encode()).hexdigest()[:16]
        curves.setdefault(ref, enc)
        return ref

    tables = {}
    for key, t in data["tables"].items():
        theta = np.asarray(t["theta"], float)
        tables[key] = {
            "axes": {name: _axis(ax) for name, ax in t["axes"].items()},
            "p_benefit": _encode(t["p_benefit"]),
            "p_threshold": [_encode(a) for a in t["p_threshold"]],
            "estimates": {k: _encode(v) for k, v in t["estimates"].items()},
            "theta": {"start": float(theta[0]), "end": float(theta[-1]), "n": int(len(theta))},
            "prior_density": curve_ref(t["prior_density"]),
            "posterior_density": curve_ref(t["posterior_density"]),
            "tipping": t["tipping"],
        }
    out = {k: v for k, v in data.items() if k not in ("tables",)}
    out["tables"] = tables
    out["curves"] = curves
    return files.to_jsonable(out)


def _callback_code() -> str:
    return importlib_resources.files("lnbayes.outputs").joinpath("explorer_page.js").read_text("utf-8")


def build_layout(data: dict[str, Any]):
    """The Bokeh layout of the page (widgets, two figures, text) and its callback."""
    from bokeh.events import DocumentReady
    from bokeh.layouts import column, row
    from bokeh.models import CustomJS, CustomJSTickFormatter

    primary = next(o for o in data["outcomes"] if o["name"] == data["primary"])
    scale = primary["scales"][0]
    c0, s0 = INITIAL_PRIOR[scale]
    rng = data["settings"]["ranges"][scale]
    widgets = _widgets(data, primary, scale, rng, c0, s0)
    ratio_ticks = CustomJSTickFormatter(code="""
        const s = window.__lnbxScale || "log_or";
        if (s === "rd") { return tick.toFixed(2); }
        const v = Math.exp(tick);
        return (v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2));""")
    density = _density_figure(scale, ratio_ticks)
    heatmap = _heatmap_figure(rng, c0, s0, ratio_ticks)
    parts = {**widgets, **density, **heatmap}
    args = dict(data=json.dumps(page_data(data), separators=(",", ":"), allow_nan=False),
                **{name: parts[name] for name in _CALLBACK_MODELS})
    callback = CustomJS(args=args, code=_callback_code())
    for name in ("outcome_sel", "control_sel", "scale_sel", "threshold_sel", "centre", "sd",
                 "centre_in", "sd_in"):
        widgets[name].js_on_change("value", callback)
    w = widgets
    controls = column(w["outcome_sel"], w["control_sel"], w["scale_sel"], w["centre"], w["sd"],
                      row(w["centre_in"], w["sd_in"]), w["threshold_sel"], w["results"])
    layout = column(row(controls, column(density["dens_fig"], heatmap["heat_fig"])),
                    row(w["tipping"]), w["named"])
    return layout, callback, DocumentReady


_CALLBACK_MODELS = (
    "outcome_sel", "control_sel", "scale_sel", "threshold_sel", "centre", "sd", "centre_in",
    "sd_in", "results", "tipping", "named", "dens_src", "dens_fig", "heat_src", "heat_fig",
    "tip_src", "marks_src", "cross_v", "cross_h", "you_src", "benefit_box", "hoped", "thr_span")
"""The models the page's callback reads and writes, by the names its code uses."""


def _widgets(data: dict, primary: dict, scale: str, rng: dict, c0: float,
             s0: float) -> dict[str, Any]:
    """The page's selectors, sliders, spinners and text panels, by the callback's names."""
    from bokeh.models import Div, Select, Slider, Spinner

    span_c = rng["centre"][1] - rng["centre"][0]
    span_s = rng["sd"][1] - rng["sd"][0]
    div_style = {"font-size": "13px"}
    stylesheets = [DIV_CSS]
    return dict(
        outcome_sel=Select(title="Outcome", value=primary["name"], width=330, name="outcome",
                           options=[(o["name"], o["label"]) for o in data["outcomes"]]),
        control_sel=Select(title="Control-arm prior", value=primary["controls"][0]["key"],
                           width=330, name="control",
                           options=[(c["key"], c["label"]) for c in primary["controls"]]),
        scale_sel=Select(title="Scale of your prior", value=scale, width=330, name="scale",
                         options=[(s, s) for s in primary["scales"]]),
        threshold_sel=Select(title="Threshold of clinically meaningful benefit", value="0",
                             width=330, name="threshold",
                             options=[(str(k), t["label"])
                                      for k, t in enumerate(primary["thresholds"])]),
        centre=Slider(title="Centre of your prior", start=rng["centre"][0],
                      end=rng["centre"][1], value=c0, step=span_c / 1000, format="0[.]000",
                      width=330, name="centre"),
        sd=Slider(title="Spread of your prior: sd", start=rng["sd"][0], end=rng["sd"][1],
                  value=s0, step=span_s / 1000, format="0[.]000", width=330, name="sd"),
        centre_in=Spinner(title="Centre (type a value)", low=rng["centre"][0],
                          high=rng["centre"][1], value=c0, step=span_c / 1000, width=160,
                          name="centre_in"),
        sd_in=Spinner(title="sd (type a value)", low=rng["sd"][0], high=rng["sd"][1], value=s0,
                      step=span_s / 1000, width=160, name="sd_in"),
        results=Div(text="", width=520, name="results", stylesheets=stylesheets,
                    styles=div_style),
        tipping=Div(text="", width=520, name="tipping", stylesheets=stylesheets,
                    styles=div_style),
        named=Div(text="", width=1180, name="named", stylesheets=stylesheets, styles=div_style),
    )


def _density_figure(scale: str, ratio_ticks) -> dict[str, Any]:
    """The prior and posterior density figure, its source and its marks, by the callback's
    names."""
    from bokeh.models import BoxAnnotation, ColumnDataSource, Range1d, Span
    from bokeh.plotting import figure

    dens_src = ColumnDataSource({"x": [], "prior": [], "post": []})
    dens_r = RANGES[scale].density
    dens_fig = figure(width=620, height=300, title="", toolbar_location=None, name="density",
                      x_range=Range1d(*dens_r), y_axis_label="density")
    dens_fig.line("x", "prior", source=dens_src, color=style.PRIOR_CURVE, line_dash="dashed",
                  line_width=2, legend_label="your prior")
    dens_fig.line("x", "post", source=dens_src, color=style.PRIOR_COLOURS[0], line_width=2.5,
                  legend_label="posterior")
    benefit_box = BoxAnnotation(left=0, right=1e9, fill_color=style.BENEFIT_FILL,
                                fill_alpha=style.BENEFIT_ALPHA, line_alpha=0)
    dens_fig.add_layout(benefit_box)
    hoped = Span(location=None, dimension="height", line_color=style.OKABE_ITO["orange"],
                 line_dash="dotdash", line_width=2)
    thr_span = Span(location=None, dimension="height",
                    line_color=style.OKABE_ITO["reddish_purple"], line_dash="dotted", line_width=2)
    zero = Span(location=0, dimension="height", line_color=style.REFERENCE_LINE, line_width=1)
    dens_fig.add_layout(zero)
    dens_fig.add_layout(hoped)
    dens_fig.add_layout(thr_span)
    dens_fig.legend.location = "top_left"
    dens_fig.legend.background_fill_alpha = 0.7
    dens_fig.xaxis.formatter = ratio_ticks
    dens_fig.xaxis.axis_label = ("effect (ratios on a log axis); green: benefit; orange: "
                                 "hoped-for; purple: threshold")
    return dict(dens_src=dens_src, dens_fig=dens_fig, benefit_box=benefit_box, hoped=hoped,
                thr_span=thr_span)


def _heatmap_figure(rng: dict, c0: float, s0: float, ratio_ticks) -> dict[str, Any]:
    """The P(benefit) heatmap over (centre, sd) with its tipping lines, the named priors and the
    reader's cross, by the callback's names."""
    from bokeh.models import (
        ColorBar,
        ColumnDataSource,
        CustomJSTickFormatter,
        LinearColorMapper,
        Span,
    )
    from bokeh.palettes import Cividis256
    from bokeh.plotting import figure

    heat_src = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []})
    mapper = LinearColorMapper(palette=Cividis256, low=0, high=1)
    heat_fig = figure(width=620, height=330, title="", toolbar_location=None, name="heatmap",
                      x_range=(rng["centre"][0], rng["centre"][1]),
                      y_range=(float(np.log10(rng["sd"][0])), float(np.log10(rng["sd"][1]))),
                      x_axis_label="centre of the prior (odds ratio, log axis; RD as is)",
                      y_axis_label="sd of the prior (log axis)")
    heat_fig.image("image", x="x", y="y", dw="dw", dh="dh", source=heat_src, color_mapper=mapper)
    heat_fig.add_layout(ColorBar(color_mapper=mapper, title="P(benefit)", width=10), "right")
    heat_fig.xaxis.formatter = ratio_ticks
    heat_fig.yaxis.formatter = CustomJSTickFormatter(
        code="return Math.pow(10, tick).toPrecision(2);")
    tip_src = ColumnDataSource({"xs": [], "ys": [], "label": []})
    heat_fig.multi_line("xs", "ys", source=tip_src, color="white", line_dash="dashed",
                        line_width=1.5)
    marks_src = ColumnDataSource({"x": [], "y": [], "name": []})
    heat_fig.scatter("x", "y", source=marks_src, size=9, fill_color="white", line_color="black")
    heat_fig.text("x", "y", text="name", source=marks_src, text_color="white",
                  text_font_size="10px", x_offset=6, y_offset=-4)
    cross_v = Span(location=c0, dimension="height", line_color=style.OKABE_ITO["vermillion"],
                   line_width=2)
    cross_h = Span(location=float(np.log10(s0)), dimension="width",
                   line_color=style.OKABE_ITO["vermillion"], line_width=2)
    heat_fig.add_layout(cross_v)
    heat_fig.add_layout(cross_h)
    you_src = ColumnDataSource({"x": [c0], "y": [float(np.log10(s0))]})
    heat_fig.scatter("x", "y", source=you_src, size=12, marker="circle_cross",
                     fill_color=style.OKABE_ITO["vermillion"], line_color="white")
    return dict(heat_src=heat_src, heat_fig=heat_fig, tip_src=tip_src, marks_src=marks_src,
                cross_v=cross_v, cross_h=cross_h, you_src=you_src)


def render(data: dict[str, Any]) -> str:
    """The whole page as one HTML string (inline BokehJS, data and callback)."""
    from bokeh.document import Document
    from bokeh.embed import components
    from bokeh.resources import Resources

    layout, callback, ready = build_layout(data)
    doc = Document()
    doc.add_root(layout)
    doc.js_on_event(ready, callback)
    script, div = components(layout)
    res = Resources(mode="inline", components=list(BUNDLES))
    trial = data["trial"]
    s = data["settings"]
    prov = data["provenance"]
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items() if v != "not installed")
    title = f"Explore your own prior: {trial['title']}"
    grid_words = (
        f"Every number on this page comes from lnbayes's exact engines, computed before the page "
        f"was written: probabilities on a grid of {s['prob_grid'][0]} prior centres x "
        f"{s['prob_grid'][1]} prior sds (sd evenly spaced on a log scale), posterior medians, "
        f"intervals and density curves on a grid of {s['estimate_grid'][0]} centres x "
        f"{s['estimate_grid'][1]} sds (evenly spaced in the square root of the sd). Between the "
        f"nodes the page interpolates linearly in both directions; the interpolated values are "
        f"within {s['tolerance']} of the exact value (probabilities and risk differences; odds and "
        f"risk ratios within {s['tolerance']} on the log scale), checked at 200 random priors in "
        f"lnbayes's tests. The density curves are drawn at the grid node nearest your prior. Ranges: "
        + "; ".join(f"{k}: centre {v['centre'][0]:g} to {v['centre'][1]:g}, sd {v['sd'][0]:g} to "
                    f"{v['sd'][1]:g}" for k, v in s["ranges"].items()) + ".")
    provenance = (f"Written by <code>{html.escape(prov['command'])}</code> from "
                  f"{html.escape(str(prov['trial_file']))} (sha256 {prov['trial_file_sha256']}); "
                  f"seed {prov['seed']} ({html.escape(prov['note'])}); {html.escape(versions)}.")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="lnbayes explore">
<title>{html.escape(title)}</title>
<style>{PAGE_CSS}</style>
{res.render_js()}
{script}
</head>
<body>
<header>
<h1>{html.escape(title)}</h1>
<p class="lead">Set your own prior belief about the effect of {html.escape(trial['treatment'])}
against {html.escape(trial['control'])}, as a Normal distribution with a centre and a spread (sd)
on the effect scale, and see what the trial's data make of it. The page works offline and needs
no server: everything it shows is inside this file. Use the Tab key to move between the controls
and the arrow keys to move a slider, or type a value in the number fields.</p>
<button class="print" type="button" onclick="window.print()">Print this view</button>
</header>
<main>
{div}
</main>
<footer>
<p id="resolution">{html.escape(grid_words)}</p>
<p id="provenance">{provenance}</p>
</footer>
</body>
</html>
"""


def write_explorer(data: dict[str, Any], path: str | Path) -> Path:
    """Write the page atomically; :class:`lnbayes.errors.LnbayesError` if it exceeds 5 MB."""
    from lnbayes.errors import LnbayesError

    text = render(data)
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise LnbayesError(f"{path}: the explorer would be {size / 2**20:.1f} MB, more than the "
                           f"5 MB limit (fewer outcomes: lnbayes explore --outcome)")
    return files.write_text(path, text)


def write_for_report(trial, outdir: str | Path, progress=None) -> dict[str, Any]:
    """``lnbayes report``: write explorer.html beside the appendix; what the appendix says of it."""
    from lnbayes.analyses import explorer_data

    if progress:
        progress("computing the explorer's grids")
    data = explorer_data.explorer_data(trial)
    write_explorer(data, Path(outdir) / "explorer.html")
    scales = sorted({s for o in data["outcomes"] for s in o["scales"]},
                    key=["log_or", "log_rr", "rd"].index)
    words = {"log_or": "log odds ratio", "log_rr": "log risk ratio", "rd": "risk difference"}
    s = data["settings"]
    return {"html": "explorer.html", "scales": [words[x] for x in scales],
            "prob_grid": s["prob_grid"], "estimate_grid": s["estimate_grid"],
            "tolerance": s["tolerance"]}
