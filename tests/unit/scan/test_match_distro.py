"""OS advisories matched as the distribution means them, from package databases read by
the real catalogers (a dpkg status file, an apk installed database, os-release):

- Debian's records name the *source* package per release (``Debian:12``); a binary is
  matched through its source and the source's version, a binNMU (``+b1``) included;
- a record with no ``fixed`` event for the release means "not fixed in this release yet",
  and ``--ignore-unfixed`` drops exactly those;
- Alpine's name the origin package per branch (``Alpine:v3.20``); Ubuntu's the source
  package per release (``Ubuntu:22.04:LTS``), with Ubuntu Pro streams apart.

The Ubuntu record is Ubuntu's own, kept in tests/fixtures/osv (see its README). The Debian
and Alpine records are written here in the shape osv.dev publishes (its bucket cannot be
read from here): DSA/DLA records (``summary: "<source> - security update"``, CVEs under
``related``/``upstream``, a ``purl`` with ``arch=source``), DEBIAN-CVE records (one affected
entry per release, ``upstream``, ``ecosystem_specific.urgency``, a ``versions`` list when
unfixed), and ALPINE-CVE records (``upstream``, ``arch=source`` purl).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers.layerdirs import image_of, write
from helpers.osv_fixtures import write_zip

from hardbox.findings import Finding
from hardbox.scan.catalog_result import catalog_image
from hardbox.scan.result import Filters
from hardbox.scan.vulndb import match
from hardbox.scan.vulndb.importer import import_paths
from hardbox.scan.vulndb.index import VulnIndex

FIXTURES = Path(__file__).parents[2] / "fixtures" / "osv"


def _paragraph(name: str, version: str, source: str | None = None) -> str:
    lines = [f"Package: {name}", "Status: install ok installed", "Architecture: amd64", f"Version: {version}"]
    if source:
        lines.append(f"Source: {source}")
    return "\n".join(lines) + "\n"


def _dpkg_root(root: Path, os_release: str, paragraphs: list[str]) -> Path:
    write(root, "etc/os-release", os_release)
    write(root, "var/lib/dpkg/status", "\n".join(paragraphs))
    return root


def _match(tmp_path: Path, root: Path, records: list[dict[str, Any]]) -> list[Finding]:
    catalog = catalog_image(image_of(root))
    index = VulnIndex.open(tmp_path / "osv.sqlite", create=True)
    import_paths([write_zip(tmp_path / "all.zip", records)], index)
    result = match(catalog.packages, catalog.os, index)
    index.close()
    assert result.errors == []
    return result.findings


def _debian(advisory_id: str, affected: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"schema_version": "1.6.0", "id": advisory_id, "published": "2024-01-30T00:00:00Z",
            "modified": "2024-02-01T10:11:12.131415Z", "details": f"{advisory_id} in the published shape.",
            "affected": affected, **extra}


def _release(release: str, source: str, events: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {"package": {"ecosystem": release, "name": source, "purl": f"pkg:deb/debian/{source}?arch=source"},
            "ranges": [{"type": "ECOSYSTEM", "events": events}], **extra}


DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'


def test_debian_records_match_binaries_through_their_source(tmp_path: Path) -> None:
    root = _dpkg_root(tmp_path / "root", DEBIAN_12, [
        _paragraph("libc6", "2.36-9+deb12u1", "glibc"),
        _paragraph("libc-bin", "2.36-9+deb12u1", "glibc"),
        # binNMUs: the binaries' "+b1" is not the source's version.
        _paragraph("libtiff6", "4.5.0-6+deb12u1+b1", "tiff (4.5.0-6+deb12u1)"),
        _paragraph("zlib1g", "1:1.2.13.dfsg-1+b1", "zlib (1:1.2.13.dfsg-1)"),
        _paragraph("bsdutils", "1:2.38.1-5+b1", "util-linux (2.38.1-5)"),  # binary epoch, source none
        _paragraph("tar", "1.34+dfsg-1.2+b1"),  # no Source field: the binary's own, minus +b1
        _paragraph("perl-base", "5.36.0-7+deb12u1", "perl"),
    ])
    records = [
        _debian("DSA-5611-1", [_release("Debian:12", "glibc", [{"introduced": "0"}, {"fixed": "2.36-9+deb12u4"}])],
                summary="glibc - security update", related=["CVE-2023-6246", "CVE-2023-6779"],
                references=[{"type": "ADVISORY", "url": "https://www.debian.org/security/2024/dsa-5611"}]),
        # A DLA is for Debian LTS (11 here): never a Debian 12 finding.
        _debian("DLA-3000-1", [_release("Debian:11", "glibc", [{"introduced": "0"}, {"fixed": "2.31-13+deb11u9"}])],
                summary="glibc - security update"),
        # DEBIAN-CVE: fixed in 13, not yet in 12 (no fixed event, a versions list instead).
        _debian("DEBIAN-CVE-2023-52356", [
            _release("Debian:12", "tiff", [{"introduced": "0"}], versions=["4.5.0-6", "4.5.0-6+deb12u1"],
                     ecosystem_specific={"urgency": "not yet assigned"}),
            _release("Debian:13", "tiff", [{"introduced": "0"}, {"fixed": "4.5.1+git230720-3"}]),
        ], upstream=["CVE-2023-52356"]),
        # last_affected at the source version: the +b1 binary is affected too.
        _debian("DEBIAN-CVE-2023-45853", [_release("Debian:12", "zlib", [{"introduced": "0"}, {"last_affected": "1:1.2.13.dfsg-1"}])],
                upstream=["CVE-2023-45853"]),
        _debian("DEBIAN-CVE-2024-28085", [_release("Debian:12", "util-linux", [{"introduced": "0"}, {"fixed": "2.38.1-5+deb12u1"}])]),
        _debian("DEBIAN-CVE-2022-48303", [_release("Debian:12", "tar", [{"introduced": "0"}, {"last_affected": "1.34+dfsg-1.2"}])]),
        # Fixed in an older upload than the one installed: not a finding.
        _debian("DSA-5000-1", [_release("Debian:12", "perl", [{"introduced": "0"}, {"fixed": "5.36.0-7"}])]),
        # A record naming the binary package matches nothing: Debian files by source.
        _debian("DEBIAN-CVE-BINARY-NAME", [_release("Debian:12", "libc6", [{"introduced": "0"}])]),
    ]
    findings = _match(tmp_path, root, records)
    got = {(f.id, f.package): (f.version, f.fixed_version or None) for f in findings}
    assert got == {
        ("DSA-5611-1", "libc6"): ("2.36-9+deb12u1", "2.36-9+deb12u4"),
        ("DSA-5611-1", "libc-bin"): ("2.36-9+deb12u1", "2.36-9+deb12u4"),
        ("DEBIAN-CVE-2023-52356", "libtiff6"): ("4.5.0-6+deb12u1+b1", None),
        ("DEBIAN-CVE-2023-45853", "zlib1g"): ("1:1.2.13.dfsg-1+b1", None),
        ("DEBIAN-CVE-2024-28085", "bsdutils"): ("1:2.38.1-5+b1", "2.38.1-5+deb12u1"),
        ("DEBIAN-CVE-2022-48303", "tar"): ("1.34+dfsg-1.2+b1", None),
    }
    tiff = next(f for f in findings if f.id == "DEBIAN-CVE-2023-52356")
    assert tiff.vulnerability is not None
    assert (tiff.vulnerability.ecosystem, tiff.vulnerability.advisory_package) == ("Debian:12", "tiff")
    assert tiff.vulnerability.compared_version == "4.5.0-6+deb12u1"  # the source's version
    assert tiff.fix == ""  # nothing to upgrade to in this release

    # --ignore-unfixed drops exactly the records with no fix in Debian 12.
    kept = {(f.id, f.package) for f in findings if Filters(ignore_unfixed=True).keeps(f)}
    assert kept == {("DSA-5611-1", "libc6"), ("DSA-5611-1", "libc-bin"), ("DEBIAN-CVE-2024-28085", "bsdutils")}


def test_alpine_records_match_subpackages_through_their_origin(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "etc/os-release", 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\n')
    installed = [("libcrypto3", "3.3.2-r0", "openssl"), ("libssl3", "3.3.2-r0", "openssl"),
                 ("busybox", "1.36.1-r29", "busybox"), ("ssl_client", "1.36.1-r29", "busybox")]
    write(root, "lib/apk/db/installed", "".join(
        f"C:Q1{'A' * 27}=\nP:{name}\nV:{version}\nA:x86_64\no:{origin}\nL:Apache-2.0\n\n"
        for name, version, origin in installed))

    def alpine(advisory_id: str, branch: str, origin: str, events: list[dict[str, str]]) -> dict[str, Any]:
        return {"schema_version": "1.6.0", "id": advisory_id, "modified": "2024-10-01T00:00:00Z",
                "published": "2024-09-30T00:00:00Z", "upstream": [advisory_id.removeprefix("ALPINE-")],
                "details": f"{advisory_id} in the published shape.",
                "affected": [{"package": {"ecosystem": branch, "name": origin,
                                          "purl": f"pkg:apk/alpine/{origin}?arch=source"},
                              "ranges": [{"type": "ECOSYSTEM", "events": events}]}]}

    findings = _match(tmp_path, root, [
        alpine("ALPINE-CVE-2024-9143", "Alpine:v3.20", "openssl", [{"introduced": "0"}, {"fixed": "3.3.2-r1"}]),
        alpine("ALPINE-CVE-2024-6119", "Alpine:v3.20", "openssl", [{"introduced": "0"}, {"fixed": "3.3.2-r0"}]),
        alpine("ALPINE-CVE-2023-42364", "Alpine:v3.20", "busybox", [{"introduced": "0"}]),
        alpine("ALPINE-CVE-2024-0727", "Alpine:v3.19", "openssl", [{"introduced": "0"}, {"fixed": "3.1.4-r5"}]),
        alpine("ALPINE-CVE-NAMED-BINARY", "Alpine:v3.20", "libcrypto3", [{"introduced": "0"}]),
    ])
    got = {(f.id, f.package): f.fixed_version or None for f in findings}
    assert got == {
        ("ALPINE-CVE-2024-9143", "libcrypto3"): "3.3.2-r1",
        ("ALPINE-CVE-2024-9143", "libssl3"): "3.3.2-r1",
        ("ALPINE-CVE-2023-42364", "busybox"): None,
        ("ALPINE-CVE-2023-42364", "ssl_client"): None,
    }
    assert {f.id for f in findings if Filters(ignore_unfixed=True).keeps(f)} == {"ALPINE-CVE-2024-9143"}


def _ubuntu(version_id: str) -> str:
    return f'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="{version_id}"\n'


def test_ubuntus_own_record_per_release(tmp_path: Path) -> None:
    record = json.loads((FIXTURES / "ubuntu" / "CVE-2024-0727.json").read_text())

    def on(release: str, version: str) -> set[tuple[str, str | None, str | None]]:
        folder = tmp_path / release
        root = _dpkg_root(folder / "root", _ubuntu(release), [
            _paragraph("libssl3", version, "openssl"), _paragraph("openssl", version),
        ])
        return {(f.package or "", f.fixed_version or None, f.vulnerability.ecosystem if f.vulnerability else None)
                for f in _match(folder, root, [record]) if f.id == "CVE-2024-0727"}

    assert on("22.04", "3.0.2-0ubuntu1.10") == {
        ("libssl3", "3.0.2-0ubuntu1.14", "Ubuntu:22.04:LTS"), ("openssl", "3.0.2-0ubuntu1.14", "Ubuntu:22.04:LTS")}
    assert on("22.04", "3.0.2-0ubuntu1.15") == set()  # past the fix
    assert on("24.04", "3.0.13-0ubuntu3.1") == set()  # 24.04 was fixed at 3.0.10-1ubuntu4
    # 16.04's entries are Ubuntu Pro streams (Ubuntu:Pro:16.04:LTS): not the plain release's.
    assert on("16.04", "1.0.2g-1ubuntu4.20") == set()
