"""``lnbayes priors``: what each prior says and implies before the data."""

from __future__ import annotations

import sys

from lnbayes.cli import options as opt
from lnbayes.cli.options import JsonOpt, OutcomeOpt, PriorOpt, TrialArg


def priors(
    trial_file: TrialArg = None,
    outcome: OutcomeOpt = None,
    prior: PriorOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """What each prior says and implies before the data: P(benefit), interval, ESS, conflict."""
    from lnbayes.analyses import prior_checks
    from lnbayes.io import trialfile

    trial = trialfile.load_trial(trial_file)
    result = prior_checks.priors_report(trial, outcome, prior)
    if json_out:
        from lnbayes.io import files

        sys.stdout.write(files.dumps(result))
    else:
        from lnbayes.outputs.tables import print_priors

        print_priors(result, opt.console())
