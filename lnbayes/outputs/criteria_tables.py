"""Human-readable tables (rich) of multi-criterion decision rules: ``analyze --criterion`` (every
``lnbayes design`` result is printed by :func:`lnbayes.outputs.decision_tables.print_design`)."""

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
