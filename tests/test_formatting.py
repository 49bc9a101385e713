"""lnbayes.formatting: how numbers are written."""

from __future__ import annotations

import pytest

from lnbayes import formatting


@pytest.mark.parametrize("x, text", [(0.444, "0.444"), (1.0, "1.00"), (12.5, "12.5"),
                                     (0.001, "0.00100"), (2e-59, "2.00e-59"), (3e7, "3.00e+07"),
                                     (99999.0, "1.00e+05")])
def test_ratio_never_prints_a_positive_ratio_as_zero(x, text):
    assert formatting.ratio(x) == text
    assert formatting.estimate(2e-59) == "0"  # an estimate near 0 is 0; a ratio is not


def test_advocacy_limit_sentence_names_a_tiny_limit():
    """A result just short of significance needs only a vague advocate: its limit is an odds
    ratio of about 1e-59, which the sentence must not print as 0 (it did)."""
    from lnbayes.analyses.sweep import _analysis_of_credibility

    out = _analysis_of_credibility(-0.81, 0.42, 1.959964, "treatment", "Placebo")
    assert out["kind"] == "advocacy" and out["advocacy_limit_or"] < 1e-40
    assert " to 0 or beyond" not in out["sentence"] and "e-" in out["sentence"]
