"""The README's example of a new trial runs through `lnbayes report` as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import PYMC_GROUP

ROOT = Path(__file__).resolve().parents[1]


def readme_trial(tmp_path) -> Path:
    section = (ROOT / "README.md").read_text().split("## Describing a new trial", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "mytrial.toml"
    path.write_text(block)
    return path


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.xdist_group(PYMC_GROUP)
def test_readme_example_report(tmp_path, monkeypatch):
    """``lnbayes report`` of the README's file, exact and PyMC, run in this process (typer's
    CliRunner) from the file's folder: the PyMC report shares the models compiled by the gallery's
    PyMC reports (tests/test_gallery.py, same xdist group)."""
    from typer.testing import CliRunner

    from lnbayes.cli.main import app

    path = readme_trial(tmp_path)
    monkeypatch.chdir(tmp_path)
    for args in (["--engine", "exact"], ["--draws", "300", "--tune", "300"]):
        outdir = tmp_path / ("out_" + args[1])
        out = CliRunner().invoke(app, ["report", str(path), *args, "--no-explorer",
                                       "--outdir", str(outdir)])
        assert out.exit_code == 0, out.output
        results = json.loads((outdir / "results.json").read_text())
        md = (outdir / "appendix.md").read_text()
        assert "Drug X for condition Y" in md and "condition Y" in md
        assert "A pilot study suggested that drug X doubles the response rate." in md
        assert results["trial"]["id"] == "mytrial"
