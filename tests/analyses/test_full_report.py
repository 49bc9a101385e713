"""lnbayes.analyses.full_report: the report's planning results (predict, design) and prior checks
are read back from the record cache by a report of the same trial, made by the same code, and only
then (the key itself: tests/io/test_record_cache.py)."""

from __future__ import annotations

import json
import shutil

import pytest

from lnbayes.analyses import full_report, planning
from lnbayes.io import files
from lnbayes.io.trialfile import load_trial
from tests.conftest import SMALL_DESIGN, SMALL_TRIAL, without_run_times


@pytest.fixture
def trial_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LNBAYES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LNBAYES_BACKGROUND", "off")  # the spies below see this process only
    path = tmp_path / "small.toml"
    shutil.copy(SMALL_TRIAL, path)
    with path.open("a", encoding="utf-8") as f:
        f.write(SMALL_DESIGN)
    return path


def _planning(trial):
    report, extras = full_report.run_report(trial, engine="exact")
    return report["predict"], report["design"], report["protocol"], report["prior_checks"], extras


def _count_calls(monkeypatch) -> list[str]:
    from lnbayes.analyses import prior_checks

    calls = []
    for module, name in ((planning, "predict"), (planning, "design"),
                         (prior_checks, "priors_report")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    return calls


def _same_apart_from_provenance(a, b):
    def strip(result):
        return without_run_times({k: v for k, v in result.items() if k != "provenance"})

    assert json.dumps(strip(a)) == json.dumps(strip(b))  # every number, and the keys' order


def test_a_second_report_reads_the_planning_results_back(trial_file, monkeypatch):
    calls = _count_calls(monkeypatch)
    first = _planning(load_trial(trial_file))
    assert calls == ["priors_report", "predict", "design"]
    assert not first[0]["provenance"]["from_cache"] and not first[1]["provenance"]["from_cache"]
    moved = trial_file.parent / "elsewhere.toml"  # the same trial in another file: a hit
    shutil.copy(trial_file, moved)
    again = _planning(load_trial(moved))
    assert calls == ["priors_report", "predict", "design"]  # nothing computed again
    for new, old in zip(again[:4], first[:4]):
        _same_apart_from_provenance(new, old)
    for result in again[:2]:
        assert result["provenance"]["from_cache"]
        assert result["provenance"]["trial_file"] == load_trial(moved).source_path
        assert result["provenance"]["command"] == files.command_line()
    completions = [r["completions"] for r in again[4]["predict"]["results"]]
    assert completions == [r["completions"] for r in first[4]["predict"]["results"]]


def test_another_trial_or_other_code_computes_again(trial_file, monkeypatch):
    calls = _count_calls(monkeypatch)
    _planning(load_trial(trial_file))
    text = trial_file.read_text(encoding="utf-8")
    trial_file.write_text(text.replace("control_rate = 0.40", "control_rate = 0.45"),
                          encoding="utf-8")
    changed = _planning(load_trial(trial_file))
    assert calls == ["priors_report", "predict", "design"] * 2
    assert changed[1]["type_i_error"]["control_rate"] == 0.45
    trial_file.write_text(text + "\n# a comment: other bytes, the same trial\n", encoding="utf-8")
    _planning(load_trial(trial_file))
    assert calls == ["priors_report", "predict", "design"] * 3  # the file's bytes are part of the key
    monkeypatch.setattr(files, "code_digest", lambda: "other code")
    _planning(load_trial(trial_file))
    assert calls == ["priors_report", "predict", "design"] * 4


def test_no_cache_computes_every_time(trial_file, monkeypatch):
    monkeypatch.setenv("LNBAYES_CACHE_DIR", "off")
    calls = _count_calls(monkeypatch)
    first = _planning(load_trial(trial_file))
    again = _planning(load_trial(trial_file))
    assert calls == ["priors_report", "predict", "design"] * 2
    assert not again[0]["provenance"]["from_cache"]
    _same_apart_from_provenance(again[1], first[1])
