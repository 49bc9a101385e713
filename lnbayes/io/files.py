"""Atomic file writing and provenance (what produced an output)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from lnbayes.io import stops

PACKAGES = ("lnbayes", "numpy", "scipy", "pymc", "pytensor", "nutpie", "arviz", "arviz-base",
            "arviz-stats", "arviz-plots", "xarray", "h5netcdf", "matplotlib", "typer")


def versions() -> dict[str, str]:
    """Installed versions of Python and of the packages behind a result (a new dict each call;
    looked up once a process: a report asked ~40 times, 15 ms each)."""
    return dict(_versions())


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def code_digest() -> str:
    """SHA-256 of lnbayes's own source (every module's path and text): part of the key of cached
    results that depend on much of the package, so that any change of code computes them again."""
    return _code_digest()


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def file_sha256(path: str | Path | None) -> str | None:
    if path is None:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


PART_SUFFIX = ".part"
STALE_PART_SECONDS = 24 * 3600
"""A temporary file older than a day is stale whatever its process (process ids are reused)."""
_PART_PID = re.compile(r"\.(\d+)\.[A-Za-z0-9_]{8}\.part\Z")


def warn(message: str) -> None:
    """Print one warning line on stderr (``warning: ...``), for the user rather than a log.

    Used for what lnbayes repaired on its own, such as a damaged cache set aside; the CLI's
    progress display (rich) keeps such lines above itself.
    """
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def _is_stale_part(path: Path) -> bool:
    """Whether a temporary ``.NAME.PID.XXXXXXXX.part`` file was left by a process that has gone.

    The process id in the name tells whether its writer still runs; a file older than
    :data:`STALE_PART_SECONDS`, or one without a process id (written by an earlier version of
    lnbayes) and untouched for a minute, is stale too. Files of this process are never stale.
    """
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    if age > STALE_PART_SECONDS:
        return True
    m = _PART_PID.search(path.name)
    if m is None:
        return age > 60
    pid = int(m.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, owned by someone else
        return False
    return False


def remove_stale_parts(folder: str | Path) -> list[Path]:
    """Delete temporary ``.*.part`` files in ``folder`` left by a killed process; returns them.

    A write interrupted by SIGKILL, a power cut or a crash cannot remove its temporary file;
    every later write into the same folder does (:func:`atomic_path`). Files still being written
    by a running process are left alone.
    """
    removed = []
    try:
        candidates = list(Path(folder).glob(".*" + PART_SUFFIX))
    except OSError:
        return removed
    for path in candidates:
        if path.is_file() and _is_stale_part(path):
            try:
                path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    The temporary file ``.NAME.PID.XXXXXXXX.part`` is removed whatever stops the block: an
    exception, Ctrl-C or SIGTERM (as :class:`lnbayes.errors.Terminated`), and a second signal
    arriving during the removal. A stop signal received while the block ran is raised before
    the file is moved into place, even if Python dropped its exception (:mod:`lnbayes.io.stops`).
    Temporary files that killed processes left in the folder are removed first
    (:func:`remove_stale_parts`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path.parent)
    tmp_path = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=PART_SUFFIX,
                                   dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        stops.check()  # a stop signal whose exception was dropped while the file was written
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    finally:
        if tmp_path is not None:
            try:
                tmp_path.unlink(missing_ok=True)
            except BaseException:  # a second Ctrl-C or SIGTERM just before the removal
                tmp_path.unlink(missing_ok=True)
                raise


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types from NumPy scalars, arrays, paths and tuples; NaN and inf become null."""
    import math

    kind = type(obj)  # the plain types first (a sweep's JSON holds 150,000 of them)
    if kind is float:
        return obj if math.isfinite(obj) else None
    if kind is str or kind is int or kind is bool or obj is None:
        return obj
    if kind is dict:
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if kind is list:
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return to_jsonable(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (bool, int, str)) or obj is None:
        return obj
    return str(obj)


def dumps(obj: Any) -> str:
    """``json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False)`` and a newline, the same text
    made faster (see :func:`_indented`)."""
    return _indented(to_jsonable(obj), 0) + "\n"


_SCALARS = frozenset((str, int, float, bool, type(None)))


def _indented(obj: Any, level: int) -> str:
    """The text ``json.dumps(obj, indent=2, ensure_ascii=False)`` gives for plain JSON types.

    With an indent, :mod:`json` falls back to its pure-Python encoder (a 10,000-prior sweep's
    JSON took a quarter of a second). A dict or list holding only scalars is laid out by the C
    encoder instead, its separators carrying the newline and indentation; containers that hold
    containers are laid out here, recursively. Scalars are encoded by json itself either way.
    """
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        inner, outer = "  " * (level + 1), "  " * level
        if all(type(v) in _SCALARS for v in obj.values()):
            body = json.dumps(obj, ensure_ascii=False, separators=(",\n" + inner, ": "))
            return "{\n" + inner + body[1:-1] + "\n" + outer + "}"
        items = (json.dumps(k, ensure_ascii=False) + ": " + _indented(v, level + 1)
                 for k, v in obj.items())
        return "{\n" + inner + (",\n" + inner).join(items) + "\n" + outer + "}"
    if isinstance(obj, list):
        if not obj:
            return "[]"
        inner, outer = "  " * (level + 1), "  " * level
        if all(type(v) is dict and v and all(type(x) in _SCALARS for x in v.values())
               for v in obj):
            # a table (non-empty dicts of scalars): one C-encoder call with the keys' layout,
            # then the rows' braces moved to their own lines (a raw newline never occurs inside
            # JSON text's strings, so the pattern matches only between rows)
            deeper = "  " * (level + 2)
            body = json.dumps(obj, ensure_ascii=False, separators=(",\n" + deeper, ": "))
            body = body[2:-2].replace("},\n" + deeper + "{",
                                      "\n" + inner + "},\n" + inner + "{\n" + deeper)
            return "[\n" + inner + "{\n" + deeper + body + "\n" + inner + "}\n" + outer + "]"
        if all(type(v) in _SCALARS for v in obj):
            body = json.dumps(obj, ensure_ascii=False, separators=(",\n" + inner, ": "))
            return "[\n" + inner + body[1:-1] + "\n" + outer + "]"
        return ("[\n" + inner + (",\n" + inner).join(_indented(v, level + 1) for v in obj)
                + "\n" + outer + "]")
    return json.dumps(obj, ensure_ascii=False)


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, dumps(obj))


def datatree_digest(datatree, salt: str = "") -> str:
    """SHA-256 of every data variable of every group of an ArviZ DataTree, and of ``salt``.

    Covers each variable's group, name, dimensions, dtype, shape and values (little-endian
    bytes), in sorted order; attributes and coordinates are left out. The same draws give the
    same digest after a NetCDF round trip, on any machine.
    """
    import numpy as np

    h = hashlib.sha256(salt.encode())
    for group in sorted(datatree.children):
        ds = datatree[group].to_dataset()
        for name in sorted(ds.data_vars):
            var = ds[name]
            values = _canonical(np.asarray(var.values))
            text = values.dtype.kind in "OSU"  # hashed as text: its width may differ on disk
            kind = "text" if text else values.dtype.str
            header = f"{group}/{name}/{','.join(map(str, var.dims))}/{kind}/{values.shape}"
            h.update(header.encode())
            if text:
                h.update(repr(values.tolist()).encode())
            else:
                h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


def _canonical(values):
    """Values as NetCDF gives them back, so that a digest survives the round trip.

    Text (nutpie's divergence messages: objects, None where there is no message) becomes
    strings with "" for None, or float NaN when every entry is None (how it is stored); floats
    get one NaN bit pattern; bytes are little-endian.
    """
    import numpy as np

    if values.dtype.kind == "O":
        flat = values.ravel()
        if all(x is None for x in flat):
            return np.full(values.shape, np.nan)
        return np.array(["" if x is None else _text(x) for x in flat], dtype=str).reshape(
            values.shape)
    if values.dtype.kind in "SU":
        return np.array([_text(x) for x in values.ravel()], dtype=str).reshape(values.shape)
    if values.dtype.kind == "f" and np.isnan(values).any():
        values = np.where(np.isnan(values), np.nan, values)
    if values.dtype.byteorder == ">":
        values = values.astype(values.dtype.newbyteorder("<"))
    return values


def _text(x) -> str:
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if isinstance(x, float) and x != x:  # NaN
        return ""
    return str(x)


def _h5_quietly(action):
    """``action()``, with what a failed NetCDF open leaves behind collected without noise.

    h5netcdf's ``File`` sets its ``_closed`` flag only when opening raises an ``Exception``; a
    ``KeyboardInterrupt`` or :class:`lnbayes.errors.Terminated` arriving while a file is opened
    (or a damaged file) leaves a half-built object whose ``__del__`` prints "Exception ignored
    in ... File.close" on stderr when it is collected. On any exception, the frames of the
    traceback drop their locals, the garbage is collected while such messages from h5netcdf and
    h5py are silenced, and the exception propagates unchanged.
    """
    import gc
    import traceback

    previous = sys.unraisablehook

    def quiet(unraisable) -> None:
        where = (getattr(unraisable.object, "__module__", None)
                 or type(unraisable.object).__module__ or "")
        if not where.startswith(("h5netcdf", "h5py")):
            previous(unraisable)

    sys.unraisablehook = quiet
    try:
        try:
            return action()
        except BaseException as err:
            traceback.clear_frames(err.__traceback__)
            gc.collect()
            raise
    finally:
        sys.unraisablehook = previous


def write_netcdf(path: str | Path, datatree) -> Path:
    """Save an ArviZ DataTree as NetCDF (h5netcdf), atomically."""
    with atomic_path(path) as tmp:
        _h5_quietly(lambda: datatree.to_netcdf(tmp, engine="h5netcdf"))
    return Path(path)


class UnreadableFile(OSError):
    """A saved file that could not be read (damaged, truncated, not what it should be)."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}")


def read_netcdf(path: str | Path):
    """An ArviZ DataTree read from NetCDF into memory, with the file closed again.

    Reading everything at once makes a damaged file fail here rather than later, when a
    variable is first used. A damaged file raises :class:`UnreadableFile` with h5py's reason,
    and nothing else on stderr (see :func:`_h5_quietly`).
    """
    import xarray as xr

    def load():
        try:
            tree = _read_plain_netcdf(path)
        except Exception:  # noqa: BLE001 - xarray reads it again and gives the reason
            tree = None
        if tree is not None:
            return tree
        with xr.open_datatree(path, engine="h5netcdf") as tree:
            return tree.load().copy()

    try:
        return _h5_quietly(load)
    except Exception as err:  # noqa: BLE001 - h5py, h5netcdf and xarray raise many kinds
        reason = f"{type(err).__name__}: {' '.join(str(err).split())}"[:200]
    raise UnreadableFile(path, reason)


_NETCDF_HIDDEN = frozenset(("REFERENCE_LIST", "CLASS", "DIMENSION_LIST", "NAME", "_Netcdf4Dimid",
                            "_Netcdf4Coordinates", "_nc3_strict", "_NCProperties"))
"""Attributes of the NetCDF-4 layout in HDF5 that are not the data's (h5netcdf hides them)."""


def _netcdf_attrs(h5obj) -> dict[str, Any]:
    """An HDF5 object's attributes as h5netcdf (and so xarray) gives them."""
    import h5py
    from h5netcdf.attrs import Attributes

    attrs = Attributes(h5obj.attrs, lambda dtype: None, h5py)
    return {k: attrs[k] for k in h5obj.attrs if k not in _NETCDF_HIDDEN}


def _read_plain_netcdf(path: str | Path):
    """The DataTree :func:`read_netcdf` gives, read with h5py alone; None if the file holds
    anything beyond the plain layout lnbayes writes.

    xarray spends ~0.3 s on each saved posterior (its backend resolves every variable's
    dimensions and decodes it through h5netcdf); h5py reads the same arrays in a few
    milliseconds. This reads a file of groups whose variables are numeric arrays over the
    group's own dimension scales, each carrying no attributes but a NaN ``_FillValue`` (floats)
    or ``dtype = "bool"`` (booleans stored as int8); for anything else (text such as nutpie's
    divergence messages, other attributes, dimensions without coordinates, nested groups) it
    returns None and xarray reads the file. The result is ``identical`` to xarray's: values,
    dtypes, dimensions, coordinates, attributes and the order of groups and variables.
    """
    import h5py
    import numpy as np
    import xarray as xr

    groups = {}
    with h5py.File(path, "r") as f:
        root_attrs = _netcdf_attrs(f)
        for group_name, group in f.items():
            if not isinstance(group, h5py.Group):
                return None
            items = list(group.items())
            dims: dict[int, str] = {}
            for name, obj in items:
                if not isinstance(obj, h5py.Dataset):
                    return None
                if obj.attrs.get("CLASS") == b"DIMENSION_SCALE":
                    if obj.attrs.get("NAME") != name.encode() or "_Netcdf4Dimid" not in obj.attrs:
                        return None
                    dims[int(obj.attrs["_Netcdf4Dimid"])] = name
            coords, data = {}, {}
            for name, obj in items:
                dim_ids = obj.attrs.get("_Netcdf4Coordinates")
                if dim_ids is None or any(int(i) not in dims for i in dim_ids):
                    return None
                var_dims = tuple(dims[int(i)] for i in dim_ids)
                values = obj[()]
                if values.dtype.kind not in "biuf" or values.ndim != len(var_dims):
                    return None
                extra = set(obj.attrs) - _NETCDF_HIDDEN
                if obj.attrs.get("CLASS") == b"DIMENSION_SCALE":
                    if extra:
                        return None
                    coords[name] = (var_dims, values)
                    continue
                if "_FillValue" in extra:
                    if values.dtype.kind != "f" or not np.all(np.isnan(obj.attrs["_FillValue"])):
                        return None
                    extra.discard("_FillValue")
                if "dtype" in extra:
                    if obj.attrs["dtype"] != "bool" or values.dtype != np.int8:
                        return None
                    values = values.astype(bool)
                    extra.discard("dtype")
                if extra:
                    return None
                data[name] = (var_dims, values)
            groups[group_name] = xr.Dataset(data, coords=coords, attrs=_netcdf_attrs(group))
    return xr.DataTree.from_dict({"/": xr.Dataset(attrs=root_attrs), **groups})


def command_line() -> str:
    return " ".join(["lnbayes", *sys.argv[1:]]) if sys.argv else "lnbayes"
