"""lnbayes.io.record_cache: records stored exactly, under their specification's hash, and never
trusted blindly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lnbayes.io import record_cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LNBAYES_CACHE_DIR", str(tmp_path))
    return tmp_path


def _value():
    rng = np.random.default_rng(3)
    return {"grid": rng.normal(size=(3, 4)) * 10.0 ** rng.integers(-300, 300, size=(3, 4)),
            "special": np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324]),
            "ints": np.arange(4, dtype=np.int16), "nested": [{"a": 0.1 + 0.2, "b": None}, "x"]}


def _same(a, b):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()  # bit for bit, signs of zeros and NaNs included
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b


def test_hit_returns_the_computed_value_bit_for_bit(cache):
    calls = []
    spec = {"what": "test", "n": 1}
    first = record_cache.cached("kind", spec, lambda: calls.append(1) or _value())
    again = record_cache.cached("kind", spec, lambda: calls.append(1) or _value())
    assert calls == [1]
    _same(first, _value())
    _same(again, _value())
    assert len(list((cache / "kind").glob("*.json"))) == 1
    record_cache.cached("kind", {"what": "test", "n": 2}, lambda: calls.append(1) or 1.0)
    assert calls == [1, 1]  # another specification, another record


def test_numpy_scalars_tuples_keys_and_order(cache):
    """What the JSON encoder's hook writes (NumPy scalars as Python numbers, tuples as lists),
    the fallback for keys JSON cannot sort (NumPy integers, mixed types: written as str(key)),
    and dicts read back in the order computed when that order is kept."""
    value = {"z": {"y": np.int64(3), "b": np.bool_(True), "a": np.float32(0.5)},
             "t": (np.float64(0.1) + 0.2, [np.arange(2)]), "m": 1}
    odd_keys = {np.int64(2): "two", "x": 1}
    for keep_order in (False, True):
        for spec, v in ((f"v{keep_order}", value), (f"k{keep_order}", odd_keys)):
            record_cache.cached("kind", {"s": spec}, lambda v=v: v, keep_order=keep_order)
    got = record_cache.cached("kind", {"s": "vTrue"}, lambda: 1 / 0, keep_order=True)
    assert list(got) == ["z", "t", "m"] and list(got["z"]) == ["y", "b", "a"]
    assert got["z"] == {"y": 3, "b": True, "a": 0.5}
    assert type(got["z"]["y"]) is int and type(got["z"]["b"]) is bool
    assert got["t"][0] == 0.1 + 0.2 and got["t"][1][0].tolist() == [0, 1]
    got = record_cache.cached("kind", {"s": "vFalse"}, lambda: 1 / 0)
    assert list(got) == ["m", "t", "z"] and list(got["z"]) == ["a", "b", "y"]
    for keep_order in (False, True):
        got = record_cache.cached("kind", {"s": f"k{keep_order}"}, lambda: 1 / 0,
                                  keep_order=keep_order)
        assert got == {"2": "two", "x": 1}


def test_an_ordered_record_of_the_earlier_form_is_not_read(cache):
    """Before ORDERED_FORM 2, ordered records were stored as {"__items__": [[key, value], ...]}
    under the specification's own key; one left in a user's cache must be computed again, not
    returned as it is (a report then failed with KeyError)."""
    spec = {"what": "summaries"}
    record_cache.write("kind", record_cache.key(spec),
                       {"__items__": [["drawn", {"__items__": [["n", 1]]}]]})
    calls = []
    got = record_cache.cached("kind", spec, lambda: calls.append(1) or {"drawn": {"n": 1}},
                              keep_order=True)
    assert calls == [1] and got == {"drawn": {"n": 1}}
    again = record_cache.cached("kind", spec, lambda: 1 / 0, keep_order=True)
    assert again == {"drawn": {"n": 1}}


def test_damaged_record_is_computed_again_and_rewritten(cache):
    spec = {"what": "damage"}
    record_cache.cached("kind", spec, lambda: {"x": np.array([1.0, 2.0])})
    (path,) = (cache / "kind").glob("*.json")
    wrapper = json.loads(path.read_text())
    wrapper["record"]["x"]["__ndarray__"][0] = 3.0  # a changed number: the checksum fails
    path.write_text(json.dumps(wrapper))
    calls = []
    got = record_cache.cached("kind", spec, lambda: calls.append(1) or {"x": np.array([1.0, 2.0])})
    assert calls == [1] and got["x"].tolist() == [1.0, 2.0]
    path.write_text("{ truncated")
    assert record_cache.cached("kind", spec, lambda: calls.append(1) or 7) == 7
    assert calls == [1, 1]
    assert json.loads(path.read_text())["record"] == 7  # rewritten


def test_off_and_unwritable(tmp_path, monkeypatch):
    monkeypatch.setenv("LNBAYES_CACHE_DIR", "off")
    assert record_cache.cache_dir() is None
    calls = []
    for _ in range(2):
        assert record_cache.cached("kind", {"a": 1}, lambda: calls.append(1) or 5) == 5
    assert calls == [1, 1]  # nothing kept
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LNBAYES_CACHE_DIR", str(blocker))
    assert record_cache.cached("kind", {"a": 1}, lambda: 6) == 6  # skipped, not an error


SMALL = Path(__file__).resolve().parents[1] / "data" / "small_trial.toml"


def test_cached_for_trial_reads_back_only_the_same_trial_and_code(cache, tmp_path, monkeypatch):
    import dataclasses

    from lnbayes.io import files
    from lnbayes.io.trialfile import load_trial

    path = tmp_path / "small.toml"
    shutil.copy(SMALL, path)
    calls = []

    def compute():
        calls.append(1)
        return {"z": _value(), "a": len(calls)}  # keys out of order: kept

    first, hit = record_cache.cached_for_trial("x", load_trial(path), compute)
    assert not hit and calls == [1] and list(first) == ["z", "a"]
    elsewhere = tmp_path / "copy.toml"  # the same file elsewhere: the same record
    shutil.copy(path, elsewhere)
    again, hit = record_cache.cached_for_trial("x", load_trial(elsewhere), compute)
    assert hit and calls == [1] and list(again) == ["z", "a"]
    _same(again, first)
    assert record_cache.cached_for_trial("y", load_trial(path), compute)[1] is False  # another what
    changed = dataclasses.replace(load_trial(path), seed=1)  # another trial in memory
    assert record_cache.cached_for_trial("x", changed, compute)[1] is False
    path.write_text(path.read_text() + "\n# other bytes\n")
    assert record_cache.cached_for_trial("x", load_trial(path), compute)[1] is False
    monkeypatch.setattr(files, "code_digest", lambda: "other code")
    assert record_cache.cached_for_trial("x", load_trial(elsewhere), compute)[1] is False
    inline = dataclasses.replace(load_trial(elsewhere), source_path=None)  # no file: computed
    assert record_cache.cached_for_trial("x", inline, compute)[1] is False
    assert record_cache.cached_for_trial("x", inline, compute)[1] is False
    assert len(calls) == 7


def test_code_digest_is_of_the_package_source():
    from lnbayes.io import files

    assert files.code_digest() == files.code_digest()
    assert len(files.code_digest()) == 64
