"""The README's example of a new trial runs through `lnbayes report` as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_trial(tmp_path) -> Path:
    section = (ROOT / "README.md").read_text().split("## Describing a new trial", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "mytrial.toml"
    path.write_text(block)
    return path


@pytest.mark.e2e
@pytest.mark.slow
def test_readme_example_report(tmp_path):
    path = readme_trial(tmp_path)
    for args in (["--engine", "exact"], ["--draws", "300", "--tune", "300"]):
        outdir = tmp_path / ("out_" + args[1])
        out = subprocess.run([sys.executable, "-m", "lnbayes", "report", str(path), *args, "--no-explorer",
                              "--outdir", str(outdir)], capture_output=True, text=True,
                             cwd=tmp_path, timeout=1800)
        assert out.returncode == 0, out.stderr
        results = json.loads((outdir / "results.json").read_text())
        md = (outdir / "appendix.md").read_text()
        assert "Drug X for condition Y" in md and "condition Y" in md
        assert "A pilot study suggested that drug X doubles the response rate." in md
        assert results["trial"]["id"] == "mytrial"
