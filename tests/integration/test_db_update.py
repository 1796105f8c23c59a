"""``hardbox db update`` end to end through the real CLI, against a bucket on loopback.

osv.dev is never contacted: tests/helpers/osvbucket.py serves a folder in the bucket's
layout (``<Ecosystem>/all.zip``, ``<Ecosystem>/modified_id.csv``, ``<Ecosystem>/<ID>.json``),
written in OSV's published formats by tests/helpers/osv_fixtures.py (one ``<ID>.json``
record per zip member at the root; ``<modified>,<ID>`` lines newest first), since the real
files cannot be downloaded here. The server counts requests, so each test says exactly
what was fetched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import hardbox
from helpers.osv_fixtures import record, write_bucket, write_zip
from helpers.osvbucket import Bucket, serve

pytestmark = pytest.mark.network

LATER = "2024-06-01T00:00:00Z"  # after every record the fixture starts with


def _debian(i: int, modified: str = "2024-05-01T00:00:00Z") -> dict[str, object]:
    return record(f"DEBIAN-CVE-2024-{i:04d}", "Debian:12", "openssl",
                  [{"introduced": "0"}, {"fixed": "3.0.13-1"}], modified=modified)


@pytest.fixture
def bucket(tmp_path: Path) -> Iterator[Bucket]:
    root = tmp_path / "bucket"
    write_bucket(root, "Debian", [_debian(i) for i in range(20)])
    write_bucket(root, "PyPI",
                 [record("PYSEC-2024-1", "PyPI", "jinja2", [{"introduced": "0"}, {"fixed": "3.1.4"}])])
    with serve(root) as served:
        yield served


def _status() -> dict[str, object]:
    return json.loads(hardbox("db", "status", "--json", check=True).stdout)


def _since(bucket: Bucket, start: int) -> list[tuple[str, int]]:
    return bucket.requests[start:]


def test_second_update_downloads_nothing(bucket: Bucket, hardbox_root: Path) -> None:
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--ecosystem", "PyPI",
                   "--source", bucket.url, check=True)
    assert "21 added" in proc.stdout, proc.stdout
    first_bytes = bucket.body_bytes
    # First time: each ecosystem's list (kept for next time) and its whole archive.
    assert bucket.requests == [("/Debian/modified_id.csv", 200), ("/Debian/all.zip", 200),
                               ("/PyPI/modified_id.csv", 200), ("/PyPI/all.zip", 200)]

    proc = hardbox("db", "update", "--ecosystem", "Debian", "--ecosystem", "PyPI",
                   "--source", bucket.url, check=True)
    assert "Debian unchanged, PyPI unchanged" in proc.stdout
    assert bucket.body_bytes == first_bytes  # nothing downloaded
    assert _since(bucket, 4) == [("/Debian/modified_id.csv", 304), ("/PyPI/modified_id.csv", 304)]

    status = _status()
    assert status["ecosystems"] == {"Debian:12": {"advisories": 20}, "PyPI": {"advisories": 1}}
    urls = {s["url"]: s for s in status["sources"]}  # type: ignore[index,union-attr]
    assert f"{bucket.url}/Debian/all.zip" in urls and f"{bucket.url}/PyPI/all.zip" in urls
    assert all(s["etag"] for s in urls.values())
    text = hardbox("db", "status", check=True).stdout
    assert f"{bucket.url}/Debian/all.zip  (ETag " in text
    assert "/updates/" not in text and "DEBIAN-CVE" not in text  # one line per source


def test_changed_records_are_fetched_one_by_one(bucket: Bucket, hardbox_root: Path) -> None:
    """modified_id.csv lists what changed since the last update: only those records are
    fetched (``<Ecosystem>/<ID>.json``), never the archive."""
    hardbox("db", "update", "--ecosystem", "Debian", "--ecosystem", "PyPI", "--source", bucket.url, check=True)
    start = len(bucket.requests)
    changed = [_debian(i) for i in range(20)]
    changed[3] = _debian(3, LATER) | {"summary": "revised"}  # a record revised upstream
    changed += [_debian(i, LATER) for i in (20, 21)]  # two new ones
    write_bucket(bucket.root, "Debian", changed)

    proc = hardbox("db", "update", "--ecosystem", "Debian", "--ecosystem", "PyPI",
                   "--source", bucket.url, check=True)
    assert "Debian 3 changed records fetched" in proc.stdout and "PyPI unchanged" in proc.stdout
    assert "2 added, 1 updated" in proc.stdout, proc.stdout
    fetched = _since(bucket, start)
    assert fetched[0] == ("/Debian/modified_id.csv", 200) and fetched[-1] == ("/PyPI/modified_id.csv", 304)
    assert sorted(fetched[1:-1]) == [(f"/Debian/DEBIAN-CVE-2024-{i:04d}.json", 200) for i in (3, 20, 21)]
    assert not any(path.endswith("all.zip") for path, _ in fetched)
    assert _status()["ecosystems"]["Debian:12"] == {"advisories": 22}  # type: ignore[index]
    text = hardbox("db", "status", check=True).stdout
    assert "DEBIAN-CVE" not in text and "/updates/" not in text

    # Nothing changed since: the list answers 304 and that is all.
    start = len(bucket.requests)
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url, check=True)
    assert "Debian unchanged" in proc.stdout
    assert _since(bucket, start) == [("/Debian/modified_id.csv", 304)]


def test_without_a_list_the_archive_is_checked_conditionally(bucket: Bucket, hardbox_root: Path) -> None:
    (bucket.root / "Debian" / "modified_id.csv").unlink()
    hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url, check=True)
    start = len(bucket.requests)
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url, check=True)
    assert "Debian unchanged" in proc.stdout
    assert _since(bucket, start) == [("/Debian/modified_id.csv", 404), ("/Debian/all.zip", 304)]


@pytest.mark.parametrize("bad_line", [
    f"{LATER},../../../etc/passwd",  # an id that would climb out of the staging folder
    "yesterday,DEBIAN-CVE-2024-0020",  # not a time
    "2099-01-01T00:00:00Z,DEBIAN-CVE-2024-0020",  # not newest first
])
def test_an_unusable_list_falls_back_to_the_archive(bucket: Bucket, hardbox_root: Path, bad_line: str) -> None:
    hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url, check=True)
    records = [_debian(i) for i in range(20)] + [_debian(20, LATER)]
    folder = write_bucket(bucket.root, "Debian", records)
    listed = folder / "modified_id.csv"
    listed.write_text(listed.read_text().replace("\n", f"\n{bad_line}\n", 1))
    start = len(bucket.requests)
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url, check=True)
    assert "1 added" in proc.stdout, proc.stdout
    paths = [path for path, _ in _since(bucket, start)]
    assert "/Debian/all.zip" in paths and not any(p.endswith(".json") for p in paths)
    assert not (hardbox_root.parent / "etc").exists()


def _assert_intact(before: dict[str, object]) -> None:
    after = _status()
    assert after["ecosystems"] == before["ecosystems"]
    assert after["advisories"] == before["advisories"]


def test_a_500_leaves_the_database_intact(bucket: Bucket, hardbox_root: Path) -> None:
    hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url, check=True)
    before = _status()
    bucket.fail_with = 500
    write_zip(bucket.root / "Debian" / "all.zip", [_debian(i) for i in range(30)])
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url)
    assert proc.returncode == 2, proc.stderr
    assert "previous database is unchanged" in proc.stderr and "500" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2  # one line and its hint
    _assert_intact(before)


def test_a_corrupt_zip_leaves_the_database_intact(bucket: Bucket, hardbox_root: Path) -> None:
    (bucket.root / "Debian" / "modified_id.csv").unlink()  # the archive is what is read
    hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url, check=True)
    before = _status()
    (bucket.root / "Debian" / "all.zip").write_bytes(b"PK\x03\x04 this is not a zip archive" * 50)
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url)
    assert proc.returncode == 2, proc.stderr
    assert "previous database is unchanged" in proc.stderr
    _assert_intact(before)
    # The next good archive is fetched (the failed one's validators were not kept).
    write_zip(bucket.root / "Debian" / "all.zip", [_debian(i) for i in range(22)])
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url, check=True)
    assert "2 added" in proc.stdout


def test_an_update_killed_mid_download_leaves_the_database_intact(
        bucket: Bucket, hardbox_root: Path, tmp_path: Path) -> None:
    hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url, check=True)
    before = _status()
    write_bucket(bucket.root, "Debian", [_debian(i) for i in range(20)] + [_debian(i, LATER) for i in range(20, 400)])
    (bucket.root / "Debian" / "modified_id.csv").unlink()  # the archive is what is read
    bucket.stall_after = 1000
    proc = subprocess.Popen([sys.executable, "-m", "hardbox", "db", "update", "--ecosystem", "Debian",
                             "--source", bucket.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert bucket.stalled.wait(30), "the update never started downloading"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    bucket.release.set()
    _assert_intact(before)
    assert list((hardbox_root / "db").glob("*.building")) == []

    bucket.stall_after = None
    proc2 = hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url, check=True)
    assert "380 added" in proc2.stdout


def test_a_folder_and_a_file_url_serve_an_air_gapped_mirror(bucket: Bucket, hardbox_root: Path) -> None:
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--source", str(bucket.root), check=True)
    assert "20 added" in proc.stdout
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--source", f"file://{bucket.root}", check=True)
    assert "0 added, 0 updated, 20 unchanged" in proc.stdout  # a new source: read once
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--source", f"file://{bucket.root}", check=True)
    assert "Debian unchanged" in proc.stdout
    # The mirror is refreshed: its list says which records to read, and only those are.
    write_bucket(bucket.root, "Debian", [_debian(i) for i in range(20)] + [_debian(20, LATER)])
    (bucket.root / "Debian" / "all.zip").write_bytes(b"not read")  # proof: the archive is not opened
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--source", f"file://{bucket.root}", check=True)
    assert "Debian 1 changed record fetched" in proc.stdout and "1 added" in proc.stdout, proc.stdout
    assert bucket.requests == []  # the HTTP server was never asked


def test_source_from_the_environment(bucket: Bucket, hardbox_root: Path) -> None:
    env = {**os.environ, "HARDBOX_DB_SOURCE": bucket.url}
    hardbox("db", "update", "--ecosystem", "PyPI", check=True, env=env)
    assert [p for p, _ in bucket.requests] == ["/PyPI/modified_id.csv", "/PyPI/all.zip"]


def test_an_empty_store_names_the_ecosystems_to_ask_for(hardbox_root: Path) -> None:
    proc = hardbox("db", "update", "--source", "/nonexistent")
    assert proc.returncode == 2
    assert "name the ecosystems" in proc.stderr and "--ecosystem Debian" in proc.stderr


def test_a_missing_ecosystem_fails_and_creates_no_database(bucket: Bucket, hardbox_root: Path) -> None:
    proc = hardbox("db", "update", "--ecosystem", "Nonexistent", "--source", bucket.url)
    assert proc.returncode == 2 and "404" in proc.stderr
    assert not (hardbox_root / "db" / "osv.sqlite").exists()


def _on_a_terminal(*args: str) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal; its exit status and what it drew there."""
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "hardbox", *args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=follower, timeout=300)
    finally:
        os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the other end is closed and drained
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


def test_a_terminal_sees_the_download_and_nothing_else_does(bucket: Bucket, hardbox_root: Path, tmp_path: Path) -> None:
    # About 800 kB of incompressible details: several progress redraws (every 256 kB).
    write_bucket(bucket.root, "Debian", [_debian(i) | {"details": os.urandom(4096).hex()} for i in range(100)])
    status, drawn = _on_a_terminal("db", "update", "--ecosystem", "Debian", "--source", bucket.url,
                                   "--db", str(tmp_path / "tty.sqlite"))
    assert status == 0, drawn
    assert "db update:" in drawn and "kB downloaded" in drawn, drawn
    assert drawn.rstrip().endswith("\x1b[K")  # the progress line is cleared when done

    status, drawn = _on_a_terminal("-q", "db", "update", "--ecosystem", "Debian", "--source", bucket.url,
                                   "--db", str(tmp_path / "quiet.sqlite"))
    assert status == 0 and "downloaded" not in drawn, drawn

    proc = hardbox("db", "update", "--ecosystem", "Debian", "--source", bucket.url, "--db", str(tmp_path / "pipe.sqlite"))
    assert proc.returncode == 0 and proc.stderr == ""  # not a terminal: no progress
