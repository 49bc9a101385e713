"""lnbayes.engines.mcmc: sampled draws depend only on the seed and the model, not on what the
process sampled before."""

from __future__ import annotations

import pytest


@pytest.mark.e2e
@pytest.mark.slow
def test_draws_do_not_depend_on_what_was_sampled_before(small_settings):
    """One compiled model serves many priors; a prior's draws must not depend on the order."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from lnbayes.model.spec import BetaPrior, NormalPrior, Outcome, Prior\n"
        "from lnbayes.engines import mcmc\n"
        "from lnbayes.engines.mcmc import SamplerSettings\n"
        "o = Outcome('r', 'r', 9, 12, 5, 6)\n"
        "A = Prior('A', 'effect', BetaPrior.single(1, 1), scale='log_or', effect=NormalPrior.single(-1, 0.3))\n"
        "B = Prior('B', 'effect', BetaPrior.single(3, 2), scale='log_or', effect=NormalPrior.single(1, 0.5))\n"
        "s = SamplerSettings(draws=200, tune=200)\n"
        "if sys.argv[1] == 'AB':\n"
        "    mcmc.sample(A, o, seed=1, settings=s)\n"
        "print(repr(float(mcmc.sample(B, o, seed=1, settings=s)['posterior']['log_or'].mean())))\n"
    )
    alone, after = (
        subprocess.run([sys.executable, "-c", code, order], capture_output=True, text=True,
                       check=True).stdout.strip()
        for order in ("B", "AB")
    )
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
