"""Builders for OSV records and archives in the layout osv.dev publishes.

OSV's own ``<ecosystem>/all.zip`` archives cannot be downloaded here (no network), so the
tests write zips of the same layout: one ``<ID>.json`` record per member at the archive
root. Records are built from the schema's fields, not copied from osv.dev.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

CVSS3_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
CVSS3_MEDIUM = "CVSS:3.1/AV:N/AC:H/PR:L/UI:N/S:U/C:L/I:L/A:L"
CVSS4_HIGH = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:L/VA:N/SC:N/SI:N/SA:N"


def record(
    advisory_id: str,
    ecosystem: str,
    name: str,
    events: list[dict[str, str]] | None = None,
    *,
    modified: str = "2024-05-01T00:00:00Z",
    range_type: str = "ECOSYSTEM",
    versions: list[str] | None = None,
    severity: list[dict[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    affected: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    if events is not None:
        affected["ranges"] = [{"type": range_type, "events": events}]
    if versions is not None:
        affected["versions"] = versions
    rec: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": advisory_id,
        "modified": modified,
        "published": "2024-01-01T00:00:00Z",
        "aliases": [advisory_id.replace("DEBIAN-", "")] if advisory_id.startswith("DEBIAN-CVE") else [],
        "summary": f"test advisory {advisory_id}",
        "details": f"{name} is vulnerable in this test.",
        "affected": [affected],
        "references": [{"type": "ADVISORY", "url": f"https://example.invalid/{advisory_id}"}],
    }
    if severity is not None:
        rec["severity"] = severity
    rec.update(extra)
    return rec


def write_zip(path: Path, records: list[dict[str, Any]] | dict[str, bytes]) -> Path:
    """An all.zip in OSV's layout: ``<ID>.json`` members at the root."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if isinstance(records, dict):
            for member, data in records.items():
                archive.writestr(member, data)
        else:
            for rec in records:
                archive.writestr(f"{rec['id']}.json", json.dumps(rec))
    return path


def write_json(path: Path, rec: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))
    return path


def write_bucket(root: Path, ecosystem: str, records: list[dict[str, Any]]) -> Path:
    """One ecosystem of osv.dev's bucket: ``all.zip``, ``modified_id.csv`` (``<modified>,<ID>``
    per record, newest first, no header, as osv.dev exports it) and one ``<ID>.json`` per
    record beside them. Returns the ecosystem's folder."""
    folder = root / ecosystem
    write_zip(folder / "all.zip", records)
    for rec in records:
        write_json(folder / f"{rec['id']}.json", rec)
    newest_first = sorted(records, key=lambda r: (r["modified"], r["id"]), reverse=True)
    (folder / "modified_id.csv").write_text("".join(f"{r['modified']},{r['id']}\n" for r in newest_first))
    return folder
