"""``hardbox db update``: fetch OSV's per-ecosystem advisories and load them, atomically.

For each ecosystem asked for (OSV's top-level names: ``Debian``, ``PyPI``, ``npm``, ...) it
reads a bucket laid out as osv.dev publishes (``bucket.Bucket``) — osv.dev's public bucket
by default, ``--source``/``$HARDBOX_DB_SOURCE`` otherwise: an ``http(s)://`` base, a
``file://`` URL or a plain folder (an air-gapped mirror).

- First time: ``<Ecosystem>/all.zip``, every record. What each file was (ETag,
  Last-Modified; size and mtime in a folder) and the newest ``modified`` loaded from the
  ecosystem (the *mark*) are kept in ``<db>.sources.json`` beside the index.
- Next times, incremental: ``<Ecosystem>/modified_id.csv`` (conditionally: unchanged is one
  304 and nothing else) lists the records newest first; only those modified after the mark
  are fetched, as ``<Ecosystem>/<ID>.json``. Where the bucket has no such list, the list
  cannot be read, or more than ``MAX_RECORDS`` changed, the archive is fetched instead —
  conditionally, so an unchanged archive is not downloaded again (HTTP 304).
- Atomic: everything is downloaded into ``<db dir>/updates/`` first; only when all of it
  arrived is it imported, through ``importer.import_into`` (one sqlite transaction, or a
  new index published in one rename). A failed, corrupt or interrupted update leaves the
  previous database whole and usable and raises ``UpdateFailed`` (exit 2) saying so. The
  state file is written only after the import committed.
- A successful update records one import per source, so the database's age (``db status``,
  a scan's staleness note, the gate's ``max_db_age``) restarts even when nothing changed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hardbox.atomicfile import atomic_write
from hardbox.errors import HardboxError, InputError, UsageError
from hardbox.scan.ecosystems import BY_NAME
from hardbox.scan.package import Package
from hardbox.scan.vulndb.bucket import Bucket, NotOffered, SourceState
from hardbox.scan.vulndb.importer import ImportReport, import_into
from hardbox.scan.vulndb.index import VulnIndex
from hardbox.scan.vulndb.modified import UnusableList, changed_since

DEFAULT_SOURCE = "https://osv-vulnerabilities.storage.googleapis.com"
SOURCE_ENV = "HARDBOX_DB_SOURCE"
MAX_ARCHIVE = 4 << 30  # bytes; osv.dev's largest all.zip is a few hundred MiB
MAX_LIST = 256 << 20  # modified_id.csv: ~60 bytes a line, a few MiB for the largest ecosystem
MAX_RECORD = 8 << 20  # as the importer's record limit
MAX_RECORDS = 2000  # beyond this many changed records one archive costs less than the requests
PARALLEL = 8  # record fetches in flight


class UpdateFailed(InputError):
    """An update that could not finish; the database is as it was before it."""


# OSV's ecosystem names: "Debian", "crates.io", "Rocky Linux", "Red Hat", "GHC", ... Each is a
# folder of the bucket and of the staging area, so nothing that could climb out of either.
_ECOSYSTEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}$")


def check_ecosystem(name: str) -> str:
    if not _ECOSYSTEM.match(name) or ".." in name:
        raise UsageError(f"--ecosystem {name[:80]!r}: not an OSV ecosystem name",
                         "name one as osv.dev spells it: Debian, Ubuntu, Alpine, PyPI, npm, Go, Maven, crates.io")
    return name


@dataclass
class UpdateReport:
    """Per ecosystem: ``downloaded`` (bytes fetched), ``records`` (records fetched one by
    one from modified_id.csv) or ``unchanged``; the import's counts."""

    downloaded: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    imported: ImportReport | None = None

    def to_dict(self) -> dict[str, Any]:
        counts = dict(self.imported.counts) if self.imported else {}
        return {"downloaded": self.downloaded, "records": self.records, "unchanged": self.unchanged,
                "added": counts.get("added", 0), "updated": counts.get("updated", 0),
                "unchanged_records": counts.get("unchanged", 0), "skipped": counts.get("skipped", 0)}


def resolve_source(named: str | None) -> str:
    """``--source``, else ``$HARDBOX_DB_SOURCE``, else osv.dev's bucket; no trailing slash."""
    return (named or os.environ.get(SOURCE_ENV) or DEFAULT_SOURCE).rstrip("/")


def archive_names(packages: Iterable[Package], os_ecosystem: str | None) -> list[str]:
    """The OSV archives (top-level ecosystem names) that cover ``packages``: a language
    package's own (``PyPI``), an OS package's distro (``Debian`` for ``Debian:12``)."""
    names: dict[str, None] = {}
    for package in packages:
        row = BY_NAME[package.ecosystem]
        top = row.osv if not row.os else (os_ecosystem or "").split(":", 1)[0]
        if top:
            names.setdefault(top)
    return list(names)


def state_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".sources.json")


def load_state(db_path: Path) -> dict[str, SourceState]:
    try:
        doc = json.loads(state_path(db_path).read_text())
        return {url: SourceState(**{k: v for k, v in entry.items() if k in SourceState.__dataclass_fields__})
                for url, entry in doc.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}  # no or unreadable state: everything is fetched again, nothing is lost


def _save_state(db_path: Path, state: dict[str, SourceState]) -> None:
    with atomic_write(state_path(db_path)) as fh:
        fh.write((json.dumps({u: s.to_dict() for u, s in sorted(state.items())}, indent=2) + "\n").encode())


@contextmanager
def _locked(folder: Path) -> Iterator[Path]:
    """One update at a time per database folder; yields a fresh staging folder."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(folder / ".update.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        staging = folder / "updates"
        shutil.rmtree(staging, ignore_errors=True)  # what a killed update left
        staging.mkdir(mode=0o700)
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)


@dataclass
class _Plan:
    """What one update stages: paths to import, the source each is recorded under, and
    the ecosystems whose mark comes from the import (``all.zip`` read whole)."""

    paths: list[Path] = field(default_factory=list)
    labels: dict[Path, str] = field(default_factory=dict)
    marks: dict[Path, str] = field(default_factory=dict)  # staged path -> its all.zip URL
    # all.zip URL -> (modified_id.csv URL, its state, the list) fetched beside the archive
    lists: dict[str, tuple[str, SourceState, Path]] = field(default_factory=dict)
    unlisted: set[str] = field(default_factory=set)  # ecosystems whose list the source lacks


def update(db_path: Path, ecosystems: Sequence[str], source: str | None = None, *,
           session: Any = None, say: Callable[[str], None] = lambda _m: None,
           progress: Callable[[str], None] | None = None,
           on_bytes: Callable[[int], None] | None = None) -> UpdateReport:
    """Fetch what changed in ``ecosystems`` and import it into ``db_path``. ``say`` gets a
    line per step, ``progress`` each record imported, ``on_bytes`` each chunk downloaded."""
    for ecosystem in ecosystems:
        check_ecosystem(ecosystem)
    bucket = Bucket(resolve_source(source), session, on_bytes)
    state = load_state(db_path) if db_path.exists() else {}
    report = UpdateReport()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    fresh: dict[str, SourceState] = {}
    plan = _Plan()
    with _locked(db_path.parent) as staging:
        try:
            for ecosystem in ecosystems:
                incremental = _incremental(bucket, ecosystem, staging, state, now, say, plan) \
                    if db_path.exists() else None
                if incremental is not None:
                    states, folder, count = incremental
                    fresh.update(states)
                    if folder is None:
                        report.unchanged.append(ecosystem)
                    else:
                        report.records[ecosystem] = count
                        plan.paths.append(folder)
                        plan.labels[folder] = bucket.url(f"{ecosystem}/modified_id.csv")
                    continue
                _whole(bucket, ecosystem, staging, state, now, say, fresh, plan, report)
            if plan.paths:
                say(f"importing {len(plan.paths)} sources")
                report.imported = import_into(db_path, plan.paths, progress=progress, labels=plan.labels)
                for path, url in plan.marks.items():
                    newest = report.imported.newest.get(path)
                    fresh[url] = replace(fresh[url], newest=newest.isoformat() if newest else None)
            else:
                with VulnIndex.open(db_path) as index, index.transaction():
                    for ecosystem in ecosystems:
                        index.record_import(bucket.url(f"{ecosystem}/all.zip"),
                                            {"added": 0, "updated": 0, "unchanged": 0, "skipped": 0})
            for zip_url, (list_url, list_state, listed) in plan.lists.items():
                if _list_within(listed, fresh[zip_url].newest):
                    fresh[list_url] = list_state
        except (HardboxError, OSError) as err:
            raise UpdateFailed(f"db update failed, the previous database is unchanged: {_one_line(err)}",
                               "fix the cause (or pass --source) and run hardbox db update again") from None
    _save_state(db_path, {**state, **fresh})
    return report


def _whole(bucket: Bucket, ecosystem: str, staging: Path, state: dict[str, SourceState], now: str,
           say: Callable[[str], None], fresh: dict[str, SourceState], plan: _Plan,
           report: UpdateReport) -> None:
    """``<Ecosystem>/all.zip``, conditionally; and the ecosystem's modified_id.csv first,
    whole, so that the next update can be incremental from a known list (``_list_within``)."""
    rel = f"{ecosystem}/all.zip"
    url = bucket.url(rel)
    try:
        if ecosystem in plan.unlisted:
            raise NotOffered(ecosystem)
        list_state, listed = bucket.get(f"{ecosystem}/modified_id.csv",
                                        staging / ecosystem / "modified_id.csv", None, now, MAX_LIST)
        if listed is not None:
            plan.lists[url] = (bucket.url(f"{ecosystem}/modified_id.csv"), list_state, listed)
    except NotOffered:
        pass  # a mirror without the list: every update checks the archive
    say(f"checking {url}")
    new_state, path = bucket.get(rel, staging / ecosystem / "all.zip", state.get(url), now, MAX_ARCHIVE)
    fresh[url] = new_state
    if path is None:
        report.unchanged.append(ecosystem)
        return
    report.downloaded[ecosystem] = new_state.size or 0
    plan.paths.append(path)
    plan.labels[path] = url
    plan.marks[path] = url


def _incremental(bucket: Bucket, ecosystem: str, staging: Path, state: dict[str, SourceState],
                 now: str, say: Callable[[str], None], plan: _Plan
                 ) -> tuple[dict[str, SourceState], Path | None, int] | None:
    """The records changed since the ecosystem's mark, fetched into a staging folder, with
    the states to save; None when the whole archive must be fetched instead."""
    zip_url = bucket.url(f"{ecosystem}/all.zip")
    base = state.get(zip_url)
    if base is None or not base.newest:
        return None  # never loaded whole from this source: no mark to read down to
    mark = datetime.fromisoformat(base.newest)
    rel = f"{ecosystem}/modified_id.csv"
    url = bucket.url(rel)
    say(f"checking {url}")
    try:
        list_state, listed = bucket.get(rel, staging / ecosystem / "modified_id.csv", state.get(url), now, MAX_LIST)
    except NotOffered:
        plan.unlisted.add(ecosystem)
        return None
    kept = replace(base, checked=now)
    if listed is None:
        return {url: list_state, zip_url: kept}, None, 0
    try:
        changes = changed_since(listed, mark, MAX_RECORDS)
    except UnusableList as err:
        say(f"{url}: {err}; fetching the archive")
        return None
    if changes is None:
        return None  # so many changed that the archive is cheaper
    newest = changes.newest.isoformat() if changes.newest and changes.newest > mark else base.newest
    states = {url: list_state, zip_url: replace(kept, newest=newest)}
    if not changes.ids:
        return states, None, 0
    folder = staging / ecosystem / "records"
    folder.mkdir(parents=True)
    say(f"fetching {len(changes.ids)} changed {ecosystem} records")
    try:
        _fetch_records(bucket, ecosystem, changes.ids, folder, now)
    except NotOffered:
        return None  # a listed record is gone (withdrawn and deleted): take the archive
    return states, folder, len(changes.ids)


def _list_within(listed: Path, newest: str | None) -> bool:
    """Whether the list names nothing newer than the records loaded (``newest``). Only
    then are its validators kept: the archive may be older than the list fetched beside
    it, and a list answered 304 next time must not hide the records in between."""
    if not newest:
        return False
    try:
        changes = changed_since(listed, datetime.fromisoformat(newest), 0)
    except UnusableList:
        return False
    return changes is not None and not changes.ids


def _fetch_records(bucket: Bucket, ecosystem: str, ids: Sequence[str], folder: Path, now: str) -> None:
    def one(record_id: str) -> None:
        rel = f"{ecosystem}/{record_id}.json"
        _state, path = bucket.get(rel, folder / f"{record_id}.json", None, now, MAX_RECORD)
        if path is not None and path.parent != folder:  # a folder mirror: read in place
            shutil.copyfile(path, folder / f"{record_id}.json")

    if bucket.folder is not None or len(ids) == 1:
        for record_id in ids:
            one(record_id)
        return
    with ThreadPoolExecutor(PARALLEL) as pool:
        for _ in pool.map(one, ids):  # re-raises the first failure
            pass


def _one_line(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:300]
