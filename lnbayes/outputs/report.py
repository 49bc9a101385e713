"""The report's files: results.json, the sweep's files, the figures and the methods appendix
(Markdown, LaTeX, self-contained HTML).

:func:`lnbayes.analyses.full_report.run_report` computes everything into one JSON-ready dict;
:func:`write_report` writes it, and ``write_appendix`` renders the appendix from templates with every number taken from that dict. The Markdown is the
source: hand-written sections between ``<!-- lnbayes:user-begin NAME -->`` and
``<!-- lnbayes:user-end NAME -->`` survive a re-run, and the LaTeX and HTML are converted from it
with pandoc (pypandoc-binary), so they carry the same text.
"""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path
from typing import Any, Callable

from lnbayes.analyses import full_report
from lnbayes.formatting import estimate, fixed, probability
from lnbayes.io import files
from lnbayes.model.effects import MEASURE_WORDS, SCALE_WORDS
from lnbayes.model.spec import Trial

TEMPLATES = Path(__file__).resolve().parent / "templates"
USER_REGION = re.compile(
    r"<!-- lnbayes:user-begin (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- lnbayes:user-end (?P=name) -->",
    re.S,
)


def add_texts(report: dict[str, Any]) -> dict[str, Any]:
    """The short texts the appendix and results.json carry beside the numbers (ESS readings)."""
    for row in report["prior_checks"]["priors"]:
        row["ess_text"] = ess_text(row["ess"])
    # the flat prior's Savage-Dickey BF01 on each scale, for the primary outcome's counts: the
    # appendix quotes them to show why one scale is declared for the test
    from lnbayes.analyses.bayes_factors import flat_scale_dependence

    prim = next((o for o in report.get("outcomes", []) if o["outcome"] == report.get("primary_outcome")),
                None)
    if prim is not None:
        info = prim["info"]
        report["savage_dickey_scales"] = flat_scale_dependence(
            info["treatment"]["events"], info["treatment"]["n"],
            info["control"]["events"], info["control"]["n"])
    return report


def check_renders(report: dict[str, Any]) -> None:
    """Render the appendix in memory (and throw it away): a report that cannot be written fails
    here, before the PyMC fits."""
    render_markdown(full_report.strip_for_json(add_texts(report)))


def write_report(trial: Trial, outdir: str | Path, seed: int | None = None, settings=None,
                 engine: str = "pymc", progress: Callable[[str], None] | None = None,
                 explorer: bool = True) -> dict[str, Any]:
    """Run the report and write results.json, the sweep, the figures and the appendix (and,
    with ``explorer``, the interactive explorer beside it)."""
    started = time.time()
    outdir = Path(outdir)
    filler = None
    if explorer:  # the explorer's grids fill the record cache on a second core meanwhile
        from lnbayes.analyses import explorer_data
        from lnbayes.io import background

        filler = background.start(explorer_data.fill_cache, trial)
    try:
        report, extras = full_report.run_report(trial, seed=seed, settings=settings,
                                                outdir=outdir, progress=progress, engine=engine,
                                                check=check_renders)
        write_beside(trial, add_texts(report), extras, outdir, progress)
        if explorer:
            from lnbayes.outputs import explorer as explorer_mod

            if filler is not None:
                if progress:
                    progress("waiting for the explorer's grids (second process)")
                filler.wait()  # whatever it did not finish is computed here
            report["explorer"] = explorer_mod.write_for_report(trial, outdir, progress)
    finally:
        if filler is not None:
            filler.stop()
    if progress:
        progress("writing the appendix")
    report["provenance"]["elapsed_seconds"] = time.time() - started
    clean = full_report.strip_for_json(report)
    files.write_json(outdir / "results.json", clean)
    write_appendix(clean, outdir)
    return clean


def write_sweep(swept: dict[str, Any], outdir: Path) -> dict[str, str]:
    """The sweep's grid as CSV and its whole result as JSON, beside results.json."""
    from lnbayes.analyses import sweep as sweep_mod

    stem = f"sweep_{swept['outcome']}_{swept['scale']}_exact"
    files.write_text(outdir / f"{stem}.csv", sweep_mod.grid_csv(swept["grid"]))
    files.write_json(outdir / f"{stem}.json", swept)
    return {"json": f"{stem}.json", "csv": f"{stem}.csv"}


def write_beside(trial: Trial, report: dict[str, Any], extras: dict[str, Any], outdir: Path,
                 progress: Callable[[str], None] | None = None) -> None:
    """The sweep's files and the figures, written beside results.json; their file names are
    added to ``report``."""
    report["sweep"]["files"] = write_sweep(extras["sweep"], outdir)
    if progress:
        progress("drawing figures")
    report["figures"] = write_figures(trial, report, extras["predict"], extras["design"], outdir,
                                      sweep=extras["sweep"])


def ess_text(ess: dict[str, Any]) -> str:
    """A short reading of a prior's effective sample size, in patients."""
    head = ess.get("headline", {})
    if "effect_total" in head:
        share = head.get("prior_precision_share")
        text = f"control {head['control']:.1f}; effect ≈ {head['effect_total']:.0f} patients"
        return text + (f" ({100 * share:.0f}% of the posterior precision)" if share is not None else "")
    return f"control {head.get('control', float('nan')):.1f}; treatment {head.get('treatment', float('nan')):.1f}"




def figure_captions(trial: Trial, report: dict[str, Any]) -> dict[str, str]:
    """Captions that describe this report's figures (measures, scale, engine) and nothing else."""
    ratio = MEASURE_WORDS[report["ratio_measure"]]
    sampled = report["engine"] == "pymc"
    primary = trial.primary_outcome
    log_or_priors = any(p.family == "effect" and p.scale == "log_or"
                        for p in trial.priors_for(primary))
    effect = (f"Prior (dashed) and posterior (solid) of the risk difference and the {ratio} "
              "under each prior" + (", with the MCMC draws as histograms" if sampled else "")
              + "; the shaded region is benefit, and each panel gives the posterior probability "
              "of benefit.")
    if log_or_priors:
        effect += (" A Normal prior on the log odds ratio implies a sharp peak at a risk "
                   "difference of 0, because the risk difference shrinks to 0 as the control "
                   "rate approaches 0 or 1.")
    stop_words = "the trial stopped at" if trial.stopped_early else "analysed"
    sw = report["sweep"]
    grid_priors = [p for p in trial.priors_for(primary) if p.role == "grid"]
    heatmap = (f"Posterior probability of benefit across a grid of Normal priors on the "
               f"{SCALE_WORDS[sw['scale']]} (centre by standard deviation), with contours at "
               f"{', '.join(f'{v:g}' for v in sw['levels'])}; the named priors on this scale "
               "are marked" + (" (members of the prior grid with role = \"grid\" are not)"
                               if grid_priors else "") + ".")
    return {
        "effect_prior_posterior": effect,
        "forest": f"Posterior median and 95% equal-tailed interval of the risk difference and "
                  f"the {ratio} under each prior, with the posterior probability of benefit; "
                  "the data-only estimate is shown for reference.",
        "arm_posteriors": "Posterior distribution of the event probability in each arm under "
                          "each prior.",
        "p_benefit": "Posterior probability of benefit under each named prior, with the 0.5, "
                     "0.8 and 0.95 levels.",
        "sweep_heatmap": heatmap,
        "predictive": "Left: hybrid predictive probability, under each analysis prior, that the "
                      "trial completed to its planned size would have ended with the posterior "
                      "probability of benefit at or above each level (the remaining patients "
                      "predicted under the design prior). Right (first prior): for each possible "
                      "completion, the final posterior probability of benefit and the predictive "
                      "probability of that completion.",
        "operating_characteristics": _oc_caption(report),
        "benefit_harm": "Benefit beside harm (exact posterior probabilities): benefit on the "
                        "primary outcome, any and beyond the clinically meaningful effect (green "
                        "rows), and harm on each safety outcome, any and beyond its margin (red "
                        "rows), under each prior with which every one of these outcomes was "
                        "analysed. The outcomes are counted separately, so the probabilities are "
                        "marginal: they are not combined into one.",
        "protocol": "Exact operating characteristics of the decision rule under the analysis "
                    "prior and the priors that borrow external information, at the planned size "
                    f"(solid) and at the size {stop_words} (dashed). Left: type I error, "
                    "the probability of declaring benefit when both arms share the true event "
                    "rate on the horizontal axis (dots: largest). Right: power against the true "
                    "treatment-arm rate at the expected control rate.",
    }


def _oc_caption(report: dict[str, Any]) -> str:
    """The caption of the design's operating-characteristics figure: both panels, and the rule."""
    d = report.get("design") or {}
    rule = str(d.get("rule", "declare benefit if P(benefit) >= threshold")).replace(">=", "≥")
    size = (f" ({d['n']['treatment']} + {d['n']['control']} patients)"
            if isinstance(d.get("n"), dict) else "")
    return (f"Exact operating characteristics (enumeration, no simulation) of the rule '{rule}'. "
            f"Left: at the planned size{size}, the probability of declaring benefit against the "
            "true treatment-arm rate at a few control rates; squares mark equal rates (the type "
            "I error) and the star the hoped-for effect. Right: power at the hoped-for effect "
            "against the total sample size at the trial's allocation, with the planned size and "
            "the smallest size reaching the target power; power is not monotone in the sample "
            "size with discrete data, and the line joins the sizes computed.")


def write_figures(trial: Trial, report: dict[str, Any], predict, design, outdir: Path,
                  sweep: dict | None = None) -> dict[str, Any]:
    """Draw the primary outcome's figures and the decision figures; PNG (300 dpi) and PDF."""
    from lnbayes.outputs.figures import figure_set

    # each figure is saved as soon as it is drawn, by a second process where there is a second
    # core (figure_set.FigureSaver), while the next is drawn here
    saver = figure_set.FigureSaver(Path(outdir) / "figures", ("png", "pdf"))
    try:
        figs = _draw_figures(trial, report, predict, design, sweep, saver.offer)
        saver.finish()
    finally:
        saver.stop()
    captions = figure_captions(trial, report)
    out = {}
    for stem, entry in figs.items():
        if entry is not None:
            out[stem] = {"png": f"figures/{stem}.png", "pdf": f"figures/{stem}.pdf", **entry}
    for stem in figs:
        if stem in out:
            continue
        kind = stem.split("_")[0] if stem.startswith(("psense_", "rank_")) else stem
        prior = stem.split("_", 1)[1] if kind in ("psense", "rank") else None
        label = trial.priors[prior].label or prior if prior else None
        out[stem] = {"png": f"figures/{stem}.png", "pdf": f"figures/{stem}.pdf", "kind": kind,
                     "prior": prior, "prior_label": label, "caption": captions.get(kind, "")}
    return out


def _draw_figures(trial: Trial, report: dict[str, Any], predict, design, sweep,
                  drawn: Callable[[str, Any], None]) -> dict[str, dict[str, Any] | None]:
    """Draw the report's figures, passing each to ``drawn(stem, figure)`` as soon as it is
    drawn; returns the stems in the order drawn, each with its results.json entry for the MAP
    figures (None for the others)."""
    from lnbayes.analyses import figure_data
    from lnbayes.outputs.figures import figure_set, planning_plots

    stems: dict[str, dict[str, Any] | None] = {}

    def add(stem: str, fig, entry: dict[str, Any] | None = None) -> None:
        stems[stem] = entry
        drawn(stem, fig)

    outcome = trial.primary_outcome
    prim = next(o for o in report["outcomes"] if o["outcome"] == outcome.name)
    # power-scaling and rank figures for the named priors; members of a grid of priors
    # (role = "grid") are in the tables only
    named = [p.name for p in trial.priors.values() if p.role != "grid"]
    measures = ("risk_difference", report["ratio_measure"])
    analysis = {"results": prim["results"]}
    data = figure_data.figure_data(trial, outcome, analysis, measures=measures, sweep=sweep)
    for stem, fig in figure_set.iter_figures(trial, outcome, analysis, data,
                                             diagnostic_priors=named, heatmap_priors=named,
                                             measures=measures):
        add(stem, fig)
    if predict is not None:
        add("predictive", planning_plots.predictive_figure(predict))
    if design is not None:
        add("operating_characteristics", planning_plots.operating_characteristics_figure(design))
    if report.get("protocol"):
        add("protocol", planning_plots.protocol_figure(report["protocol"]))
    if report.get("benefit_harm") and report["benefit_harm"].get("safety"):
        from lnbayes.outputs.figures.benefit_harm import benefit_harm_figure

        add("benefit_harm", benefit_harm_figure(
            report["benefit_harm"], report["prior_labels"], report["outcome_labels"],
            trial.treatment_name, trial.control_name))
    for stem, (fig, entry) in _map_figures(trial, report).items():
        add(stem, fig, entry)
    return stems


def _figure_data(trial: Trial, stem: str, compute):
    """A MAP figure's data (the MAP's quadrature: 1-2 s), or its record from an earlier report
    of the same trial (:func:`lnbayes.io.record_cache.cached_for_trial`)."""
    from lnbayes.io import record_cache

    return record_cache.cached_for_trial(f"figure_data/{stem}", trial, compute)[0]


def _map_figures(trial: Trial, report: dict[str, Any]) -> dict[str, tuple[Any, dict[str, Any]]]:
    """For each MAP arm of a prior: the forest of the historical studies with the MAP beneath,
    and the robust-weight sweep (both from the prior checks' ``map`` records)."""
    from lnbayes.analyses.map_checks import map_figure_data
    from lnbayes.outputs.figures.map_plots import map_forest, robust_sweep_figure

    out = {}
    for record in report["prior_checks"]["priors"]:
        for arm, rec in (record.get("map") or {}).items():
            prior = trial.priors[record["name"]]
            if arm == "effect":
                from lnbayes.analyses.map_checks import effect_figure_data
                from lnbayes.outputs.figures.map_plots import effect_map_forest

                out[f"mapforest_{prior.name}_effect"] = (
                    effect_map_forest(_figure_data(trial, f"mapforest_{prior.name}_effect",
                                                   lambda: effect_figure_data(prior.effect))),
                    {"prior": prior.name, "prior_label": prior.label or prior.name,
                     "arm": "effect", "kind": "map_forest", "caption": (
                         f"Meta-analytic-predictive prior of the log odds ratio under the "
                         f"{prior.label or prior.name} prior: each earlier trial's log odds ratio "
                         "with its 95% Wald interval, the MAP (a new trial's log odds ratio: "
                         "median and 95% interval), and beneath, the densities of the MAP, its "
                         "Normal-mixture approximation and the robust prior used.")})
                continue
            if arm not in ("control", "treatment"):
                continue
            arm_name = trial.treatment_name if arm == "treatment" else trial.control_name
            label = f"{arm} ({arm_name})"
            used = None if rec["robust"] is None else rec["robust"]["weight"]
            common = {"prior": prior.name, "prior_label": prior.label or prior.name, "arm": arm}
            out[f"mapforest_{prior.name}_{arm}"] = (
                map_forest(_figure_data(trial, f"mapforest_{prior.name}_{arm}",
                                        lambda: map_figure_data(getattr(prior, arm))),
                           arm_label=label),
                dict(common, kind="map_forest", caption=(
                    f"Meta-analytic-predictive prior of the {label} arm under the "
                    f"{prior.label or prior.name} prior: each historical study's rate with its 95% "
                    "Clopper-Pearson interval, the MAP (a new study's rate: median and 95% "
                    "interval), and beneath, the densities of the MAP, its Beta-mixture "
                    "approximation and the robust prior used.")))
            out[f"mapsweep_{prior.name}_{arm}"] = (
                robust_sweep_figure(rec["robust_sweep"], used, arm_label=label),
                dict(common, kind="map_sweep", caption=(
                    f"Robust-weight sweep of the {label} arm's MAP prior under the "
                    f"{prior.label or prior.name} prior: the posterior probability of benefit "
                    "(exact) when the weight on the vague component runs from 0 (the MAP alone) to "
                    "1 (the vague component alone), with the weight used marked.")))
    return out


# ---------------------------------------------------------------------------------------------
# Appendix rendering
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _env():
    """The appendix's Jinja environment, made once a process. Its compiled template is kept in
    the cache folder (:func:`_template_cache`): compiling appendix.md.j2 takes 0.4 s, loading it
    3 ms."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        bytecode_cache=_template_cache(),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Markdown uses "{#" for heading anchors
        comment_start_string="<#--",
        comment_end_string="--#>",
    )
    env.filters["p"] = probability
    env.filters["f"] = lambda x, d=2: "–" if x is None else fixed(x, d)
    env.filters["g"] = lambda x: "–" if x is None else f"{x:.4g}"
    env.filters["n"] = lambda x: "–" if x is None else f"{x:,.0f}"
    env.filters["extract"] = lambda key, mapping: mapping[key]
    env.filters["lcfirst"] = lcfirst
    # a sampled probability's exact value where there is one (the appendix reports exact values)
    env.filters["exact_p"] = lambda d, key: d.get(f"{key}_exact", d[key])
    env.filters["pct"] = lambda x, d=0: "–" if x is None else f"{100 * x:.{d}f}%"
    env.filters["interval"] = lambda e: (
        f"{estimate(e['median'])} ({estimate(e['lower'])} to {estimate(e['upper'])})"
    )
    return env


def _template_cache():
    """A Jinja bytecode cache in ``templates`` of the cache folder (None when the cache is off
    or the folder cannot be made). Jinja keys each entry by the template's source checksum, so
    an edited template is compiled again; entries are written atomically, and one that cannot
    be read is compiled again instead."""
    import jinja2

    from lnbayes.io.record_cache import cache_dir

    folder = cache_dir()
    if folder is None:
        return None
    try:
        (folder / "templates").mkdir(parents=True, exist_ok=True)
    except OSError:
        return None

    class Cache(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # noqa: BLE001 - a damaged entry: compile the template again
                bucket.reset()

        def dump_bytecode(self, bucket) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:  # a full or read-only disk: the next run compiles it again
                pass

    return Cache(str(folder / "templates"))


def lcfirst(text: str) -> str:
    """Lower-case a label's first letter for use mid-sentence, but not an acronym's ("COVID")."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def merge_user_regions(new_text: str, old_text: str | None) -> str:
    """Carry the hand-written regions of the previous Markdown into the new one."""
    if not old_text:
        return new_text
    kept = {m.group("name"): m.group("body") for m in USER_REGION.finditer(old_text)}

    def put_back(m: re.Match) -> str:
        name = m.group("name")
        body = kept.get(name, m.group("body"))
        return f"<!-- lnbayes:user-begin {name} -->\n{body}<!-- lnbayes:user-end {name} -->"

    return USER_REGION.sub(put_back, new_text)


def render_markdown(report: dict[str, Any]) -> str:
    return _env().get_template("appendix.md.j2").render(r=report)


LATEX_UNICODE = {
    "≈": r"\ensuremath{\approx}", "≥": r"\ensuremath{\geq}", "≤": r"\ensuremath{\leq}",
    "×": r"\ensuremath{\times}", "−": r"\ensuremath{-}", "±": r"\ensuremath{\pm}",
    "→": r"\ensuremath{\rightarrow}", "θ": r"\ensuremath{\theta}", "μ": r"\ensuremath{\mu}",
    "σ": r"\ensuremath{\sigma}", "τ": r"\ensuremath{\tau}", "α": r"\ensuremath{\alpha}",
    "β": r"\ensuremath{\beta}", "γ": r"\ensuremath{\gamma}", "χ": r"\ensuremath{\chi}",
    "\u2009": r"\,", "\u2011": "-", "′": r"\ensuremath{'}", "²": r"\ensuremath{^2}",
    "·": r"\ensuremath{\cdot}", "✓": "yes",
    **{sup: rf"\ensuremath{{^{{{d}}}}}" for d, sup in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")},
}
"""Characters outside pdflatex's default T1/utf8 set that the appendix may contain."""

LATEX_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{lmodern}
\usepackage[margin=2.2cm]{geometry}
\usepackage{amsmath,amssymb}
\usepackage{graphicx}
\usepackage{longtable,booktabs,array}
\usepackage{calc}
\usepackage[hidelinks]{hyperref}
\usepackage{textcomp}
\usepackage{float}
\floatplacement{figure}{H}
%(unicode)s
\newcommand{\tightlist}{\setlength{\itemsep}{0pt}\setlength{\parskip}{0pt}}
\makeatletter
%% figures scaled to fit both the line width and most of the page height (as pandoc's template)
\newsavebox\pandoc@box
\newcommand*\pandocbounded[1]{%%
  \sbox\pandoc@box{#1}%%
  \Gscale@div\@tempa{0.82\textheight}{\dimexpr\ht\pandoc@box+\dp\pandoc@box\relax}%%
  \Gscale@div\@tempb{\linewidth}{\wd\pandoc@box}%%
  \ifdim\@tempb\p@<\@tempa\p@\let\@tempa\@tempb\fi
  \ifdim\@tempa\p@<\p@\scalebox{\@tempa}{\usebox\pandoc@box}%%
  \else\usebox{\pandoc@box}%%
  \fi}
%% the appendix numbers its figures itself ("Figure 1. ..."), so captions print only their text
\long\def\@makecaption#1#2{\vskip\abovecaptionskip\small #2\par\vskip\belowcaptionskip}
\makeatother
\setcounter{secnumdepth}{0}
\setlength{\parindent}{0pt}
\setlength{\parskip}{5pt plus 2pt}
\title{%(title)s}
\date{}
\begin{document}
\maketitle
"""


def markdown_to_latex(markdown: str, title: str) -> str:
    import pypandoc

    body = pypandoc.convert_text(
        _latex_figures(markdown), "latex", format="markdown",
        extra_args=["--wrap=preserve", "--shift-heading-level-by=-1"],
    )
    # anything else beyond what utf8 inputenc knows (Latin, dashes, quotes) prints as its name
    # rather than stopping pdflatex
    known_ok = set("–—‘’“”…")
    extra = {ch: f"[U+{ord(ch):04X}]" for ch in sorted(set(body) | set(title))
             if ord(ch) > 0x17F and ch not in LATEX_UNICODE and ch not in known_ok}
    unicode = "\n".join(
        f"\\DeclareUnicodeCharacter{{{ord(ch):04X}}}{{{tex}}}"
        for ch, tex in {**LATEX_UNICODE, **extra}.items()
    )
    preamble = LATEX_PREAMBLE % {"title": _latex_escape(title), "unicode": unicode}
    return preamble + body + "\n\\end{document}\n"


def _latex_figures(markdown: str) -> str:
    # vector PDF figures in LaTeX, PNG elsewhere
    return re.sub(r"\]\((figures/[^)]+)\.png\)", r"](\1.pdf)", markdown)


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"),
                 ("#", r"\#"), ("_", r"\_"), ("{", r"\{"), ("}", r"\}")):
        text = text.replace(a, b)
    return text


HTML_CSS = """
body { max-width: 52em; margin: 2em auto; padding: 0 1em; font-family: Georgia, 'Times New Roman', serif;
       line-height: 1.45; color: #222; }
h1, h2, h3 { font-family: Helvetica, Arial, sans-serif; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #444; }
img { max-width: 100%; }
figure { margin: 1.5em 0; }
figcaption { font-size: 0.9em; color: #444; }
code { font-size: 0.9em; }
"""


def markdown_to_html(markdown: str, title: str, resource_dir: Path) -> str:
    """Self-contained HTML: figures from ``resource_dir`` and the style sheet embedded."""
    import tempfile

    import pypandoc

    resource_dir = Path(resource_dir).resolve()  # pandoc runs in resource_dir: no relative paths
    with tempfile.TemporaryDirectory(prefix="lnbayes-") as tmp:
        css = Path(tmp) / "appendix.css"
        css.write_text(HTML_CSS, encoding="utf-8")
        return pypandoc.convert_text(
            markdown, "html5", format="markdown",
            extra_args=[
                "--standalone", "--embed-resources", "--mathml",
                f"--resource-path={resource_dir}", f"--css={css}",
                "--metadata", f"title={title}", "--metadata", "lang=en",
            ],
            cworkdir=str(resource_dir),
        )


def write_appendix(report: dict[str, Any], outdir: str | Path) -> dict[str, str]:
    """Write appendix.md (keeping hand-written regions), appendix.tex and appendix.html."""
    outdir = Path(outdir)
    md_path = outdir / "appendix.md"
    old = md_path.read_text(encoding="utf-8") if md_path.exists() else None
    markdown = merge_user_regions(render_markdown(report), old)
    files.write_text(md_path, markdown)
    title = f"Methods appendix: Bayesian re-analysis of {report['trial']['title']}"
    files.write_text(outdir / "appendix.tex", markdown_to_latex(markdown, title))
    files.write_text(outdir / "appendix.html", markdown_to_html(markdown, title, outdir))
    return {"md": "appendix.md", "tex": "appendix.tex", "html": "appendix.html"}
