"""The appendix speaks only of its own trial: its prose comes from the trial file and nowhere else."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from lnbayes.analyses import full_report
from lnbayes.io import trialfile

ROOT = Path(__file__).resolve().parents[2]

TRIALS = {"deng2017": ROOT / "models" / "deng2017.toml",
          "ecmo_like": ROOT / "tests" / "data" / "ecmo_like.toml"}

ENUMERATED = {"higher", "lower", "arm", "effect", "log_or", "log_rr", "rd", "rr", "or",
              "reference", "sceptical", "enthusiastic", "pessimistic", "grid", "above", "below"}



def string_values(obj) -> set[str]:
    """Every text value of a parsed trial file (keys excluded)."""
    if isinstance(obj, dict):
        return set().union(*(string_values(v) for v in obj.values())) if obj else set()
    if isinstance(obj, list):
        return set().union(*(string_values(v) for v in obj)) if obj else set()
    return {obj} if isinstance(obj, str) else set()



@pytest.fixture(scope="module")
def appendices(exact_report):
    """The appendix of ``lnbayes report --engine exact`` of each trial (the embedded trial's report
    is the one the gallery tests check: tests/conftest.py runs it once)."""
    out = {}
    for name, path in TRIALS.items():
        done, outdir = exact_report(path)
        assert done.returncode == 0, done.stderr
        out[name] = ((outdir / "appendix.md").read_text(),
                     string_values(tomllib.loads(path.read_text())))
    return out



@pytest.mark.e2e
@pytest.mark.xdist_group("report-deng2017")
def test_no_field_value_of_one_trial_appears_in_the_other(appendices):
    """A text value of one file (not also in the other, nor in the template or the standard
    references that every appendix has) must not appear in the other's appendix."""
    template = (ROOT / "lnbayes" / "outputs" / "templates" / "appendix.md.j2").read_text()
    generic = template + " ".join(full_report.STANDARD_REFERENCES)
    for this, other in (("deng2017", "ecmo_like"), ("ecmo_like", "deng2017")):
        text_other, values_other = appendices[other]
        own = appendices[this][1]
        leaked = [v for v in own - values_other
                  if len(v) >= 6 and v not in ENUMERATED and v not in generic and v in text_other]
        assert not leaked, f"{this} values in the {other} appendix: {leaked}"



@pytest.mark.e2e
@pytest.mark.xdist_group("report-deng2017")
def test_each_appendix_uses_its_own_narrative_fields(appendices):
    for name, path in TRIALS.items():
        text, _ = appendices[name]
        trial = trialfile.load_trial(path)
        for value in (trial.condition, trial.blinding, trial.population,
                      *trial.rationale.values()):
            assert value in text, (name, value)



@pytest.mark.e2e
@pytest.mark.xdist_group("report-deng2017")
def test_no_fact_of_the_embedded_trial_in_another_appendix(appendices):
    text, _ = appendices["ecmo_like"]
    for word in ("lupus", "hUC-MSC", "placebo", "Deng", "remission", "Zampieri", "stem cell",
                 "dramatic"):
        assert word.lower() not in text.lower(), word



def test_the_package_and_template_hold_no_fact_of_the_embedded_trial():
    """Nothing about the embedded trial in the code that writes prose (report, plots, tables)."""
    words = ("lupus", "huc-msc", "nephritis", "stem cell", "deng", "zampieri grid", "dramatic")
    sources = [ROOT / "lnbayes" / "outputs" / "templates" / "appendix.md.j2",
               *(ROOT / "lnbayes").glob("*.py")]
    found = []
    for path in sources:
        # the embedded trial's file name (the default trial file) is not a fact of the trial
        text = path.read_text().lower().replace("deng2017.toml", "")
        found += [f"{path.name}: {w}" for w in words if w in text]
    assert not found, found



@pytest.mark.parametrize(("comparator", "description", "opening", "compared_with"), [
    ("placebo", None, "double-blind, placebo-controlled trial", "with placebo."),
    ("usual standard of care", "usual care alone", "double-blind trial", "with usual care alone."),
    ("conventional lung-protective ventilation, with rescue ECMO allowed", None,
     "double-blind trial", "with conventional lung-protective ventilation, with rescue ECMO allowed."),
])
def test_the_comparator_in_the_opening_sentence(comparator, description, opening, compared_with):
    """A one-word comparator makes "placebo-controlled"; a longer one is not hyphenated into a
    compound adjective (EOLIA's gave "conventional-lung-protective-ventilation,-with-rescue-...-
    controlled"): the control arm's description names it, or the comparator when there is none."""
    import copy
    import json

    from lnbayes.outputs import report

    results = copy.deepcopy(json.loads((ROOT / "reports" / "deng2017" / "results.json").read_text()))
    results["trial"]["comparator"] = comparator
    results["trial"]["arms"]["control"]["description"] = description
    text = report.render_markdown(results)
    first = text[text.index("We re-analysed"):text.index("\n", text.index("We re-analysed"))]
    assert f"the randomised, {opening} of " in first, first
    assert "-controlled" not in first.replace("placebo-controlled", ""), first
    assert compared_with in first, first
