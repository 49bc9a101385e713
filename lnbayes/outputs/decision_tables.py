"""Human-readable tables (rich) for all endpoints, evidence, predictive probability and design."""

from __future__ import annotations

from typing import Any

from lnbayes.formatting import probability, short, table_number


def print_evidence(result: dict[str, Any], console) -> None:
    """Bayes factors and the ROPE probability of one outcome's results."""
    from rich.table import Table

    info = result["outcome_info"]
    table = Table(title=f"Evidence: {info['label']}")
    table.add_column("Prior")
    table.add_column("prior P(benefit)", justify="right")
    table.add_column("BF+- (post/prior odds of benefit)", justify="right")
    table.add_column("Savage-Dickey BF01 (log OR)", justify="right")
    table.add_column("P(in ROPE)", justify="right")
    rope_text = "none given in the file for this outcome"
    for r in result["results"]:
        ev = r.get("evidence")
        if not ev:
            continue
        sd = ev["savage_dickey"]
        rope = ev["rope"]
        if rope is None:
            cell = "-"
        else:
            rope_text = f"{rope['scale'].upper()} in ({rope['lower']:g}, {rope['upper']:g})"
            if rope.get("p_inside_mcse") is not None:
                cell = (f"{rope['p_inside']:.3f} ± {rope['p_inside_mcse']:.3f} "
                        f"(exact {rope['p_inside_exact']:.3f})")
            else:
                cell = f"{rope['p_inside']:.3f}"
        table.add_row(r["prior"], table_number(ev["prior_p_benefit"]), table_number(ev["bf_benefit"], 2),
                      table_number(sd["bf01"], 2), cell)
    console.print(table)
    console.print(
        "[dim]BF+- = posterior odds of benefit / prior odds of benefit: the directional Bayes "
        "factor of benefit against no benefit, not a test of no effect. Savage-Dickey BF01 = "
        "posterior density / prior density of the log odds ratio at 0 for every prior, whatever "
        "its scale (> 1 favours no effect; near 1 under a prior centred on 0 it says little). "
        f"ROPE: {rope_text}.[/]"
    )


def print_benefit_harm(result: dict[str, Any], console) -> None:
    """Benefit on the primary outcome and harm on each safety outcome, side by side."""
    from rich.table import Table


    bh = result["benefit_harm"]
    table = Table(title=f"Benefit: {bh['primary_outcome']}")
    table.add_column("Prior")
    table.add_column("P(benefit)", justify="right")
    meaningful = bh["benefit"][0]["meaningful"] if bh["benefit"] else []
    for t in meaningful:
        table.add_column(f"P({t['scale'].upper()} beyond {short(t['value'])})", justify="right")
    for row in bh["benefit"]:
        table.add_row(row["prior"], probability(row["p_benefit"]),
                      *[probability(t["p"]) for t in row["meaningful"]])
    console.print(table)
    for s in bh["safety"]:
        margin = s["margin"]
        table = Table(title=f"Harm: {s['outcome']}")
        table.add_column("Prior")
        table.add_column("P(any harm)", justify="right")
        if margin is not None:
            table.add_column(f"P(harm beyond {margin['scale'].upper()} {short(margin['value'])})",
                             justify="right")
        for row in s["by_prior"]:
            cells = [probability(row["p_harm"])]
            if margin is not None:
                cells.append(probability(row["p_harm_beyond_margin"]))
            table.add_row(row["prior"], *cells)
        console.print(table)
        if margin is not None and margin["source"] != "stated":
            console.print(f"[dim]Margin of harm {margin['source']} (state it with harm_margin = "
                          "{ scale, value } in the outcome's table).[/]")
    arms = result["outcomes"][0]["outcome_info"] if result["outcomes"] else None
    who = "treatment worse"
    if arms:
        who = f"{arms['treatment']['name']} worse than {arms['control']['name']}"
    console.print(f"[dim]Harm = {who}: more events on an outcome where fewer are better. "
                  f"{bh['note']}[/]")
    if result.get("written"):
        console.print(f"[dim]Results written to {result['written']}[/]")


def print_predict(result: dict[str, Any], console) -> None:
    from rich.table import Table

    d, f = result["data"], result["final"]
    console.print(
        f"[bold]{result['title']}[/]\n{result['outcome']}: data so far {d['treatment']['events']}/"
        f"{d['treatment']['n']} vs {d['control']['events']}/{d['control']['n']}; completed to "
        f"{f['treatment']}/{f['control']} patients"
    )
    thresholds = [row["threshold"] for row in result["results"][0]["by_threshold"]]
    design = result["design_prior"]["name"]
    table = Table(title="Predictive probability that the completed trial ends with "
                        f"P(benefit) >= threshold (remaining patients predicted under {design})")
    table.add_column("Analysis prior")
    table.add_column("P(benefit) now", justify="right")
    for q in thresholds:
        mark = " (chosen)" if q == result["threshold"] else ""
        table.add_column(f">= {q:g}{mark}", justify="right")
    table.add_column("best reachable P(benefit)", justify="right")
    table.add_column("time", justify="right")
    for r in result["results"]:
        table.add_row(r["prior"], f"{r['current_p_benefit']:.3f}",
                      *[table_number(row["predictive_probability"], 4) for row in r["by_threshold"]],
                      f"{r['max_final_p_benefit']:.3f}", f"{r['seconds']:.2f} s")
    console.print(table)
    at = result.get("meaningful_threshold")
    if at is not None:
        sign = "<" if result["better"] == "lower" else ">"
        label = f"P({at['scale'].upper()} {sign} {at['value']:g})"
        table = Table(title=f"Success as clinically meaningful benefit: {label} >= threshold")
        table.add_column("Analysis prior")
        for q in thresholds:
            table.add_column(f">= {q:g}", justify="right")
        table.add_column(f"best reachable {label}", justify="right")
        for r in result["results"]:
            m = r["meaningful"]
            table.add_row(r["prior"], *[table_number(row["predictive_probability"], 4)
                                        for row in m["by_threshold"]],
                          f"{m['max_final_p_meaningful']:.3f}")
        console.print(table)
    rule = result.get("rule")
    if rule:
        table = Table(title=f"Success as the decision rule at the end: {rule['rule']}")
        table.add_column("Analysis prior")
        table.add_column(f"predictive probability ({design} predicts)", justify="right")
        table.add_column("same prior predicts", justify="right")
        table.add_column("any completion declares", justify="center")
        for r in result["results"]:
            x = r["rule"]
            table.add_row(r["prior"], table_number(x["predictive_probability"], 4),
                          table_number(x["same_prior"], 4), "yes" if x["reachable"] else "no")
        console.print(table)
    console.print(f"[dim]{result['definition']}[/]")


def print_design(result: dict[str, Any], console) -> None:
    """One printer for every ``lnbayes design`` result: the single-threshold rule
    (:func:`lnbayes.analyses.planning.design`) and multi-criterion rules with or without interim
    looks (:func:`lnbayes.analyses.decisions.design`). P(declare) over true rates, type I error
    (beside the reference prior when given), power, sample size, and the reverse answers."""
    n = result["n"]
    looks = result.get("looks")
    plan = (" -> ".join(f"{x['n_treatment']}/{x['n_control']}" for x in looks)
            if looks else f"{n['treatment']} treatment / {n['control']} control")
    console.print(f"[bold]{result['title']}[/]\nRule: {result['rule']} ({result['outcome']}, "
                  f"prior {result['prior']}); {plan}"
                  + (f"; futility if the predictive probability of final success < "
                     f"{result['futility']:g}" if looks and result.get("futility") else "")
                  + f"\n{result['method']}")
    console.print(_oc_table(result))
    ref = result.get("reference")
    if result.get("type_i_by_rate"):
        console.print(_type_i_table(result, ref))
    lines = _type_i_lines(result["type_i_error"], ref)
    lines += _power_lines(result["power"], looks)
    lines += _sample_size_lines(result.get("sample_size_80", result.get("sample_size")))
    console.print("\n".join(lines))
    if result.get("reverse"):
        print_reverse(result["reverse"], console)
    console.print(f"[dim]Bold: equal rates (type I error). {result['seconds']:.1f} s.[/]")


def _oc_table(result: dict[str, Any]):
    """P(declare benefit) over every second true control and treatment rate."""
    from rich.table import Table

    oc = {(r["p_control"], r["p_treatment"]): r["p_declare_benefit"]
          for r in result["operating_characteristics"]}
    controls = sorted({k[0] for k in oc})[1::2]
    treatments = sorted({k[1] for k in oc})[1::2]
    table = Table(title="P(declare benefit) by true control rate (rows) and treatment rate "
                        "(columns)")
    table.add_column("p control")
    for t in treatments:
        table.add_column(f"{t:.2f}", justify="right")
    for c in controls:
        cells = []
        for t in treatments:
            text = f"{oc[(c, t)]:.3f}"
            cells.append(f"[bold]{text}[/]" if c == t else text)
        table.add_row(f"{c:.2f}", *cells)
    return table


def _type_i_table(result: dict[str, Any], ref: dict[str, Any] | None):
    """Type I error by common true rate, beside the reference prior's when there is one."""
    from rich.table import Table

    t1 = Table(title="Type I error (equal true rates)"
                     + (f": {result['prior']} beside {ref['prior']}" if ref else ""))
    t1.add_column("true rate", justify="right")
    t1.add_column(result["prior"], justify="right")
    if ref:
        t1.add_column(ref["prior"], justify="right")
        t1.add_column("inflation", justify="right")
    for row in result["type_i_by_rate"]:
        cells = [f"{row['p_declare_benefit']:.4f}"]
        if ref:
            cells += [f"{row['reference_p_declare_benefit']:.4f}", f"{row['inflation']:+.4f}"]
        t1.add_row(f"{row['rate']:.2f}", *cells)
    return t1


def _type_i_lines(e: dict[str, Any], ref: dict[str, Any] | None) -> list[str]:
    lines = [f"Largest type I error (equal true rates): {e['max']:.4f} at a common rate of "
             f"{e['at_rate']:.3f}"]
    if ref and ref.get("type_i_error_max"):
        lines[-1] += (f" ({ref['prior']}: {ref['type_i_error_max']['max']:.4f} at "
                      f"{ref['type_i_error_max']['at_rate']:.3f})")
    if e.get("at_control_rate") is not None:
        lines.append(f"Type I error at the expected control rate {e['control_rate']:g}: "
                     f"{e['at_control_rate']:.4f}")
    return lines


def _power_lines(p: dict[str, Any] | None, looks) -> list[str]:
    if p is None:
        return []
    effect = f", OR {p['odds_ratio']:.2f}" if p.get("odds_ratio") is not None else ""
    lines = [f"Power at the hoped-for effect (control {p['p_control']:.2f}, treatment "
             f"{p['p_treatment']:.3f}{effect}): {p['power']:.4f}"]
    if looks:
        lines.append(f"  P(stop for futility) {p['p_stop_futility']:.4f}, expected total "
                     f"size {p['expected_n']:.2f}")
        for r in p["by_look"]:
            lines.append(f"  look {r['look']} ({r['n_treatment']}/{r['n_control']}): reached "
                         f"{r['p_reach']:.4f}, declare {r['p_declare_benefit']:.4f}, futility "
                         f"{r['p_stop_futility']:.4f}")
    return lines


def _sample_size_lines(s: dict[str, Any] | None) -> list[str]:
    if s is None:
        return []
    if s.get("omitted"):
        return [f"Sample size: not searched ({s['omitted']})"]
    if s["total"] is None:
        return [f"Power {s['target_power']:.0%} not reached up to "
                f"{s['max_total_searched']} patients"]
    return [f"Total sample size for {s['target_power']:.0%} power: {s['total']} "
            f"({s['n_treatment']} + {s['n_control']}, power {s['power']:.4f}); power stays "
            f">= {s['target_power']:.0%} at every total from {s['first_stable']} to "
            f"{s['first_stable'] + 6} (power is saw-toothed in n)"]


def _odds_ratio(x: dict[str, Any]) -> str:
    if x.get("odds_ratio") is not None:
        return f"{x['odds_ratio']:.2f}"
    return "inf" if x.get("rate_treatment") == 1 or x.get("rate_control") == 0 else "0"


def print_reverse(rev: dict[str, Any], console) -> None:
    """Reverse answers: the data that would have been needed and the minimal detectable effect,
    per prior, at the stopped and the planned sizes."""
    from rich.table import Table

    obs = rev["observed"]
    table = Table(title=f"Data needed to declare benefit ({rev['rule']}), control rate held at "
                        f"the observed {obs['control_events']}/{obs['n_control']}")
    table.add_column("Prior")
    sizes = [b for b in rev["results"][0]["by_size"]] if rev["results"] else []
    for b in sizes:
        table.add_column(f"{b['label']} {b['n_treatment']}/{b['n_control']}: treatment events "
                         "needed (RD, OR)", justify="right")
    for row in rev["results"]:
        cells = []
        for b in row["by_size"]:
            parts = []
            for x in b["needed"]:
                if x["treatment_events"] is None:
                    parts.append(f"none of {x['n_treatment']} vs {x['control_events']}")
                else:
                    parts.append(f"{x['treatment_events']}/{x['n_treatment']} vs "
                                 f"{x['control_events']}/{x['n_control']} (RD "
                                 f"{x['risk_difference']:+.3f}, OR {_odds_ratio(x)})")
            cells.append("; ".join(parts))
        table.add_row(row["prior"], *cells)
    console.print(table)
    table = Table(title=f"Minimal detectable effect: true treatment rate (RD, OR) with "
                        f"{rev['target_power']:.0%} power")
    table.add_column("Prior")
    for b in sizes:
        for m in b["minimal_detectable"]:
            table.add_column(f"{b['label']} {b['n_treatment']}/{b['n_control']}, control "
                             f"{m['p_control']:.3f} ({m['control_rate_source']})", justify="right")
    for row in rev["results"]:
        cells = []
        for b in row["by_size"]:
            for m in b["minimal_detectable"]:
                if m["p_treatment"] is None:
                    cells.append(f"not reached (power <= {m['max_power']:.3f})")
                else:
                    odds = "" if m["odds_ratio"] is None else f", OR {m['odds_ratio']:.2f}"
                    cells.append(f"{m['p_treatment']:.3f} (RD {m['risk_difference']:+.3f}{odds})")
        table.add_row(row["prior"], *cells)
    console.print(table)
    for r in rev.get("refused", []):
        console.print(f"[dim]{r['prior']}: not computed ({r['reason']})[/]")
    console.print(f"[dim]Needed: {rev['definitions']['needed']}. Minimal detectable: "
                  f"{rev['definitions']['minimal_detectable']}. {rev['seconds']:.1f} s.[/]")
