"""Importing OSV data: single files, folders, OSV-layout zips (generated here, since
osv.dev's all.zip cannot be downloaded), re-imports, and hostile feeds."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from helpers.osv_fixtures import record, write_json, write_zip

from hardbox.errors import InputError
from hardbox.scan.vulndb.importer import Limits, import_paths
from hardbox.scan.vulndb.index import VulnIndex


@pytest.fixture
def index(tmp_path: Path) -> VulnIndex:
    return VulnIndex.open(tmp_path / "db" / "osv.sqlite", create=True)


def _ids(index: VulnIndex, ecosystem: str, name: str) -> list[str]:
    return sorted(a.id for a in index.lookup([ecosystem], name))


def test_zip_folder_and_file_import(tmp_path: Path, index: VulnIndex) -> None:
    zipped = write_zip(tmp_path / "all.zip", [
        record(f"DEBIAN-CVE-2024-{i:04d}", "Debian:12", "openssl", [{"introduced": "0"}, {"fixed": f"3.0.{i}-1"}])
        for i in range(30)
    ])
    folder = tmp_path / "feed"
    write_json(folder / "a" / "b" / "PYSEC-1.json", record("PYSEC-1", "PyPI", "Jinja2", [{"introduced": "0"}]))
    write_json(folder / "GO-1.json", record("GO-1", "Go", "golang.org/x/net", [{"introduced": "0"}], range_type="SEMVER"))
    (folder / "README.txt").write_text("ignored: not .json or .zip")
    single = write_json(tmp_path / "list.json", [
        record("GHSA-1", "npm", "lodash", [{"introduced": "0"}, {"fixed": "4.17.21"}]),
        record("GHSA-2", "Maven", "org.example:lib", [{"introduced": "0"}]),
    ])
    report = import_paths([zipped, folder, single], index)
    assert report.counts["added"] == 34
    assert report.counts["skipped"] == 0
    assert len(_ids(index, "Debian:12", "openssl")) == 30
    # PyPI names are matched as pip normalises them (PEP 503).
    assert _ids(index, "PyPI", "jinja2") == ["PYSEC-1"]
    assert _ids(index, "PyPI", "JINJA_2") == []
    assert _ids(index, "Go", "golang.org/x/net") == ["GO-1"]
    assert _ids(index, "npm", "lodash") == ["GHSA-1"]
    assert _ids(index, "Debian:11", "openssl") == []
    status = index.status()
    assert status["advisories"] == 34
    assert status["ecosystems"]["Debian:12"] == {"advisories": 30}
    assert len(status["imports"]) == 4  # the zip, two folder files, the list


def test_reimport_replaces_only_newer_records(tmp_path: Path, index: VulnIndex) -> None:
    first = record("OSV-1", "PyPI", "flask", [{"introduced": "0"}, {"fixed": "1.0"}], modified="2024-01-01T00:00:00Z")
    other = record("OSV-2", "PyPI", "flask", [{"introduced": "0"}], modified="2024-01-01T00:00:00Z")
    import_paths([write_zip(tmp_path / "v1.zip", [first, other])], index)

    # OSV-1 moved to another package and got newer; OSV-2 came back older.
    newer = record("OSV-1", "PyPI", "django", [{"introduced": "0"}], modified="2024-03-01T00:00:00Z")
    older = record("OSV-2", "PyPI", "django", [{"introduced": "0"}], modified="2023-01-01T00:00:00Z")
    report = import_paths([write_zip(tmp_path / "v2.zip", [newer, older])], index)
    assert (report.counts["updated"], report.counts["unchanged"], report.counts["added"]) == (1, 1, 0)
    assert _ids(index, "PyPI", "flask") == ["OSV-2"]
    assert _ids(index, "PyPI", "django") == ["OSV-1"]

    again = import_paths([tmp_path / "v2.zip"], index)
    assert again.counts["unchanged"] == 2 and again.counts["updated"] == 0


def test_duplicate_ids_in_one_feed_keep_the_newest(tmp_path: Path, index: VulnIndex) -> None:
    archive = write_zip(tmp_path / "dup.zip", {
        "A.json": json.dumps(record("DUP-1", "npm", "a", [{"introduced": "0"}], modified="2024-02-01T00:00:00Z")).encode(),
        "B.json": json.dumps(record("DUP-1", "npm", "b", [{"introduced": "0"}], modified="2024-01-01T00:00:00Z")).encode(),
    })
    report = import_paths([archive], index)
    assert (report.counts["added"], report.counts["unchanged"]) == (1, 1)
    assert _ids(index, "npm", "a") == ["DUP-1"] and _ids(index, "npm", "b") == []


def test_malformed_members_are_reported_and_skipped(tmp_path: Path, index: VulnIndex) -> None:
    good = record("GOOD-1", "npm", "ok", [{"introduced": "0"}])
    wrong_type = record("BAD-TYPE", "npm", "x", [{"introduced": "0"}])
    wrong_type["affected"] = "everything"
    two_kinds = record("BAD-EVENT", "npm", "x", [{"introduced": "0", "fixed": "1.0.0"}])
    archive = write_zip(tmp_path / "all.zip", {
        "GOOD-1.json": json.dumps(good).encode(),
        "BAD-TYPE.json": json.dumps(wrong_type).encode(),
        "BAD-EVENT.json": json.dumps(two_kinds).encode(),
        "NOT-JSON.json": b"{this is not json",
        "NO-ID.json": json.dumps({"modified": "2024-01-01T00:00:00Z"}).encode(),
        "DEEP.json": b"[" * 100_000 + b"]" * 100_000,
        "binary.bin": b"\x00\x01",
        "dir/": b"",
    })
    report = import_paths([archive], index)
    assert report.counts["added"] == 1
    reasons = {(s.where.split("!")[1], s.advisory_id): s.reason for s in report.skipped}
    assert set(reasons) == {
        ("BAD-TYPE.json", "BAD-TYPE"), ("BAD-EVENT.json", "BAD-EVENT"), ("NOT-JSON.json", None),
        ("NO-ID.json", None), ("DEEP.json", None), ("binary.bin", None),
    }
    assert "affected: expected an array" in reasons[("BAD-TYPE.json", "BAD-TYPE")]
    assert reasons[("NOT-JSON.json", None)].startswith("not JSON")
    assert _ids(index, "npm", "ok") == ["GOOD-1"]


def test_oversized_member_is_skipped_without_reading_it_whole(tmp_path: Path, index: VulnIndex) -> None:
    big = record("BIG-1", "npm", "big", [{"introduced": "0"}], details="x" * 5000)
    archive = write_zip(tmp_path / "all.zip", [big, record("SMALL-1", "npm", "small", [{"introduced": "0"}])])
    report = import_paths([archive], index, limits=Limits(max_record_bytes=2000))
    assert report.counts["added"] == 1
    (skipped,) = report.skipped
    assert skipped.where.endswith("!BIG-1.json") and "record limit" in skipped.reason


def test_zip_bomb_is_refused_and_nothing_is_kept(tmp_path: Path, index: VulnIndex) -> None:
    import_paths([write_json(tmp_path / "before.json", record("KEEP-1", "npm", "keep", [{"introduced": "0"}]))], index)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("A.json", json.dumps(record("A-1", "npm", "a", [{"introduced": "0"}])))
        archive.writestr("BOMB.json", b" " * (64 * 1024 * 1024))  # 64 MiB of spaces, ~64 KiB stored
    with pytest.raises(InputError, match="zip bomb"):
        import_paths([bomb], index)
    # The transaction rolled back: the good member before the bomb is not there either.
    assert _ids(index, "npm", "a") == []
    assert _ids(index, "npm", "keep") == ["KEEP-1"]


def test_total_inflated_bytes_are_bounded(tmp_path: Path, index: VulnIndex) -> None:
    archive = write_zip(tmp_path / "all.zip", [
        record(f"T-{i}", "npm", "t", [{"introduced": "0"}], details="y" * 3000) for i in range(10)
    ])
    with pytest.raises(InputError, match="zip bomb"):
        import_paths([archive], index, limits=Limits(max_total_bytes=20_000))
    assert _ids(index, "npm", "t") == []


def test_too_many_members_refused(tmp_path: Path, index: VulnIndex) -> None:
    archive = write_zip(tmp_path / "all.zip", [record(f"M-{i}", "npm", "m", [{"introduced": "0"}]) for i in range(5)])
    with pytest.raises(InputError, match="over the limit of 3"):
        import_paths([archive], index, limits=Limits(max_members=3))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, "no such file"),
        ("notes.txt", b"hello", "neither an OSV JSON file nor a zip"),
        ("broken.zip", b"PK\x03\x04garbage", "damaged zip"),
    ],
)
def test_unusable_named_paths_fail_before_writing(tmp_path: Path, index: VulnIndex, name: str,
                                                  content: bytes | None, message: str) -> None:
    good = write_json(tmp_path / "good.json", record("G-1", "npm", "g", [{"introduced": "0"}]))
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        import_paths([good, path], index)
    assert name in str(caught.value)
    assert _ids(index, "npm", "g") == []


def test_a_named_json_file_that_does_not_parse_is_a_skipped_record(tmp_path: Path, index: VulnIndex) -> None:
    # It looks like JSON ("{"), so it is a record file; the damage inside is data.
    path = tmp_path / "half.json"
    path.write_text('{"id": "HALF-1", "modified": ')
    # Beside a good record: an import that finds no advisory at all is an error (issue 16).
    good = write_json(tmp_path / "good.json", record("GOOD-1", "npm", "g", [{"introduced": "0"}]))
    report = import_paths([path, good], index)
    assert report.counts["skipped"] == 1 and report.skipped[0].where == str(path)
    assert report.counts["added"] == 1


def test_withdrawn_records_are_stored_but_not_indexed(tmp_path: Path, index: VulnIndex) -> None:
    rec = record("W-1", "npm", "w", [{"introduced": "0"}], withdrawn="2024-06-01T00:00:00Z")
    import_paths([write_json(tmp_path / "w.json", rec)], index)
    assert _ids(index, "npm", "w") == []
    assert index.status()["withdrawn"] == 1


def test_opening_something_else_is_an_input_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(InputError, match="not a hardbox vulnerability database"):
        VulnIndex.open(junk)
    with pytest.raises(InputError, match="no vulnerability database"):
        VulnIndex.open(tmp_path / "absent.sqlite")


def test_a_database_edited_behind_hardboxs_back_is_an_input_error(tmp_path: Path, index: VulnIndex) -> None:
    import sqlite3

    import_paths([write_json(tmp_path / "t.json", record("T-1", "npm", "t", [{"introduced": "0"}]))], index)
    with sqlite3.connect(index.path) as raw:
        raw.execute("UPDATE advisories SET json = '{\"id\": 5}' WHERE id = 'T-1'")
    reopened = VulnIndex.open(index.path)
    with pytest.raises(InputError, match="stored advisory T-1 is damaged"):
        reopened.lookup(["npm"], "t")
