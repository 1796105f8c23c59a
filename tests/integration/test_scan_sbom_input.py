"""``hardbox scan sbom:FILE`` end to end: the round trip ``hardbox sbom IMAGE -o x`` then
``hardbox scan sbom:x`` finds exactly the vulnerabilities ``hardbox scan IMAGE`` finds
against the same database, for CycloneDX and SPDX, on

- the real Debian 12 minbase (debootstrap), against ``Debian:12`` advisories written for
  its own source packages (half of them fixed one step above the installed version, so
  affected; one fixed below, so not), which exercises the source-package keying;
- the multi-layer sample image (an OCI layout by umoci) with its PyPI advisory for the
  jinja2 it ships.

Every report format renders, the report says that image facts, misconfigurations and
secrets were not checked, and an unusable SBOM is exit 2 in one line naming it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import scanimages
from helpers.cli import hardbox
from helpers.osv_fixtures import record, write_zip

pytestmark = [pytest.mark.root, pytest.mark.slow]

CVSS = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"}]


def installed_sources(rootfs: Path) -> dict[str, str]:
    """Source package -> its version, from the image's own dpkg status."""
    out: dict[str, str] = {}
    for para in (rootfs / "var/lib/dpkg/status").read_text().split("\n\n"):
        fields = dict(re.findall(r"^(\S+): (.*)$", para, re.M))
        if "install ok installed" not in fields.get("Status", ""):
            continue
        source, version = fields.get("Source", fields["Package"]), fields["Version"]
        if m := re.fullmatch(r"(\S+) \((.+)\)", source):
            source, version = m.group(1), m.group(2)
        out[source] = version
    return out


@pytest.fixture(scope="module")
def debian(debian_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    work = tmp_path_factory.mktemp("sbomin-debian")
    records = [
        record(f"DEBIAN-CVE-2099-{i:04d}", "Debian:12", source,
               [{"introduced": "0"}, {"fixed": f"{version}+hb1"}], severity=CVSS if i % 2 else None)
        for i, (source, version) in enumerate(sorted(installed_sources(debian_rootfs).items())[:30])
    ]
    records.append(record("DEBIAN-CVE-2099-9999", "Debian:12", "bash",
                          [{"introduced": "0"}, {"fixed": "1.0"}]))
    db = work / "osv.sqlite"
    hardbox("db", "import", str(write_zip(work / "debian.zip", records)), "--db", str(db), check=True)
    return f"dir:{debian_rootfs}", db


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    _, work = scanimages.sample_scan(tmp_path_factory)
    return f"oci:{work / 'image' / 'layout'}:sample", work / "osv.sqlite"


def vulnerabilities(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (f["id"], f["package"], f["version"], f["severity"], f.get("fixed_version"))
        for f in report["findings"] if f["kind"] == "vulnerability"
    )


@pytest.mark.parametrize("which", ["debian", "sample"])
@pytest.mark.parametrize("fmt", ["cyclonedx-json", "spdx-json"])
def test_round_trip_finds_what_the_image_scan_finds(
    request: pytest.FixtureRequest, tmp_path: Path, which: str, fmt: str
) -> None:
    image, db = request.getfixturevalue(which)
    env = {**os.environ, "HARDBOX_ROOT": str(tmp_path / "store")}
    sbom = tmp_path / f"x.{fmt.split('-')[0]}.json"
    hardbox("sbom", image, "--format", fmt, "-o", str(sbom), check=True, env=env)
    hardbox("scan", image, "--db", str(db), "--json", str(tmp_path / "image.json"), "-q",
            check=True, env=env)
    out = {kind: tmp_path / f"sbom.{kind}" for kind in ("json", "html", "sarif", "markdown")}
    proc = hardbox("scan", f"sbom:{sbom}", "--db", str(db), "-q",
                   *(arg for kind, path in out.items() for arg in (f"--{kind}", str(path))),
                   check=True, env=env)
    assert proc.stdout == "" and proc.stderr == ""
    from_image = json.loads((tmp_path / "image.json").read_text())
    from_sbom = json.loads(out["json"].read_text())
    assert vulnerabilities(from_sbom) == vulnerabilities(from_image)
    assert len(vulnerabilities(from_sbom)) >= (30 if which == "debian" else 1)
    assert from_sbom["coverage"] == from_image["coverage"]  # the same coverage block
    assert {p["purl"] for p in from_sbom["packages"]} == {p["purl"] for p in from_image["packages"]}
    # No image: nothing but vulnerabilities, and every report says why.
    assert {f["kind"] for f in from_sbom["findings"]} == {"vulnerability"}
    assert from_sbom["image"]["layers"] == [] and from_sbom["image"]["id"].startswith("sha256:")
    assert any(n.startswith("not checked: the input is an SBOM") for n in from_sbom["notes"])
    for kind in ("html", "markdown"):
        assert "not checked: the input is an SBOM" in out[kind].read_text(), kind
    # The headers speak of an SBOM, not of an image of 0 layers and 0 bytes.
    assert from_sbom["image"]["source"] == "sbom" and from_image["image"]["source"] == "image"
    assert "SBOM risk report" in out["html"].read_text() and "Layers</dt>" not in out["html"].read_text()
    assert "SBOM `" in out["markdown"].read_text() and "0 layers" not in out["markdown"].read_text()
    sarif = json.loads(out["sarif"].read_text())
    assert len(sarif["runs"][0]["results"]) == len(from_sbom["findings"])
    # `sbom:-` reads the SBOM from stdin.
    piped = hardbox("scan", "sbom:-", "--db", str(db), "--json", "-", "-q",
                    input=sbom.read_text(), check=True, env=env)
    assert vulnerabilities(json.loads(piped.stdout)) == vulnerabilities(from_image)


def test_unusable_sbom_is_exit_2_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"spdxVersion": "SPDX-2.3", "packages": ' + "[" * 200 + "]" * 200 + "}")
    for target, needle in ((bad, "nested deeper"), (tmp_path / "none.json", "cannot read")):
        proc = hardbox("scan", f"sbom:{target}", "--json", str(tmp_path / "r.json"))
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith("hardbox:")]
        assert len(lines) == 1 and str(target) in lines[0] and needle in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r.json").exists()
