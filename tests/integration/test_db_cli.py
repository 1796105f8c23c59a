"""``hardbox db import`` and ``hardbox db status`` end to end, through the real CLI.

OSV's all.zip archives cannot be downloaded here; the zips are generated in their layout
(one <ID>.json per member at the root) by tests/helpers/osv_fixtures.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.cli import hardbox
from helpers.osv_fixtures import record, write_json, write_zip


def _feed(tmp_path: Path) -> tuple[Path, Path]:
    zipped = write_zip(tmp_path / "Debian" / "all.zip", [
        record(f"DEBIAN-CVE-2024-{i:04d}", "Debian:12", "openssl", [{"introduced": "0"}, {"fixed": "3.0.13-1"}])
        for i in range(5)
    ] + [{"id": "BROKEN-1", "modified": "2024-01-01T00:00:00Z", "affected": "all"}])
    folder = tmp_path / "PyPI"
    write_json(folder / "PYSEC-2024-1.json", record("PYSEC-2024-1", "PyPI", "jinja2", [{"introduced": "0"}]))
    return zipped, folder


def test_import_then_status(tmp_path: Path, hardbox_root: Path) -> None:
    zipped, folder = _feed(tmp_path)
    proc = hardbox("db", "import", str(zipped), str(folder), check=True)
    assert "6 added, 0 updated, 0 unchanged, 1 skipped" in proc.stdout
    assert "BROKEN-1" in proc.stderr and "affected: expected an array" in proc.stderr
    db = hardbox_root / "db" / "osv.sqlite"
    assert db.is_file()
    assert (hardbox_root.stat().st_mode & 0o777) == 0o700

    status = json.loads(hardbox("db", "status", "--json", check=True).stdout)
    assert status["advisories"] == 6
    assert status["ecosystems"] == {"Debian:12": {"advisories": 5}, "PyPI": {"advisories": 1}}
    assert status["age_seconds"] is not None and status["age_seconds"] < 600
    assert [i["added"] for i in status["imports"]] == [5, 1]

    human = hardbox("db", "status", check=True).stdout
    assert "Debian:12" in human and "advisories: 6" in human

    again = json.loads(hardbox("db", "import", "--json", str(zipped), check=True).stdout)
    assert (again["added"], again["unchanged"]) == (0, 5)
    assert again["skipped"] == [{"where": f"{zipped}!BROKEN-1.json", "id": "BROKEN-1",
                                 "reason": "affected: expected an array, got a string"}]


def test_db_option_points_elsewhere(tmp_path: Path, hardbox_root: Path) -> None:
    zipped, _ = _feed(tmp_path)
    target = tmp_path / "elsewhere" / "osv.sqlite"
    hardbox("db", "import", "--db", str(target), str(zipped), check=True)
    assert target.is_file() and not (hardbox_root / "db" / "osv.sqlite").exists()
    status = json.loads(hardbox("db", "status", "--db", str(target), "--json", check=True).stdout)
    assert status["advisories"] == 5


def test_unusable_paths_exit_2_and_create_nothing(tmp_path: Path, hardbox_root: Path) -> None:
    zipped, _ = _feed(tmp_path)
    proc = hardbox("db", "import", str(zipped), str(tmp_path / "nope.zip"))
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == f"hardbox: {tmp_path / 'nope.zip'}: no such file or directory"
    assert not (hardbox_root / "db" / "osv.sqlite").exists()

    text = tmp_path / "notes.txt"
    text.write_text("not advisories")
    proc = hardbox("db", "import", str(text))
    assert proc.returncode == 2 and "neither an OSV JSON file nor a zip" in proc.stderr


def test_zip_bomb_exit_2_leaves_database_as_it_was(tmp_path: Path, hardbox_root: Path) -> None:
    zipped, _ = _feed(tmp_path)
    hardbox("db", "import", str(zipped), check=True)
    bomb = write_zip(tmp_path / "bomb.zip", {"BOMB.json": b"[" + b" " * (32 * 1024 * 1024) + b"]"})
    proc = hardbox("db", "import", str(bomb))
    assert proc.returncode == 2 and "zip bomb" in proc.stderr
    status = json.loads(hardbox("db", "status", "--json", check=True).stdout)
    assert status["advisories"] == 5 and len(status["imports"]) == 1


def test_status_without_database(hardbox_root: Path) -> None:
    proc = hardbox("db", "status")
    assert proc.returncode == 2
    assert "no vulnerability database" in proc.stderr and "hardbox db import" in proc.stderr


def test_help_teaches() -> None:
    out = hardbox("db", "import", "--help", check=True).stdout
    assert "all.zip" in out and "--db" in out
