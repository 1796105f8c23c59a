"""``hardbox db update`` end to end through the real CLI, against a bucket on loopback.

osv.dev is never contacted: tests/helpers/osvbucket.py serves a folder in the bucket's
layout (``<Ecosystem>/all.zip``), and the zips are generated in OSV's published archive
format (one ``<ID>.json`` record per member at the root) by tests/helpers/osv_fixtures.py,
since the real archives cannot be downloaded here.
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
from helpers.osv_fixtures import record, write_zip
from helpers.osvbucket import Bucket, serve

pytestmark = pytest.mark.network


def _debian(i: int) -> dict[str, object]:
    return record(f"DEBIAN-CVE-2024-{i:04d}", "Debian:12", "openssl",
                  [{"introduced": "0"}, {"fixed": "3.0.13-1"}])


@pytest.fixture
def bucket(tmp_path: Path) -> Iterator[Bucket]:
    root = tmp_path / "bucket"
    write_zip(root / "Debian" / "all.zip", [_debian(i) for i in range(20)])
    write_zip(root / "PyPI" / "all.zip",
              [record("PYSEC-2024-1", "PyPI", "jinja2", [{"introduced": "0"}, {"fixed": "3.1.4"}])])
    with serve(root) as served:
        yield served


def _status() -> dict[str, object]:
    return json.loads(hardbox("db", "status", "--json", check=True).stdout)


def test_second_update_downloads_nothing(bucket: Bucket, hardbox_root: Path) -> None:
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--ecosystem", "PyPI",
                   "--source", bucket.url, check=True)
    assert "21 added" in proc.stdout, proc.stdout
    first_bytes = bucket.body_bytes
    assert first_bytes > 0 and [s for _, s in bucket.requests] == [200, 200]

    proc = hardbox("db", "update", "--ecosystem", "Debian", "--ecosystem", "PyPI",
                   "--source", bucket.url, check=True)
    assert "Debian unchanged, PyPI unchanged" in proc.stdout
    assert bucket.body_bytes == first_bytes  # nothing downloaded
    assert [s for _, s in bucket.requests[2:]] == [304, 304]

    status = _status()
    assert status["ecosystems"] == {"Debian:12": {"advisories": 20}, "PyPI": {"advisories": 1}}
    urls = {s["url"]: s for s in status["sources"]}  # type: ignore[index,union-attr]
    assert set(urls) == {f"{bucket.url}/Debian/all.zip", f"{bucket.url}/PyPI/all.zip"}
    assert all(s["etag"] for s in urls.values())
    text = hardbox("db", "status", check=True).stdout
    assert f"{bucket.url}/Debian/all.zip  (ETag " in text
    assert "/updates/" not in text  # one line per source, not the staging files

    # A changed archive is fetched again, and only that one.
    write_zip(bucket.root / "Debian" / "all.zip", [_debian(i) for i in range(25)])
    proc = hardbox("db", "update", "--ecosystem", "Debian", "--ecosystem", "PyPI",
                   "--source", bucket.url, check=True)
    assert "5 added" in proc.stdout and "PyPI unchanged" in proc.stdout
    assert [s for _, s in bucket.requests[4:]] == [200, 304]


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
    write_zip(bucket.root / "Debian" / "all.zip", [_debian(i) for i in range(400)])
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
    assert bucket.requests == []  # the HTTP server was never asked


def test_source_from_the_environment(bucket: Bucket, hardbox_root: Path) -> None:
    env = {**os.environ, "HARDBOX_DB_SOURCE": bucket.url}
    hardbox("db", "update", "--ecosystem", "PyPI", check=True, env=env)
    assert [p for p, _ in bucket.requests] == ["/PyPI/all.zip"]


def test_an_empty_store_names_the_ecosystems_to_ask_for(hardbox_root: Path) -> None:
    proc = hardbox("db", "update", "--source", "/nonexistent")
    assert proc.returncode == 2
    assert "name the ecosystems" in proc.stderr and "--ecosystem Debian" in proc.stderr


def test_a_missing_ecosystem_fails_and_creates_no_database(bucket: Bucket, hardbox_root: Path) -> None:
    proc = hardbox("db", "update", "--ecosystem", "Nonexistent", "--source", bucket.url)
    assert proc.returncode == 2 and "404" in proc.stderr
    assert not (hardbox_root / "db" / "osv.sqlite").exists()
