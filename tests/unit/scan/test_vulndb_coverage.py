"""Coverage of a match, reason by reason (``hardbox.scan.vulndb.coverage``): what was
checked against which release's advisories, and why the rest could not be — no advisories
for the ecosystem or the release, an OS with no OSV ecosystem, a version the ordering
cannot parse. Packages are built as the catalogers build them; the index is a real one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.osv_fixtures import record, write_zip

from hardbox.scan.catalog.os_release import OSRelease
from hardbox.scan.coverage import Coverage
from hardbox.scan.package import Package, make_purl
from hardbox.scan.vulndb.coverage import coverage, without_database
from hardbox.scan.vulndb.importer import import_paths
from hardbox.scan.vulndb.index import VulnIndex


def _pkg(ecosystem: str, name: str, version: str, source: str = "") -> Package:
    return Package(name=name, version=version, ecosystem=ecosystem, purl=make_purl(ecosystem, name, version),
                   cataloger="test", source_name=source or name, source_version=version)


def _coverage(tmp_path: Path, packages: list[Package], os_release: OSRelease | None,
              records: list[dict[str, Any]]) -> Coverage:
    with VulnIndex.open(tmp_path / "osv.sqlite", create=True) as index:
        import_paths([write_zip(tmp_path / "all.zip", records)], index)
        return coverage(packages, os_release, index, max_age_seconds=3600)


def _by_ecosystem(cov: Coverage) -> dict[str, tuple[int, int, str, str]]:
    return {e.ecosystem: (e.packages, e.checked, e.reason, e.hint) for e in cov.ecosystems}


def test_each_reason(tmp_path: Path) -> None:
    alpine = OSRelease(id="alpine", version_id="3.20.3")
    packages = [
        _pkg("apk", "musl", "1.2.5-r0"), _pkg("apk", "libcrypto3", "3.3.2-r0", "openssl"),
        _pkg("pypi", "jinja2", "3.1.4"), _pkg("pypi", "weird", "not a version!"),
        _pkg("npm", "lodash", "4.17.21"),
        _pkg("deb", "bash", "5.2.15-2+b2"),  # a deb package on Alpine: no OSV ecosystem
    ]
    cov = _coverage(tmp_path, packages, alpine, [
        record("ALPINE-OLD", "Alpine:v3.19", "openssl", [{"introduced": "0"}, {"fixed": "3.1.4-r5"}]),
        record("PYSEC-1", "PyPI", "jinja2", [{"introduced": "0"}, {"fixed": "3.1.5"}]),
    ])
    assert _by_ecosystem(cov) == {
        # Advisories of another branch do not cover this one.
        "Alpine:v3.20": (2, 0, "the database has no Alpine v3.20 advisories", "hardbox db update --ecosystem Alpine"),
        "PyPI": (2, 1, "their versions cannot be parsed by the ecosystem's ordering", ""),
        "deb": (1, 0, "deb packages on Alpine:v3.20 have no OSV ecosystem", ""),
        "npm": (1, 0, "the database has no npm advisories", "hardbox db update --ecosystem npm"),
    }
    assert not cov.complete and len(cov.gaps) == 4
    assert cov.db_updated is not None and cov.db_stale is False
    pypi = next(e for e in cov.ecosystems if e.ecosystem == "PyPI")
    assert pypi.sentence() == ("1 of 2 PyPI packages was not checked: their versions cannot be parsed "
                               "by the ecosystem's ordering")


def test_an_unknown_distro_and_a_complete_one(tmp_path: Path) -> None:
    plan9 = OSRelease(id="plan9", version_id="4")
    cov = _coverage(tmp_path / "p", [_pkg("deb", "rc", "1-1")], plan9,
                    [record("PYSEC-1", "PyPI", "jinja2", [{"introduced": "0"}])])
    assert _by_ecosystem(cov) == {"deb": (1, 0, "no OSV ecosystem for plan9 4", "")}

    debian = OSRelease(id="debian", version_id="12")
    cov = _coverage(tmp_path / "d", [_pkg("deb", "libc6", "2.36-9+deb12u4", "glibc"), _pkg("deb", "bash", "5.2.15-2+b2")],
                    debian, [record("DSA-1", "Debian:12", "no-such-source", [{"introduced": "0"}])])
    assert cov.complete and _by_ecosystem(cov) == {"Debian:12": (2, 2, "", "")}
    assert cov.ecosystems[0].sentence() == "2 Debian packages were checked against 1 Debian 12 advisory"


def test_a_stale_database(tmp_path: Path) -> None:
    import sqlite3

    debian = OSRelease(id="debian", version_id="12")
    db = tmp_path / "osv.sqlite"
    with VulnIndex.open(db, create=True) as index:
        import_paths([write_zip(tmp_path / "all.zip", [record("DSA-1", "Debian:12", "x", [{"introduced": "0"}])])], index)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE imports SET finished = '2020-01-01T00:00:00+00:00'")
    with VulnIndex.open(db) as index:
        cov = coverage([_pkg("deb", "bash", "5.2.15-2")], debian, index, max_age_seconds=86400)
    assert cov.db_stale and cov.db_updated == "2020-01-01T00:00:00+00:00"


def test_without_a_database_every_release_is_named(tmp_path: Path) -> None:
    debian = OSRelease(id="debian", version_id="12")
    cov = without_database([_pkg("deb", "bash", "5.2.15-2"), _pkg("pypi", "jinja2", "3.1.4")], debian)
    assert _by_ecosystem(cov) == {
        "Debian:12": (1, 0, "there is no vulnerability database", "hardbox db update --ecosystem Debian"),
        "PyPI": (1, 0, "there is no vulnerability database", "hardbox db update --ecosystem PyPI"),
    }
