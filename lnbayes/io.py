"""Atomic file writing and provenance (what produced an output)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

PACKAGES = ("lnbayes", "numpy", "scipy", "pymc", "pytensor", "nutpie", "arviz", "arviz-base",
            "arviz-stats", "arviz-plots", "xarray", "h5netcdf", "matplotlib", "typer")


def versions() -> dict[str, str]:
    """Installed versions of Python and of the packages behind a result."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def file_sha256(path: str | Path | None) -> str | None:
    if path is None:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


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
    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False) + "\n"


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, dumps(obj))


def write_netcdf(path: str | Path, datatree) -> Path:
    """Save an ArviZ DataTree as NetCDF (h5netcdf), atomically."""
    with atomic_path(path) as tmp:
        datatree.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def command_line() -> str:
    return " ".join(["lnbayes", *sys.argv[1:]]) if sys.argv else "lnbayes"
