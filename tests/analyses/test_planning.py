"""lnbayes.analyses.planning: predictive probability of success (predict) and design tables
(design) of a trial file."""

from __future__ import annotations

import pytest
from scipy import stats

from lnbayes.analyses import planning
from lnbayes.errors import LnbayesError
from lnbayes.io.trialfile import load_trial
from tests.references import flat_p_greater


def test_design_table_in_file(trial):
    d = trial.design
    assert d.control_rate == 0.6 and d.hoped_for_or == 3.0
    assert d.hoped_for_rate == pytest.approx(1.8 / 2.2)



@pytest.fixture(scope="session")
def design_flat(trial):
    return planning.design(trial, "flat")



def test_design_result(design_flat):
    result = design_flat
    assert result["n"] == {"treatment": 17, "control": 8}
    oc = result["operating_characteristics"]
    assert len(oc) == 19 * 19
    cell = next(r for r in oc if r["p_control"] == 0.3 and r["p_treatment"] == 0.7)
    # brute force over all 18 x 9 outcomes with closed-form decisions
    brute = sum(
        stats.binom.pmf(c, 8, 0.3) * stats.binom.pmf(t, 17, 0.7)
        for c in range(9) for t in range(18) if flat_p_greater(t, 17, c, 8) >= 0.95
    )
    assert cell["p_declare_benefit"] == pytest.approx(brute, abs=1e-12)
    assert result["type_i_error"]["max"] >= result["type_i_error"]["at_control_rate"]
    assert result["power"]["p_treatment"] == pytest.approx(1.8 / 2.2)
    s = result["sample_size_80"]
    assert s["power"] >= 0.8 and s["n_treatment"] + s["n_control"] == s["total"]



def test_impossible_planned_size_names_the_trial_field(tmp_path):
    """Issue 11 item 13: a planned enrolment below the data so far blames the file's field, not
    an option that was never given."""
    from lnbayes.analyses import planning

    path = tmp_path / "t.toml"
    path.write_text('[trial]\nid = "sp"\nplanned_enrolment = 10\nallocation = [1, 1]\n'
                    '[arms.treatment]\nn = 12\n[arms.control]\nn = 6\n'
                    '[outcomes.r]\ntreatment_events = 9\ncontrol_events = 5\n')
    with pytest.raises(LnbayesError, match="trial.planned_enrolment: 10") as err:
        planning.predict(load_trial(str(path)))
    assert "--final" not in str(err.value)
    with pytest.raises(LnbayesError, match="final arm sizes: 5/5 is smaller") as err:
        planning.predict(load_trial(str(path)), final=(5, 5))
    assert "command line" not in str(err.value)  # the library names no option; the CLI does
    from typer.testing import CliRunner

    from lnbayes.cli.main import app

    out = CliRunner().invoke(app, ["predict", str(path), "--final", "5/5"])
    assert out.exit_code == 2
    assert "<command line>: --final: 5/5 is smaller than the data so far" in out.output

