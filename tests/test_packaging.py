"""The package works when installed from a wheel, not only from the checkout."""

from __future__ import annotations

import json
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
def test_wheel_installed_outside_the_checkout_runs_the_embedded_trial(tmp_path):
    """A wheel built from the repository, installed in a fresh venv, analyses the embedded trial.

    The dependencies come from the test environment (a .pth file: no download); lnbayes itself
    and the embedded trial file come from the wheel only, and the command runs in a folder
    outside the checkout.
    """
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT)], check=True, capture_output=True)
    wheel = next(wheels.glob("lnbayes-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "test_dependencies.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "-q", str(wheel)], check=True, capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([python, "-c", "import lnbayes; print(lnbayes.__file__)"], cwd=work,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where
    out = subprocess.run([venv / "bin" / "lnbayes", "analyze", "--engine", "exact", "--prior",
                          "flat", "--json"], cwd=work, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["trial"] == "deng2017"
    assert data["outcome_info"]["treatment"] == {"name": "hUC-MSC", "events": 9, "n": 12}
    assert Path(data["provenance"]["trial_file"]).name == "deng2017.toml"
    assert (work / "runs" / "deng2017" / "analysis_remission_exact.json").exists()
