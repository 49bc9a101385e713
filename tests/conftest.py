"""Shared fixtures: the embedded trial and small PyMC settings."""

from __future__ import annotations

import pytest

from lnbayes.io import trialfile


@pytest.fixture(scope="session")
def deng():
    return trialfile.load_trial()


@pytest.fixture(scope="session")
def trial(deng):
    """The embedded trial (Deng et al. 2017), under the name most test modules use."""
    return deng


@pytest.fixture(scope="session")
def small_settings():
    from lnbayes.engines.mcmc import SamplerSettings

    # 4 chains x 1000 draws: MCSE of a probability near 0.5 is about 0.01
    return SamplerSettings(draws=1000, tune=500)
