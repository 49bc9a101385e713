"""The sweep cache: one SQLite database of checked, atomic records."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from lnbayes.io import files

# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------


class SweepCache:
    """Grid-point results in one SQLite file, one committed transaction per batch.

    ``path=None`` disables the cache (nothing is read or written). Each record is stored as JSON
    with its SHA-256. A database SQLite cannot read (a truncated file, random bytes, a damaged
    page) is set aside as ``sweep.sqlite.corrupt-YYYYMMDD-HHMMSS`` with a warning and a new one
    is started; a record whose text does not match its checksum or is not a JSON object is
    deleted with a warning, and its point is computed again. Either way no damaged value is
    used, and what is intact is kept.
    """

    TABLE = "records"
    """Table of checksummed records (the unchecked ``points`` table of earlier versions is
    dropped: its points are computed again)."""

    def __init__(self, path: str | Path | None):
        self.path = None if path is None else Path(path)
        self._db = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._open()
            except sqlite3.DatabaseError as err:
                if not _is_damage(err):
                    raise
                self._set_aside(err)
                self._open()

    def _open(self) -> None:
        db = sqlite3.connect(self.path, timeout=60)
        try:
            db.execute("PRAGMA synchronous=FULL")
            check = db.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                found = check[0] if check else "no answer"
                raise sqlite3.DatabaseError(f"integrity check: {found}")
            with db:
                db.execute(f"CREATE TABLE IF NOT EXISTS {self.TABLE} "
                           "(key TEXT PRIMARY KEY, record TEXT NOT NULL, sha256 TEXT NOT NULL)")
                db.execute("DROP TABLE IF EXISTS points")
        except BaseException:
            db.close()
            raise
        self._db = db

    def _set_aside(self, err: Exception) -> None:
        """Move the unreadable database (and its journal) aside and warn; a new one follows."""
        if self._db is not None:
            self._db.close()
            self._db = None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        if self.path.exists():
            self.path.replace(target)
        for suffix in ("-journal", "-wal", "-shm"):  # a hot journal belongs to the old file
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.replace(target.with_name(target.name + suffix))
        files.warn(f"{self.path}: sweep cache unreadable ({' '.join(str(err).split())}); set aside "
                f"as {target.name}, starting a new cache")

    def _guarded(self, operation, default):
        """Run ``operation(db)``; if the database turns out damaged, set it aside, start anew."""
        if self._db is None:
            return default
        try:
            return operation(self._db)
        except sqlite3.DatabaseError as err:
            if not _is_damage(err):
                raise
            self._set_aside(err)
            self._open()
            return default

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        """The intact records of ``keys`` found in the cache (damaged ones are deleted)."""
        if self._db is None or not keys:
            return {}

        def read(db) -> dict[str, dict]:
            out, bad = {}, []
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                rows = db.execute(
                    f"SELECT key, record, sha256 FROM {self.TABLE} "
                    f"WHERE key IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                for key, text, digest in rows:
                    record = _checked_record(text, digest)
                    if record is None:
                        bad.append(key)
                    else:
                        out[key] = record
            if bad:
                with db:
                    db.executemany(f"DELETE FROM {self.TABLE} WHERE key = ?", [(k,) for k in bad])
                files.warn(f"{self.path}: {len(bad)} damaged cache record(s) (checksum or JSON) "
                        "removed; their points are computed again")
            return out

        return self._guarded(read, {})

    def put_many(self, items: dict[str, dict]) -> None:
        """Store records by key, in one transaction, each with the SHA-256 of its JSON text."""
        if self._db is None or not items:
            return
        rows = []
        for k, v in items.items():
            text = json.dumps(files.to_jsonable(v))
            rows.append((k, text, hashlib.sha256(text.encode()).hexdigest()))

        def write(db) -> None:
            with db:  # one transaction: all of it or none of it
                db.executemany(f"INSERT OR REPLACE INTO {self.TABLE} (key, record, sha256) "
                               "VALUES (?, ?, ?)", rows)

        if self._guarded(write, False) is False:  # the database was replaced: write again
            self._guarded(write, None)

    def close(self) -> None:
        """Close the database (reads and writes after this do nothing)."""
        if self._db is not None:
            self._db.close()
            self._db = None


def _is_damage(err: sqlite3.DatabaseError) -> bool:
    """Whether an SQLite error means a damaged file.

    A lock, a read-only folder or a full disk is not damage: those errors propagate.
    """
    name = getattr(err, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR_SHORT_READ")):
        return True
    return not isinstance(err, sqlite3.OperationalError)


def _checked_record(text, digest) -> dict | None:
    """A cache record parsed from its JSON text, or None if damaged (checksum, JSON, type)."""
    if not isinstance(text, str) or hashlib.sha256(text.encode()).hexdigest() != digest:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def cache_key(context: dict[str, Any], **point: Any) -> str:
    """SHA-256 of the sweep context and one point's parameters (floats rounded to 12 digits)."""
    def clean(v):
        if isinstance(v, float):
            return float(f"{v:.12g}")
        return v

    body = json.dumps({"context": context, "point": {k: clean(v) for k, v in point.items()}},
                      sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def cache_keys(context: dict[str, Any], points: list[dict[str, Any]]) -> list[str]:
    """``[cache_key(context, **point) for point in points]``, with the context serialised and
    hashed once: the body is ``{"context": ..., "point": ...}`` with sorted keys, so its text
    starts with the context's, and each key continues a copy of that hash."""
    def clean(v):
        if isinstance(v, float):
            return float(f"{v:.12g}")
        return v

    head = hashlib.sha256(('{"context": ' + json.dumps(context, sort_keys=True, default=str)
                           + ', "point": ').encode())
    out = []
    for point in points:
        h = head.copy()
        h.update((json.dumps({k: clean(v) for k, v in point.items()}, sort_keys=True, default=str)
                  + "}").encode())
        out.append(h.hexdigest())
    return out
