"""``hardbox sbom`` driven as a user drives it: real images built with umoci from busybox,
packages installed by pip, whiteouts written by umoci, imported through the store; the
debootstrap minbase as ``dir:``; usage errors as one line and exit code 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from helpers import imagebuild
from helpers.cli import hardbox, need_tool
from helpers.layerdirs import dpkg_packages, pip_install_wheels

SITE = "usr/lib/python3/site-packages"
FAKE_TOKEN = "ghp_" + "Ab3dEfGh1jKlMn0pQrStUvWxYz0123456789"


def props(obj: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in obj.get("properties", [])}


def valid(text: str) -> dict[str, Any]:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)
    return json.loads(text)


def diff_ids(layout: Path, tag: str) -> list[str]:
    """The image's diff_ids as umoci wrote them into the config blob."""

    def blob(digest: str) -> dict[str, Any]:
        return json.loads((layout / "blobs" / digest.replace(":", "/")).read_text())

    index = json.loads((layout / "index.json").read_text())
    manifest = next(
        m
        for m in index["manifests"]
        if m["annotations"]["org.opencontainers.image.ref.name"] == tag
    )
    return blob(blob(manifest["digest"])["config"]["digest"])["rootfs"]["diff_ids"]


@pytest.fixture(scope="module")
def layered_image(tmp_path_factory: pytest.TempPathFactory) -> imagebuild.OciImage:
    """busybox; then a layer where pip installs six and idna; then a layer removing idna."""
    need_tool("umoci")
    work = tmp_path_factory.mktemp("sbom-image")
    image = imagebuild.busybox_image(work)

    def pip_install(rootfs: Path) -> None:
        pip_install_wheels(rootfs / SITE, "six==1.16.0", "idna==3.7")

    def uninstall_idna(rootfs: Path) -> None:
        site = rootfs / SITE
        for path in [site / "idna", *site.glob("idna-3.7.dist-info")]:
            subprocess.run(["rm", "-rf", str(path)], check=True)

    image.add_layer(
        pip_install, f"pip install six idna --index-url https://ci:{FAKE_TOKEN}@pypi.example/simple"
    )
    image.add_layer(uninstall_idna, "pip uninstall idna")
    return image


@pytest.mark.slow
def test_layers_through_the_store(layered_image: imagebuild.OciImage, hardbox_root: Path) -> None:
    proc = hardbox("sbom", f"oci:{layered_image.ref}")
    assert proc.returncode == 0, proc.stderr
    bom = valid(proc.stdout)
    pypi = {c["name"]: c for c in bom["components"] if c.get("purl", "").startswith("pkg:pypi/")}
    assert set(pypi) == {"six"}  # idna's files were deleted by umoci's whiteouts in layer 2
    assert pypi["six"]["purl"] == "pkg:pypi/six@1.16.0"
    ids = diff_ids(layered_image.layout, layered_image.tag)
    six = props(pypi["six"])
    assert (six["hardbox:layer:index"], six["hardbox:layer:diff_id"]) == ("1", ids[1])
    # The layer's history carried a (made-up) GitHub token: the SBOM says which layer, not the token.
    assert six["hardbox:layer:created_by"].startswith(
        "pip install six idna --index-url https://ci:<redacted:"
    )
    assert FAKE_TOKEN not in proc.stdout
    root = bom["metadata"]["component"]
    assert root["type"] == "container"
    assert [
        v for k, v in sorted(props(root).items()) if k.startswith("hardbox:image:layer:")
    ] == ids


@pytest.mark.root
@pytest.mark.slow
def test_dir_rootfs_formats_and_output_file(
    debian_rootfs: Path, hardbox_root: Path, tmp_path: Path
) -> None:
    proc = hardbox("sbom", f"dir:{debian_rootfs}")
    assert proc.returncode == 0, proc.stderr
    bom = valid(proc.stdout)
    debs = {
        (c["name"], c["version"])
        for c in bom["components"]
        if c.get("purl", "").startswith("pkg:deb/")
    }
    assert debs == dpkg_packages(debian_rootfs / "var/lib/dpkg")

    out = tmp_path / "reports" / "sbom.spdx.json"
    proc = hardbox("sbom", f"dir:{debian_rootfs}", "--format", "spdx-json", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert f"wrote {out}: {len(debs)} deb" in proc.stderr
    assert json.loads(out.read_text())["spdxVersion"] == "SPDX-2.3"

    xml = hardbox("sbom", f"dir:{debian_rootfs}", "--format", "cyclonedx-xml")
    assert xml.returncode == 0 and xml.stdout.startswith("<?xml")


def test_usage_errors(tmp_path: Path, hardbox_root: Path) -> None:
    missing = hardbox("sbom", f"dir:{tmp_path / 'nope'}")
    assert missing.returncode == 2
    assert missing.stderr.startswith("hardbox: ") and "nope" in missing.stderr.splitlines()[0]
    assert "Traceback" not in missing.stderr

    (tmp_path / "root").mkdir()
    spdx_files = hardbox(
        "sbom", f"dir:{tmp_path / 'root'}", "--format", "spdx-json", "--with-files"
    )
    assert spdx_files.returncode == 2 and "--with-files" in spdx_files.stderr

    db_alone = hardbox("sbom", f"dir:{tmp_path / 'root'}", "--db", str(tmp_path / "x.sqlite"))
    assert db_alone.returncode == 2 and "--with-vulns" in db_alone.stderr

    bad_format = hardbox("sbom", f"dir:{tmp_path / 'root'}", "--format", "spdx-xml")
    assert bad_format.returncode == 2


def test_empty_rootfs_and_help(tmp_path: Path, hardbox_root: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = hardbox("sbom", f"dir:{tmp_path / 'empty'}")
    assert proc.returncode == 0, proc.stderr
    bom = valid(proc.stdout)
    assert bom.get("components", []) == []
    help_text = hardbox("sbom", "--help").stdout
    for word in (
        "cyclonedx-json",
        "spdx-json",
        "--with-files",
        "dir:PATH",
        "hardbox:layer:diff_id",
    ):
        assert word in help_text


@pytest.mark.root
@pytest.mark.slow
def test_with_vulns_from_an_imported_osv_record(
    debian_rootfs: Path, hardbox_root: Path, tmp_path: Path
) -> None:
    """An OSV record (published schema) against glibc, imported with `hardbox db import`, shows
    up in the CycloneDX vulnerabilities section on every binary package built from glibc."""
    advisory = {
        "schema_version": "1.6.0",
        "id": "DEBIAN-CVE-2099-0001",
        "modified": "2024-01-01T00:00:00Z",
        "aliases": ["CVE-2099-0001"],
        "summary": "glibc: test advisory",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "glibc"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u99"}],
                    }
                ],
            }
        ],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    }
    (tmp_path / "adv.json").write_text(json.dumps(advisory))
    db = tmp_path / "osv.sqlite"
    hardbox("db", "import", "--db", str(db), str(tmp_path / "adv.json"), check=True)
    proc = hardbox("sbom", f"dir:{debian_rootfs}", "--with-vulns", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    bom = valid(proc.stdout)
    glibc = {
        c["bom-ref"] for c in bom["components"] if props(c).get("hardbox:source:name") == "glibc"
    }
    assert len(glibc) >= 2  # libc6, libc-bin
    vulns = bom["vulnerabilities"]
    assert {v["id"] for v in vulns} == {"DEBIAN-CVE-2099-0001"}
    assert {v["affects"][0]["ref"] for v in vulns} == glibc
    assert vulns[0]["references"][0]["id"] == "CVE-2099-0001"

    missing = hardbox(
        "sbom", f"dir:{debian_rootfs}", "--with-vulns", "--db", str(tmp_path / "none.sqlite")
    )
    assert missing.returncode == 2 and "none.sqlite" in missing.stderr
