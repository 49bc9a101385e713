"""Benchmark of ``lnbayes sweep`` (not a test): run ``.venv/bin/python benchmarks/bench_sweep.py``.

Prints, in one run, on the embedded trial's primary outcome (Deng et al. 2017, remission):

1. exact-engine throughput, priors per second, for 10,000 priors (100 centres x 100 sds) per
   scale, and the end-to-end ``run_sweep`` time for the same grid on the log-OR scale;
2. the amortised PyMC time per grid point of a sweep (one compile, re-sampled per point) over
   ``--points`` priors, and how nutpie's ``cores=2`` compares with ``cores=1`` per point;
3. the time per prior of a naive loop that rebuilds, recompiles and samples the PyMC model for
   each prior with the same draws, over ``--naive`` priors (then extrapolated linearly: each
   naive prior costs the same compile + sample, so the mean is the per-prior figure);
4. the ratio of (3) to (2), and the fraction of PyMC grid points beyond 3 MCSE of exact.

Targets (issue 4): exact >= 2,000 priors/s; PyMC sweep >= 15x faster per prior than the naive
loop over 100 priors; <= 1% of PyMC points beyond 3 MCSE.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def exact_throughput(trial, outcome) -> None:
    from lnbayes.analyses import sweep as sweep_mod
    from lnbayes.engines import prior_grid
    from lnbayes.model.effects import MEASURE_OF_SCALE

    threshold = outcome.thresholds[0]
    control = sweep_mod.control_prior_for(trial, outcome)[1]
    for scale in ("log_or", "log_rr", "rd"):
        (c0, c1, _), (s0, s1, _) = sweep_mod.DEFAULT_EFFECT_GRID[scale]
        means = np.tile(np.linspace(c0, c1, 100), 100)
        sds = np.repeat(np.linspace(s0, s1, 100), 100)
        t = time.perf_counter()
        engine = prior_grid.EffectSweep(control, scale, outcome, (MEASURE_OF_SCALE[threshold.scale], threshold.value))
        res = engine.evaluate(means, sds)
        dt = time.perf_counter() - t
        print(f"exact {scale:6s}: 10,000 priors in {dt:5.2f} s = {1e4 / dt:7.0f} priors/s "
              f"(all on the fast path: {bool(res.ok.all())})")
    t = time.perf_counter()
    out = sweep_mod.run_sweep(trial, outcome.name, "log_or", sweep_mod.GridRange(-1, 2.5, 100),
                          sweep_mod.GridRange(0.1, 2.0, 100), outdir=None, check_roots=False)
    dt = time.perf_counter() - t
    print(f"run_sweep log_or 100 x 100 (grid {out['timing']['exact_s']:.2f} s + 300 tipping-point root "
          f"searches): {dt:.2f} s end to end")


def pymc_sweep(trial, outcome, n_points: int, settings, workers: int = 1):
    from lnbayes.analyses import sweep as sweep_mod
    from lnbayes.engines import mcmc

    # count the one compile honestly: forget models compiled earlier in this process
    mcmc._compiled.cache_clear()
    mcmc._REPRESENTATIVES.clear()
    n_c = int(np.ceil(np.sqrt(n_points)))
    n_s = int(np.ceil(n_points / n_c))
    t = time.perf_counter()
    out = sweep_mod.run_sweep(trial, outcome.name, "log_or", sweep_mod.GridRange(-0.5, 2.0, n_c),
                          sweep_mod.GridRange(0.3, 1.5, n_s), engine="pymc", settings=settings,
                          outdir=None, check_roots=False, workers=workers)
    dt = time.perf_counter() - t
    return out, dt


def naive_loop(trial, outcome, n: int, settings) -> float:
    """Per prior: build the PyMC model, compile it with nutpie, sample (the same settings)."""
    import nutpie

    from lnbayes.analyses import sweep as sweep_mod
    from lnbayes.engines import draws, mcmc

    control = sweep_mod.control_prior_for(trial, outcome)[1]
    problem = sweep_mod._Problem(trial, outcome, "effect", "log_or", "x", control, outcome.thresholds[0])
    rng = np.random.default_rng(1)
    times = []
    for k in range(n):
        prior = problem.prior(float(rng.uniform(-0.5, 2.0)), float(rng.uniform(0.3, 1.5)))
        t = time.perf_counter()
        compiled = nutpie.compile_pymc_model(mcmc.build_model(prior, outcome))
        tree = nutpie.sample(compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
                             cores=settings.cores, seed=k, target_accept=settings.target_accept,
                             progress_bar=False)
        draws.draws_summary(tree, outcome, outcome.thresholds[:1])
        draws.diagnostics(tree)
        times.append(time.perf_counter() - t)
        print(f"  naive prior {k + 1}/{n}: {times[-1]:.2f} s")
    return float(np.mean(times))


def cores_comparison(trial, outcome, settings, n: int = 6) -> None:
    """Per-point sampling time with nutpie cores=2 (4 chains) and cores=1 (4 chains)."""
    from dataclasses import replace

    from lnbayes.analyses import sweep as sweep_mod
    from lnbayes.engines import mcmc

    control = sweep_mod.control_prior_for(trial, outcome)[1]
    problem = sweep_mod._Problem(trial, outcome, "effect", "log_or", "x", control, None)
    mcmc.sample(problem.prior(0.5, 1.0), outcome, seed=1, settings=settings)  # compile
    for cores in (2, 1):
        s = replace(settings, cores=cores)
        t = time.perf_counter()
        for k in range(n):
            mcmc.sample(problem.prior(0.2 * k, 0.8), outcome, seed=k, settings=s)
        print(f"nutpie cores={cores}, {s.chains} chains: {(time.perf_counter() - t) / n:.3f} s per point "
              "(sampling only)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100, help="PyMC sweep grid points")
    parser.add_argument("--naive", type=int, default=6, help="naive-loop priors (each recompiles)")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="also time the process-parallel sweep")
    parser.add_argument("--skip-pymc", action="store_true")
    args = parser.parse_args()

    from lnbayes.engines.mcmc import SamplerSettings
    from lnbayes.io import trialfile

    print(f"machine: {os.cpu_count()} cores")
    trial = trialfile.load_trial()
    outcome = trial.primary_outcome
    exact_throughput(trial, outcome)
    if args.skip_pymc:
        return
    settings = SamplerSettings(draws=args.draws, tune=args.tune, chains=4, cores=2)
    print(f"PyMC settings: {settings.as_dict()}")
    cores_comparison(trial, outcome, settings)
    out, dt = pymc_sweep(trial, outcome, args.points, settings)
    n = len(out["grid"])
    per_point = dt / n
    print(f"PyMC sweep: {n} points in {dt:.1f} s (one compile included) = {per_point:.3f} s per point amortised")
    if args.workers > 1:
        out_w, dt_w = pymc_sweep(trial, outcome, args.points, settings, workers=args.workers)
        same = [r["p_benefit"] for r in out_w["grid"]] == [r["p_benefit"] for r in out["grid"]]
        print(f"PyMC sweep with {args.workers} worker processes (cores=1 each, one compile each): "
              f"{dt_w:.1f} s = {dt_w / n:.3f} s per point; identical draws: {same}")
    check = out["pymc_check"]
    print(f"PyMC vs exact: worst |z| = {check['worst_z']:.2f} MCSE at {check['worst_point']}; "
          f"{100 * check['fraction_beyond_3_mcse']:.1f}% of points beyond 3 MCSE; "
          f"threshold worst |z| = {check['threshold_worst_z']:.2f}; all converged: {check['all_converged']}")
    naive = naive_loop(trial, outcome, args.naive, settings)
    print(f"naive loop (rebuild + compile + sample per prior, same draws): {naive:.2f} s per prior "
          f"(mean of {args.naive}; x100 priors = {100 * naive:.0f} s)")
    print(f"ratio naive / sweep per prior: {naive / per_point:.1f}x (target >= 15x)")


if __name__ == "__main__":
    main()
