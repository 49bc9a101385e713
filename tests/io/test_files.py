"""lnbayes.io.files: reading saved draws (the h5py reader against xarray's)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from lnbayes.io import files
from tests.conftest import ROOT

COMMITTED = sorted((ROOT / "reports" / "deng2017" / "posterior").glob("*.nc"))


def _by_xarray(path):
    with xr.open_datatree(path, engine="h5netcdf") as tree:
        return tree.load().copy()


def _same(fast, slow) -> None:
    assert fast.identical(slow)
    assert list(fast.children) == list(slow.children)
    for group in ("/", *slow.children):
        assert list(fast[group].to_dataset().variables) == list(slow[group].to_dataset().variables)
        assert {k: type(v) for k, v in fast[group].attrs.items()} == \
               {k: type(v) for k, v in slow[group].attrs.items()}
        for name, var in slow[group].to_dataset().variables.items():
            assert fast[group][name].dtype == var.dtype, (group, name)


@pytest.mark.parametrize("path", COMMITTED[::6], ids=lambda p: p.stem)
def test_committed_draws_read_by_h5py_as_xarray_reads_them(path):
    fast = files._read_plain_netcdf(path)
    assert fast is not None  # the plain layout: the fast path is taken
    _same(fast, _by_xarray(path))
    _same(files.read_netcdf(path), _by_xarray(path))


def _tree(**extra_vars):
    posterior = xr.Dataset({"p": (("chain", "draw"), np.linspace(0, 1, 6).reshape(2, 3))},
                           coords={"chain": [0, 1], "draw": [0, 1, 2]},
                           attrs={"sample_dims": ["chain", "draw"], "n": np.int64(3)})
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.array([[0, 1, 0], [0, 0, 0]], bool)),
                        "energy": (("chain", "draw"), np.array([[1.0, np.nan, 2], [3, 4, 5]])),
                        **extra_vars},
                       coords={"chain": [0, 1], "draw": [0, 1, 2]})
    tree = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})
    tree.attrs["lnbayes_key"] = "abc"
    tree.attrs["lnbayes_seed"] = np.int64(7)
    return tree


def test_booleans_nans_and_attributes_round_trip(tmp_path):
    path = files.write_netcdf(tmp_path / "x.nc", _tree())
    fast = files._read_plain_netcdf(path)
    assert fast is not None
    _same(fast, _by_xarray(path))
    assert fast["sample_stats"]["diverging"].dtype == bool
    assert fast.attrs["lnbayes_seed"] == 7 and fast["posterior"].attrs["n"] == 3


@pytest.mark.parametrize("extra", ["text", "units"])
def test_anything_beyond_the_plain_layout_is_read_by_xarray(tmp_path, extra):
    if extra == "text":  # nutpie's divergence messages when there are divergences
        var = xr.DataArray(np.array([["", "diverged", ""], ["", "", ""]]), dims=("chain", "draw"))
    else:  # an attribute xarray decodes (or may): not for the fast path to interpret
        var = xr.DataArray(np.zeros((2, 3)), dims=("chain", "draw"), attrs={"units": "days"})
    path = files.write_netcdf(tmp_path / "x.nc", _tree(extra=var))
    assert files._read_plain_netcdf(path) is None
    assert files.read_netcdf(path).identical(_by_xarray(path))


def test_a_damaged_file_is_unreadable_as_before(tmp_path):
    path = files.write_netcdf(tmp_path / "x.nc", _tree())
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(files.UnreadableFile):
        files.read_netcdf(path)
