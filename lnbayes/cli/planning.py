"""``lnbayes predict`` and ``lnbayes design``: the decision to stop and the design (exact)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from lnbayes.cli import options as opt
from lnbayes.cli.options import JsonOpt, OutcomeOpt, PriorOpt, TrialArg
from lnbayes.errors import LnbayesError


def predict(
    trial_file: TrialArg = None,
    prior: PriorOpt = None,
    final: Annotated[Optional[str], typer.Option("--final", help="Final arm sizes T/C (default: the file's planned enrolment at its allocation ratio).")] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Success: P(benefit) >= this at the end.")] = 0.95,
    outcome: OutcomeOpt = None,
    design_prior: Annotated[Optional[str], typer.Option("--design-prior", help="Prior that predicts the remaining patients (default: the reference prior, flat); each row's prior judges the completed trial.")] = None,
    meaningful: Annotated[bool, typer.Option("--meaningful", help="Also count success as clinically meaningful benefit: P(beyond the outcome's first threshold) >= the threshold (exact engine per completion; slower).")] = False,
    criterion: opt.CriterionOpt = None,
    json_out: JsonOpt = False,
    plot: opt.PlotOpt = None,
) -> None:
    """Hybrid predictive probability that the completed trial would have shown benefit (exact)."""
    opt.check_probability(threshold, "--threshold")
    final_arms = opt.parse_arms(final, "--final")
    criteria = opt.parse_criteria(criterion)
    opt.check_plot_path(plot)
    opt.keep_freed_memory()
    from lnbayes.analyses import planning
    from lnbayes.io import trialfile

    trial = trialfile.load_trial(trial_file)
    data = trial.outcome(outcome)
    if final_arms is not None and (final_arms[0] < data.treatment_n or
                                   final_arms[1] < data.control_n):
        raise LnbayesError(
            f"<command line>: --final: {final_arms[0]}/{final_arms[1]} is smaller than the data "
            f"so far ({data.treatment_n}/{data.control_n}): nothing is left to predict")
    result = planning.predict(trial, prior, final_arms, threshold, outcome, design_prior, meaningful,
                              criteria)
    from lnbayes.io import files

    if plot is not None:
        from lnbayes.outputs.figures.planning_plots import predictive_figure

        opt.save_figure(predictive_figure(result), plot)
    if json_out:
        sys.stdout.write(files.dumps(result))
    else:
        from lnbayes.outputs.decision_tables import print_predict

        print_predict(result, opt.console())


def design(
    trial_file: TrialArg = None,
    prior: Annotated[Optional[str], typer.Option("--prior", help="Prior of the analysis (default: flat).")] = None,
    n: Annotated[Optional[str], typer.Option("--n", help="Arm sizes T/C (default: the file's planned enrolment at its allocation ratio).")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Declare benefit if P(benefit) >= this (default: the file's [design] threshold, else 0.95).")] = None,
    control_rate: Annotated[Optional[float], typer.Option("--control-rate", help="Expected control rate (default: the file's [design] control_rate).")] = None,
    hoped_for_rate: Annotated[Optional[float], typer.Option("--hoped-for-rate", help="Hoped-for treatment rate (default: from the file's [design]).")] = None,
    outcome: OutcomeOpt = None,
    criterion: opt.CriterionOpt = None,
    looks: Annotated[Optional[str], typer.Option("--looks", help="Interim looks: cumulative arm sizes T/C at each analysis, e.g. 12/6,17/8 (the last is the final analysis); efficacy stop when the rule holds.")] = None,
    futility: Annotated[Optional[float], typer.Option("--futility", help="With --looks: stop for futility when the predictive probability of success at the final look is below this.")] = None,
    json_out: JsonOpt = False,
    plot: opt.PlotOpt = None,
) -> None:
    """Operating characteristics of 'declare benefit if P(benefit) >= threshold', or of a rule of
    several criteria (--criterion) with optional interim looks (--looks, --futility) (exact)."""
    for value, option in ((threshold, "--threshold"), (control_rate, "--control-rate"),
                          (hoped_for_rate, "--hoped-for-rate"), (futility, "--futility")):
        opt.check_probability(value, option)
    arms = opt.parse_arms(n, "--n")
    criteria = opt.parse_criteria(criterion)
    look_list = opt.parse_looks(looks)
    if criteria and threshold is not None:
        raise LnbayesError("<command line>: --threshold: not with --criterion (give it as "
                           f"--criterion {threshold:g})")
    if futility is not None and look_list is None:
        raise LnbayesError("<command line>: --futility: needs interim looks (--looks)")
    if look_list is not None and arms is not None and tuple(arms) != look_list[-1]:
        raise LnbayesError(f"<command line>: --n: {arms[0]}/{arms[1]} differs from the last look "
                           f"{look_list[-1][0]}/{look_list[-1][1]} (the final analysis)")
    opt.check_plot_path(plot)
    opt.keep_freed_memory()
    from lnbayes.analyses import planning
    from lnbayes.io import trialfile

    trial = trialfile.load_trial(trial_file)
    if criteria or look_list:
        return _design_rule(trial, prior, arms, threshold, criteria, look_list, futility,
                            control_rate, hoped_for_rate, outcome, json_out, plot)
    status = opt.console(stderr=True)
    with status.status("enumerating all outcomes..."):
        result = planning.design(trial, prior, arms, threshold, control_rate, hoped_for_rate,
                                 outcome)
    from lnbayes.io import files

    if plot is not None:
        from lnbayes.outputs.figures.planning_plots import operating_characteristics_figure

        opt.save_figure(operating_characteristics_figure(result), plot)
    if json_out:
        sys.stdout.write(files.dumps(result))
    else:
        from lnbayes.outputs.decision_tables import print_design

        print_design(result, opt.console())


def _design_rule(trial, prior, arms, threshold, criteria, looks, futility, control_rate,
                 hoped_for_rate, outcome, json_out, plot) -> None:
    from lnbayes.analyses import decisions
    from lnbayes.io import files
    from lnbayes.model.criteria import Criterion

    if not criteria:
        d = trial.design
        criteria = (Criterion(threshold if threshold is not None else (d.threshold if d else 0.95)),)
    status = opt.console(stderr=True)
    with status.status("enumerating all outcomes..."):
        result = decisions.design(trial, criteria, prior, arms, control_rate, hoped_for_rate,
                                  outcome, looks=looks, futility=futility)
    if plot is not None:
        from lnbayes.outputs.figures.planning_plots import operating_characteristics_figure

        opt.save_figure(operating_characteristics_figure(result), plot)
    if json_out:
        sys.stdout.write(files.dumps(result))
    else:
        from lnbayes.outputs.decision_tables import print_design

        print_design(result, opt.console())
