"""Reading an SBOM as the scan's input (``hardbox.scan.sbom_input``).

The SBOMs are of two kinds: hardbox's own CycloneDX and SPDX documents, written by its
writers from a real catalog (an rpm database registered by ``rpm -i --justdb`` and a wheel
installed by pip), which must read back into the very packages the catalogers found; and
documents shaped as Syft and Trivy write them (their distro and source conventions), each
checked valid against the CycloneDX 1.6 schema first so they are documents any consumer
accepts, not something only hardbox reads. Hostile documents (malformed purls, deep
nesting, oversize, not an SBOM) are skipped with a reason or refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from helpers import rpmdb
from helpers.cli import need_tool
from helpers.layerdirs import image_of, pip_install_wheels, write

from hardbox.errors import InputError
from hardbox.scan import sbom_input
from hardbox.scan.catalog_result import catalog_image
from hardbox.scan.sbom_input import read_sbom


def valid_cyclonedx(doc: dict[str, Any]) -> str:
    text = json.dumps(doc)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    return text


@pytest.fixture(scope="module")
def catalogued(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """A layer with an rpm database written by rpm (Rocky Linux 9 os-release) and three
    wheels installed by pip; the image and its catalog."""
    need_tool("rpm", "rpmbuild")
    work = tmp_path_factory.mktemp("sbomin")
    layer = work / "layer"
    rpmdb.sqlite_db(rpmdb.build_rpms(work / "rpms"), layer / "var/lib/rpm")
    write(layer, "etc/os-release", 'ID="rocky"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3"\n')
    pip_install_wheels(layer / "usr/lib/python3/site-packages")
    image = image_of(layer)
    return image, catalog_image(image)


def facts(packages: Any, *, source: bool) -> set[tuple[str, ...]]:
    return {
        (
            p.ecosystem,
            p.name,
            p.version,
            p.arch,
            p.purl,
            *((p.source_name, p.source_version) if source else ()),
        )
        for p in packages
    }


@pytest.mark.parametrize("fmt", ["cyclonedx-json", "spdx-json"])
def test_hardbox_sboms_read_back_into_the_catalogued_packages(
    catalogued: tuple[Any, Any], tmp_path: Path, fmt: str
) -> None:
    from hardbox.scan.sbom.build import write_sbom

    image, result = catalogued
    path = tmp_path / "x.json"
    path.write_text(write_sbom(image, result, fmt))
    sbom = read_sbom(str(path))
    assert sbom.format == fmt.removesuffix("-json") and not sbom.problems
    assert {p.ecosystem for p in result.packages} == {"rpm", "pypi"} and len(result.packages) == 6
    # SPDX carries the source package only where it differs from the package itself.
    assert facts(sbom.packages, source=fmt == "cyclonedx-json") == facts(
        result.packages, source=fmt == "cyclonedx-json"
    )
    assert sbom.os is not None and sbom.os.osv_ecosystem == "Rocky Linux:9"
    assert sbom.os.pretty_name == "Rocky Linux 9.3"


def cyclonedx(*components: dict[str, Any], spec: str = "1.6") -> dict[str, Any]:
    """A CycloneDX document of ``components``, with the header every tool writes."""
    return {"bomFormat": "CycloneDX", "specVersion": spec, "version": 1,
            "components": list(components)}


def library(name: str, version: str, purl: str | None = None, **more: Any) -> dict[str, Any]:
    """A library component (no purl when ``purl`` is None); ``more`` adds fields as given."""
    component = {"type": "library", "name": name, "version": version}
    if purl is not None:
        component["purl"] = purl
    return component | more


def test_syft_and_trivy_shapes(tmp_path: Path) -> None:
    doc = cyclonedx(
        # Syft: the distro and the source in qualifiers
        library("libssl3", "3.0.11-1~deb12u2",
                "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"),
        {  # Trivy: the source in properties; nested under an application component
            "type": "application",
            "name": "usr/lib",
            "components": [
                library("libc6", "2.36-9+deb12u4",
                        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12.5",
                        properties=[
                            {"name": "aquasecurity:trivy:SrcName", "value": "glibc"},
                            {"name": "aquasecurity:trivy:SrcVersion", "value": "2.36-9+deb12u4"},
                        ]),
            ],
        },
        library("shadow", "1", "pkg:deb/debian/passwd@1:4.13%2Bdfsg1-1?arch=amd64&distro=debian-12"),
        library("serde", "1.0", "pkg:cargo/serde@1.0.0"),
        library("broken", "1", "pkg:deb"),
        library("nopurl", "1"),
        library("requests", "2.31.0", "pkg:pypi/requests@2.31.0"),
        library("@babel/core", "7.0.0", "pkg:npm/%40babel/core@7.0.0"),
    )
    path = tmp_path / "syft.cdx.json"
    path.write_text(valid_cyclonedx(doc))
    sbom = read_sbom(str(path))
    got = {(p.ecosystem, p.name, p.version, p.source_name, p.source_version) for p in sbom.packages}
    assert got == {
        ("deb", "libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2"),
        ("deb", "libc6", "2.36-9+deb12u4", "glibc", "2.36-9+deb12u4"),
        ("deb", "passwd", "1:4.13+dfsg1-1", "", ""),
        ("pypi", "requests", "2.31.0", "", ""),
        ("npm", "@babel/core", "7.0.0", "", ""),
    }
    # No OS component: the commonest distro qualifier names it.
    assert sbom.os is not None and sbom.os.osv_ecosystem == "Debian:12"
    assert sbom.skipped == 3 and len(sbom.problems) == 3
    reasons = " | ".join(sbom.problems)
    assert "'cargo' is not an ecosystem" in reasons and "malformed purl" in reasons
    assert "'nopurl': no purl" in reasons


def test_rpm_epoch_qualifier_and_srpm_upstream(tmp_path: Path) -> None:
    doc = cyclonedx(
        library("bash", "1:4.4.20-4.el8_6", "pkg:rpm/redhat/bash@4.4.20-4.el8_6?arch=x86_64&epoch=1"
                "&upstream=bash-4.4.20-4.el8_6.src.rpm&distro=rhel-8.6"),
        spec="1.5",
    )
    path = tmp_path / "rpm.json"
    path.write_text(json.dumps(doc))
    (pkg,) = read_sbom(str(path)).packages
    assert (pkg.version, pkg.arch, pkg.source_name, pkg.source_version) == (
        "1:4.4.20-4.el8_6",
        "x86_64",
        "bash",
        "4.4.20-4.el8_6",
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01 not json", "not JSON"),
        (b'{"bomFormat": "SomethingElse"}', "neither CycloneDX"),
        (b"[" * 150 + b"]" * 150, "nested deeper"),
        (
            json.dumps(
                {
                    "bomFormat": "CycloneDX",
                    "components": [
                        {"type": "library", "name": "x", "components": [{"type": "library"}]}
                    ],
                }
            )
            .replace(
                '"components": [{"type": "library"}]', '"components": ' + "[" * 120 + "]" * 120
            )
            .encode(),
            "nested deeper",
        ),
    ],
)
def test_unusable_documents_are_one_line_errors(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_sbom(str(path))
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_size_limit_and_non_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"bomFormat": "CycloneDX", "components": []}) + " " * 2000)
    monkeypatch.setattr(sbom_input, "MAX_SBOM", 1000)
    with pytest.raises(InputError, match="larger than the 1000 byte limit"):
        read_sbom(str(path))
    with pytest.raises(InputError, match="a directory"):
        read_sbom(str(tmp_path))
    import os

    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InputError, match="a FIFO"):
        read_sbom(str(tmp_path / "fifo"))
    with pytest.raises(InputError, match="cannot read"):
        read_sbom(str(tmp_path / "missing.json"))
