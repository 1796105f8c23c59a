"""``hardbox db import``: OSV advisories from files, folders and OSV's ``all.zip`` archives
into the local index, offline.

Inputs: a single record (``*.json`` holding one object, or an array of them; ``*.yaml`` /
``*.yml`` holding one, as the PyPA advisory-database publishes them — the OSV schema allows
both), a folder (searched recursively for those and ``*.zip``), or a zip archive as OSV
publishes per ecosystem (``<ecosystem>/all.zip``: one JSON record per member at the root).

An import that finds no advisory at all is an ``InputError`` (exit 2) naming what it saw:
an empty database would let ``hardbox gate`` pass every image. The first import into a path
builds the index under a temporary name and publishes it in one step (``publish``), so a
killed first import leaves no database rather than an empty one.

Every named path is checked before anything is written: a path that does not exist or is
neither JSON nor a zip is an ``InputError`` (exit 2) and the index is left untouched. Inside
an input, damage is data: a member that is too large, not JSON, or not a valid OSV record
is reported (file, member, id where known, reason) and skipped, and the rest is imported.

Zip archives are hostile input. Members are read into memory, never extracted; the member
count, each member's size and the total inflated size are bounded, and the bounds are
enforced on the bytes actually inflated, not on the sizes the archive declares. An archive
whose declared sizes or compression ratios are those of a zip bomb is refused whole.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hardbox.errors import InputError, write_failed
from hardbox.named_input import require_file_or_dir
from hardbox.scan.vulndb import osv_yaml, publish
from hardbox.scan.vulndb.index import VulnIndex, disk_full
from hardbox.scan.vulndb.osv import Advisory, InvalidAdvisory


@dataclass(frozen=True)
class Limits:
    """Bounds on what one import reads. OSV records are kilobytes; the largest published
    (Linux kernel CVEs listing many versions) stay well under a megabyte."""

    max_record_bytes: int = 8 * 1024 * 1024
    max_members: int = 1_000_000
    max_total_bytes: int = 8 * 1024 * 1024 * 1024
    # JSON compresses 5-20x; a member inflating over 200x its stored size is no record.
    max_ratio: int = 200
    max_file_bytes: int = 64 * 1024 * 1024  # a single named .json file


@dataclass(frozen=True)
class Skipped:
    where: str  # file, or "archive.zip!member.json"
    advisory_id: str | None
    reason: str

    def __str__(self) -> str:
        who = f" {self.advisory_id}" if self.advisory_id else ""
        return f"{self.where}{who}: {self.reason}"


@dataclass
class ImportReport:
    counts: Counter[str] = field(default_factory=Counter)  # added / updated / unchanged / skipped
    skipped: list[Skipped] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    # Per named path: the newest ``modified`` of any valid record read there (stored or not);
    # db update's mark for the next incremental fetch (modified_id.csv).
    newest: dict[Path, datetime] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "added": self.counts["added"],
            "updated": self.counts["updated"],
            "unchanged": self.counts["unchanged"],
            "skipped": [
                {"where": s.where, "id": s.advisory_id, "reason": s.reason} for s in self.skipped
            ],
        }


Progress = Callable[[str], None]


@dataclass(frozen=True)
class _Input:
    path: Path
    kind: str  # "json", "yaml" or "zip"
    named: Path  # the path the user gave that led here


@dataclass
class Plan:
    inputs: list[_Input]
    files_seen: dict[Path, int]  # per named path: every regular file found there


_RECORD_SUFFIXES = (".json", ".zip", *osv_yaml.YAML_SUFFIXES)


def plan(paths: list[Path]) -> Plan:
    """Resolve every named path to the files it stands for, refusing unusable ones."""
    result = Plan([], {})
    for path in paths:
        if not require_file_or_dir(path, "OSV input").exists():
            raise InputError(f"{path}: no such file or directory")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            result.files_seen[path] = len(files)
            result.inputs.extend(
                _Input(p, _sniff(p), path) for p in files if p.suffix.lower() in _RECORD_SUFFIXES
            )
            continue
        if not path.is_file():
            raise InputError(f"{path}: not a regular file or directory", "name OSV .json/.yaml files, folders or zips")
        result.files_seen[path] = 1
        result.inputs.append(_Input(path, _sniff(path, named=True), path))
    return result


def _sniff(path: Path, named: bool = False) -> str:
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        if not zipfile.is_zipfile(path):
            raise InputError(f"{path}: damaged zip archive")
        return "zip"
    if path.suffix.lower() in osv_yaml.YAML_SUFFIXES:
        return "yaml"
    if named and head.lstrip()[:1] not in (b"{", b"["):
        raise InputError(f"{path}: neither an OSV JSON file nor a zip archive of them (YAML records need a .yaml suffix)")
    return "json"


class NoAdvisories(InputError):
    """The named inputs held no OSV record at all."""


def import_into(db_path: Path, paths: list[Path], limits: Limits | None = None,
                progress: Progress | None = None, labels: Labels | None = None) -> ImportReport:
    """Import ``paths`` into the index at ``db_path``, creating it if missing. A new index is
    built under a temporary name and published only once the import succeeded; an existing
    one changes in one transaction. Either way a failed or killed import leaves the
    database as it was (or absent). ``labels`` (see ``import_paths``) name sources."""
    try:
        return _import_into(db_path, paths, limits, progress, labels)
    except sqlite3.DatabaseError as err:
        if disk_full(err):  # mid-import: the write of a record, an index page or the commit
            raise write_failed("write", db_path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) from None
        raise


def _import_into(db_path: Path, paths: list[Path], limits: Limits | None,
                 progress: Progress | None, labels: Labels | None) -> ImportReport:
    if db_path.exists():
        with VulnIndex.open(db_path) as index:
            return import_paths(paths, index, limits, progress, labels)
    try:
        db_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create {db_path.parent}: {err.strerror}") from None
    with publish.building(db_path) as tmp:
        with VulnIndex.open(tmp, create=True) as index:
            report = import_paths(paths, index, limits, progress, labels)
        if publish.publish_new(tmp, db_path):
            return report
    # Another import published a database first: add ours to it, in its transaction.
    with VulnIndex.open(db_path) as index:
        return import_paths(paths, index, limits, None, labels)


# A named path -> the source its import is recorded under (db update: the URL it came from).
Labels = Mapping[Path, str]


def import_paths(paths: list[Path], index: VulnIndex, limits: Limits | None = None,
                 progress: Progress | None = None, labels: Labels | None = None) -> ImportReport:
    """Import everything ``paths`` name, in one transaction. Each file is recorded as an
    import of its own, except under a named path in ``labels``: that path's files are
    recorded as one import under its label (``db status`` shows one line per source)."""
    limits = limits or Limits()
    labels = labels or {}
    planned = plan(paths)
    report = ImportReport()
    found: Counter[Path] = Counter()
    labelled: dict[Path, Counter[str]] = {}
    with index.transaction():
        for item in planned.inputs:
            before = Counter(report.counts)
            records = _zip_records(item.path, limits) if item.kind == "zip" else _file_records(item.path, limits)
            for where, payload in records:
                _import_one(where, payload, index, report, str(item.path), item.named)
                if progress is not None:
                    progress(where)
            delta = report.counts - before
            found[item.named] += delta["added"] + delta["updated"] + delta["unchanged"]
            if item.named in labels:
                labelled.setdefault(item.named, Counter()).update(delta)
            else:
                index.record_import(str(item.path.resolve()), dict(delta))
            report.sources.append(str(item.path))
        for named, counts in labelled.items():
            index.record_import(labels[named], dict(counts))
        if not found.total():
            # Raised inside the transaction: it rolls back, and a first import publishes nothing.
            raise NoAdvisories(_nothing_found(planned, report), _NOTHING_HINT)
    return report


_NOTHING_HINT = ("name OSV records: osv.dev's <ecosystem>/all.zip, or a folder of OSV .json/.yaml "
                 "files (the PyPA advisory-database's vulns/ folder)")


def _nothing_found(planned: Plan, report: ImportReport) -> str:
    """``PATH: 0 advisories in 12 files (no .json/.yaml/.zip OSV records)``, per named path."""
    parts = []
    for named, seen in planned.files_seen.items():
        candidates = sum(1 for item in planned.inputs if item.named == named)
        files = f"{seen} file" + ("" if seen == 1 else "s")
        if not candidates:
            why = "no .json/.yaml/.zip OSV records"
        else:
            skipped = [s for s in report.skipped if s.where.startswith(str(named))]
            why = f"{len(skipped)} records skipped" + (f", first: {skipped[0]}" if skipped else "")
        parts.append(f"{named}: 0 advisories in {files} ({why})")
    return "; ".join(parts)


def _import_one(where: str, payload: bytes | Skipped, index: VulnIndex, report: ImportReport,
                source: str, named: Path) -> None:
    if isinstance(payload, Skipped):
        _skip(report, payload)
        return
    is_yaml = os.path.splitext(where)[1].lower() in osv_yaml.YAML_SUFFIXES
    try:
        # Deeply nested JSON or YAML raises RecursionError in the decoder; it is damage too.
        decoded = osv_yaml.loads(payload) if is_yaml else json.loads(payload)
    except (ValueError, RecursionError) as err:
        kind = "YAML" if is_yaml else "JSON"
        _skip(report, Skipped(where, None, f"not {kind}: {str(err)[:120]}"))
        return
    for obj in decoded if isinstance(decoded, list) else [decoded]:
        try:
            advisory = Advisory.from_json(obj)
        except InvalidAdvisory as err:
            _skip(report, Skipped(where, err.advisory_id, err.reason))
            continue
        except RecursionError:
            _skip(report, Skipped(where, None, "nested too deeply"))
            continue
        newest = report.newest.get(named)
        if newest is None or advisory.modified > newest:
            report.newest[named] = advisory.modified
        report.counts[index.upsert(advisory, obj, source)] += 1


def _skip(report: ImportReport, skipped: Skipped) -> None:
    report.counts["skipped"] += 1
    report.skipped.append(skipped)


def _file_records(path: Path, limits: Limits) -> Iterator[tuple[str, bytes | Skipped]]:
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        yield str(path), Skipped(str(path), None, f"{size} bytes, over the {limits.max_file_bytes}-byte limit")
        return
    yield str(path), path.read_bytes()


def _zip_records(path: Path, limits: Limits) -> Iterator[tuple[str, bytes | Skipped]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise InputError(f"{path}: damaged zip archive ({err})") from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        _refuse_bombs(path, members, limits)
        inflated = 0
        for info in members:
            where = f"{path}!{info.filename}"
            if not info.filename.lower().endswith((".json", *osv_yaml.YAML_SUFFIXES)):
                yield where, Skipped(where, None, "not a .json or .yaml member")
                continue
            if info.file_size > limits.max_record_bytes:
                yield where, Skipped(where, None, f"{info.file_size} bytes, over the {limits.max_record_bytes}-byte record limit")
                continue
            try:
                with archive.open(info) as member:
                    # Declared sizes can lie: never inflate more than the limit allows.
                    data = member.read(limits.max_record_bytes + 1)
            except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError, RuntimeError, EOFError) as err:
                # RuntimeError: an encrypted member; zlib.error: a damaged deflate stream (zipfile
                # lets it through); the rest: a damaged or unsupported member. Damage inside
                # an input is recorded and skipped, the other members go on.
                yield where, Skipped(where, None, f"cannot read member: {err}")
                continue
            if len(data) > limits.max_record_bytes:
                yield where, Skipped(where, None, f"inflates past the {limits.max_record_bytes}-byte record limit")
                continue
            inflated += len(data)
            if inflated > limits.max_total_bytes:
                raise InputError(f"{path}: inflates past {limits.max_total_bytes} bytes in total; refused as a zip bomb")
            yield where, data


def _refuse_bombs(path: Path, members: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(members) > limits.max_members:
        raise InputError(f"{path}: {len(members)} members, over the limit of {limits.max_members}")
    declared = sum(info.file_size for info in members)
    if declared > limits.max_total_bytes:
        raise InputError(f"{path}: declares {declared} bytes inflated; refused as a zip bomb")
    for info in members:
        if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise InputError(
                f"{path}: member {info.filename!r} inflates {info.file_size // max(info.compress_size, 1)}x; "
                "refused as a zip bomb"
            )
