"""lnbayes.engines.mcmc: sampled draws depend only on the seed and the model, not on what the
process sampled before."""

from __future__ import annotations

import pytest

from tests.conftest import PYMC_GROUP

# these tests sample with PyMC in the test process (tests/conftest.py: PYMC_GROUP)
pytestmark = pytest.mark.xdist_group(PYMC_GROUP)


def _b_after(sample_a_first: bool) -> tuple[str, object]:
    """The mean log OR of prior B's draws (seed 1), after sampling prior A (same structure) or
    not; and the prior B's model was compiled for."""
    from lnbayes.engines import mcmc
    from lnbayes.engines.mcmc import SamplerSettings
    from lnbayes.model.spec import BetaPrior, NormalPrior, Outcome, Prior

    o = Outcome("r", "r", 9, 12, 5, 6)
    a = Prior("A", "effect", BetaPrior.single(1, 1), scale="log_or",
              effect=NormalPrior.single(-1, 0.3))
    b = Prior("B", "effect", BetaPrior.single(3, 2), scale="log_or",
              effect=NormalPrior.single(1, 0.5))
    s = SamplerSettings(draws=200, tune=200)
    if sample_a_first:
        mcmc.sample(a, o, seed=1, settings=s)
    mean = repr(float(mcmc.sample(b, o, seed=1, settings=s)["posterior"]["log_or"].mean()))
    return mean, mcmc._representative(b, o)[0]


@pytest.mark.e2e
@pytest.mark.slow
def test_draws_do_not_depend_on_what_was_sampled_before():
    """One compiled model serves many priors; a prior's draws must not depend on the order.

    B's draws in a new process, where its model is compiled for B, against B's draws here,
    after A (and whatever this test worker sampled before): here B is sampled with a model
    compiled for another prior, with B's data swapped in. (This process's compiled models
    serve the second run: a second new process would compile its own.)"""
    import subprocess
    import sys
    from pathlib import Path

    code = ("from tests.engines.test_mcmc import _b_after\n"
            "mean, compiled_for = _b_after(False)\n"
            "assert compiled_for.name == 'B'\n"
            "print(mean)\n")
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, cwd=Path(__file__).resolve().parents[2]).stdout.strip()
    after, compiled_for = _b_after(True)
    assert compiled_for.name != "B"
    assert alone == after


@pytest.mark.slow
@pytest.mark.parametrize("scale", ["log_or", "log_rr"])
def test_logit_normal_control_agrees_with_exact(scale):
    """PyMC with pm.Normal (or NormalMixture) on logit(p_control): P(benefit) and E[p_control]
    within 4 MCSE of the exact engine (4: two quantities per scale, a false alarm rate below
    1e-4 each)."""
    import arviz as az
    import numpy as np

    from lnbayes.engines import exact, mcmc
    from lnbayes.engines.mcmc import SamplerSettings
    from lnbayes.model.spec import LogitNormalPrior, NormalPrior, Outcome, Prior

    control = (LogitNormalPrior.single(0.0, 2.5) if scale == "log_or"
               else LogitNormalPrior((0.7, 0.3), (1.0, -0.5), (0.6, 2.0)))
    prior = Prior("ln", "effect", control, scale=scale, effect=NormalPrior.single(0.0, 1.0))
    outcome = Outcome("r", "r", 9, 12, 5, 6)
    tree = mcmc.sample(prior, outcome, seed=11, settings=SamplerSettings(draws=1000, tune=500))
    assert "logit_p_control" in tree.posterior
    post = exact.posterior(prior, outcome)
    pc = tree.posterior["p_control"]
    benefit = (tree.posterior["p_treatment"] > pc).astype(float)
    for value, want in ((benefit, post.prob_benefit()), (pc, post.mean("p_control"))):
        got = float(value.mean())
        mcse = float(az.mcse(np.asarray(value), method="mean"))
        assert mcse > 0
        assert abs(got - want) <= 4 * mcse, (got, want, mcse)
