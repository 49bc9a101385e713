"""Human-readable tables (rich) of multi-criterion decision rules: ``analyze --criterion`` and
``design --criterion`` / ``--looks``."""

from __future__ import annotations

from typing import Any


def print_criteria(result: dict[str, Any], console) -> None:
    """Whether each criterion holds, per prior, on the observed data."""
    from rich.table import Table

    rows = result["results"]
    table = Table(title=f"Decision rule ({result['outcome']}): {result['rule']}")
    table.add_column("Prior")
    labels = [c["label"] for c in rows[0]["criteria"]] if rows else []
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column("declare benefit", justify="center")
    for r in rows:
        cells = []
        for c in r["criteria"]:
            text = (f"median {c['posterior_median']:.3f}" if c["median"] else f"{c['p']:.3f}")
            cells.append(f"{text} {'yes' if c['holds'] else 'no'}")
        table.add_row(r["prior"], *cells, "[bold]yes[/]" if r["declare_benefit"] else "no")
    console.print(table)


def print_rule_design(result: dict[str, Any], console) -> None:
    """P(declare) over true rates, type I error beside the reference prior, power, size."""
    from rich.table import Table

    n = result["n"]
    looks = result.get("looks")
    plan = (" -> ".join(f"{x['n_treatment']}/{x['n_control']}" for x in looks)
            if looks else f"{n['treatment']} treatment / {n['control']} control")
    console.print(f"[bold]{result['title']}[/]\nRule: {result['rule']} ({result['outcome']}, "
                  f"prior {result['prior']}); {plan}"
                  + (f"; futility if the predictive probability of final success < "
                     f"{result['futility']:g}" if looks and result.get("futility") else "")
                  + f"\n{result['method']}")
    oc = {(r["p_control"], r["p_treatment"]): r for r in result["operating_characteristics"]}
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
            text = f"{oc[(c, t)]['p_declare_benefit']:.3f}"
            cells.append(f"[bold]{text}[/]" if c == t else text)
        table.add_row(f"{c:.2f}", *cells)
    console.print(table)
    ref = result.get("reference")
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
    console.print(t1)
    e = result["type_i_error"]
    lines = [f"Largest type I error: {e['max']:.4f} at a common rate of {e['at_rate']:.3f}"]
    if ref and ref["type_i_error_max"]:
        lines[-1] += (f" ({ref['prior']}: {ref['type_i_error_max']['max']:.4f} at "
                      f"{ref['type_i_error_max']['at_rate']:.3f})")
    p = result["power"]
    if p is not None:
        lines.append(f"Power at control {p['p_control']:.2f}, treatment {p['p_treatment']:.3f}: "
                     f"{p['power']:.4f}")
        if looks:
            lines.append(f"  P(stop for futility) {p['p_stop_futility']:.4f}, expected total "
                         f"size {p['expected_n']:.2f}")
            for r in p["by_look"]:
                lines.append(f"  look {r['look']} ({r['n_treatment']}/{r['n_control']}): reached "
                             f"{r['p_reach']:.4f}, declare {r['p_declare_benefit']:.4f}, futility "
                             f"{r['p_stop_futility']:.4f}")
    s = result.get("sample_size")
    if s is not None:
        if s.get("omitted"):
            lines.append(f"Sample size: not searched ({s['omitted']})")
        elif s["total"] is None:
            lines.append(f"Power {s['target_power']:.0%} not reached up to "
                         f"{s['max_total_searched']} patients")
        else:
            lines.append(f"Total sample size for {s['target_power']:.0%} power: {s['total']} "
                         f"({s['n_treatment']} + {s['n_control']}, power {s['power']:.4f}); "
                         f"from {s['first_stable']} on every total up to +6 reaches it")
    console.print("\n".join(lines))
