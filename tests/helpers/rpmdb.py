"""rpm databases made by real tools, for the rpm cataloger's tests and the ndb fixture's
generator (tests/fixtures/rpmdb/make_ndb.py): tiny packages built by ``rpmbuild -bb`` from
specs written here, registered by Debian's rpm 4.18 with ``rpm -i --justdb`` in a sqlite
database, and the same header blobs written into a Berkeley DB hash file by libdb itself
(the PyPI ``berkeleydb`` binding over Debian's libdb 5.3), keyed as rpm keys them."""

from __future__ import annotations

import sqlite3
import struct
import subprocess
from pathlib import Path

SPECS = {
    # An epoch, a licence expression and one file: the fields the cataloger reports.
    "hardbox-probe": """\
Name: hardbox-probe
Version: 2.0
Release: 3.fc40
Epoch: 1
Summary: a package the tests register with rpm
License: MIT AND BSD-2-Clause
BuildArch: noarch

%description
probe

%install
mkdir -p %{buildroot}/usr/share/hardbox-probe
echo hi > %{buildroot}/usr/share/hardbox-probe/hello

%files
/usr/share/hardbox-probe/hello
""",
    # 400 files: a header of tens of KiB, so Berkeley DB keeps it on a chain of overflow pages.
    "hardbox-many": """\
%global debug_package %{nil}
Name: hardbox-many
Version: 0.9.1
Release: 1.el8
Summary: a package with many files
License: GPL-2.0-only
BuildArch: x86_64

%description
many files

%install
mkdir -p %{buildroot}/usr/share/hardbox-many
for i in $(seq 1 400); do echo $i > %{buildroot}/usr/share/hardbox-many/file-$i.txt; done

%files
/usr/share/hardbox-many
""",
    # No files at all: the smallest header rpmbuild makes.
    "hardbox-empty": """\
Name: hardbox-empty
Version: 1
Release: 0
Summary: a package without files
License: Apache-2.0
BuildArch: noarch

%description
empty

%files
""",
}

QUERY = "%{NAME}|%{EPOCH}:%{VERSION}-%{RELEASE}|%{ARCH}\\n"


def build_rpms(work: Path) -> list[Path]:
    """Each spec of ``SPECS`` built with ``rpmbuild -bb``; the packages' paths."""
    out = []
    work.mkdir(parents=True, exist_ok=True)
    for name, spec in SPECS.items():
        path = work / f"{name}.spec"
        path.write_text(spec)
        subprocess.run(
            ["rpmbuild", "--define", f"_topdir {work}/top", "-bb", str(path)],
            check=True,
            capture_output=True,
        )
        out.append(next((work / "top/RPMS").glob(f"*/{name}-*.rpm")))
    return out


def sqlite_db(rpms: list[Path], dbpath: Path) -> Path:
    """A sqlite rpm database at ``dbpath`` holding ``rpms``, written by rpm itself."""
    dbpath.mkdir(parents=True, exist_ok=True)
    rpm = ["rpm", "--dbpath", str(dbpath), "--define", "_db_backend sqlite"]
    subprocess.run([*rpm, "--initdb"], check=True, capture_output=True)
    subprocess.run(
        [*rpm, "-i", "--justdb", "--nodeps", "--noscripts", "--ignorearch", *map(str, rpms)],
        check=True,
        capture_output=True,
    )
    return dbpath / "rpmdb.sqlite"


def header_blobs(sqlite_path: Path) -> list[tuple[int, bytes]]:
    """(instance, header blob) of every package rpm registered, as rpm stored them."""
    # immutable: rpm leaves the database in WAL mode, and even a read-only open would write
    # -shm/-wal files beside it (next to the committed fixture, say).
    conn = sqlite3.connect(f"file:{sqlite_path}?mode=ro&immutable=1", uri=True)
    try:
        return [(int(h), bytes(b)) for h, b in conn.execute("SELECT hnum, blob FROM Packages")]
    finally:
        conn.close()


def bdb_packages(
    blobs: list[tuple[int, bytes]],
    path: Path,
    *,
    page_size: int,
    big_endian: bool = False,
    checksums: bool = False,
) -> Path:
    """A Berkeley DB hash file shaped as rpm's ``Packages``: key the instance number as a
    uint32 in the writer's byte order, value the header; instance 0 holds the next free
    instance, as rpm's db3 backend keeps it. ``big_endian`` writes the file as an s390x host
    would (libdb's ``set_lorder(4321)``); ``checksums`` adds libdb's page checksums
    (``DB_CHKSUM``), which move every page's items 6 bytes further in."""
    from berkeleydb import db

    order = ">" if big_endian else "<"
    d = db.DB()
    d.set_pagesize(page_size)
    d.set_lorder(4321 if big_endian else 1234)
    if checksums:
        d.set_flags(db.DB_CHKSUM)
    d.open(str(path), dbtype=db.DB_HASH, flags=db.DB_CREATE)
    try:
        d.put(struct.pack(order + "I", 0), struct.pack(order + "I", max(h for h, _ in blobs) + 1))
        for hnum, blob in blobs:
            d.put(struct.pack(order + "I", hnum), blob)
    finally:
        d.close()
    return path


def rpm_qa(dbpath: Path, backend: str) -> list[tuple[str, str, str]]:
    """(name, [epoch:]version-release, arch) of each package rpm itself lists, sorted."""
    out = subprocess.run(
        [
            "rpm",
            "--dbpath",
            str(dbpath),
            "--define",
            f"_db_backend {backend}",
            "-qa",
            "--qf",
            QUERY,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        name, evr, arch = line.split("|")
        rows.append((name, evr.removeprefix("(none):"), arch))
    return sorted(rows)
