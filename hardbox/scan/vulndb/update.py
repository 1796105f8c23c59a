"""``hardbox db update``: fetch OSV's per-ecosystem archives and load them, atomically.

For each ecosystem asked for (OSV's top-level names: ``Debian``, ``PyPI``, ``npm``, ...) it
fetches ``<source>/<Ecosystem>/all.zip`` — from osv.dev's public bucket by default, from
``--source``/``$HARDBOX_DB_SOURCE`` otherwise, which may be an ``http(s)://`` base, a
``file://`` URL or a plain folder laid out the same way (an air-gapped mirror).

- Conditional: what each source answered last time (ETag, Last-Modified; size and mtime
  for a file) is kept in ``<db>.sources.json`` beside the index; an unchanged archive is
  not downloaded (HTTP 304) or read again. Over HTTP it goes through ``hardbox.net`` (TLS
  with certs.d, proxies from the environment, retries with Retry-After) — no second client.
- Atomic: every changed archive is downloaded into ``<db dir>/updates/`` first; only when
  all of them arrived are they imported, through ``importer.import_into`` (one sqlite
  transaction, or a new index published in one rename). A failed, corrupt or interrupted
  update leaves the previous database whole and usable, and raises ``UpdateFailed``
  (exit 2) saying so. The state file is written only after the import committed.
- A successful update records one import per source, so the database's age (``db status``,
  a scan's staleness note, the gate's ``max_db_age``) restarts even when nothing changed.

OSV's ``modified_id.csv`` (for fetching single changed records) is not used yet: an
unchanged archive already costs one round trip, a changed one is downloaded whole.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from hardbox.errors import HardboxError, InputError
from hardbox.scan.ecosystems import BY_NAME
from hardbox.scan.package import Package
from hardbox.scan.vulndb.importer import ImportReport, import_into
from hardbox.scan.vulndb.index import VulnIndex

DEFAULT_SOURCE = "https://osv-vulnerabilities.storage.googleapis.com"
SOURCE_ENV = "HARDBOX_DB_SOURCE"
MAX_ARCHIVE = 4 << 30  # bytes; osv.dev's largest all.zip is a few hundred MiB


class UpdateFailed(InputError):
    """An update that could not finish; the database is as it was before it."""


@dataclass(frozen=True)
class SourceState:
    """What a source said last time: its validators, and when it was last checked."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    size: int | None = None
    mtime: float | None = None  # file sources
    checked: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "etag": self.etag, "last_modified": self.last_modified,
                "size": self.size, "mtime": self.mtime, "checked": self.checked}


@dataclass
class UpdateReport:
    """Per ecosystem: ``downloaded`` (bytes fetched) or ``unchanged``; the import's counts."""

    downloaded: dict[str, int] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    imported: ImportReport | None = None

    def to_dict(self) -> dict[str, Any]:
        counts = dict(self.imported.counts) if self.imported else {}
        return {"downloaded": self.downloaded, "unchanged": self.unchanged,
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


def archive_url(base: str, ecosystem: str) -> str:
    return f"{base}/{quote(ecosystem)}/all.zip"


def _local(base: str) -> Path | None:
    """The folder of a ``file://`` or plain-folder source; None for HTTP(S)."""
    parts = urlsplit(base)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme:
        raise InputError(f"{base}: unsupported database source",
                         "name an https:// or file:// URL, or a folder laid out as <Ecosystem>/all.zip")
    return Path(base)


def state_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".sources.json")


def load_state(db_path: Path) -> dict[str, SourceState]:
    try:
        doc = json.loads(state_path(db_path).read_text())
        return {url: SourceState(**{k: v for k, v in entry.items() if k in SourceState.__dataclass_fields__})
                for url, entry in doc.items()}
    except (OSError, ValueError, TypeError):
        return {}  # no or unreadable state: everything is fetched again, nothing is lost


def _save_state(db_path: Path, state: dict[str, SourceState]) -> None:
    path = state_path(db_path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({u: s.to_dict() for u, s in sorted(state.items())}, indent=2) + "\n")
    os.replace(tmp, path)


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


def update(db_path: Path, ecosystems: Sequence[str], source: str | None = None, *,
           session: Any = None, say: Callable[[str], None] = lambda _m: None,
           progress: Callable[[str], None] | None = None) -> UpdateReport:
    """Fetch the changed archives of ``ecosystems`` and import them into ``db_path``."""
    base = resolve_source(source)
    folder = _local(base)
    state = load_state(db_path) if db_path.exists() else {}
    report = UpdateReport()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    fresh: dict[str, SourceState] = {}
    with _locked(db_path.parent) as staging:
        staged: list[Path] = []
        try:
            for ecosystem in ecosystems:
                url = archive_url(base, ecosystem)
                say(f"checking {url}")
                if folder is not None:
                    got = _from_folder(folder / ecosystem / "all.zip", url, state.get(url), now)
                    new_state, path = got
                else:
                    dest = staging / ecosystem / "all.zip"
                    new_state, path = _from_http(session, url, dest, state.get(url), now)
                fresh[url] = new_state
                if path is None:
                    report.unchanged.append(ecosystem)
                else:
                    report.downloaded[ecosystem] = new_state.size or 0
                    staged.append(path)
            if staged:
                say(f"importing {len(staged)} archives")
                report.imported = import_into(db_path, staged, progress=progress)
            else:
                with VulnIndex.open(db_path) as index, index.transaction():
                    for url in fresh:
                        index.record_import(url, {"added": 0, "updated": 0, "unchanged": 0, "skipped": 0})
        except (HardboxError, OSError) as err:
            raise UpdateFailed(f"db update failed, the previous database is unchanged: {_one_line(err)}",
                               "fix the cause (or pass --source) and run hardbox db update again") from None
    _save_state(db_path, {**state, **fresh})
    return report


def _one_line(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:300]


def _from_folder(path: Path, url: str, before: SourceState | None,
                 now: str) -> tuple[SourceState, Path | None]:
    try:
        st = path.stat()
    except OSError as err:
        raise InputError(f"{path}: {err.strerror}") from None
    new = SourceState(url, size=st.st_size, mtime=st.st_mtime, checked=now)
    if before is not None and (before.size, before.mtime) == (new.size, new.mtime):
        return new, None
    return new, path  # imported where it lies: a local mirror is not copied


def _from_http(session: Any, url: str, dest: Path, before: SourceState | None,
               now: str) -> tuple[SourceState, Path | None]:
    if session is None:
        from hardbox.net import Session

        session = Session()
    fetched = session.fetch(url, dest, etag=before.etag if before else None,
                            last_modified=before.last_modified if before else None,
                            max_bytes=MAX_ARCHIVE)
    if not fetched.modified and before is not None:
        return SourceState(url, before.etag, before.last_modified, before.size, checked=now), None
    if not fetched.modified:
        raise InputError(f"GET {url}: 304 Not Modified to an unconditional request")
    return SourceState(url, fetched.etag, fetched.last_modified, fetched.size, checked=now), dest
