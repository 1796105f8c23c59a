"""Issue 16 item 1, through the real CLI: no way of importing leaves a vulnerability database
that holds no advisory, and the gate fails (HB-GATE-011, with the reason) on one that does.

The first import is killed with SIGKILL part-way through a large generated feed (OSV's
all.zip layout, one JSON record per member); the database must then be absent, not empty.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from hardbox.scan.vulndb.index import VulnIndex


def hardbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hardbox", *args], capture_output=True, text=True, timeout=300)


def _record(advisory_id: str, **extra: object) -> dict[str, object]:
    return {
        "schema_version": "1.6.0", "id": advisory_id, "modified": "2024-05-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": f"pkg-{advisory_id}"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}],
        **extra,
    }  # fmt: skip


def _write_zip(path: Path, count: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(count):
            archive.writestr(f"DEBIAN-CVE-2099-{i:06d}.json", json.dumps(_record(f"DEBIAN-CVE-2099-{i:06d}")))
    return path


def test_a_folder_without_advisories_is_exit_2_and_creates_nothing(tmp_path: Path, hardbox_root: Path) -> None:
    # What a PyPA advisory-database checkout looked like to hardbox before it read YAML.
    folder = tmp_path / "checkout"
    folder.mkdir()
    for i in range(12):
        (folder / f"PYSEC-{i}.txt").write_text("id: PYSEC\n")
    proc = hardbox("db", "import", str(folder))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first == f"hardbox: {folder}: 0 advisories in 12 files (no .json/.yaml/.zip OSV records)"
    assert "Traceback" not in proc.stderr
    assert not (hardbox_root / "db" / "osv.sqlite").exists()


def test_a_killed_first_import_leaves_no_database(tmp_path: Path, hardbox_root: Path) -> None:
    feed = _write_zip(tmp_path / "all.zip", 40_000)
    db_dir = hardbox_root / "db"
    proc = subprocess.Popen([sys.executable, "-m", "hardbox", "db", "import", str(feed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    building = db_dir / f".osv.sqlite.{proc.pid}.building"
    try:
        deadline = time.monotonic() + 120
        # Kill it once records are being written into the database under construction.
        while not (building.exists() and building.stat().st_size > 64 * 1024):
            assert proc.poll() is None, "the import finished before it could be killed"
            assert time.monotonic() < deadline, "the import never started writing"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (db_dir / "osv.sqlite").exists()

    status = hardbox("db", "status")
    assert status.returncode == 2 and "no vulnerability database" in status.stderr

    # The next import publishes a whole database and clears the dead import's leftovers.
    small = _write_zip(tmp_path / "small.zip", 3)
    assert hardbox("db", "import", str(small)).returncode == 0
    assert sorted(p.name for p in db_dir.iterdir()) == ["osv.sqlite"]
    assert json.loads(hardbox("db", "status", "--json").stdout)["advisories"] == 3


@pytest.mark.parametrize("how", ["withdrawn-only", "empty-file"])
def test_gate_treats_a_database_without_advisories_as_missing(
    how: str, tmp_path: Path, hardbox_root: Path, busybox_archive: Path
) -> None:
    db = hardbox_root / "db" / "osv.sqlite"
    if how == "withdrawn-only":
        # A real import whose every record is withdrawn: stored, but nothing can match.
        feed = tmp_path / "feed"
        feed.mkdir()
        (feed / "W-1.json").write_text(json.dumps(_record("W-1", withdrawn="2024-06-01T00:00:00Z")))
        assert hardbox("db", "import", str(feed)).returncode == 0
    else:
        # An index with the schema and no record, as older hardbox left after a killed import.
        db.parent.mkdir(parents=True)
        VulnIndex.open(db, create=True).close()
    proc = hardbox("gate", f"docker-archive:{busybox_archive}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "HB-GATE-011" in proc.stdout
    assert f"the vulnerability database {db} holds no advisories" in proc.stdout
