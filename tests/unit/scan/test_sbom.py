"""The SBOM: CycloneDX 1.6 JSON and XML checked by cyclonedx-python-lib's schema validators,
SPDX 2.3 JSON checked by the SPDX project's own validator (spdx-tools), and the package set
checked against dpkg's on the debootstrap minbase."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from cyclonedx.validation.xml import XmlValidator
from helpers.layerdirs import DirImage, dpkg_packages, image_of, layer_of

from hardbox.findings import Finding, Kind, Severity, VulnerabilityDetail
from hardbox.scan.catalog_result import CatalogResult, catalog_image
from hardbox.scan.sbom.build import write_sbom

pytestmark = pytest.mark.root

IMAGE_ID = "sha256:" + "ab" * 32
MANIFEST = "sha256:" + "cd" * 32


def identified(image: DirImage) -> DirImage:
    return dataclasses.replace(
        image, id=IMAGE_ID, manifest_digest=MANIFEST, tags=("docker.io/library/debian:bookworm",)
    )


@pytest.fixture(scope="module")
def minbase(debian_rootfs: Path) -> tuple[DirImage, CatalogResult]:
    image = identified(
        image_of(debian_rootfs, created_by=("debootstrap --variant=minbase bookworm",))
    )
    return image, catalog_image(image)


def valid_json(text: str) -> dict[str, Any]:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)
    return json.loads(text)


def properties(obj: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for prop in obj.get("properties", []):
        out.setdefault(prop["name"], []).append(prop["value"])
    return out


def test_cyclonedx_json_is_valid_and_complete(
    minbase: tuple[DirImage, CatalogResult], debian_rootfs: Path
) -> None:
    image, result = minbase
    bom = valid_json(write_sbom(image, result, "cyclonedx-json"))
    assert bom["specVersion"] == "1.6"
    root = bom["metadata"]["component"]
    assert (root["type"], root["name"], root["version"]) == (
        "container",
        "docker.io/library/debian:bookworm",
        IMAGE_ID,
    )
    assert root["purl"].startswith(f"pkg:oci/debian@{MANIFEST}?")
    assert properties(root)["hardbox:image:base-os"] == ["Debian GNU/Linux 12 (bookworm)"]
    os_comp = next(c for c in bom["components"] if c["type"] == "operating-system")
    assert (os_comp["name"], os_comp["version"]) == ("debian", "12")
    debs = {
        (c["name"], c["version"])
        for c in bom["components"]
        if c.get("purl", "").startswith("pkg:deb/")
    }
    assert debs == dpkg_packages(debian_rootfs / "var/lib/dpkg")
    libc = next(c for c in bom["components"] if c["name"] == "libc6")
    props = properties(libc)
    assert props["hardbox:source:name"] == ["glibc"]
    assert props["hardbox:layer:diff_id"] == [image.layers[0].diff_id]
    assert props["hardbox:layer:index"] == ["0"]
    assert libc["evidence"]["occurrences"] == [
        {"location": "/var/lib/dpkg/status", "additionalContext": "package metadata read from here"}
    ]
    meta = properties(bom["metadata"])
    assert meta["hardbox:cataloger:os/dpkg:status"] == ["succeeded"]
    assert meta["hardbox:cataloger:os/dpkg:packages"] == [str(len(debs))]
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in bom["dependencies"]}
    assert deps[IMAGE_ID] == {c["bom-ref"] for c in bom["components"]}
    assert libc["bom-ref"] in deps[os_comp["bom-ref"]]


def test_output_is_deterministic(minbase: tuple[DirImage, CatalogResult]) -> None:
    image, result = minbase
    first = json.loads(write_sbom(image, result, "cyclonedx-json"))
    second = json.loads(write_sbom(image, catalog_image(image), "cyclonedx-json"))
    for doc in (first, second):
        doc["metadata"].pop("timestamp")  # "now": the dir image has no creation time
    assert first == second


def test_cyclonedx_xml_is_valid(minbase: tuple[DirImage, CatalogResult]) -> None:
    image, result = minbase
    text = write_sbom(image, result, "cyclonedx-xml")
    error = XmlValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)
    assert text.count("<component ") == len(result.packages) + 3  # root, tool, OS


def test_with_files(minbase: tuple[DirImage, CatalogResult]) -> None:
    image, result = minbase
    bom = valid_json(write_sbom(image, result, "cyclonedx-json", with_files=True))
    libc = next(c for c in bom["components"] if c["name"] == "libc6")
    occurrences = libc["evidence"]["occurrences"]
    files = {
        o["location"]
        for o in occurrences
        if o["additionalContext"] == "file installed by the package"
    }
    assert "/lib/x86_64-linux-gnu/libc.so.6" in files
    assert (
        len(files)
        == len(occurrences) - 1
        == len(set(next(p for p in result.packages if p.name == "libc6").files))
    )


def test_without_files_only_the_files_are_left_out(
    minbase: tuple[DirImage, CatalogResult],
) -> None:
    """``catalog_image(with_files=False)``, what ``hardbox sbom`` runs without --with-files,
    skips the dpkg lists and changes nothing else: same packages, same SBOM."""
    image, result = minbase
    lean = catalog_image(image, with_files=False)
    assert lean.packages == tuple(dataclasses.replace(p, files=()) for p in result.packages)
    assert any(p.files for p in result.packages)
    docs = [json.loads(write_sbom(image, r, "cyclonedx-json")) for r in (result, lean)]
    for doc in docs:
        doc["metadata"].pop("timestamp")
    assert docs[0] == docs[1]


def test_spdx_is_valid(minbase: tuple[DirImage, CatalogResult], tmp_path: Path) -> None:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    image, result = minbase
    path = tmp_path / "sbom.spdx.json"
    path.write_text(write_sbom(image, result, "spdx-json"))
    document = parse_file(str(path))
    messages = validate_full_spdx_document(document)
    assert messages == [], [m.validation_message for m in messages[:5]]
    purls = {ref.locator for pkg in document.packages for ref in pkg.external_references}
    assert purls == {p.purl for p in result.packages}
    doc = json.loads(path.read_text())
    assert doc["packages"][0]["primaryPackagePurpose"] == "CONTAINER"
    # Debian's license names are not SPDX ids: each is a LicenseRef declared once, as Syft
    # writes them, and NOASSERTION is left only for packages that state no license.
    by_purl = {p.purl: p for p in result.packages}
    declared = {
        ref["referenceLocator"]: entry["licenseDeclared"]
        for entry in doc["packages"] for ref in entry.get("externalRefs", ())
    }
    assert all((value == "NOASSERTION") == (not by_purl[purl].licenses) for purl, value in declared.items())
    refs = {info["licenseId"]: info["name"] for info in doc["hasExtractedLicensingInfos"]}
    used = {ref for value in declared.values() for ref in re.findall(r"LicenseRef-[A-Za-z0-9.-]+", value)}
    assert used == set(refs) and len(set(refs.values())) == len(refs)
    libc = next(p for p in result.packages if p.name == "libc6")
    assert libc.licenses and declared[libc.purl] != "NOASSERTION"


def test_partial_catalog_is_in_the_sbom(tmp_path: Path) -> None:
    npm_x = '{"name": "x", "version": "1.0.0", "license": "MIT"}'
    layer = layer_of(tmp_path / "l0", {
        "var/lib/dpkg/status": "Package: ok\nVersion: 1\nArchitecture: all\n\nPackage: broken\n",
        "srv/a/node_modules/x/package.json": npm_x,
        "srv/b/node_modules/x/package.json": npm_x,
    })
    image = identified(image_of(layer))
    result = catalog_image(image)
    bom = valid_json(write_sbom(image, result, "cyclonedx-json"))
    meta = properties(bom["metadata"])
    assert meta["hardbox:cataloger:os/dpkg:status"] == ["partial"]
    assert "broken" in meta["hardbox:cataloger:os/dpkg:reason"][0]
    refs = [c["bom-ref"] for c in bom["components"]]
    assert len(refs) == len(set(refs)) == 3  # the same npm purl twice gets two refs
    assert "operating-system" not in {c["type"] for c in bom["components"]}


def test_with_vulns(minbase: tuple[DirImage, CatalogResult]) -> None:
    image, result = minbase
    libc = next(p for p in result.packages if p.name == "libc6")
    findings = [
        Finding(
            id="DSA-0000-1",
            kind=Kind.VULNERABILITY,
            severity=Severity.HIGH,
            title="glibc: buffer overflow",
            fix="upgrade libc6",
            package="libc6",
            version=libc.version,
            layer=libc.layer,
            vulnerability=VulnerabilityDetail(
                aliases=("CVE-2099-0001",),
                cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                cvss_score=9.8,
                references=(
                    "https://security-tracker.debian.org/tracker/DSA-0000-1",
                    "not a url",
                ),
                purl=libc.purl,
            ),
        ),
        Finding(
            id="secret-1", kind=Kind.SECRET, severity=Severity.HIGH, title="not a vulnerability"
        ),
    ]
    bom = valid_json(write_sbom(image, result, "cyclonedx-json", findings=findings))
    (vuln,) = bom["vulnerabilities"]
    assert vuln["id"] == "DSA-0000-1"
    assert vuln["references"][0]["id"] == "CVE-2099-0001"
    assert vuln["ratings"][0] == {
        "method": "CVSSv31",
        "score": 9.8,
        "severity": "high",
        "vector": "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",  # CycloneDX drops the version prefix
    }
    assert vuln["affects"][0]["ref"] == libc.purl
    assert vuln["advisories"] == [{"url": "https://security-tracker.debian.org/tracker/DSA-0000-1"}]
