"""One writer per format: a finding is the same SARIF result (and the same alert, by its
fingerprint) and the same Markdown line whether ``scan`` or ``gate`` wrote it.

The findings are the committed sample scan (tests/fixtures/report/sample-scan.json); the gate
decision is built from them by the real ``hardbox.gate.evaluate`` with a real policy rule,
rules and an exception.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hardbox.findings import Finding, Kind, LayerRef, SecretDetail, Severity, VulnerabilityDetail
from hardbox.gate import markdown as gate_markdown
from hardbox.gate import sarif as gate_sarif
from hardbox.gate.evaluate import GateResult, evaluate
from hardbox.gate.exceptions import GateException
from hardbox.gate.policy import Policy, VulnerabilityThreshold
from hardbox.gate.rules import Forbidden, Vulnerabilities
from hardbox.gate.subject import Subject
from hardbox.report import REPORTERS
from hardbox.report.markdown import finding_item
from hardbox.report.sarif import SarifEntry, render
from hardbox.scan.result import ScanResult, from_dict

FIXTURE = Path(__file__).parents[2] / "fixtures" / "report" / "sample-scan.json"
SARIF_SCHEMA = Path(__file__).parent / "sarif-schema-2.1.0.json"
TODAY = dt.date(2025, 1, 1)


@pytest.fixture(scope="module")
def scan() -> ScanResult:
    return from_dict(json.loads(FIXTURE.read_text()))


@pytest.fixture(scope="module")
def decision(scan: ScanResult) -> GateResult:
    """Every vulnerability and every secret fails; the root check is excepted."""
    subject = Subject(name=scan.image.name, id=scan.image.id, user=scan.image.user, findings=scan.findings)
    rules = [Vulnerabilities(VulnerabilityThreshold(frozenset(Severity), count_unfixed=True)),
             Forbidden("secrets"), Forbidden("root-user"), Forbidden("world-writable")]  # fmt: skip
    waiver = GateException("the entrypoint drops root itself", "alice", TODAY + dt.timedelta(days=30),
                           check="HB-CFG-001")  # fmt: skip
    return evaluate(subject, Policy(name="test", source="test.yaml"), rules, [waiver], today=TODAY)


def _results(log: str) -> dict[str, list[dict[str, Any]]]:
    """Results by fingerprint."""
    out: dict[str, list[dict[str, Any]]] = {}
    for result in json.loads(log)["runs"][0]["results"]:
        out.setdefault(result["partialFingerprints"]["hardboxFinding/v1"], []).append(result)
    return out


def test_scan_and_gate_give_one_finding_one_fingerprint(scan: ScanResult, decision: GateResult) -> None:
    scanned = _results(REPORTERS["sarif"]().render(scan))
    gated = _results(gate_sarif.render(decision))
    # Every finding of the scan is its own alert: no two share a fingerprint.
    assert len(scanned) == len(scan.findings) and all(len(r) == 1 for r in scanned.values())
    listed = [f for rule in decision.rules for f in (*rule.failing, *(w.finding for w in rule.excepted))]
    assert len(listed) > 5 and {f.kind for f in listed} == set(Kind)
    for finding in listed:
        (from_scan,) = scanned[finding.fingerprint()]
        (from_gate,) = gated[finding.fingerprint()]
        # The same result, but for what the gate adds: its rule and, if waived, the suppression.
        assert from_scan["ruleId"] == from_gate["ruleId"] == finding.id
        assert from_scan["message"] == from_gate["message"]
        assert from_scan["locations"] == from_gate["locations"]
        assert from_gate["properties"] == {**from_scan["properties"], "gateRule": from_gate["properties"]["gateRule"]}
    (root,) = gated[next(f for f in listed if f.id == "HB-CFG-001").fingerprint()]
    assert root["suppressions"][0]["justification"].endswith("the entrypoint drops root itself")


def test_rewording_or_rebuilding_keeps_the_fingerprint(scan: ScanResult) -> None:
    for finding in scan.findings:
        reworded = dataclasses.replace(finding, title="Reworded", detail="Other words", fix="Another fix",
                                       severity=Severity.LOW)  # fmt: skip
        assert reworded.fingerprint() == finding.fingerprint()
        if finding.layer is not None:
            # A rebuild changes every diff_id above the base; the layer's place stays.
            rebuilt = dataclasses.replace(finding, layer=LayerRef("sha256:" + "e" * 64, finding.layer.index))
            assert rebuilt.fingerprint() == finding.fingerprint()
            moved = dataclasses.replace(finding, layer=LayerRef(finding.layer.diff_id, finding.layer.index + 1))
            assert moved.fingerprint() != finding.fingerprint()
        assert dataclasses.replace(finding, path="/elsewhere").fingerprint() != finding.fingerprint()
        assert dataclasses.replace(finding, id="HB-OTHER").fingerprint() != finding.fingerprint()
    vuln = next(f for f in scan.findings if f.kind is Kind.VULNERABILITY)
    assert dataclasses.replace(vuln, version="9.9.9").fingerprint() != vuln.fingerprint()


def test_two_config_secrets_stay_two_alerts() -> None:
    """Image-config findings have no path: the variable they name keeps them apart."""
    a, b = (Finding("HB-CFG-005", Kind.SECRET, Severity.HIGH, "Credential in ENV",
                    secret=SecretDetail("x… (9 chars)", source="ENV", key=key)) for key in ("A", "B"))  # fmt: skip
    assert a.fingerprint() != b.fingerprint()


def test_both_sarif_logs_are_valid_sarif(scan: ScanResult, decision: GateResult) -> None:
    schema = json.loads(SARIF_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    for log in (REPORTERS["sarif"]().render(scan), gate_sarif.render(decision)):
        errors = sorted(validator.iter_errors(json.loads(log)), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_an_advisory_rule_links_its_osv_page(scan: ScanResult) -> None:
    rules = json.loads(REPORTERS["sarif"]().render(scan))["runs"][0]["tool"]["driver"]["rules"]
    (vuln,) = [r for r in rules if r["id"] == "GHSA-hbx0-test-0001"]
    assert vuln["helpUri"] == "https://osv.dev/vulnerability/GHSA-hbx0-test-0001"
    hostile = Finding("A/../B?x#y", Kind.VULNERABILITY, Severity.LOW, "t", vulnerability=VulnerabilityDetail())
    (rule,) = json.loads(render([SarifEntry(hostile)], subject="img", properties={}))["runs"][0]["tool"]["driver"]["rules"]
    assert rule["helpUri"] == "https://osv.dev/vulnerability/A%2F..%2FB%3Fx%23y"


def test_a_finding_is_one_markdown_line_in_scan_and_gate(scan: ScanResult, decision: GateResult) -> None:
    scan_md = REPORTERS["markdown"]().render(scan)
    gate_md = gate_markdown.render(decision)
    (root,) = [w.finding for rule in decision.rules for w in rule.excepted]
    line = finding_item(root, fix=False)
    assert line in scan_md and line in gate_md
    for finding in decision.rules[0].failing:
        assert finding_item(finding) in gate_md
