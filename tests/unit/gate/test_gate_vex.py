"""VEX input in both standard formats, as their specs define the documents.

OpenVEX: openvex/spec OPENVEX-SPEC.md v0.2.0 (statements, vulnerability.name, products with
@id / identifiers / subcomponents, status, justification). CycloneDX: the 1.5 specification's
vulnerabilities[] with analysis.state and affects[].ref (CycloneDX/bom-examples VEX cases).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hardbox.errors import InputError
from hardbox.findings import Finding, Kind, Severity, VulnerabilityDetail
from hardbox.gate.vex import load_vex

FIXTURES = Path(__file__).parents[2] / "fixtures" / "vex"
# Documents written from the two specifications' examples (shared with tests/fuzz as seeds).
OPENVEX = json.loads((FIXTURES / "openvex.json").read_text())
CYCLONEDX = json.loads((FIXTURES / "cyclonedx-vex.json").read_text())


def write(tmp_path: Path, doc: object, name: str = "vex.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def vuln(id: str, aliases: list[str] | None = None) -> Finding:
    return Finding(id, Kind.VULNERABILITY, Severity.HIGH, id,
                   vulnerability=VulnerabilityDetail(aliases=tuple(aliases or ())))


def test_openvex_not_affected_applies_to_the_named_subcomponent(tmp_path: Path) -> None:
    first, second = load_vex(write(tmp_path, OPENVEX))
    assert first.not_affecting and not second.not_affecting
    openssl = "pkg:deb/debian/openssl@3.0.11-1~deb12u1?arch=amd64&distro=debian-12"
    # Matched through the finding's alias, with the purl's qualifiers ignored.
    assert first.applies_to(vuln("DEBIAN-CVE-2023-0286", ["CVE-2023-0286"]), openssl)
    assert first.applies_to(vuln("GHSA-x4qr-2fvf-3mr5"), openssl)
    assert not first.applies_to(vuln("CVE-2023-0286"), "pkg:deb/debian/openssl@3.0.9-1")  # other version
    assert not first.applies_to(vuln("CVE-2023-0286"), "pkg:deb/debian/libssl3@3.0.11-1~deb12u1")
    assert not first.applies_to(vuln("CVE-2023-0465"), openssl)
    misconfig = Finding("CVE-2023-0286", Kind.MISCONFIGURATION, Severity.HIGH, "x")
    assert not first.applies_to(misconfig, openssl)


def test_openvex_v0_0_string_vulnerability(tmp_path: Path) -> None:
    doc = {"@context": "https://openvex.dev/ns", "statements": [
        {"vulnerability": "CVE-2023-1", "products": ["pkg:apk/alpine/busybox@1.36.1-r2"], "status": "fixed"}]}
    (st,) = load_vex(write(tmp_path, doc))
    assert st.not_affecting
    assert st.applies_to(vuln("CVE-2023-1"), "pkg:apk/alpine/busybox@1.36.1-r2?arch=x86_64")


def test_cyclonedx_vex_states(tmp_path: Path) -> None:
    text, log4j, fp = load_vex(write(tmp_path, CYCLONEDX))
    assert text.not_affecting and fp.not_affecting and not log4j.not_affecting
    assert text.applies_to(vuln("GHSA-599f-7c49-w659", ["CVE-2022-42889"]), "pkg:maven/org.apache.commons/commons-text@1.9")
    assert not text.applies_to(vuln("CVE-2022-42889"), "pkg:maven/org.apache.commons/commons-text@1.10.0")
    # A bom-ref this file cannot resolve is about the image being judged.
    assert fp.applies_to(vuln("CVE-2020-0001"), "pkg:pypi/anything@1")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"hello": 1}, "neither OpenVEX"),
        ([1, 2], "not a JSON object"),
        ({"@context": "https://openvex.dev/ns/v0.2.0", "statements": {}}, "statements: {} is not of type 'array'"),
        ({"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"status": "fixed"}]}, "statements[0]: 'vulnerability' is a required property"),
        ({"bomFormat": "CycloneDX", "vulnerabilities": [{"analysis": {}}]}, "vulnerabilities[0]: 'id' is a required property"),
        # Wrongly typed fields (issue 16 item 6): refused by the schema before any work,
        # where they used to be a TypeError/AttributeError after the whole scan.
        ({"@context": "https://openvex.dev/ns/v0.2.0",
          "statements": [{"vulnerability": "CVE-1", "status": "fixed", "products": 1}]},
         "statements[0].products: 1 is not of type 'array'"),
        ({"@context": "https://openvex.dev/ns/v0.2.0",
          "statements": [{"vulnerability": {"name": "CVE-1", "aliases": "CVE-2"}, "status": "fixed"}]},
         "statements[0].vulnerability"),
        ({"bomFormat": "CycloneDX", "vulnerabilities": [{"id": "CVE-1", "analysis": "x"}]},
         "vulnerabilities[0].analysis: 'x' is not of type 'object'"),
        ({"bomFormat": "CycloneDX", "vulnerabilities": [{"id": "CVE-1", "analysis": {"state": {}}}]},
         "vulnerabilities[0].analysis.state: {} is not one of"),
        ({"bomFormat": "CycloneDX", "vulnerabilities": [{"id": "CVE-1", "affects": [{"ref": 7}]}]},
         "vulnerabilities[0].affects[0].ref: 7 is not of type 'string'"),
    ],
)
def test_bad_vex_documents(tmp_path: Path, doc: object, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_vex(write(tmp_path, doc))


def test_deeply_nested_vex_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "vex.json"
    path.write_text('{"@context": "https://openvex.dev/ns", "statements": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(InputError, match="nested deeper than 100 levels"):
        load_vex(path)


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "vex.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="not JSON"):
        load_vex(path)
