"""The local advisory index: one sqlite file, ``<store root>/db/osv.sqlite`` by default.

Tables:

- ``advisories(id, modified, withdrawn, source, json)`` — one row per OSV record, the
  record itself kept as compact JSON and parsed again (``Advisory.from_json``) when matched;
- ``affected(ecosystem, name, advisory_id)`` — one row per affected package, the name
  normalised per ecosystem (``normalise_name``), indexed on ``(ecosystem, name)`` so a
  package lookup is one index probe however many advisories are loaded;
- ``imports(...)`` — what each ``hardbox db import`` loaded, from where and when.

Writers go through one transaction per import (``VulnIndex.transaction``): an import that
fails on a named input leaves the index as it was.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hardbox.errors import InputError, write_failed
from hardbox.root import default_root
from hardbox.scan.vulndb.osv import Advisory

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advisories (
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    withdrawn INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS affected (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    advisory_id TEXT NOT NULL
);
-- Covering: a lookup reads advisory ids straight from the index.
CREATE INDEX IF NOT EXISTS affected_by_package ON affected (ecosystem, name, advisory_id);
CREATE INDEX IF NOT EXISTS affected_by_advisory ON affected (advisory_id);
CREATE TABLE IF NOT EXISTS imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    finished TEXT NOT NULL,
    added INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    skipped INTEGER NOT NULL
);
"""

_PEP503 = re.compile(r"[-_.]+")


def normalise_name(ecosystem: str, name: str) -> str:
    """The name as the index keys it: PyPI names per PEP 503 (case and ``-_.`` runs do not
    matter to pip), every other ecosystem's names exactly as written."""
    if ecosystem.split(":", 1)[0] == "PyPI":
        return _PEP503.sub("-", name).lower()
    return name


def default_db_path() -> Path:
    """``<store root>/db/osv.sqlite`` (docs/architecture.md: ``store.root / "db"``)."""

    return default_root() / "db" / "osv.sqlite"


@dataclass(frozen=True)
class StoredRecord:
    modified: str
    withdrawn: bool


def disk_full(err: sqlite3.Error) -> bool:
    """SQLite's ``database or disk is full``: no room to write, whatever the file holds."""
    return getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


class VulnIndex:
    """An open index. ``lookup`` reads; ``upsert`` and ``record_import`` write inside
    ``transaction()``."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._cache: dict[str, Advisory] = {}

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> VulnIndex:
        """Open the index at ``path``; ``create`` makes it (and its 0700 folder) if missing.
        A file that is not a hardbox index is an ``InputError`` naming it."""
        if not create and not path.is_file():
            raise InputError(
                f"no vulnerability database at {path}",
                "load OSV advisories first: hardbox db import PATH",
            )
        if create:
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as err:
                raise InputError(f"cannot create {path.parent}: {err.strerror}") from None
        try:
            # A concurrent import holds the write lock for its whole transaction: wait for it.
            connection = sqlite3.connect(path, isolation_level=None, timeout=300)
            connection.execute("PRAGMA foreign_keys = OFF")
            if create:
                connection.executescript(_SCHEMA)
                connection.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
                )
            row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as err:
            if disk_full(err):  # SQLITE_FULL: the disk is full, the file is not at fault
                raise write_failed("write", path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) from None
            raise InputError(f"{path}: not a hardbox vulnerability database ({err})") from None
        if row is None or row[0] != SCHEMA_VERSION:
            connection.close()
            found = row[0] if row else "none"
            raise InputError(
                f"{path}: vulnerability database schema {found}, this hardbox reads {SCHEMA_VERSION}",
                "re-create it: remove the file and run hardbox db import again",
            )
        return cls(path, connection)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> VulnIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            # SQLite rolls back by itself on some errors (SQLITE_FULL): nothing left to undo.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._cache.clear()

    def stored(self, advisory_id: str) -> StoredRecord | None:
        row = self._db.execute(
            "SELECT modified, withdrawn FROM advisories WHERE id = ?", (advisory_id,)
        ).fetchone()
        return StoredRecord(row[0], bool(row[1])) if row else None

    def upsert(self, advisory: Advisory, raw: dict[str, Any], source: str) -> str:
        """Store one record: "added", "updated" (newer ``modified``), or "unchanged" (the
        stored copy is as new or newer; hardbox never goes back to an older record)."""
        # Fixed-width UTC text, so string order is time order.
        modified = advisory.modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        current = self.stored(advisory.id)
        if current is not None and current.modified >= modified:
            return "unchanged"
        text = json.dumps(raw, separators=(",", ":"), sort_keys=True)
        if current is not None:
            self._db.execute("DELETE FROM affected WHERE advisory_id = ?", (advisory.id,))
        self._db.execute(
            "INSERT OR REPLACE INTO advisories (id, modified, withdrawn, source, json) VALUES (?, ?, ?, ?, ?)",
            (advisory.id, modified, int(advisory.withdrawn is not None), source, text),
        )
        # A withdrawn record stays stored (status counts it) but can never match.
        if advisory.withdrawn is None:
            rows = {
                (a.package.ecosystem, normalise_name(a.package.ecosystem, a.package.name))
                for a in advisory.affected
            }
            self._db.executemany(
                "INSERT INTO affected (ecosystem, name, advisory_id) VALUES (?, ?, ?)",
                [(eco, name, advisory.id) for eco, name in sorted(rows)],
            )
        return "updated" if current is not None else "added"

    def record_import(self, source: str, counts: dict[str, int]) -> None:
        self._db.execute(
            "INSERT INTO imports (source, finished, added, updated, unchanged, skipped) VALUES (?, ?, ?, ?, ?, ?)",
            (source, _now(), counts.get("added", 0), counts.get("updated", 0),
             counts.get("unchanged", 0), counts.get("skipped", 0)),
        )

    # -- reading -------------------------------------------------------------------------

    def lookup(self, ecosystems: Sequence[str], name: str) -> list[Advisory]:
        """Advisories naming ``name`` in any of ``ecosystems`` (exact OSV ecosystem strings):
        one index probe and join per ecosystem."""
        found: dict[str, Advisory] = {}
        for ecosystem in ecosystems:
            try:
                rows = self._db.execute(
                    "SELECT a.id, a.json FROM affected AS f JOIN advisories AS a ON a.id = f.advisory_id "
                    "WHERE f.ecosystem = ? AND f.name = ?",
                    (ecosystem, normalise_name(ecosystem, name)),
                ).fetchall()
            except sqlite3.DatabaseError as err:
                raise InputError(f"{self.path}: damaged vulnerability database ({err})",
                                 "re-create it: remove the file and run hardbox db import again") from None
            for advisory_id, text in rows:
                if advisory_id not in found:
                    found[advisory_id] = self._parse(advisory_id, text)
        return list(found.values())

    def live_advisories(self) -> int:
        """How many advisories can match (withdrawn ones cannot). Zero means the index
        checks nothing, and the gate treats it as no database at all."""
        try:
            return int(self._db.execute("SELECT COUNT(*) FROM advisories WHERE withdrawn = 0").fetchone()[0])
        except sqlite3.DatabaseError as err:
            raise InputError(f"{self.path}: damaged vulnerability database ({err})",
                             "re-create it: remove the file and run hardbox db import again") from None

    def loaded_ecosystems(self) -> dict[str, int]:
        """Every ecosystem string the index holds advisories of, with how many (live or
        withdrawn: coverage asks whether an ecosystem was loaded at all)."""
        try:
            rows = self._db.execute(
                "SELECT ecosystem, COUNT(DISTINCT advisory_id) FROM affected GROUP BY ecosystem"
            ).fetchall()
        except sqlite3.DatabaseError as err:
            raise InputError(f"{self.path}: damaged vulnerability database ({err})",
                             "re-create it: remove the file and run hardbox db import again") from None
        return {eco: int(n) for eco, n in rows}

    def last_updated(self) -> str | None:
        """When the last import or update finished (ISO 8601); None if there was none."""
        row = self._db.execute("SELECT MAX(finished) FROM imports").fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def ecosystems_with_prefix(self, prefix: str) -> tuple[str, ...]:
        """Every loaded ecosystem string that starts with ``prefix`` (an index range scan)."""
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self._db.execute(
            "SELECT DISTINCT ecosystem FROM affected WHERE ecosystem >= ? AND ecosystem < ?",
            (prefix, upper),
        )
        return tuple(row[0] for row in rows)

    def _parse(self, advisory_id: str, text: str) -> Advisory:
        cached = self._cache.get(advisory_id)
        if cached is None:
            # Validated when imported; parsing again keeps one model for every reader, and
            # catches a database edited behind hardbox's back.
            try:
                cached = Advisory.from_json(json.loads(text))
            except (ValueError, RecursionError) as err:
                raise InputError(f"{self.path}: stored advisory {advisory_id} is damaged ({err})",
                                 "re-create it: remove the file and run hardbox db import again") from None
            self._cache[advisory_id] = cached
        return cached

    def status(self) -> dict[str, Any]:
        """What is loaded: counts per ecosystem, totals, and the import history."""
        db = self._db
        per_ecosystem = {
            eco: {"advisories": n}
            for eco, n in db.execute(
                "SELECT ecosystem, COUNT(DISTINCT advisory_id) FROM affected GROUP BY ecosystem ORDER BY ecosystem"
            )
        }
        total, withdrawn = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(withdrawn), 0) FROM advisories"
        ).fetchone()
        newest = db.execute("SELECT MAX(modified) FROM advisories").fetchone()[0]
        imports = [
            {"source": src, "finished": fin, "added": a, "updated": u, "unchanged": un, "skipped": s}
            for src, fin, a, u, un, s in db.execute(
                "SELECT source, finished, added, updated, unchanged, skipped FROM imports ORDER BY id"
            )
        ]
        last = imports[-1]["finished"] if imports else None
        age = None
        if last is not None:
            age = int((datetime.now(UTC) - datetime.fromisoformat(last)).total_seconds())
        return {
            "path": str(self.path),
            "size": os.path.getsize(self.path),
            "advisories": total,
            "withdrawn": withdrawn,
            "ecosystems": per_ecosystem,
            "newest_modified": newest,
            "last_import": last,
            "age_seconds": age,
            "imports": imports,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
