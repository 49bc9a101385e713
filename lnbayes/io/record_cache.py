"""A disk cache of computed records: pure functions of their inputs, stored under a hash of them.

Some results take seconds to minutes and are pure functions of a small specification: a fitted
MAP mixture (:mod:`lnbayes.io.map_cache`), the explorer's exact grids
(:mod:`lnbayes.analyses.explorer_data`), the report's results that depend on a whole trial
(:func:`cached_for_trial`). They are stored under the SHA-256 of that specification
(which names the algorithm's version) in ``$LNBAYES_CACHE_DIR`` (default
``$XDG_CACHE_HOME/lnbayes`` or ``~/.cache/lnbayes``), one JSON file per record in a folder per
kind, written atomically and checked against its own checksum when read. A record that is
missing, unreadable or damaged is computed again and rewritten; a folder that cannot be written
is skipped. ``LNBAYES_CACHE_DIR=off`` turns the cache off. Either way the numbers are the same:
JSON keeps every float exactly (NumPy arrays are stored as nested lists with their dtype), so a
hit returns the floats that were computed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

from lnbayes.io import files


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off."""
    chosen = os.environ.get("LNBAYES_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "none") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lnbayes"


def key(spec: dict[str, Any]) -> str:
    """The SHA-256 of a JSON-able specification (keys sorted)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def path_of(kind: str, digest: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / kind / f"{digest}.json"


def encode(value: Any) -> Any:
    """JSON-able form of nested dicts, lists, tuples, floats and NumPy arrays (exact floats)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode(value: Any) -> Any:
    """The inverse of :func:`encode` (tuples come back as lists)."""
    import numpy as np

    if isinstance(value, dict):
        if set(value) == {"__ndarray__", "dtype"}:
            return np.array(value["__ndarray__"], dtype=value["dtype"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


_HEAD = '{"sha256": "'
_MID = '", "record": '


def _body_text(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def read(kind: str, digest: str) -> Any | None:
    """The stored record, or None when it is missing, unreadable or fails its checksum."""
    path = path_of(kind, digest)
    if path is None or not path.exists():
        return None
    try:
        text = path.read_text()
    except (OSError, ValueError):
        return None
    # the file is {"sha256": "<hex>", "record": <the record's compact JSON>}: the checksum is
    # of that text as written, so checking it needs no second serialisation
    start = len(_HEAD) + 64 + len(_MID)
    if not (text.startswith(_HEAD) and text[len(_HEAD) + 64:start] == _MID and text.endswith("}")):
        return None
    body_text = text[start:-1]
    if _checksum(body_text) != text[len(_HEAD):len(_HEAD) + 64]:
        return None
    try:
        return json.loads(body_text)
    except ValueError:
        return None


def write(kind: str, digest: str, body: Any) -> None:
    """Store a JSON-able record atomically (a folder that cannot be written is skipped)."""
    path = path_of(kind, digest)
    if path is None:
        return
    text = _body_text(body)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_text(path, f"{_HEAD}{_checksum(text)}{_MID}{text}}}")
    except OSError:
        pass  # a cache that cannot be written is skipped, never an error


def cached(kind: str, spec: dict[str, Any], compute: Callable[[], Any],
           keep_order: bool = False) -> Any:
    """``compute()``'s value for ``spec``, from the cache or computed and stored (values are
    nested dicts, lists, floats and NumPy arrays; see :func:`encode`). Records are stored with
    sorted keys; with ``keep_order`` the value's dicts come back in the order they were computed
    (for values whose order is shown, such as rows of the appendix)."""
    digest = key(spec)
    hit = read(kind, digest)
    if hit is not None:
        try:
            value = decode(hit)
            return _unordered(value) if keep_order else value
        except (TypeError, ValueError, KeyError):
            pass
    value = compute()
    write(kind, digest, encode(_ordered(value) if keep_order else value))
    return value


BY_TRIAL = "by-trial-1"
"""Version of the records of :func:`cached_for_trial` (their key also holds a digest of
lnbayes's source, so a change of code needs no bump, only a change of the record's form)."""


def cached_for_trial(what: str, trial, compute: Callable[[], Any]) -> tuple[Any, bool]:
    """``compute()``, a pure function of ``trial`` (a :class:`lnbayes.model.spec.Trial`), or its
    record (folder ``by_trial``) from an earlier run on the same trial; and whether it was read
    back.

    For results that depend on much of the package (the report's predict, design, prior checks
    and MAP figures): the key is ``what``, the parsed trial (its repr, every field but its path),
    the trial file's bytes (MAP priors' derivations are not in the repr), a digest of
    lnbayes's source (:func:`lnbayes.io.files.code_digest`) and the packages' versions. A trial
    not read from a file is computed every time. The value's dicts keep their order.
    """
    import dataclasses

    try:
        file_digest = files.file_sha256(trial.source_path)
    except OSError:
        file_digest = None
    if file_digest is None:
        return compute(), False
    spec = {"algorithm": BY_TRIAL, "what": what,
            "trial": repr(dataclasses.replace(trial, source_path=None)),
            "trial_file_sha256": file_digest, "code": files.code_digest(),
            "versions": files.versions()}
    computed = []

    def run():
        computed.append(True)
        return compute()

    value = cached("by_trial", spec, run, keep_order=True)
    return value, not computed


def _ordered(value: Any) -> Any:
    """Dicts as ``{"__items__": [[key, value], ...]}``, so that sorted keys keep their order."""
    if isinstance(value, dict):
        return {"__items__": [[k, _ordered(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_ordered(v) for v in value]
    return value


def _unordered(value: Any) -> Any:
    """The inverse of :func:`_ordered`."""
    if isinstance(value, dict):
        return {k: _unordered(v) for k, v in value["__items__"]}
    if isinstance(value, list):
        return [_unordered(v) for v in value]
    return value
