"""A report made with its second processes (lnbayes.io.background) writes the same files as one
made in one process.

The test suite runs reports in one process when pytest-xdist fills the cores
(tests/conftest.py); this is the end-to-end check that the default, two-process path gives the
same results: every number, the appendix and every figure byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import SMALL_DESIGN, SMALL_TRIAL, lnbayes_cli, without_run_times

pytestmark = pytest.mark.xdist_group("second-core")


@pytest.mark.e2e
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: no second process is started")
def test_a_report_made_with_a_second_process_writes_the_same_files(tmp_path, monkeypatch):
    outs = {}
    for setting in ("on", "off"):
        # the same relative paths in each folder, so that the recorded command lines agree
        where = tmp_path / setting
        where.mkdir()
        shutil.copy(SMALL_TRIAL, where / "small.toml")
        with (where / "small.toml").open("a", encoding="utf-8") as f:
            f.write(SMALL_DESIGN)  # predict and design both go to the second process
        monkeypatch.setenv("LNBAYES_BACKGROUND", setting)
        monkeypatch.setenv("LNBAYES_CACHE_DIR", str(where / "cache"))
        done = lnbayes_cli("report", "small.toml", "--engine", "exact", "--no-explorer",
                           "--outdir", "out", cwd=where)
        assert done.returncode == 0, done.stderr
        outs[setting] = where / "out"
    on, off = outs["on"], outs["off"]
    results = [without_run_times(json.loads((d / "results.json").read_text())) for d in (on, off)]
    assert results[0]["predict"] is not None and results[0]["design"] is not None
    assert results[0] == results[1]
    assert (on / "appendix.md").read_text() == (off / "appendix.md").read_text()
    figures = sorted(p.relative_to(off) for p in (off / "figures").iterdir())
    assert figures and figures == sorted(p.relative_to(on) for p in (on / "figures").iterdir())
    for name in figures:
        assert (on / name).read_bytes() == (off / name).read_bytes(), name
