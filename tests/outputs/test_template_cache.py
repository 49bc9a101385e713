"""The appendix template's compiled form is kept in the cache folder (lnbayes.outputs.report):
a later process loads it instead of compiling it (0.4 s), and the text is the same either way."""

from __future__ import annotations

import json

import pytest

from lnbayes.outputs import report
from tests.conftest import ROOT


@pytest.fixture
def fresh_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LNBAYES_CACHE_DIR", str(tmp_path))
    report._env.cache_clear()
    yield tmp_path / "templates"
    report._env.cache_clear()


COMMITTED = ROOT / "reports" / "deng2017" / "results.json"


def _template():
    report._env.cache_clear()  # as a new process does
    return report._env().get_template("appendix.md.j2")


def test_the_compiled_template_is_kept_and_renders_the_same_text(fresh_env):
    results = json.loads(COMMITTED.read_text())
    compiled = _template()
    entries = list(fresh_env.iterdir())
    assert len(entries) == 1 and entries[0].stat().st_size > 10_000
    loaded = _template()
    assert loaded.root_render_func.__code__ is not compiled.root_render_func.__code__  # loaded
    text = compiled.render(r=results)
    assert len(text) > 10_000 and loaded.render(r=results) == text


@pytest.mark.parametrize("damage", ["empty", "other", "garbage_after_the_header"])
def test_a_damaged_entry_is_compiled_again(fresh_env, damage):
    from jinja2.bccache import bc_magic

    damage = {"empty": b"", "other": b"\x00" * 64,
              # Jinja's own header, then bytes its unpickling raises on
              "garbage_after_the_header": bc_magic + b"\x80\x05garbage"}[damage]
    _template()
    (entry,) = fresh_env.iterdir()
    entry.write_bytes(damage)
    assert _template().render(r=json.loads(COMMITTED.read_text()))
    assert entry.stat().st_size > 10_000  # written again


def test_no_cache_folder_no_cache(monkeypatch):
    monkeypatch.setenv("LNBAYES_CACHE_DIR", "off")
    report._env.cache_clear()
    try:
        assert report._env().bytecode_cache is None
    finally:
        report._env.cache_clear()
