"""The explorer in a real browser: headless Chromium (Selenium) moves the controls, reads the
numbers the page shows and compares them with the exact engine at the same prior."""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from lnbayes.analyses import explorer_data as ed
from lnbayes.io.trialfile import load_trial
from lnbayes.outputs import explorer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1300,1500")


def _browser_paths():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    chromium, driver = _browser_paths()
    if not (chromium and driver):
        pytest.skip("no browser: install Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver; .ci/run does)")
    options = Options()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="lnbayes-chromium-")
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    d = webdriver.Chrome(service=Service(driver), options=options)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _load(d, path: Path) -> float:
    d.get(path.resolve().as_uri())
    for _ in range(300):
        if d.execute_script("return window.lnbayesReady || null"):
            return float(d.execute_script("return window.lnbayesReady"))
        time.sleep(0.05)
    raise AssertionError("the page never finished its first update")


def _set(d, name: str, value) -> float:
    """Set a widget through the Bokeh document; the milliseconds until the next frame is drawn."""
    return float(d.execute_async_script("""
        const [name, value, done] = arguments;
        const before = window.lnbayesUpdates, t0 = performance.now();
        Bokeh.documents[0].get_model_by_name(name).value = value;
        requestAnimationFrame(() => requestAnimationFrame(() => {
            if (window.lnbayesUpdates === before) { done(-1); } else { done(performance.now() - t0); }
        }));""", name, value))


def _shown(d) -> dict:
    shown = d.execute_script("return window.lnbayesShown")
    text = d.execute_script("return Bokeh.documents[0].get_model_by_name('results').text")
    for s in [shown["p_benefit"], *shown["p_threshold"], *shown["rd"], *shown["or"], *shown["rr"]]:
        assert s in text, f"{s} is not displayed"
    return shown


def _check_against_exact(trial, shown):
    outcome = trial.outcomes[shown["outcome"]]
    controls = {c["key"]: c["prior"] for c in ed.control_priors(trial, outcome)}
    thresholds = ed.threshold_set(outcome)
    exact = ed.exact_at(controls[shown["control"]], shown["scale"], outcome, shown["centre"],
                        shown["sd"], thresholds)
    pairs = [(float(shown["p_benefit"]), exact["p_benefit"])]
    pairs += [(float(v), exact[f"p_threshold_{k}"]) for k, v in enumerate(shown["p_threshold"])]
    for key, measure in (("rd", "rd"), ("or", "log_or"), ("rr", "log_rr")):
        for v, q in zip(shown[key], ("median", "lower", "upper")):
            got = float(v) if key == "rd" else math.log(float(v))  # ratios: on the log scale
            pairs.append((got, exact[f"{measure}_{q}"]))
    worst = max(abs(a - b) for a, b in pairs)
    assert worst <= ed.TOLERANCE, (shown, exact)
    return worst


def _no_network(d):
    entries = d.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert entries == [], entries
    nav = d.execute_script("return performance.getEntriesByType('navigation').map(e => e.name)")
    assert all(n.startswith("file://") for n in nav)


def _page(tmp_path_factory, trial, outcomes, name):
    path = tmp_path_factory.mktemp("explorer") / name
    explorer.write_explorer(ed.explorer_data(trial, outcomes), path)
    assert path.stat().st_size <= explorer.MAX_BYTES
    return path


def test_embedded_trial(browser, tmp_path_factory):
    trial = load_trial(None)
    path = _page(tmp_path_factory, trial, ["remission", "death"], "deng.html")
    render_ms = _load(browser, path)
    _no_network(browser)
    assert render_ms > 0  # measured, not a target here: timings on a shared machine are noise
    _check_against_exact(trial, _shown(browser))
    updates = []
    for centre, sd in ((0.53, 0.61), (-1.37, 0.137), (2.21, 2.3)):
        updates.append(_set(browser, "centre", centre))
        updates.append(_set(browser, "sd", sd))
        _check_against_exact(trial, _shown(browser))
    # the 100 ms update target is measured and reported (print), not asserted: the machines are
    # noisy (a CI run under load took 92 to 118 ms); every update must have finished
    assert all(u >= 0 for u in updates), updates
    print(f"explorer: render {render_ms:.0f} ms; updates {', '.join(f'{u:.0f}' for u in updates)} ms")
    _set(browser, "threshold", "1")
    assert _shown(browser)["threshold"] == 1
    browser.execute_script("Bokeh.documents[0].get_model_by_name('control').value = 'c1'")
    _check_against_exact(trial, _shown(browser))
    browser.execute_script("Bokeh.documents[0].get_model_by_name('outcome').value = 'death'")
    _set(browser, "centre", -0.4)
    shown = _shown(browser)
    assert shown["outcome"] == "death" and shown["control"] == "c0"
    _check_against_exact(trial, shown)
    # the screenshot the README shows: the primary outcome, a reader's prior set
    browser.execute_script("Bokeh.documents[0].get_model_by_name('outcome').value = 'remission'")
    _set(browser, "centre", 0.45)
    _set(browser, "sd", 0.6)
    _check_against_exact(trial, _shown(browser))
    _no_network(browser)
    time.sleep(0.3)
    browser.save_screenshot(str(ROOT / "docs" / "explorer.png"))


def test_gallery_trial_with_a_log_rr_prior(browser, tmp_path_factory):
    trial = load_trial(ROOT / "models" / "eolia2018.toml")
    path = _page(tmp_path_factory, trial, ["death_60d"], "eolia.html")
    _load(browser, path)
    _no_network(browser)
    _check_against_exact(trial, _shown(browser))
    browser.execute_script("Bokeh.documents[0].get_model_by_name('scale').value = 'log_rr'")
    for centre, sd in ((-0.2, 0.3), (0.1, 0.08)):
        _set(browser, "centre", centre)
        _set(browser, "sd", sd)
        shown = _shown(browser)
        assert shown["scale"] == "log_rr"
        _check_against_exact(trial, shown)
