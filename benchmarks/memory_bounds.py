"""Peak memory (and time) of the exact computations on large inputs, against their stated bounds.

Each case runs in its own Python process and reports that process's peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``), so the numbers do not mix. The bounds are the
ones stated in the docstrings of :mod:`lnbayes.engines.datasets` (planned memory of a P(benefit)
computation at most 1 GiB; prior blocks of 32 MB; cached prior matrices at most 144 MB) and
:mod:`lnbayes.engines.prior_grid` (sweep grids kept for reuse at most 256 MB; one grid at most 1 GiB):
every case must stay below ``BASELINE + bound``, where ``BASELINE`` is the memory of an idle
process that has imported lnbayes. Requests beyond the budgets must be refused at once.

Usage: ``python benchmarks/memory_bounds.py`` (about a minute). Prints one line per case and
exits 1 if a case exceeds its bound or a refusal does not come.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HUGE = """
[trial]
id = "huge"
planned_enrolment = 2000000
allocation = [1, 1]
[arms.treatment]
n = 1000000
[arms.control]
n = 1000000
[outcomes.death]
treatment_events = 500000
control_events = 500000
better = "lower"
[priors.sceptical]
family = "effect"
control = { a = 1, b = 1 }
effect = { mean = 0.0, sd = 0.5 }
"""

BIG = """
[trial]
id = "big"
planned_enrolment = 200020
allocation = [1, 1]
[arms.treatment]
n = 100000
[arms.control]
n = 100000
[outcomes.response]
treatment_events = 50500
control_events = 50000
[priors.flat]
family = "arm"
control = { a = 1, b = 1 }
treatment = { a = 1, b = 1 }
[priors.wide]
family = "effect"
control = { a = 1, b = 1 }
effect = { mean = 0.0, sd = 1.5 }
"""

PRELUDE = """
import json, resource, time
from lnbayes import decision, planning, spec, sweep
from lnbayes.errors import LnbayesError
from lnbayes.spec import BetaPrior, NormalPrior, Prior
start = time.perf_counter()
refused = None
try:
{body}
except LnbayesError as err:
    refused = str(err)
print(json.dumps({{"seconds": time.perf_counter() - start, "refused": refused,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

MB = 1.0
CASES = [
    # name, body, bound above baseline (MB), whether a refusal is expected
    ("idle (baseline)", "pass", None, False),
    ("sweep, 10^6 patients, 5x10^5 events, default 720-point grid",
     "sweep.run_sweep(spec.load_trial('{huge}'), scale='log_or')", 256 + 1024, False),
    ("design --n 100000/100000 (flat): refused up front",
     "planning.design(spec.load_trial('{big}'), prior_name='flat', n=(100000, 100000))", 64, True),
    ("predict, 100,000 per arm, 10 more per arm, 2 priors",
     "planning.predict(spec.load_trial('{big}'), final=(100010, 100010))", 1024, False),
    ("P(benefit) table, flat prior, 2000 x 2000 datasets",
     "decision.prob_benefit_table(Prior('f', 'arm', BetaPrior.single(1, 1), "
     "treatment=BetaPrior.single(1, 1)), 2000, 2000)", 1024, False),
    ("P(benefit) table, log-OR N(0, 1.5^2), 301 x 301 datasets",
     "decision.prob_benefit_table(Prior('w', 'effect', BetaPrior.single(1, 1), scale='log_or', "
     "effect=NormalPrior.single(0, 1.5)), 300, 300)", 1024 + 144, False),
    # refused once the exact engine has located the corner datasets' posteriors (seconds)
    ("P(benefit) table, log-OR N(0, 1e-6^2), 1501 x 1501: refused before the table",
     "decision.prob_benefit_table(Prior('n', 'effect', BetaPrior.single(1, 1), scale='log_or', "
     "effect=NormalPrior.single(0, 1e-6)), 1500, 1500)", 512, True),
]


def main() -> int:
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        huge, big = Path(tmp) / "huge.toml", Path(tmp) / "big.toml"
        huge.write_text(HUGE)
        big.write_text(BIG)
        baseline = None
        print(f"{'case':<66} {'seconds':>8} {'peak MB':>8} {'bound MB':>9}  result")
        for name, body, bound, refusal in CASES:
            code = PRELUDE.format(body=textwrap.indent(body.format(huge=huge, big=big), "    "))
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{name:<66} failed: {done.stderr.strip().splitlines()[-1]}")
                failures += 1
                continue
            out = json.loads(done.stdout.strip().splitlines()[-1])
            if baseline is None:
                baseline = out["peak_mb"]
                print(f"{name:<66} {out['seconds']:>8.2f} {out['peak_mb']:>8.0f} {'':>9}  baseline")
                continue
            limit = baseline + bound * MB
            ok = out["peak_mb"] <= limit and (out["refused"] is not None) == refusal
            failures += not ok
            result = ("refused: " + out["refused"][:60]) if out["refused"] else "computed"
            print(f"{name:<66} {out['seconds']:>8.2f} {out['peak_mb']:>8.0f} {limit:>9.0f}  "
                  f"{'ok' if ok else 'OVER'} ({result})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
