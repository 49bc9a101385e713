"""Benchmark of issue 12's speed targets (not a test): ``make bench`` or
``.venv/bin/python benchmarks/bench.py [--report] [--naive N]``.

Prints one line per target: the measured figure, the target, whether it is met, and the ratio to
a naive reference where there is one. The machines are noisy (2 cores, shared), so these figures
are never asserted in the test suite; run the script twice before believing a change of 10%.

* exact engine, per prior: the P(benefit), threshold probabilities, medians and 95% intervals of
  every measure (``exact.posterior`` + ``exact.summarise``), averaged over the embedded trial's
  priors (the median of three passes, after one warm-up call per prior family); the naive
  reference is P(benefit) alone by ``scipy.integrate.dblquad`` on the same prior (over
  ``--naive`` priors);
* the CLI, wall time in a fresh process, imports included: ``analyze --engine exact``,
  ``predict``, ``design`` (the median of three runs after a first one, which is printed too),
  a 10,000-prior ``sweep`` (100 centres x 100 sds) with tipping points;
* ``report`` from scratch and with the canonical draws reused (``--report``, into temporary
  folders; slow), wall and CPU time;
* imports: which heavy libraries ``--help`` and the exact commands load;
* BLAS threads in a CLI process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from lnbayes.cli.main import _limit_blas_threads  # noqa: E402  (before NumPy: as the CLI runs)

_limit_blas_threads()
TRIAL = ROOT / "models" / "deng2017.toml"
HEAVY = ("pymc", "arviz", "matplotlib", "pytensor", "nutpie", "numpy", "scipy")


def line(what: str, value: str, target: str, met: bool | None, ratio: str = "") -> None:
    verdict = {True: "met", False: "NOT met", None: "-"}[met]
    print(f"{what:<52s} {value:>14s}   target {target:<16s} {verdict:<8s} {ratio}")


def cli(*args: str, outdir: Path | None = None, env: dict | None = None) -> float:
    """Wall seconds of ``python -m lnbayes ARGS`` in a fresh process (fails loudly).

    The child may write bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped from its environment),
    as an installed lnbayes does on its first import: without it every run recompiles lnbayes's
    own modules (about 0.1 s).
    """
    where = ["--outdir", str(outdir)] if outdir is not None else []
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lnbayes", *args, *where],
                          capture_output=True, text=True, cwd=ROOT,
                          env=child_env if env is None else {**child_env, **env})
    dt = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"bench: lnbayes {' '.join(args)} failed:\n{done.stderr}")
    return dt


def cli_repeated(*args: str, repeats: int = 3, outdir: Path | None = None) -> tuple[float, float]:
    """(first, median of the next ``repeats``) wall seconds of ``lnbayes ARGS``.

    The first run pays what only a first run pays (bytecode, the record cache's MAP fits); the
    median of the later runs is what a user sees every other time, and is what the target is
    judged on; a single run on a shared 2-core machine is too noisy to judge 10%.
    """
    first = cli(*args, outdir=outdir)
    later = sorted(cli(*args, outdir=outdir) for _ in range(repeats))
    return first, later[len(later) // 2]


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes (the machine is shared: wall
    time alone says little)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def exact_per_prior(n_naive: int) -> None:
    import numpy as np
    from scipy import integrate, stats

    from lnbayes.engines import exact
    from lnbayes.io import trialfile
    from lnbayes.model import effects

    trial = trialfile.load_trial(TRIAL)
    outcome = trial.primary_outcome
    priors = trial.priors_for(outcome)
    # warm-up: one prior of each family (the first calls of each code path pay for SciPy's and
    # NumPy's lazy set-up); then three passes over every prior, judged on the median pass
    for family in sorted({p.family for p in priors}):
        p = next(p for p in priors if p.family == family)
        exact.summarise(exact.posterior(p, outcome), outcome)
    warnings.simplefilter("ignore", integrate.IntegrationWarning)
    passes = []
    for _ in range(3):
        times = []
        for p in priors:
            t = time.process_time()
            exact.summarise(exact.posterior(p, outcome), outcome)
            times.append(time.process_time() - t)
        passes.append(float(np.mean(times)))
    per = sorted(passes)[1]

    # naive reference: P(benefit) alone, by dblquad over (p_control, p_treatment), the effect
    # prior truncated to its feasible range at each p_control (as the model has it)
    effect_priors = [p for p in priors if p.family == "effect"][:n_naive]
    yt, nt = outcome.treatment_events, outcome.treatment_n
    yc, nc = outcome.control_events, outcome.control_n
    jacobian = {"log_or": lambda pt: 1 / (pt * (1 - pt)), "log_rr": lambda pt: 1 / pt,
                "rd": lambda pt: 1.0}
    naive, worst, worst_prior = [], 0.0, None
    for p in effect_priors:
        ca, cb, cw = (np.asarray(v, float) for v in (p.control.a, p.control.b, p.control.weights))
        m, s, w = (np.asarray(v, float) for v in (p.effect.means, p.effect.sds, p.effect.weights))

        def joint(pt, pc, p=p, ca=ca, cb=cb, cw=cw, m=m, s=s, w=w):
            th = float(effects.theta_of(p.scale, pc, pt))
            lo, hi = effects.theta_bounds(p.scale, pc)
            mass = float(np.sum(w * (stats.norm.cdf((hi - m) / s) - stats.norm.cdf((lo - m) / s))))
            prior_e = float(np.sum(w * stats.norm.pdf(th, m, s))) / mass
            prior_c = float(np.sum(cw * stats.beta.pdf(pc, ca, cb)))
            lik = np.exp(yt * np.log(pt) + (nt - yt) * np.log1p(-pt)
                         + yc * np.log(pc) + (nc - yc) * np.log1p(-pc))
            return prior_e * jacobian[p.scale](pt) * prior_c * lik

        t = time.process_time()
        total = integrate.dblquad(joint, 0, 1, 0, 1, epsabs=1e-14)[0]
        if outcome.lower_is_better:
            part = integrate.dblquad(joint, 0, 1, 0, lambda pc: pc, epsabs=1e-14)[0]
        else:
            part = integrate.dblquad(joint, 0, 1, lambda pc: pc, 1, epsabs=1e-14)[0]
        naive.append(time.process_time() - t)
        mine = exact.posterior(p, outcome).prob_benefit(outcome.lower_is_better)
        if abs(part / total - mine) > worst:
            worst, worst_prior = abs(part / total - mine), p.name
    ref = float(np.mean(naive)) if naive else float("nan")
    line("exact, per prior (all summaries), CPU", f"{1e3 * per:.1f} ms", "<= 20 ms", per <= 0.020,
         f"dblquad P(benefit) alone {1e3 * ref:,.0f} ms = {ref / per:,.0f}x "
         f"(agree to {worst:.1e}, {worst_prior})")


def imports(args: list[str]) -> list[str]:
    code = ("import sys\nfrom lnbayes.cli.main import app\n"
            f"try:\n    app({args!r}, prog_name='lnbayes')\nexcept SystemExit:\n    pass\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true",
                        help="also time `lnbayes report`, from scratch and with the canonical draws reused (slow)")
    parser.add_argument("--naive", type=int, default=3, help="priors for the dblquad reference")
    opts = parser.parse_args()
    print(f"lnbayes benchmark on {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    exact_per_prior(opts.naive)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for what, args, target in (
                ("analyze --engine exact, wall (imports included)",
                 ("analyze", "--engine", "exact"), 2),
                ("predict, wall", ("predict", "--json"), 1),
                ("design, wall", ("design", "--json"), 2)):
            first, dt = cli_repeated(*args, outdir=out / "analyze" if args[0] == "analyze" else None)
            line(what, f"{dt:.2f} s", f"<= {target} s", dt <= target,
                 f"median of 3 later runs; the first {first:.2f} s")
        dt = cli("sweep", "--centre", "-1:2.5:100", "--sd", "0.1:2:100", "--no-cache",
                 outdir=out / "sweep")
        line("sweep, 10,000 priors with tipping points, wall", f"{1e4 / dt:,.0f} priors/s",
             ">= 2,000/s", 1e4 / dt >= 2000)
        if opts.report:
            # from scratch: an empty folder and an empty record cache (every fit sampled, each
            # model structure compiled, every MAP fit and explorer grid computed; numba's own
            # cache of compiled code is the machine's); reused: a copy of the committed report,
            # whose draws are read back, and the record cache the first run filled (a second
            # report on the same machine). The reference is issue 12's measurement before the
            # rebuild (5 min 14 s and 4 min 30 s), which had no explorer.
            records = {"LNBAYES_CACHE_DIR": str(out / "record_cache")}
            for what, target, naive, seed_dir in (("from scratch", 90, 314, None),
                                                  ("canonical draws reused", 30, 270,
                                                   ROOT / "reports" / "deng2017")):
                work = out / f"report_{'reused' if seed_dir else 'scratch'}"
                if seed_dir is not None:
                    shutil.copytree(seed_dir, work)
                cpu0 = _children_cpu()
                dt = cli("report", outdir=work, env=records)
                cpu = _children_cpu() - cpu0
                line(f"report, {what}, wall (CPU {cpu:.0f} s)", f"{dt:.0f} s", f"<= {target} s",
                     dt <= target, f"issue 12's {naive} s = {naive / dt:.1f}x")
    heavy_help = imports(["--help"])
    line("--help imports", ", ".join(heavy_help) or "nothing heavy", "nothing heavy",
         not heavy_help)
    drawing = {"pymc", "arviz", "matplotlib", "pytensor", "nutpie"}
    with tempfile.TemporaryDirectory() as tmp:
        loaded = imports(["analyze", "--engine", "exact", "--outdir", tmp])
    line("analyze --engine exact imports", ", ".join(sorted(set(loaded) & drawing)) or "none of "
         "pymc/arviz/mpl", "none", not set(loaded) & drawing)
    code = ("import lnbayes.cli.main, numpy\nfrom threadpoolctl import threadpool_info\n"
            "print(max((i['num_threads'] for i in threadpool_info()), default=1))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    threads = done.stdout.strip() or "unknown (threadpoolctl missing)"
    line("BLAS threads in a CLI process", threads, "1 on <= 4 cores",
         threads == "1" if (os.cpu_count() or 1) <= 4 else None)


if __name__ == "__main__":
    main()
