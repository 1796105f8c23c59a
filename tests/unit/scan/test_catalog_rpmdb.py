"""The rpm cataloger on each database format rpm writes, against rpm itself.

How each fixture is made (tests/helpers/rpmdb.py):
- three packages (an epoch, 400 files, none) built by ``rpmbuild -bb`` and registered by
  Debian's rpm 4.18 with ``rpm -i --justdb`` in a sqlite database;
- Berkeley DB: the same header blobs written into a hash file by libdb 5.3 itself (the PyPI
  ``berkeleydb`` binding), keyed as rpm keys them, at page sizes where the headers sit on
  the page (64 KiB) or on overflow chains (512 B, 4 KiB), in both byte orders; rpm's own
  read-only Berkeley DB backend (``_db_backend bdb_ro``) lists each file for the truth
  (with libdb's page checksums on, which bdb_ro refuses, the stored blobs are the truth);
- ndb: Debian's rpm has no ndb backend, so ``tests/fixtures/rpmdb/ndb/Packages.db`` was
  written by rpm 4.18.0's own ndb code (lib/backend/ndb/rpmpkg.c) from the header blobs of
  its sqlite twin beside it (tests/fixtures/rpmdb/make_ndb.py says how); ``rpm -qa`` on the
  twin is the truth, and the two files' blobs must be byte-identical.

Damaged files (truncated, a looping overflow chain, huge lengths, bad checksums) end as a
``partial`` or ``failed`` status with a reason, within a second.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from helpers import rpmdb
from helpers.cli import need_tool
from helpers.layerdirs import image_of, write

from hardbox.scan.catalog.interface import CatalogerStatus, Status
from hardbox.scan.catalog.rpmdb import READERS, HeaderBlob
from hardbox.scan.catalog_result import catalog_image
from hardbox.scan.package import Package
from hardbox.scan.walk import walk

NDB_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures/rpmdb/ndb"
BDB_PATH, NDB_PATH = "var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages.db"


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[int, bytes]]:
    need_tool("rpm", "rpmbuild")
    work = tmp_path_factory.mktemp("rpms")
    return rpmdb.header_blobs(rpmdb.sqlite_db(rpmdb.build_rpms(work), work / "db"))


def need_berkeleydb() -> None:
    pytest.importorskip("berkeleydb", reason="the dev extra's berkeleydb binding (libdb-dev)")


def layer_with(root: Path, rel: str, data: bytes) -> Path:
    write(root, rel, data)
    return root


def rpm_result(layer: Path) -> tuple[list[Package], CatalogerStatus]:
    result = catalog_image(image_of(layer))
    status = {s.cataloger: s for s in result.statuses}["os/rpm"]
    return [p for p in result.packages if p.ecosystem == "rpm"], status


def read_blobs(layer: Path, rel: str) -> list[HeaderBlob]:
    file = walk(image_of(layer), []).get("/" + rel)
    assert file is not None
    return sorted(
        (e for e in READERS[rel.rsplit("/", 1)[-1]](file) if isinstance(e, HeaderBlob)),
        key=lambda e: e.key,
    )


@pytest.mark.parametrize("page_size", [512, 4096, 65536])
@pytest.mark.parametrize("big_endian", [False, True], ids=["little", "big"])
def test_berkeley_db_matches_rpm(
    blobs: list[tuple[int, bytes]], tmp_path: Path, page_size: int, big_endian: bool
) -> None:
    need_berkeleydb()
    dbdir = tmp_path / "var/lib/rpm"
    dbdir.mkdir(parents=True)
    rpmdb.bdb_packages(blobs, dbdir / "Packages", page_size=page_size, big_endian=big_endian)
    truth = rpmdb.rpm_qa(dbdir, "bdb_ro")
    assert len(truth) == 3
    packages, status = rpm_result(tmp_path)
    assert sorted((p.name, p.version, p.arch) for p in packages) == truth
    assert status.status is Status.SUCCEEDED
    assert [(b.key, b.blob) for b in read_blobs(tmp_path, BDB_PATH)] == sorted(blobs)
    many = next(p for p in packages if p.name == "hardbox-many")
    assert len(many.files) == 401  # the directory and its 400 files, from the 54 KB header


def test_berkeley_db_with_page_checksums(blobs: list[tuple[int, bytes]], tmp_path: Path) -> None:
    # rpm's bdb_ro refuses such a file, so the truth is the header blobs libdb stored.
    need_berkeleydb()
    path = tmp_path / BDB_PATH
    path.parent.mkdir(parents=True)
    rpmdb.bdb_packages(blobs, path, page_size=512, checksums=True)
    assert path.read_bytes()[26] & 1  # DBMETA_CHKSUM
    assert [(b.key, b.blob) for b in read_blobs(tmp_path, BDB_PATH)] == sorted(blobs)
    packages, status = rpm_result(tmp_path)
    assert len(packages) == 3 and status.status is Status.SUCCEEDED


def test_ndb_matches_rpm_on_its_twin(tmp_path: Path) -> None:
    need_tool("rpm")
    twin = tmp_path / "twin"
    twin.mkdir()
    shutil.copyfile(NDB_FIXTURE / "rpmdb.sqlite", twin / "rpmdb.sqlite")
    truth = rpmdb.rpm_qa(twin, "sqlite")
    layer = layer_with(tmp_path / "l", NDB_PATH, (NDB_FIXTURE / "Packages.db").read_bytes())
    packages, status = rpm_result(layer)
    assert sorted((p.name, p.version, p.arch) for p in packages) == truth
    assert len(truth) == 3 and status.status is Status.SUCCEEDED
    assert [(b.key, b.blob) for b in read_blobs(layer, NDB_PATH)] == rpmdb.header_blobs(
        twin / "rpmdb.sqlite"
    )


# --- damage ------------------------------------------------------------------------------


def bdb_bytes(blobs: list[tuple[int, bytes]], tmp_path: Path, page_size: int = 512) -> bytearray:
    need_berkeleydb()
    path = rpmdb.bdb_packages(blobs, tmp_path / "Packages.src", page_size=page_size)
    return bytearray(path.read_bytes())


def overflow_pages(data: bytearray, page_size: int) -> list[int]:
    return [n for n in range(1, len(data) // page_size) if data[n * page_size + 25] == 7]


def damaged(tmp_path: Path, rel: str, data: bytes) -> tuple[list[Package], CatalogerStatus]:
    # A looping chain or a huge count would hang or exhaust memory here, not return late:
    # returning at all is the check (timings live in bench/).
    return rpm_result(layer_with(tmp_path / "damaged", rel, bytes(data)))


def test_bdb_truncated(blobs: list[tuple[int, bytes]], tmp_path: Path) -> None:
    data = bdb_bytes(blobs, tmp_path)
    packages, status = damaged(tmp_path, BDB_PATH, data[: len(data) // 2])
    assert status.status in (Status.PARTIAL, Status.FAILED) and len(packages) < 3
    assert any("the file holds" in r for r in status.reasons), status.reasons


def test_bdb_looping_overflow_chain(blobs: list[tuple[int, bytes]], tmp_path: Path) -> None:
    data = bdb_bytes(blobs, tmp_path)
    # The longest chain is hardbox-many's 54 KB header: point one of its pages back at itself.
    page = overflow_pages(data, 512)[40]
    struct.pack_into("<I", data, page * 512 + 16, page)
    packages, status = damaged(tmp_path, BDB_PATH, data)
    assert status.status is Status.PARTIAL
    assert sorted(p.name for p in packages) == ["hardbox-empty", "hardbox-probe"]
    assert any("loop" in r for r in status.reasons), status.reasons


def test_bdb_huge_lengths(blobs: list[tuple[int, bytes]], tmp_path: Path) -> None:
    data = bdb_bytes(blobs, tmp_path)
    for page in overflow_pages(data, 512):
        struct.pack_into("<H", data, page * 512 + 22, 0xFFFF)  # bytes used on the page
    struct.pack_into("<I", data, 32, 0xFFFFFFFF)  # last_pgno: four billion pages
    packages, status = damaged(tmp_path, BDB_PATH, data)
    assert status.status is Status.FAILED and not packages
    assert any("holds more than" in r for r in status.reasons), status.reasons


def test_bdb_variants_and_garbage(tmp_path: Path) -> None:
    need_berkeleydb()
    from berkeleydb import db

    for name, setup, dbtype in (
        ("encrypted", lambda d: d.set_encrypt("secret", db.DB_ENCRYPT_AES), db.DB_HASH),
        ("btree", lambda d: None, db.DB_BTREE),
    ):
        d = db.DB()
        setup(d)
        d.open(str(tmp_path / f"{name}.db"), dbtype=dbtype, flags=db.DB_CREATE)
        d.put(b"\1\0\0\0", b"not a header")
        d.close()
        _, status = damaged(tmp_path / name, BDB_PATH, (tmp_path / f"{name}.db").read_bytes())
        assert status.status is Status.UNSUPPORTED, (name, status)
    _, status = damaged(tmp_path / "zeros", BDB_PATH, b"\0" * 4096)
    assert status.status is Status.FAILED and "not a Berkeley DB" in status.reasons[0]


def test_ndb_damage(tmp_path: Path) -> None:
    good = (NDB_FIXTURE / "Packages.db").read_bytes()
    # A flipped byte inside the first blob: its adler32 no longer matches, the rest is read.
    slot_off = struct.unpack_from("<I", good, 32 + 8)[0]
    data = bytearray(good)
    data[slot_off * 16 + 100] ^= 0xFF
    packages, status = damaged(tmp_path / "flip", NDB_PATH, data)
    assert status.status is Status.PARTIAL and len(packages) == 2
    assert any("adler32" in r for r in status.reasons), status.reasons
    # Truncated: the slots point past the end.
    packages, status = damaged(tmp_path / "cut", NDB_PATH, good[: len(good) // 2])
    assert status.status in (Status.PARTIAL, Status.FAILED) and len(packages) < 3
    assert any("outside the blob area" in r for r in status.reasons), status.reasons
    # A slot claiming four billion blocks, a slot-page count past the file, garbage.
    data = bytearray(good)
    struct.pack_into("<I", data, 32 + 12, 0xFFFFFFF0)
    packages, status = damaged(tmp_path / "huge", NDB_PATH, data)
    assert status.status is Status.PARTIAL and len(packages) == 2
    data = bytearray(good)
    struct.pack_into("<I", data, 12, 0xFFFFFFFF)
    _, status = damaged(tmp_path / "pages", NDB_PATH, data)
    assert status.status is Status.FAILED and "slot pages" in status.reasons[0]
    _, status = damaged(tmp_path / "garbage", NDB_PATH, b"\xff" * 8192)
    assert status.status is Status.FAILED and "RpmP" in status.reasons[0]


def test_scan_of_a_berkeley_db_image_matches_its_advisories(
    blobs: list[tuple[int, bytes]], tmp_path: Path
) -> None:
    """A Rocky Linux 8-shaped root filesystem whose packages live only in a Berkeley DB
    ``Packages`` (as on RHEL/UBI 8) is scanned and matched, end to end through the CLI."""
    import json
    import os

    from helpers.cli import hardbox
    from helpers.osv_fixtures import record, write_zip

    need_berkeleydb()
    root = tmp_path / "rootfs"
    write(root, "etc/os-release", 'ID="rocky"\nVERSION_ID="8.9"\nPRETTY_NAME="Rocky Linux 8.9"\n')
    (root / "var/lib/rpm").mkdir(parents=True)
    rpmdb.bdb_packages(blobs, root / "var/lib/rpm/Packages", page_size=4096)
    advisories = [
        record("RLSA-2099:0001", "Rocky Linux:8", "hardbox-many",
               [{"introduced": "0"}, {"fixed": "0.9.1-2.el8"}]),
        record("RLSA-2099:0002", "Rocky Linux:8", "hardbox-probe",
               [{"introduced": "0"}, {"fixed": "1:2.0-1.fc40"}]),  # older than installed
    ]  # fmt: skip
    db = tmp_path / "osv.sqlite"
    env = {**os.environ, "HARDBOX_ROOT": str(tmp_path / "store")}
    hardbox("db", "import", str(write_zip(tmp_path / "rocky.zip", advisories)), "--db", str(db),
            check=True, env=env)  # fmt: skip
    out = hardbox("scan", f"dir:{root}", "--db", str(db), "--json", "-", "-q", check=True, env=env)
    report = json.loads(out.stdout)
    vulns = [(f["id"], f["package"], f["version"]) for f in report["findings"]
             if f["kind"] == "vulnerability"]  # fmt: skip
    assert vulns == [("RLSA-2099:0001", "hardbox-many", "0.9.1-1.el8")]
    assert report["coverage"]["complete"] is True
    assert len(report["packages"]) == 3
