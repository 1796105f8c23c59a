"""What a scan says it covered, on a real Debian 12 image (the debootstrap minbase, as an
OCI layout built once per session), against real databases built by ``hardbox db import``:

- with PyPI advisories only, every Debian package is reported unchecked, with the reason
  and the command that fixes it, in JSON, HTML, Markdown and SARIF; the HTML never says
  "None found" for them, and the gate fails on the gap unless the policy relaxes it;
- with ``Debian:12`` records, every package is checked and "None found" means it;
- a stale database is a note in the scan and HB-GATE-012 under ``max_db_age``;
- ``scan --db-update`` refreshes first, and when the refresh fails the scan goes on and
  records why.

The advisories are written in OSV's published format (tests/helpers/osv_fixtures.py) for
packages that are not installed, so the only thing under test is coverage.
"""

from __future__ import annotations

import html
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from helpers import imagebuild
from helpers.cli import hardbox as _hardbox
from helpers.osv_fixtures import record, write_bucket, write_zip
from helpers.osvbucket import serve

pytestmark = [pytest.mark.root, pytest.mark.slow]

PYPI_ONLY = [record("PYSEC-2099-1", "PyPI", "no-such-project", [{"introduced": "0"}, {"fixed": "2.0"}])]
DEBIAN_12 = [record(f"DEBIAN-CVE-2099-{i:04d}", "Debian:12", "no-such-source", [{"introduced": "0"}, {"fixed": "1.0-1"}])
             for i in range(3)]


_ENV: dict[str, str] = {}


def hardbox(*args: str, check: bool = False, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI against this module's store (the image is imported once: scanning a stored
    image skips unpacking the layout into a temporary store for every command)."""
    return _hardbox(*args, check=check, env={**os.environ, **_ENV, **(env or {})})


@pytest.fixture(scope="module")
def image(debian_layout: imagebuild.OciImage, tmp_path_factory: pytest.TempPathFactory) -> str:
    _ENV["HARDBOX_ROOT"] = str(tmp_path_factory.mktemp("coverage") / "store")
    hardbox("image", "import", f"oci:{debian_layout.layout}:{debian_layout.tag}", "--tag", "coverage-debian:12",
            check=True)
    return "coverage-debian:12"


@pytest.fixture(scope="module")
def debian_packages(debian_rootfs: Path) -> int:
    status = (debian_rootfs / "var/lib/dpkg/status").read_text()
    return sum(1 for para in status.split("\n\n") if "Status: install ok installed" in para)


def _db(tmp_path: Path, records: list[dict[str, object]], name: str) -> Path:
    db = tmp_path / f"{name}.sqlite"
    hardbox("db", "import", str(write_zip(tmp_path / f"{name}.zip", records)), "--db", str(db), check=True)
    return db


def _vulnerability_section(page: str) -> str:
    start = page.index('id="vulnerabilities"')
    return page[start:page.index("</section>", start)]


def _scan(image: str, db: Path, out: Path, *extra: str) -> tuple[dict[str, object], str, str, dict[str, object]]:
    out.mkdir(exist_ok=True)
    proc = hardbox("scan", image, "--db", str(db), "--json", str(out / "r.json"), "--html", str(out / "r.html"),
                   "--markdown", str(out / "r.md"), "--sarif", str(out / "r.sarif"), *extra)
    assert proc.returncode == 0, proc.stderr
    return (json.loads((out / "r.json").read_text()), html.unescape((out / "r.html").read_text()),
            (out / "r.md").read_text(), json.loads((out / "r.sarif").read_text()))


def test_a_pypi_only_database_checks_no_debian_package(image: str, debian_packages: int, tmp_path: Path) -> None:
    doc, page, markdown, sarif = _scan(image, _db(tmp_path, PYPI_ONLY, "pypi"), tmp_path / "out")
    coverage = doc["coverage"]
    assert coverage["complete"] is False  # type: ignore[index]
    [debian] = coverage["ecosystems"]  # type: ignore[index]
    assert debian == {"ecosystem": "Debian:12", "packages": debian_packages, "checked": 0,
                      "unchecked": debian_packages, "advisories": 0,
                      "reason": "the database has no Debian 12 advisories",
                      "hint": "hardbox db update --ecosystem Debian"}
    sentence = (f"{debian_packages} Debian packages were not checked: the database has no Debian 12 "
                "advisories (`hardbox db update --ecosystem Debian`)")
    assert sentence in page, page[page.find("packages were not") - 300:][:600]
    assert sentence in markdown.replace("\\`", "`")
    # Beside the counts at the top and under the (empty) vulnerability table.
    assert sentence in page[:page.index('id="vulnerabilities"')]
    section = _vulnerability_section(page)
    assert sentence in section and "None found" not in section
    assert "Not checked: none of the 88 packages could be checked" in section
    assert "None found" not in markdown.split("## Misconfigurations")[0]
    props = sarif["runs"][0]["properties"]  # type: ignore[index]
    assert props["vulnerabilityCoverageComplete"] is False
    assert props["vulnerabilityCoverage"]["ecosystems"][0]["unchecked"] == debian_packages

    # The gate fails on the gap by default, naming it; best-effort accepts it.
    db = tmp_path / "pypi.sqlite"
    policy = tmp_path / "vulns.yaml"
    policy.write_text("version: 1\nvulnerabilities:\n  severities: [critical, high]\n")
    proc = hardbox("gate", image, "--policy", str(policy), "--db", str(db), "--json", str(tmp_path / "g.json"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "HB-GATE-011" in proc.stdout and sentence in proc.stdout
    relaxed = tmp_path / "relaxed.yaml"
    relaxed.write_text("version: 1\nvulnerabilities:\n  severities: [critical, high]\n  coverage: best-effort\n")
    proc = hardbox("gate", image, "--policy", str(relaxed), "--db", str(db))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HB-GATE-011" not in proc.stdout


def test_debian_12_records_check_every_package(image: str, debian_packages: int, tmp_path: Path) -> None:
    doc, page, markdown, _sarif = _scan(image, _db(tmp_path, DEBIAN_12 + PYPI_ONLY, "debian"), tmp_path / "out")
    coverage = doc["coverage"]
    assert coverage["complete"] is True  # type: ignore[index]
    [debian] = coverage["ecosystems"]  # type: ignore[index]
    assert (debian["packages"], debian["checked"], debian["unchecked"], debian["advisories"]) == (
        debian_packages, debian_packages, 0, 3)
    checked = f"{debian_packages} Debian packages were checked against 3 Debian 12 advisories"
    assert checked in page and checked in markdown
    section = _vulnerability_section(page)
    assert "None found." in section and "were not checked" not in page


def test_a_stale_database_is_noted_and_fails_max_db_age(image: str, tmp_path: Path) -> None:
    db = _db(tmp_path, DEBIAN_12, "old")
    with sqlite3.connect(db) as conn:  # as if the last import finished three days ago
        conn.execute("UPDATE imports SET finished = '2020-01-01T00:00:00+00:00'")
    doc, page, _markdown, _sarif = _scan(image, db, tmp_path / "out")
    assert doc["coverage"]["db_stale"] is True  # type: ignore[index]
    assert any("older than --db-max-age" in note for note in doc["notes"])  # type: ignore[attr-defined]
    assert "older than the scan's --db-max-age" in page
    # A generous --db-max-age takes the note away.
    doc, _page, _md, _sarif = _scan(image, db, tmp_path / "out2", "--db-max-age", "100000d")
    assert doc["coverage"]["db_stale"] is False  # type: ignore[index]

    policy = tmp_path / "fresh.yaml"
    policy.write_text("version: 1\nvulnerabilities:\n  severities: [critical]\n  max_db_age: 24h\n")
    proc = hardbox("gate", image, "--policy", str(policy), "--db", str(db))
    assert proc.returncode == 1 and "HB-GATE-012" in proc.stdout, proc.stdout
    assert "policy max_db_age 1 days" in proc.stdout or "max_db_age" in proc.stdout
    hardbox("db", "import", str(write_zip(tmp_path / "again.zip", DEBIAN_12)), "--db", str(db), check=True)
    proc = hardbox("gate", image, "--policy", str(policy), "--db", str(db))
    assert proc.returncode == 0 and "HB-GATE-012" not in proc.stdout, proc.stdout


def test_scan_db_update_refreshes_first(image: str, tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    write_bucket(root, "Debian", DEBIAN_12)
    db = tmp_path / "osv.sqlite"
    with serve(root) as bucket:
        proc = hardbox("scan", image, "--db-update", "--db", str(db), "--json", str(tmp_path / "r.json"),
                       env={"HARDBOX_DB_SOURCE": bucket.url})
        assert proc.returncode == 0, proc.stderr
        assert ("/Debian/all.zip", 200) in bucket.requests
        assert not any("PyPI" in path for path, _ in bucket.requests)  # only the image's ecosystems
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["coverage"]["complete"] is True


def test_a_failed_db_update_scans_with_what_there_is(image: str, tmp_path: Path) -> None:
    db = _db(tmp_path, PYPI_ONLY, "pypi")
    root = tmp_path / "bucket"
    root.mkdir()
    with serve(root) as bucket:
        bucket.fail_with = 503
        proc = hardbox("scan", image, "--db-update", "--db", str(db), "--json", str(tmp_path / "r.json"),
                       env={"HARDBOX_DB_SOURCE": bucket.url})
    assert proc.returncode == 0, proc.stderr
    assert "--db-update failed, scanned with the database as it was" in proc.stderr
    assert "vulnerability data: updated " in proc.stdout and " old)" in proc.stdout  # how old it is
    doc = json.loads((tmp_path / "r.json").read_text())
    note = next(n for n in doc["notes"] if n.startswith("--db-update failed"))
    assert "503" in note and "previous database is unchanged" in note
    assert doc["coverage"]["ecosystems"][0]["checked"] == 0  # the old data, and it says so


def test_no_database_names_the_release_to_fetch(image: str, debian_packages: int, tmp_path: Path) -> None:
    proc = hardbox("scan", image, "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html"))
    assert proc.returncode == 0, proc.stderr
    [debian] = json.loads((tmp_path / "r.json").read_text())["coverage"]["ecosystems"]
    assert (debian["ecosystem"], debian["checked"], debian["reason"], debian["hint"]) == (
        "Debian:12", 0, "there is no vulnerability database", "hardbox db update --ecosystem Debian")
    page = html.unescape((tmp_path / "r.html").read_text())
    assert (f"{debian_packages} Debian packages were not checked: there is no vulnerability database "
            "(`hardbox db update --ecosystem Debian`)") in page
    assert "Not checked: no vulnerability database" in _vulnerability_section(page)
