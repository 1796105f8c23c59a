"""``hardbox db import``: OSV advisories from files, folders and OSV's ``all.zip`` archives
into the local index, offline.

Inputs: a single record (``*.json`` holding one object, or an array of them), a folder
(searched recursively for ``*.json`` and ``*.zip``), or a zip archive as OSV publishes per
ecosystem (``<ecosystem>/all.zip``: one JSON record per member at the root).

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

import json
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardbox.errors import InputError
from hardbox.scan.vulndb.index import VulnIndex
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
    kind: str  # "json" or "zip"


def plan(paths: list[Path]) -> list[_Input]:
    """Resolve every named path to the files it stands for, refusing unusable ones."""
    inputs: list[_Input] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".json", ".zip"))
            inputs.extend(_Input(p, _sniff(p)) for p in found)
            continue
        inputs.append(_Input(path, _sniff(path, named=True)))
    return inputs


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
    if named and head.lstrip()[:1] not in (b"{", b"["):
        raise InputError(f"{path}: neither an OSV JSON file nor a zip archive of them")
    return "json"


def import_paths(paths: list[Path], index: VulnIndex, limits: Limits | None = None,
                 progress: Progress | None = None) -> ImportReport:
    """Import everything ``paths`` name, in one transaction."""
    limits = limits or Limits()
    inputs = plan(paths)
    report = ImportReport()
    with index.transaction():
        for item in inputs:
            before = Counter(report.counts)
            records = _zip_records(item.path, limits) if item.kind == "zip" else _file_records(item.path, limits)
            for where, payload in records:
                _import_one(where, payload, index, report, str(item.path))
                if progress is not None:
                    progress(where)
            delta = report.counts - before
            index.record_import(str(item.path.resolve()), dict(delta))
            report.sources.append(str(item.path))
    return report


def _import_one(where: str, payload: bytes | Skipped, index: VulnIndex, report: ImportReport,
                source: str) -> None:
    if isinstance(payload, Skipped):
        _skip(report, payload)
        return
    try:
        # Deeply nested JSON raises RecursionError in the stdlib decoder; it is damage too.
        decoded = json.loads(payload)
    except (ValueError, RecursionError) as err:
        _skip(report, Skipped(where, None, f"not JSON: {str(err)[:120]}"))
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
            if not info.filename.lower().endswith(".json"):
                yield where, Skipped(where, None, "not a .json member")
                continue
            if info.file_size > limits.max_record_bytes:
                yield where, Skipped(where, None, f"{info.file_size} bytes, over the {limits.max_record_bytes}-byte record limit")
                continue
            try:
                with archive.open(info) as member:
                    # Declared sizes can lie: never inflate more than the limit allows.
                    data = member.read(limits.max_record_bytes + 1)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, EOFError) as err:
                # RuntimeError: an encrypted member; the rest: a damaged or unsupported one.
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
