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

