"""Reading OSV's per-ecosystem change list, ``<Ecosystem>/modified_id.csv``.

osv.dev publishes, beside each ``all.zip``, one line per record of that ecosystem:
``<modified>,<ID>`` (an RFC 3339 time, then the record id), newest first. ``db update``
remembers the newest ``modified`` it has loaded for an ecosystem (its *mark*); next time
it reads this list only down to the mark and fetches the records above it one by one
(``<Ecosystem>/<ID>.json``) instead of the whole archive.

The list is hostile input like any download: a line that is not ``time,id``, an id that
could not be a record's file name (a ``/``, ``..``, control characters), or times that are
not newest-first make the whole list unusable (``UnusableList``) and the caller falls back
to ``all.zip`` — a wrong list must never make hardbox skip records silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# OSV ids: letters, digits and -_.: (GHSA-xxxx-xxxx-xxxx, DEBIAN-CVE-2024-1, RUSTSEC-2024-0001,
# Ubuntu's "UBUNTU-CVE-2024-1"). Never a path separator, never only dots.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
MAX_LINE = 512


class UnusableList(ValueError):
    """The change list cannot be trusted; fetch the whole archive instead."""


@dataclass(frozen=True)
class Changes:
    """The records modified after the mark (newest first), and the list's newest time."""

    ids: tuple[str, ...]
    newest: datetime | None


def changed_since(path: Path, mark: datetime, limit: int) -> Changes | None:
    """The ids in ``path`` modified after ``mark``; None when more than ``limit`` changed
    (then one archive costs less than that many requests). Stops reading at the mark."""
    ids: list[str] = []
    seen: set[str] = set()
    newest: datetime | None = None
    previous: datetime | None = None
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if len(raw) > MAX_LINE:
                raise UnusableList(f"line {number}: longer than {MAX_LINE} bytes")
            line = raw.decode("ascii", "replace").strip()
            if not line:
                continue
            stamp, record_id = _parse(line, number)
            if previous is not None and stamp > previous:
                raise UnusableList(f"line {number}: not sorted newest first")
            previous = stamp
            if newest is None:
                newest = stamp
            if stamp <= mark:
                break
            if record_id not in seen:
                seen.add(record_id)
                ids.append(record_id)
                if len(ids) > limit:
                    return None
    return Changes(tuple(ids), newest)


def _parse(line: str, number: int) -> tuple[datetime, str]:
    stamp_text, sep, record_id = line.partition(",")
    if not sep or not _ID.match(record_id):
        raise UnusableList(f"line {number}: expected '<modified>,<ID>', got {line[:80]!r}")
    try:
        stamp = datetime.fromisoformat(stamp_text)
    except ValueError:
        raise UnusableList(f"line {number}: {stamp_text[:40]!r} is not an RFC 3339 time") from None
    if stamp.tzinfo is None:
        raise UnusableList(f"line {number}: {stamp_text[:40]!r} has no time zone")
    return stamp, record_id
