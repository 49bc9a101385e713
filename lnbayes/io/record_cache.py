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
    """JSON-able form of nested dicts, lists, tuples, floats and NumPy arrays (exact floats).

    :func:`write` does the same inside the JSON encoder (:func:`_to_json`), without this walk
    over every element; this form is kept for a value whose keys the encoder refuses."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return _to_json(value)
    return value


def _decoded_object(value: dict[str, Any]) -> Any:
    """The inverse of :func:`encode` for one JSON object, as ``json.loads`` builds it (its
    members are decoded already): an array's form becomes the array (tuples stay lists)."""
    if value.keys() != {"__ndarray__", "dtype"}:
        return value
    import numpy as np

    return np.array(value["__ndarray__"], dtype=value["dtype"])


def _to_json(value: Any) -> Any:
    """The JSON encoder's hook for what JSON has no form of (as :func:`encode`): NumPy arrays
    and scalars (np.float64 is a float and written as one)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-able")


_HEAD = '{"sha256": "'
_MID = '", "record": '


def _body_text(body: Any, sort_keys: bool = True) -> str:
    """A record's compact JSON: NumPy values as :func:`encode` writes them, keys sorted unless
    their order is kept (JSON objects are read back in the order written)."""
    try:
        return json.dumps(body, sort_keys=sort_keys, separators=(",", ":"), default=_to_json)
    except TypeError:  # keys JSON refuses or cannot sort (a NumPy integer): as encode names them
        return json.dumps(encode(body), sort_keys=sort_keys, separators=(",", ":"))


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _body_of(kind: str, digest: str) -> str | None:
    """The record's JSON text, or None when it is missing, unreadable or fails its checksum."""
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
    return body_text


def read(kind: str, digest: str) -> Any | None:
    """The stored record as plain JSON, or None when it is missing, unreadable or fails its
    checksum."""
    body_text = _body_of(kind, digest)
    if body_text is None:
        return None
    try:
        return json.loads(body_text)
    except ValueError:
        return None


def write(kind: str, digest: str, body: Any, sort_keys: bool = True) -> None:
    """Store a record atomically (a folder that cannot be written is skipped): JSON-able values
    and NumPy arrays and scalars (:func:`encode`), its keys sorted unless ``sort_keys`` is
    False (the order of its dicts is then kept)."""
    path = path_of(kind, digest)
    if path is None:
        return
    text = _body_text(body, sort_keys)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_text(path, f"{_HEAD}{_checksum(text)}{_MID}{text}}}")
    except OSError:
        pass  # a cache that cannot be written is skipped, never an error


ORDERED_FORM = 2
"""Form of the records stored with ``keep_order`` (part of their key): 2, dicts written in
their order; 1 (lnbayes before 2026-12-06), dicts written as ``{"__items__": [[key, value],
...]}``."""


def cached(kind: str, spec: dict[str, Any], compute: Callable[[], Any],
           keep_order: bool = False) -> Any:
    """``compute()``'s value for ``spec``, from the cache or computed and stored (values are
    nested dicts, lists, floats and NumPy arrays; see :func:`encode`). Records are stored with
    sorted keys; with ``keep_order`` the value's dicts are stored, and come back, in the order
    they were computed (for values whose order is shown, such as rows of the appendix)."""
    # ordered records are stored in the order computed (ORDERED_FORM), not in the earlier
    # {"__items__": ...} form: their key names the form, so that a record of the earlier form,
    # left in a user's cache, is never read as this one
    digest = key({**spec, "record_form": ORDERED_FORM} if keep_order else spec)
    body_text = _body_of(kind, digest)
    if body_text is not None:
        try:
            return json.loads(body_text, object_hook=_decoded_object)
        except (TypeError, ValueError, KeyError):
            pass
    value = compute()
    write(kind, digest, value, sort_keys=not keep_order)
    return value


BY_TRIAL = "by-trial-2"
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
