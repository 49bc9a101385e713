"""Human-readable tables of results (rich)."""

from __future__ import annotations

from typing import Any

from lnbayes.formatting import interval, probability


def print_analysis(result: dict[str, Any], console) -> None:
    from rich.table import Table

    info = result["outcome_info"]
    t, c = info["treatment"], info["control"]
    direction = "lower is better" if info["better"] == "lower" else "higher is better"
    console.print(
        f"[bold]{result['title']}[/]\n{info['label']} ({direction}): "
        f"{t['name']} {t['events']}/{t['n']} vs {c['name']} {c['events']}/{c['n']}"
    )
    benefit = "fewer events" if info["better"] == "lower" else "more events"
    table = Table(title=f"Posterior probability that {t['name']} adds benefit ({benefit} than {c['name']})")
    table.add_column("Prior")
    table.add_column("P(benefit)", justify="right")
    table.add_column("exact", justify="right")
    table.add_column("check", justify="center")
    table.add_column("Risk difference (95% CrI)", justify="right")
    table.add_column("Odds ratio (95% CrI)", justify="right")
    table.add_column("Diagnostics")
    for r in result["results"]:
        est = r["estimates"]
        if r["engine"] == "pymc":
            p = f"{probability(r['p_benefit'])} ± {r['p_benefit_mcse']:.3f}"
            check = "[green]agrees[/]" if r["agrees_with_exact"] else "[bold red]DISAGREES[/]"
            d = r["diagnostics"]
            diag = (
                f"[green]ok[/] (R-hat ≤ {d['max_r_hat']:.3f}, ESS ≥ {d['min_ess_bulk']:.0f})"
                if d["converged"] else "[bold red]FAILED: " + "; ".join(d["problems"]) + "[/]"
            )
        else:
            p, check, diag = probability(r['p_benefit'], 4), "-", "exact"
        table.add_row(
            r["prior"], p, probability(r['p_benefit_exact'], 4), check,
            interval(est["risk_difference"]), interval(est["odds_ratio"]), diag,
        )
    console.print(table)
    if any(r["thresholds"] for r in result["results"]):
        tt = Table(title="Probability of a clinically meaningful benefit")
        tt.add_column("Prior")
        first = result["results"][0]["thresholds"]
        for th in first:
            sign = "<" if info["better"] == "lower" else ">"
            tt.add_column(f"P({th['scale'].upper()} {sign} {th['value']:g})", justify="right")
        for r in result["results"]:
            cells = []
            for th in r["thresholds"]:
                if r["engine"] == "pymc":
                    cells.append(f"{probability(th['p'])} ± {th['p_mcse']:.3f} "
                                 f"(exact {probability(th['p_exact'])})")
                else:
                    cells.append(probability(th['p'], 4))
            tt.add_row(r["prior"], *cells)
        console.print(tt)
    print_threshold_consistency(info, console)
    ci = (f"Risk difference = {t['name']} minus {c['name']}; posterior medians with 95% "
          "equal-tailed credible intervals (CrI).")
    if any(r["engine"] == "pymc" for r in result["results"]):
        ci += (" P(benefit) from PyMC ± its Monte Carlo standard error; 'agrees' means within "
               "3 MCSE of the exact engine.")
    console.print(f"[dim]{ci} Results written to {result.get('written', '-')}[/]")


def print_threshold_consistency(info: dict[str, Any], console) -> None:
    """Each threshold (and the ROPE's bound) on every scale at the control rate, and warnings."""
    from rich.table import Table

    tc = info.get("threshold_consistency")
    if not tc or not (tc["thresholds"] or tc["rope_bound"]):
        return
    table = Table(title=f"Thresholds on every scale at {tc['basis']} ({tc['p_control']:.3g})")
    for name in ("Stated", "treatment rate", "RD", "RR", "OR"):
        table.add_column(name, justify="left" if name == "Stated" else "right")
    rows = [(f"{r['stated']['scale'].upper()} {r['stated']['value']:g}", r) for r in tc["thresholds"]]
    if tc["rope_bound"]:
        r = tc["rope_bound"]
        rows.append((f"ROPE bound {r['stated']['scale'].upper()} {r['stated']['value']:g}", r))
    for label, r in rows:
        table.add_row(label, f"{r['p_treatment']:.3g}",
                      *("-" if r[k] is None else f"{r[k]:.3g}" for k in ("rd", "rr", "or")))
    console.print(table)
    for w in tc["warnings"]:
        console.print(f"[yellow]Warning: {w}.[/]")


# --- issue 3: priors ---


def _ess_text(ess: dict[str, Any]) -> str:
    h = ess["headline"]
    if "treatment" in h:
        return f"C {h['control']:.1f} / T {h['treatment']:.1f}"
    share = h.get("prior_precision_share")
    tail = f" ({100 * share:.0f}% of precision)" if share is not None else ""
    return f"C {h['control']:.1f}; effect ≈ {h['effect_total']:.0f} patients{tail}"


def print_priors(result: dict[str, Any], console) -> None:
    """The ``lnbayes priors`` tables: what each prior says and implies before the data."""
    from rich.table import Table

    info = result["outcome_info"]
    t, c = info["treatment"], info["control"]
    console.print(
        f"[bold]{result['title']}[/]\nPriors for {info['label']}: "
        f"{t['name']} {t['events']}/{t['n']} vs {c['name']} {c['events']}/{c['n']}"
    )
    table = Table(title="What each prior implies before the data")
    table.add_column("Prior")
    table.add_column("Role")
    table.add_column("P(benefit)", justify="right")
    table.add_column("Risk difference (95%)", justify="right")
    table.add_column("Odds ratio (95%)", justify="right")
    table.add_column("ESS", justify="right")
    table.add_column("Conflict p", justify="right")
    for p in result["priors"]:
        est = p["prior_estimates"]
        conflict = "–" if p["conflict_p"] is None else f"{p['conflict_p']:.3f}"
        if p["conflict_p"] is not None and p["conflict_p"] < 0.05:
            conflict = f"[bold red]{conflict}[/]"
        table.add_row(
            p["name"], p["role"], probability(p['prior_p_benefit']),
            interval(est["risk_difference"]), interval(est["odds_ratio"]),
            _ess_text(p["ess"]), conflict,
        )
    console.print(table)
    for p in result["priors"]:  # a statement or sources only where the file gives them
        lines = [f"[bold]{p['name']}[/]: {p['description']}"]
        if p["statement"]:
            lines.append(f"  {p['statement']}")
        if p["citations"]:
            lines.append(f"  [dim]Sources: {'; '.join(p['citations'])}[/]")
        console.print("\n".join(lines))
    console.print(
        "[dim]P(benefit): prior probability that "
        f"{t['name']} is better than {c['name']}. ESS: effective sample size, ELIR "
        "(Neuenschwander et al. 2020) per arm (C control, T treatment); for effect-level priors "
        "the effect prior's variance-matched ESS: patients, at the trial's allocation and "
        "observed rates, whose data would carry the prior's precision, and the prior's share of "
        "the posterior precision. Conflict p: Box's prior predictive probability of data at most as probable as "
        "those observed (small = prior-data conflict).[/]"
    )
