"""Upgrades grouped by package (hardbox/scan/upgrades.py), from findings the real matcher made
out of OSV records imported into a real index: the target is the greatest fix in the
ecosystem's own ordering (never the greatest string), an advisory with no fix stays open,
and upgrades rank by what they fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.osv_fixtures import CVSS3_CRITICAL, CVSS3_MEDIUM, record, write_zip

from hardbox.findings import Finding, Kind, Severity, VulnerabilityDetail
from hardbox.scan.catalog.os_release import OSRelease
from hardbox.scan.package import Package, make_purl
from hardbox.scan.upgrades import plan_upgrades
from hardbox.scan.vulndb import match
from hardbox.scan.vulndb.importer import import_paths
from hardbox.scan.vulndb.index import VulnIndex

HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"  # 7.5


def _findings(tmp_path: Path, packages: list[Package], records: list[dict[str, Any]],
              os_release: OSRelease | None = None) -> list[Finding]:
    index = VulnIndex.open(tmp_path / "osv.sqlite", create=True)
    import_paths([write_zip(tmp_path / "all.zip", records)], index)
    result = match(packages, os_release, index)
    index.close()
    assert not result.errors, result.errors
    return result.findings


def _pypi(name: str, version: str, location: str = "/app/METADATA") -> Package:
    return Package(name=name, version=version, ecosystem="pypi", purl=make_purl("pypi", name, version),
                   cataloger="test", locations=(location,))


def _cvss(vector: str) -> dict[str, Any]:
    return {"severity": [{"type": "CVSS_V3", "score": vector}]}


def test_the_target_is_the_greatest_fix_in_pep440_order(tmp_path: Path) -> None:
    urllib3 = _pypi("urllib3", "1.24.1")
    fixed = [("PYSEC-A", "1.24.2", HIGH), ("PYSEC-B", "1.26.5", HIGH), ("PYSEC-C", "1.26.18", CVSS3_MEDIUM),
             ("PYSEC-D", "1.25.9", CVSS3_MEDIUM)]
    records = [record(i, "PyPI", "urllib3", [{"introduced": "0"}, {"fixed": fix}], **_cvss(vector))
               for i, fix, vector in fixed]
    records.append(record("PYSEC-NOFIX", "PyPI", "urllib3", [{"introduced": "0"}]))  # unrated, no fix
    (upgrade,) = plan_upgrades(_findings(tmp_path, [urllib3], records))
    # As strings "1.26.5" > "1.26.18"; as PEP 440 versions 1.26.18 is the newest fix.
    assert upgrade.to_version == "1.26.18"
    assert sorted(f.id for f in upgrade.fixes) == ["PYSEC-A", "PYSEC-B", "PYSEC-C", "PYSEC-D"]
    assert [f.id for f in upgrade.still_open] == ["PYSEC-NOFIX"]
    assert upgrade.fixed_by_severity() == {"critical": 0, "high": 2, "medium": 2, "low": 0, "info": 0}
    assert upgrade.summary() == "upgrade urllib3 1.24.1 → 1.26.18 fixes 4 (2 high, 2 medium)"
    assert upgrade.ecosystem == "pypi" and upgrade.worst is Severity.HIGH
    doc = upgrade.to_dict()
    assert doc["to_version"] == "1.26.18" and doc["still_open"] == ["PYSEC-NOFIX"]
    assert doc["fixes"][:2] == ["PYSEC-A", "PYSEC-B"]  # worst first


def test_debian_fixes_are_ordered_by_dpkg_rules(tmp_path: Path) -> None:
    """Epochs and tildes: 1:1.0-1 is newer than 9.9-1, and 2.0~rc1-1 older than 2.0-1."""
    debian = OSRelease(id="debian", version_id="12")

    def deb(name: str, version: str) -> Package:
        return Package(name=name, version=version, ecosystem="deb", source_name=name, source_version=version,
                       purl=make_purl("deb", name, version), cataloger="test", locations=("/var/lib/dpkg/status",))

    records = [
        record("DSA-1", "Debian:12", "zlib", [{"introduced": "0"}, {"fixed": "9.9-1"}]),
        record("DSA-2", "Debian:12", "zlib", [{"introduced": "0"}, {"fixed": "1:1.0-1"}], **_cvss(CVSS3_CRITICAL)),
        record("DSA-3", "Debian:12", "curl", [{"introduced": "0"}, {"fixed": "2.0-1"}]),
        record("DSA-4", "Debian:12", "curl", [{"introduced": "0"}, {"fixed": "2.0~rc1-1"}]),
    ]
    findings = _findings(tmp_path, [deb("zlib", "1.2-1"), deb("curl", "1.0-1")], records, debian)
    by_package = {u.package: u for u in plan_upgrades(findings)}
    assert by_package["zlib"].to_version == "1:1.0-1"
    assert by_package["curl"].to_version == "2.0-1"
    # zlib's upgrade fixes a critical one: it ranks first.
    assert [u.package for u in plan_upgrades(findings)] == ["zlib", "curl"]


def test_upgrades_rank_by_what_they_fix(tmp_path: Path) -> None:
    packages = [_pypi("one-critical", "1.0"), _pypi("three-high", "1.0"), _pypi("one-high", "1.0"),
                _pypi("two-high", "1.0")]
    records = [record("C-1", "PyPI", "one-critical", [{"introduced": "0"}, {"fixed": "1.1"}], **_cvss(CVSS3_CRITICAL))]
    records += [record(f"H3-{i}", "PyPI", "three-high", [{"introduced": "0"}, {"fixed": "1.1"}], **_cvss(HIGH))
                for i in range(3)]
    records += [record("H1", "PyPI", "one-high", [{"introduced": "0"}, {"fixed": "2.0"}], **_cvss(HIGH))]
    records += [record(f"H2-{i}", "PyPI", "two-high", [{"introduced": "0"}, {"fixed": "1.1"}], **_cvss(HIGH))
                for i in range(2)]
    upgrades = plan_upgrades(_findings(tmp_path, packages, records))
    assert [u.package for u in upgrades] == ["one-critical", "three-high", "two-high", "one-high"]


def test_each_installed_copy_is_its_own_upgrade_and_unfixable_packages_are_none(tmp_path: Path) -> None:
    packages = [_pypi("requests", "2.0", "/venv-a/METADATA"), _pypi("requests", "2.0", "/venv-b/METADATA"),
                _pypi("requests", "2.5", "/venv-c/METADATA"), _pypi("nofix", "1.0")]
    records = [record("R-1", "PyPI", "requests", [{"introduced": "0"}, {"fixed": "2.31.0"}]),
               record("N-1", "PyPI", "nofix", [{"introduced": "0"}])]
    upgrades = plan_upgrades(_findings(tmp_path, packages, records))
    assert sorted((u.path, u.version) for u in upgrades) == [
        ("/venv-a/METADATA", "2.0"), ("/venv-b/METADATA", "2.0"), ("/venv-c/METADATA", "2.5")]
    assert all(u.to_version == "2.31.0" for u in upgrades)


def test_a_fix_the_ordering_rejects_stays_open() -> None:
    """A hostile or broken feed: a fixed version PEP 440 cannot parse is never claimed fixed."""
    def vuln(advisory: str, fixed: str) -> Finding:
        return Finding(id=advisory, kind=Kind.VULNERABILITY, severity=Severity.HIGH, title=advisory,
                       package="pkg", version="1.0",
                       vulnerability=VulnerabilityDetail(fixed_version=fixed, purl="pkg:pypi/pkg@1.0"))

    (upgrade,) = plan_upgrades([vuln("A", "1.2"), vuln("B", "not a version!")])
    assert upgrade.to_version == "1.2"
    assert [f.id for f in upgrade.still_open] == ["B"]
    # No purl: the OSV ecosystem the advisory was matched in names the ordering.
    debian = Finding(id="D", kind=Kind.VULNERABILITY, severity=Severity.LOW, title="D", package="p", version="1",
                     vulnerability=VulnerabilityDetail(fixed_version="1:0.1", ecosystem="Debian:12"))
    other = Finding(id="E", kind=Kind.VULNERABILITY, severity=Severity.LOW, title="E", package="p", version="1",
                    vulnerability=VulnerabilityDetail(fixed_version="5.0", ecosystem="Debian:12"))
    (deb,) = plan_upgrades([debian, other])
    assert deb.ecosystem == "deb" and deb.to_version == "1:0.1"
