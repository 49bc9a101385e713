"""Terminal tables of the MAP priors in ``lnbayes priors``: studies, tau, the MAP, its mixture,
ESS, posterior weights and conflict (formats what the analysis gives; computes nothing)."""

from __future__ import annotations

from typing import Any

from lnbayes.formatting import short


def _num(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def print_map_priors(result: dict[str, Any], console) -> None:
    """One block per MAP arm of every prior that has one."""
    from rich.table import Table

    for prior in result["priors"]:
        for arm, rec in (prior.get("map") or {}).items():
            if arm == "effect":
                _print_effect_map(prior["name"], rec, console)
                continue
            console.print(f"\n[bold]{prior['name']}[/], {arm} arm: {rec['model']['description']}")
            studies = Table(title="Historical studies")
            for col in ("Study", "Events / n", "Rate"):
                studies.add_column(col, justify="left" if col == "Study" else "right")
            for s in rec["studies"]:
                studies.add_row(s["source"] or "-", f"{s['events']}/{s['n']}",
                                _num(s["events"] / s["n"]))
            console.print(studies)
            tau = rec["tau"]
            q = rec["quantiles"]
            console.print(
                f"tau (between-study sd, logit scale): posterior median {_num(tau['median'])}, "
                f"95% interval {_num(tau['interval'][0])} to {_num(tau['interval'][1])}\n"
                f"MAP (a new study's rate): mean {_num(rec['mean'])}, sd {_num(rec['sd'])}, "
                f"median {_num(q['0.5'])}, 95% interval {_num(q['0.025'])} to {_num(q['0.975'])}"
            )
            mix = " + ".join(f"{short(c['weight'], 3)} Beta({short(c['a'])}, {short(c['b'])})"
                             for c in rec["mixture"])
            console.print(f"Mixture ({len(rec['mixture'])} components; max |CDF difference| "
                          f"{rec['mixture_max_cdf_error']:.4f}; {rec['mixture_criterion']}): {mix}")
            if rec["robust"] is not None:
                r = rec["robust"]
                console.print(f"Robust: weight {short(r['weight'])} on Beta({short(r['a'])}, "
                              f"{short(r['b'])})")
            ess = Table(title="Effective sample size")
            for col in ("Prior", "ELIR", "Moment", "Morita"):
                ess.add_column(col, justify="left" if col == "Prior" else "right")
            names = {"map": "MAP (exact)", "mixture": "Mixture", "robust": "Robust mixture"}
            for key, values in rec["ess_by_prior"].items():
                ess.add_row(names[key], *(f"{values[m]:.1f}" for m in ("elir", "moment", "morita")))
            console.print(ess)
            if "posterior_weights" in rec:
                d = rec["data"]
                weights = ", ".join(f"{short(w, 3)}" for w in rec["posterior_weights"])
                prior_w = ", ".join(f"{short(c['weight'], 3)}" for c in rec["robust_mixture"])
                conflict = f"{rec['conflict_p']:.3f}"
                if rec["conflict_p"] < 0.05:
                    conflict = f"[bold red]{conflict}[/]"
                console.print(
                    f"After {d['events']}/{d['n']} in this arm the component weights go from "
                    f"({prior_w}) to ({weights}). Prior-data conflict: Box's p = {conflict}.")
            if rec.get("robust_sweep"):
                _print_sweep(rec, console)
    if any(p.get("map") for p in result["priors"]):
        console.print(
            "[dim]MAP: meta-analytic-predictive prior "
            "(Neuenschwander et al. 2010), computed exactly by quadrature; ESS: ELIR "
            "(Neuenschwander et al. 2020), moment, and Morita as RBesT computes it (at the mode) for "
            "arm MAPs; variance-matched for effect MAPs.[/]")


def _print_sweep(rec: dict[str, Any], console) -> None:
    from rich.table import Table

    table = Table(title="Robust weight sweep: P(benefit) after the data (exact)")
    for col in ("Robust weight", "P(benefit)", "Posterior weight of the vague component",
                "Posterior mean of the arm"):
        table.add_column(col, justify="right")
    used = None if rec["robust"] is None else rec["robust"]["weight"]
    for row in rec["robust_sweep"]:
        if round(row["weight"] * 20) % 2:  # every 0.1, and the weight in use
            if used is None or abs(row["weight"] - used) > 1e-9:
                continue
        mark = " (used)" if used is not None and abs(row["weight"] - used) < 1e-9 else ""
        table.add_row(f"{row['weight']:.2f}{mark}", f"{row['p_benefit']:.3f}",
                      f"{row['posterior_vague_weight']:.3f}", f"{row['posterior_mean']:.3f}")
    console.print(table)


def _print_effect_map(name: str, rec: dict[str, Any], console) -> None:
    from rich.table import Table

    console.print(f"\n[bold]{name}[/], effect (log odds ratio): {rec['model']['description']}")
    studies = Table(title="Earlier trials")
    for col in ("Trial", "Treatment", "Control"):
        studies.add_column(col, justify="left" if col == "Trial" else "right")
    for s in rec["studies"]:
        studies.add_row(s["source"] or "-", f"{s['treatment_events']}/{s['treatment_n']}",
                        f"{s['control_events']}/{s['control_n']}")
    console.print(studies)
    q, oq, tau = rec["quantiles"], rec["odds_ratio_quantiles"], rec["tau"]
    mix = " + ".join(f"{short(c['weight'], 3)} Normal({short(c['mean'])}, {short(c['sd'])}²)"
                     for c in rec["mixture"])
    console.print(
        f"tau: posterior median {_num(tau['median'])}, 95% interval {_num(tau['interval'][0])} "
        f"to {_num(tau['interval'][1])}\nMAP of a new trial's log OR: mean {_num(rec['mean'])}, "
        f"sd {_num(rec['sd'])}, median {_num(q['0.5'])} (OR {_num(oq['0.5'])}), 95% interval "
        f"{_num(q['0.025'])} to {_num(q['0.975'])} (OR {_num(oq['0.025'])} to "
        f"{_num(oq['0.975'])})\nMixture ({len(rec['mixture'])} components; max |CDF difference| "
        f"{rec['mixture_max_cdf_error']:.4f}): {mix}")
    if rec.get("robust") is not None:
        r = rec["robust"]
        console.print(f"Robust: weight {short(r['weight'])} on Normal({short(r['mean'])}, "
                      f"{short(r['sd'])}²) of the log OR")
    if rec.get("ess_by_prior"):
        ess = Table(title="Effective sample size (variance-matched, not ELIR)")
        for col in ("Prior", "Patients", "Treatment", "Control", "Prior's precision share"):
            ess.add_column(col, justify="left" if col == "Prior" else "right")
        names = {"map": "MAP (exact)", "mixture": "Mixture", "robust": "Robust mixture"}
        for key, v in rec["ess_by_prior"].items():
            share = v["prior_precision_share"]
            ess.add_row(names[key], f"{v['patients_total']:.1f}",
                        f"{v['patients_treatment']:.1f}", f"{v['patients_control']:.1f}",
                        "-" if share is None else f"{100 * share:.0f}%")
        console.print(ess)
        console.print(f"[dim]{rec['ess_note']}[/]")
    if "posterior_weights" in rec:
        prior_w = ", ".join(f"{short(c['weight'], 3)}" for c in rec["robust_mixture"])
        post_w = ", ".join(f"{short(w, 3)}" for w in rec["posterior_weights"])
        console.print(f"After this trial's log OR {_num(rec['data']['log_or'])} (variance "
                      f"{_num(rec['data']['variance'])}) the component weights go from "
                      f"({prior_w}) to ({post_w}).")
