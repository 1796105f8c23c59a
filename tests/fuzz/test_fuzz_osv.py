"""Fuzz `hardbox db import` with OSV advisories as JSON files, YAML files (the PyPA
advisory database's form) and zips (OSV's all.zip), damaged structurally and byte-wise.
A malformed record is data (reported and skipped, exit 0); an unusable input is exit 2;
the database must stay readable afterwards (`db status`)."""

from __future__ import annotations

import io
import itertools
import zipfile
from pathlib import Path

import fuzzkit
import mutate
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

pytestmark = [pytest.mark.fuzz]

_counter = itertools.count()

# An OSV record of the shape osv.dev publishes (OSV schema 1.6: id, modified, affected with
# package/ranges/versions, severity with a CVSS vector, references).
RECORD = {
    "schema_version": "1.6.0",
    "id": "GHSA-fuzz-0000-0001",
    "modified": "2024-05-01T12:00:00Z",
    "published": "2024-04-01T00:00:00Z",
    "aliases": ["CVE-2024-0001"],
    "summary": "fuzz seed",
    "details": "A record to start damage from.",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [{
        "package": {"ecosystem": "PyPI", "name": "requests", "purl": "pkg:pypi/requests"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.31.0"}]}],
        "versions": ["2.30.0"],
    }, {
        "package": {"ecosystem": "Debian:12", "name": "openssl"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u1"}]}],
    }],
    "references": [{"type": "ADVISORY", "url": "https://example.com/advisory"}],
}


def _db_status_readable(db: Path, root: Path) -> None:
    if db.exists():
        out = fuzzkit.run_cli(["db", "status", "--db", str(db)], root=root)
        fuzzkit.check("OSV (db status after)", out, allowed=(0, 2))


@pytest.mark.parametrize("form", ["json", "yaml"])
def test_osv_records(form: str, tmp_path: Path, store_root: Path) -> None:
    db = tmp_path / "osv.sqlite"
    docs = mutate.json_document(RECORD) if form == "json" else st.one_of(
        mutate.mutated_doc(RECORD).map(lambda d: yaml.safe_dump(d).encode()),
        mutate.damaged_bytes(yaml.safe_dump(RECORD).encode()),
    )

    @fuzzkit.fuzz_settings()
    @given(data=docs, folder=st.booleans())
    def one(data: bytes, folder: bool) -> None:
        n = next(_counter)
        path = tmp_path / f"rec-{n}.{form}"
        if folder:
            path = tmp_path / f"dir-{n}" / f"GHSA-{n}.{form}"
            path.parent.mkdir()
        path.write_bytes(data)
        target = path.parent if folder else path
        out = fuzzkit.run_cli(["db", "import", "--db", str(db), str(target)], root=store_root)
        fuzzkit.check(f"OSV {form}", out)
        _db_status_readable(db, store_root)

    one()


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buf.getvalue()


@pytest.mark.filterwarnings("ignore:Duplicate name")  # a duplicate member is a case, not a slip
def test_osv_zips(tmp_path: Path, store_root: Path) -> None:
    db = tmp_path / "osv.sqlite"
    names = st.sampled_from(["GHSA-1.json", "a/b.json", "../evil.json", "/abs.json", "x.yaml",
                             "dir/", "a\x00.json", "all.zip"])
    members = st.lists(st.tuples(names, mutate.json_document(RECORD)), min_size=0, max_size=4)
    archives = st.one_of(members.map(_zip), members.map(_zip).flatmap(mutate.damaged_bytes))

    @fuzzkit.fuzz_settings()
    @given(data=archives)
    def one(data: bytes) -> None:
        path = tmp_path / f"all-{next(_counter)}.zip"
        path.write_bytes(data)
        out = fuzzkit.run_cli(["db", "import", "--db", str(db), str(path)], root=store_root)
        fuzzkit.check("OSV zip", out)
        _db_status_readable(db, store_root)
        assert not (tmp_path.parent / "evil.json").exists()

    one()
