"""Matching the real packages of a debootstrap Debian 12 minbase root filesystem (its dpkg
status file is the ground truth) against advisories written around the installed versions,
so every assertion is about versions Debian really ships: ranges just above, at and just
below them, last_affected, limit, versions lists, withdrawn and unfixed records, other
releases, binary-vs-source names, and one record with a version dpkg cannot parse."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from debian.deb822 import Packages
from helpers.osv_fixtures import CVSS3_CRITICAL, CVSS3_MEDIUM, CVSS4_HIGH, record, write_zip

from hardbox.findings import Finding, LayerRef, Severity, VulnerabilityDetail
from hardbox.scan.catalog.os_release import OSRelease, parse_os_release
from hardbox.scan.package import Package, make_purl
from hardbox.scan.vulndb import match
from hardbox.scan.vulndb.importer import import_paths
from hardbox.scan.vulndb.index import VulnIndex

LAYER = LayerRef("sha256:" + "ab" * 32, 0, "debootstrap --variant=minbase bookworm")


def _packages(rootfs: Path) -> list[Package]:
    """Every installed package, read straight from dpkg's status file."""
    out = []
    with (rootfs / "var/lib/dpkg/status").open() as fh:
        for para in Packages.iter_paragraphs(fh, use_apt_pkg=False):
            if "installed" not in para.get("Status", ""):
                continue
            name, version = para["Package"], para["Version"]
            source, source_version = name, version
            if "Source" in para:
                parts = para["Source"].split()
                source = parts[0]
                if len(parts) > 1:
                    source_version = parts[1].strip("()")
            out.append(Package(
                name=name, version=version, ecosystem="deb",
                purl=make_purl("deb", name, version, namespace="debian",
                               qualifiers={"arch": para.get("Architecture", ""), "distro": "debian-12"}),
                cataloger="os/dpkg", layer=LAYER, arch=para.get("Architecture", ""),
                source_name=source, source_version=source_version,
                locations=("/var/lib/dpkg/status",),
            ))
    return out


@pytest.fixture(scope="module")
def debian(debian_rootfs: Path) -> tuple[list[Package], OSRelease]:
    fields = parse_os_release((debian_rootfs / "etc/os-release").read_text())
    os_release = OSRelease(id=fields["ID"], version_id=fields["VERSION_ID"])
    assert os_release.osv_ecosystem == "Debian:12"
    return _packages(debian_rootfs), os_release


def _sources(packages: list[Package]) -> dict[str, tuple[str, set[str]]]:
    by_source: dict[str, set[str]] = defaultdict(set)
    versions: dict[str, str] = {}
    for p in packages:
        by_source[p.source_name].add(p.name)
        versions[p.source_name] = p.source_version
    return {src: (versions[src], names) for src, names in by_source.items()}


def _run(tmp_path: Path, packages: list[Package], os_release: OSRelease, records: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    index = VulnIndex.open(tmp_path / "osv.sqlite", create=True)
    import_paths([write_zip(tmp_path / "all.zip", records)], index)
    result = match(packages, os_release, index)
    index.close()
    return result


def detail(finding: Finding) -> VulnerabilityDetail:
    assert finding.vulnerability is not None
    return finding.vulnerability


def test_ranges_around_the_installed_versions(tmp_path: Path, debian: tuple[list[Package], OSRelease]) -> None:
    packages, os_release = debian
    sources = _sources(packages)
    glibc_v, glibc_bins = sources["glibc"]
    bash_v, _ = sources["bash"]
    dpkg_v, _ = sources["dpkg"]
    zlib_v, zlib_bins = sources["zlib"]
    assert zlib_v.startswith("1:")  # the epoch case below depends on it
    above, below = "+hb1", "~"  # "+hb1" sorts just after a version, "~" just before it

    def deb(advisory_id: str, source: str, events: list[dict[str, str]] | None = None, **kw: Any) -> dict[str, Any]:
        return record(advisory_id, kw.pop("ecosystem", "Debian:12"), source, events, **kw)

    records = [
        deb("FIXED-ABOVE", "glibc", [{"introduced": "0"}, {"fixed": glibc_v + above}],
            severity=[{"type": "CVSS_V3", "score": CVSS3_CRITICAL}]),
        deb("FIXED-AT", "glibc", [{"introduced": "0"}, {"fixed": glibc_v}]),
        deb("FIXED-BELOW", "glibc", [{"introduced": "0"}, {"fixed": glibc_v + below}]),
        deb("INTRODUCED-ABOVE", "glibc", [{"introduced": glibc_v + above}]),
        deb("INTRODUCED-AT", "bash", [{"introduced": bash_v}, {"fixed": bash_v + above}]),
        deb("LAST-AFFECTED-AT", "bash", [{"introduced": "0"}, {"last_affected": bash_v}]),
        deb("LAST-AFFECTED-BELOW", "bash", [{"introduced": "0"}, {"last_affected": bash_v + below}]),
        deb("LIMIT-AT", "dpkg", [{"introduced": "0"}, {"limit": dpkg_v}]),
        deb("LIMIT-ABOVE", "dpkg", [{"introduced": "0"}, {"limit": dpkg_v + above}]),
        deb("LIMIT-STAR", "dpkg", [{"introduced": "0"}, {"limit": "*"}]),
        deb("VERSIONS-LISTED", "dpkg", None, versions=["0.1-1", dpkg_v]),
        deb("VERSIONS-NOT-LISTED", "dpkg", None, versions=[dpkg_v + above]),
        deb("SECOND-RANGE", "dpkg", [{"introduced": "0"}, {"fixed": "0.5-1"},
                                     {"introduced": dpkg_v + below}, {"fixed": dpkg_v + above}]),
        deb("WITHDRAWN", "glibc", [{"introduced": "0"}], withdrawn="2024-06-01T00:00:00Z"),
        deb("UNFIXED", "zlib", [{"introduced": "0"}], database_specific={"severity": "HIGH"}),
        deb("EPOCHLESS-FIX", "zlib", [{"introduced": "0"}, {"fixed": zlib_v.split(":", 1)[1] + above}]),
        deb("OTHER-RELEASE", "glibc", [{"introduced": "0"}], ecosystem="Debian:11"),
        deb("BINARY-NAME", "libc6", [{"introduced": "0"}]),
        deb("GIT-ONLY", "glibc", [{"introduced": "a" * 40}], range_type="GIT"),
        deb("BAD-VERSION", "bash", [{"introduced": "0"}, {"fixed": "not a version!"}]),
        deb("V4-ONLY", "bash", [{"introduced": "0"}], severity=[{"type": "CVSS_V4", "score": CVSS4_HIGH}]),
        deb("V3-BEATS-V4", "bash", [{"introduced": "0"}],
            severity=[{"type": "CVSS_V4", "score": CVSS4_HIGH}, {"type": "CVSS_V3", "score": CVSS3_MEDIUM}]),
    ]
    result = _run(tmp_path, packages, os_release, records)

    hits: dict[str, set[str]] = defaultdict(set)
    for f in result.findings:
        hits[f.id].add(f.package or "")
    bash_bins = sources["bash"][1]
    dpkg_bins = sources["dpkg"][1]
    assert dict(hits) == {
        "FIXED-ABOVE": glibc_bins,
        "INTRODUCED-AT": bash_bins,
        "LAST-AFFECTED-AT": bash_bins,
        "LIMIT-ABOVE": dpkg_bins,
        "LIMIT-STAR": dpkg_bins,
        "VERSIONS-LISTED": dpkg_bins,
        "SECOND-RANGE": dpkg_bins,
        "UNFIXED": zlib_bins,
        "V4-ONLY": bash_bins,
        "V3-BEATS-V4": bash_bins,
    }
    assert len(glibc_bins) >= 2  # libc6 and libc-bin: every binary of the source matches

    by_id = {(f.id, f.package): f for f in result.findings}
    libc = by_id[("FIXED-ABOVE", "libc6")]
    assert libc.severity is Severity.CRITICAL
    assert detail(libc).cvss_score == 9.8 and detail(libc).cvss_vector == CVSS3_CRITICAL
    assert detail(libc).fixed_version == glibc_v + above
    assert libc.fix == f"upgrade libc6 to {glibc_v + above}"
    assert libc.layer == LAYER and libc.path == "/var/lib/dpkg/status"
    assert detail(libc).ecosystem == "Debian:12" and detail(libc).advisory_package == "glibc"
    assert detail(libc).references == ("https://example.invalid/FIXED-ABOVE",)

    zlib = next(f for f in result.findings if f.id == "UNFIXED")
    assert detail(zlib).fixed_version is None and zlib.fix == ""
    assert zlib.severity is Severity.HIGH and detail(zlib).severity_source == "record"
    assert detail(by_id[("LAST-AFFECTED-AT", "bash")]).fixed_version is None
    assert detail(by_id[("SECOND-RANGE", "dpkg")]).fixed_version == dpkg_v + above
    assert detail(by_id[("V4-ONLY", "bash")]).severity_source == "cvss_v4"
    assert by_id[("V4-ONLY", "bash")].severity is Severity.HIGH
    assert by_id[("V3-BEATS-V4", "bash")].severity is Severity.MEDIUM
    assert by_id[("INTRODUCED-AT", "bash")].severity is Severity.MEDIUM
    assert detail(by_id[("INTRODUCED-AT", "bash")]).severity_source == "default"

    # The unparsable event is recorded, naming advisory and package, and skipped.
    assert [(e.advisory_id, e.package) for e in result.errors] == [("BAD-VERSION", f"bash {bash_v}")]
    assert "not a version!" in str(result.errors[0])


def test_findings_are_sorted_and_serialisable(tmp_path: Path, debian: tuple[list[Package], OSRelease]) -> None:
    packages, os_release = debian
    glibc_v = _sources(packages)["glibc"][0]
    records = [
        record("LOW-1", "Debian:12", "glibc", [{"introduced": "0"}], database_specific={"severity": "low"}),
        record("CRIT-1", "Debian:12", "glibc", [{"introduced": "0"}, {"fixed": glibc_v + "+1"}],
               severity=[{"type": "CVSS_V3", "score": CVSS3_CRITICAL}]),
    ]
    result = _run(tmp_path, packages, os_release, records)
    assert [f.severity for f in result.findings] == sorted((f.severity for f in result.findings), key=lambda s: -s.rank)
    assert result.findings[0].id == "CRIT-1"
    import json

    json.dumps([f.to_dict() for f in result.findings])  # extra stays JSON-serialisable


def test_an_advisory_without_a_summary_is_titled_by_its_cve(tmp_path: Path,
                                                           debian: tuple[list[Package], OSRelease]) -> None:
    """Every PyPA advisory has ``details`` and no ``summary``: the title is "CVE in package
    version" (its CVE alias preferred to its own id), and the text stays in ``detail``."""
    packages, os_release = debian
    text = "A long account of the flaw. " * 20
    records = [
        record("PYSEC-2024-1", "Debian:12", "glibc", [{"introduced": "0"}], summary="", details=text,
               aliases=["GHSA-aaaa-bbbb-cccc", "CVE-2024-9999"]),
        record("NO-ALIAS-1", "Debian:12", "glibc", [{"introduced": "0"}], summary="", details=text),
        record("SUMMED-1", "Debian:12", "glibc", [{"introduced": "0"}]),
    ]
    result = _run(tmp_path, packages, os_release, records)
    libc = next(p for p in packages if p.name == "libc6")
    by_id = {f.id: f for f in result.findings if f.package == "libc6"}
    assert by_id["PYSEC-2024-1"].title == f"CVE-2024-9999 in libc6 {libc.version}"
    assert by_id["PYSEC-2024-1"].detail == text
    assert by_id["NO-ALIAS-1"].title == f"NO-ALIAS-1 in libc6 {libc.version}"
    assert by_id["SUMMED-1"].title == "test advisory SUMMED-1"


def test_os_without_an_osv_ecosystem_is_one_error(tmp_path: Path, debian: tuple[list[Package], OSRelease]) -> None:
    packages, _ = debian
    result = _run(tmp_path, packages, OSRelease(id="plan9", version_id="4"), [
        record("ANY-1", "Debian:12", "glibc", [{"introduced": "0"}]),
    ])
    assert result.findings == []
    (error,) = result.errors
    assert f"{len(packages)} packages" in str(error) and "plan9" in str(error)


def test_language_ecosystems(tmp_path: Path) -> None:
    def pkg(ecosystem: str, name: str, version: str, purl_type: str) -> Package:
        return Package(name=name, version=version, ecosystem=ecosystem,
                       purl=make_purl(purl_type, name.split(":")[-1], version), cataloger="test")

    packages = [
        pkg("pypi", "Jinja2", "3.1.2", "pypi"),
        pkg("npm", "lodash", "4.17.20", "npm"),
        pkg("golang", "golang.org/x/net", "v0.17.0", "golang"),
        pkg("golang", "stdlib", "v1.19.8", "golang"),
        pkg("maven", "org.apache.logging.log4j:log4j-core", "2.14.1", "maven"),
        pkg("npm", "weird", "not-semver", "npm"),
    ]
    records = [
        record("PYSEC-J", "PyPI", "jinja2", [{"introduced": "0"}, {"fixed": "3.1.3"}]),
        record("PYSEC-OLD", "PyPI", "jinja2", [{"introduced": "0"}, {"fixed": "2.11.3"}]),
        record("GHSA-L", "npm", "lodash", [{"introduced": "0"}, {"fixed": "4.17.21"}], range_type="SEMVER"),
        record("GO-N", "Go", "golang.org/x/net", [{"introduced": "0"}, {"fixed": "0.17.0"}], range_type="SEMVER"),
        record("GO-STD", "Go", "stdlib", [{"introduced": "1.19.0"}, {"fixed": "1.19.9"}], range_type="SEMVER"),
        record("GHSA-LOG4SHELL", "Maven", "org.apache.logging.log4j:log4j-core",
               [{"introduced": "2.0-beta9"}, {"fixed": "2.15.0"}]),
        record("GHSA-W", "npm", "weird", [{"introduced": "0"}], range_type="SEMVER"),
    ]
    result = _run(tmp_path, packages, None, records)  # type: ignore[arg-type]
    assert sorted((f.id, f.package) for f in result.findings) == [
        ("GHSA-L", "lodash"),
        ("GHSA-LOG4SHELL", "org.apache.logging.log4j:log4j-core"),
        ("GO-STD", "stdlib"),
        ("PYSEC-J", "Jinja2"),
    ]
    assert [e.package for e in result.errors] == ["weird"]


def test_alpine_and_rocky_packages_use_their_release_and_source(tmp_path: Path) -> None:
    def os_pkg(ecosystem: str, name: str, version: str, source: str) -> Package:
        return Package(name=name, version=version, ecosystem=ecosystem, source_name=source,
                       purl=make_purl(ecosystem, name, version), cataloger="test")

    alpine = OSRelease(id="alpine", version_id="3.19.1")
    libcrypto = os_pkg("apk", "libcrypto3", "3.1.4-r5", "openssl")
    records = [
        record("ALPINE-1", "Alpine:v3.19", "openssl", [{"introduced": "0"}, {"fixed": "3.1.4-r6"}]),
        record("ALPINE-2", "Alpine:v3.19", "openssl", [{"introduced": "0"}, {"fixed": "3.1.4-r5"}]),
        record("ALPINE-3", "Alpine:v3.19", "openssl", [{"introduced": "0"}, {"fixed": "3.1.5_rc1-r0"}]),
        record("ALPINE-OLD", "Alpine:v3.18", "openssl", [{"introduced": "0"}]),
    ]
    result = _run(tmp_path / "a", [libcrypto], alpine, records)
    assert sorted(f.id for f in result.findings) == ["ALPINE-1", "ALPINE-3"]

    rocky = OSRelease(id="rocky", version_id="9.3")
    openssl_libs = os_pkg("rpm", "openssl-libs", "1:3.0.7-24.el9", "openssl")
    records = [
        record("RLSA-1", "Rocky Linux:9", "openssl", [{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9_3"}]),
        record("RLSA-2", "Rocky Linux:9", "openssl", [{"introduced": "0"}, {"fixed": "3.0.8-1.el9"}]),  # epoch 0
        record("RLSA-3", "Rocky Linux:9", "openssl-libs", [{"introduced": "0"}, {"fixed": "1:3.0.7-24.el9~1"}]),
    ]
    result = _run(tmp_path / "r", [openssl_libs], rocky, records)
    assert [f.id for f in result.findings] == ["RLSA-1"]
    assert detail(result.findings[0]).fixed_version == "1:3.0.7-25.el9_3"

    # A deb package on an Alpine image has no OSV ecosystem to be looked up in.
    # (The database holds one unrelated advisory: an import that finds none is refused.)
    stray = os_pkg("deb", "bash", "5.2.15-2+b2", "bash")
    unrelated = record("ALPINE-X", "Alpine:v3.19", "musl", [{"introduced": "0"}, {"fixed": "1.2.4-r3"}])
    result = _run(tmp_path / "s", [stray], alpine, [unrelated])
    assert "deb packages on Alpine:v3.19 have no OSV ecosystem" in str(result.errors[0])


def test_an_rpm_advisory_naming_source_and_binary_is_one_finding(tmp_path: Path) -> None:
    rocky = OSRelease(id="rocky", version_id="9.3")
    package = Package(name="openssl-libs", version="1:3.0.7-24.el9", ecosystem="rpm", source_name="openssl",
                      purl=make_purl("rpm", "openssl-libs", "3.0.7-24.el9"), cataloger="test")
    both = record("RLSA-BOTH", "Rocky Linux:9", "openssl", [{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9"}])
    both["affected"].append({"package": {"ecosystem": "Rocky Linux:9", "name": "openssl-libs"},
                             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9"}]}]})
    result = _run(tmp_path, [package], rocky, [both])
    assert [(f.id, f.package) for f in result.findings] == [("RLSA-BOTH", "openssl-libs")]


def test_ubuntu_lts_and_red_hat_product_streams(tmp_path: Path) -> None:
    def os_pkg(ecosystem: str, name: str, version: str, source: str) -> Package:
        return Package(name=name, version=version, ecosystem=ecosystem, source_name=source,
                       source_version=version, purl=make_purl(ecosystem, name, version), cataloger="test")

    ubuntu = OSRelease(id="ubuntu", version_id="22.04")
    libssl = os_pkg("deb", "libssl3", "3.0.2-0ubuntu1.15", "openssl")
    result = _run(tmp_path / "u", [libssl], ubuntu, [
        record("UBUNTU-LTS", "Ubuntu:22.04:LTS", "openssl", [{"introduced": "0"}, {"fixed": "3.0.2-0ubuntu1.16"}]),
        record("UBUNTU-OTHER", "Ubuntu:24.04:LTS", "openssl", [{"introduced": "0"}]),
    ])
    assert [f.id for f in result.findings] == ["UBUNTU-LTS"]
    assert detail(result.findings[0]).ecosystem == "Ubuntu:22.04:LTS"

    rhel = OSRelease(id="rhel", version_id="9.3")
    openssl = os_pkg("rpm", "openssl", "1:3.0.7-24.el9", "openssl")
    result = _run(tmp_path / "r", [openssl], rhel, [
        record("RHSA-9-APP", "Red Hat:enterprise_linux:9::appstream", "openssl",
               [{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9_3"}]),
        record("RHSA-9-BASE", "Red Hat:enterprise_linux:9::baseos", "openssl",
               [{"introduced": "0"}, {"fixed": "1:3.0.7-27.el9"}]),
        record("RHSA-8", "Red Hat:enterprise_linux:8::baseos", "openssl", [{"introduced": "0"}]),
        record("RHSA-90", "Red Hat:enterprise_linux:90::baseos", "openssl", [{"introduced": "0"}]),
    ])
    assert sorted(f.id for f in result.findings) == ["RHSA-9-APP", "RHSA-9-BASE"]
