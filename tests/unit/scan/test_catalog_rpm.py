"""rpm cataloger against rpm: a package built by ``rpmbuild`` and registered with ``rpm -i
--justdb`` in a fresh ``rpmdb.sqlite`` (Debian's rpm 4.18 writes sqlite), compared with
``rpm -qa``; damaged headers and databases are recorded, not fatal. The Berkeley DB and
ndb formats are tested in test_catalog_rpmdb.py."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest
from helpers.cli import need_tool
from helpers.layerdirs import image_of, write
from helpers.rpmdb import SPECS

from hardbox.scan.catalog.interface import Status
from hardbox.scan.catalog.rpmdb.header import parse_header
from hardbox.scan.catalog_result import catalog_image

SPEC = SPECS["hardbox-probe"]  # an epoch, a licence expression and one file

QUERY = "%{NAME}|%{EPOCH}:%{VERSION}-%{RELEASE}|%{ARCH}|%{SOURCERPM}|%{LICENSE}\\n"


def rpm(layer: Path, *args: str) -> str:
    return subprocess.run(
        ["rpm", "--root", str(layer), "--dbpath", "/var/lib/rpm", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture(scope="module")
def rpm_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_tool("rpm", "rpmbuild")
    work = tmp_path_factory.mktemp("rpm")
    spec = write(work, "probe.spec", SPEC)
    subprocess.run(
        [
            "rpmbuild",
            "--define",
            f"_topdir {work}/top",
            "--define",
            "_db_backend sqlite",
            "-bb",
            str(spec),
        ],
        check=True,
        capture_output=True,
    )
    package = next((work / "top/RPMS/noarch").glob("hardbox-probe-*.rpm"))
    layer = work / "layer"
    (layer / "var/lib/rpm").mkdir(parents=True)
    rpm(layer, "--initdb")
    rpm(layer, "-i", "--justdb", "--nodeps", "--noscripts", str(package))
    if not (layer / "var/lib/rpm/rpmdb.sqlite").exists():
        pytest.skip("this rpm does not write the sqlite database backend")
    return layer


def test_rpmdb_sqlite_matches_rpm_qa(rpm_layer: Path) -> None:
    truth = [line.split("|") for line in rpm(rpm_layer, "-qa", "--qf", QUERY).splitlines()]
    result = catalog_image(image_of(rpm_layer))
    pkgs = [p for p in result.packages if p.ecosystem == "rpm"]
    assert [(p.name, p.version, p.arch) for p in pkgs] == [
        (name, evr, arch) for name, evr, arch, _, _ in truth
    ]
    probe = pkgs[0]
    assert probe.version == "1:2.0-3.fc40"
    assert probe.licenses == (truth[0][4],)
    assert (probe.source_name, probe.source_version) == ("hardbox-probe", "2.0-3.fc40")
    assert truth[0][3] == "hardbox-probe-2.0-3.fc40.src.rpm"
    assert probe.files == ("/usr/share/hardbox-probe/hello",)
    assert probe.purl == "pkg:rpm/hardbox-probe@2.0-3.fc40?arch=noarch&epoch=1"
    assert {s.cataloger: s.status for s in result.statuses}["os/rpm"] is Status.SUCCEEDED


def test_damaged_headers_are_partial(rpm_layer: Path, tmp_path: Path) -> None:
    layer = tmp_path / "l1"
    db = layer / "var/lib/rpm/rpmdb.sqlite"
    db.parent.mkdir(parents=True)
    db.write_bytes((rpm_layer / "var/lib/rpm/rpmdb.sqlite").read_bytes())
    with sqlite3.connect(db) as conn:
        (blob,) = conn.execute("SELECT blob FROM Packages").fetchone()
        conn.execute(
            "INSERT INTO Packages (blob) VALUES (?)", (blob[: len(blob) // 2],)
        )  # truncated
        conn.execute(
            "INSERT INTO Packages (blob) VALUES (?)", (b"\xff\xff\xff\xff\0\0\0\0",)
        )  # absurd counts
        # sqlite types values, not columns: an integer where rpm writes a blob.
        conn.execute("INSERT INTO Packages (blob) VALUES (?)", (10**9,))
    conn.close()
    result = catalog_image(image_of(layer))
    assert [p.name for p in result.packages] == ["hardbox-probe"]
    status = {s.cataloger: s for s in result.statuses}["os/rpm"]
    assert status.status is Status.PARTIAL and len(status.reasons) == 3


def test_garbage_sqlite_fails(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    write(garbage, "usr/lib/sysimage/rpm/rpmdb.sqlite", b"SQLite format 3\0" + b"\x01" * 4000)
    status = {s.cataloger: s for s in catalog_image(image_of(garbage)).statuses}["os/rpm"]
    assert status.status is Status.FAILED


def test_header_parser_bounds() -> None:
    with pytest.raises(ValueError):
        parse_header(b"\0\0")
    with pytest.raises(ValueError):
        parse_header(b"\0\0\0\x01\0\0\0\x04" + b"\0" * 16)  # one entry, 4 data bytes missing
