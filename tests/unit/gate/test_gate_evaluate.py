"""The decision: VEX, exceptions and expiry applied per rule; and every output format."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hardbox.dockerfile.lint import RULES, lint
from hardbox.dockerfile.parser import parse_text
from hardbox.findings import Finding, Kind, Severity, VulnerabilityDetail
from hardbox.gate import junit, markdown, sarif
from hardbox.gate.evaluate import evaluate, from_lint
from hardbox.gate.exceptions import GateException
from hardbox.gate.policy import Policy, VulnerabilityThreshold
from hardbox.gate.rules import Forbidden, Vulnerabilities
from hardbox.gate.subject import PackageFacts, Subject
from hardbox.gate.vex import VexStatement

TODAY = dt.datetime.now(dt.UTC).date()
POLICY = Policy(name="test", source="test.yaml")
OPENSSL = PackageFacts("openssl", "3.0.11", "deb", "pkg:deb/debian/openssl@3.0.11?distro=debian-12")


def vuln(id: str, alias: str) -> Finding:
    return Finding(id, Kind.VULNERABILITY, Severity.CRITICAL, f"{alias} in openssl", package="openssl",
                   version="3.0.11", fix="upgrade openssl to 3.0.13",
                   vulnerability=VulnerabilityDetail(aliases=(alias,), fixed_version="3.0.13"))  # fmt: skip


SUBJECT = Subject(
    name="app:1", id="sha256:" + "2" * 64, user="",
    findings=(
        vuln("DEBIAN-CVE-2024-0001", "CVE-2024-0001"), vuln("DEBIAN-CVE-2024-0002", "CVE-2024-0002"),
        vuln("DEBIAN-CVE-2024-0003", "CVE-2024-0003"),
        Finding("HB-CFG-001", Kind.MISCONFIGURATION, Severity.HIGH, "Runs as root", fix="add USER"),
        Finding("HB-SEC-004", Kind.SECRET, Severity.CRITICAL, "AWS key <script>", path="/app/.env"),
    ),
    packages=(OPENSSL,),
)
RULES_ = [
    Vulnerabilities(VulnerabilityThreshold(frozenset({Severity.CRITICAL}))),
    Forbidden("root-user"), Forbidden("secrets"),
]  # fmt: skip


def test_vex_exceptions_and_expiry_sort_each_finding() -> None:
    vex = [
        VexStatement("CVE-2024-0001", (), ("pkg:deb/debian/openssl@3.0.11",), "not_affected", "vulnerable_code_not_present", "a.vex.json"),
        VexStatement("CVE-2024-0003", (), (), "affected", "", "a.vex.json"),
    ]  # fmt: skip
    exceptions = [
        GateException("no TLS here", "alice", TODAY + dt.timedelta(days=7), advisory="CVE-2024-0002"),
        GateException("old waiver", "bob", TODAY - dt.timedelta(days=1), advisory="CVE-2024-0003"),
        GateException("root is needed", "carol", TODAY, check="HB-CFG-001"),
    ]
    result = evaluate(SUBJECT, POLICY, RULES_, exceptions, vex)
    vulns, root, secrets = result.rules
    assert [f.id for f in vulns.failing] == ["DEBIAN-CVE-2024-0003"]  # expired waiver, "affected" VEX
    assert [w.finding.id for w in vulns.vex_suppressed] == ["DEBIAN-CVE-2024-0001"]
    assert [w.finding.id for w in vulns.excepted] == ["DEBIAN-CVE-2024-0002"]
    assert "alice" in vulns.excepted[0].by and "no TLS here" in vulns.excepted[0].by
    assert root.passed and [w.finding.id for w in root.excepted] == ["HB-CFG-001"]
    assert not secrets.passed
    assert [e.approved_by for e in result.expired_exceptions] == ["bob"]
    assert not result.passed and [r.name for r in result.failed_rules] == ["vulnerabilities", "forbid.secrets"]
    body = result.to_dict()
    assert body["passed"] is False and body["expired_exceptions"][0]["approved_by"] == "bob"
    json.dumps(body)  # JSON-serialisable as it stands


def test_passing_subject() -> None:
    clean = Subject(name="ok", id="sha256:" + "3" * 64, user="1000")
    result = evaluate(clean, POLICY, RULES_)
    assert result.passed and all(r.passed for r in result.rules)


@pytest.fixture
def decision() -> object:
    exceptions = [GateException("ok", "alice", TODAY, advisory="CVE-2024-0002"),
                  GateException("needs root", "carol", TODAY, check="HB-CFG-001"),
                  GateException("old", "bob", TODAY - dt.timedelta(days=3), check="HB-X-*")]  # fmt: skip
    return evaluate(SUBJECT, POLICY, RULES_, exceptions)


def test_junit_is_read_by_a_junit_parser(decision: object, tmp_path: Path) -> None:
    junitparser = pytest.importorskip("junitparser", reason="junitparser (dev dependency) reads the JUnit XML")
    path = tmp_path / "gate.xml"
    path.write_text(junit.render(decision))  # type: ignore[arg-type]
    xml = junitparser.JUnitXml.fromfile(str(path))
    (suite,) = list(xml)
    cases = {case.name.split(":")[0]: case for case in suite}
    assert set(cases) == {"vulnerabilities", "forbid.root-user", "forbid.secrets"}
    assert suite.tests == 3 and suite.failures == 2
    assert cases["forbid.root-user"].is_passed
    (failure,) = cases["forbid.secrets"].result
    assert "HB-SEC-004" in failure.message and "/app/.env" in failure.text
    vulns = cases["vulnerabilities"].result[0]
    assert "DEBIAN-CVE-2024-0001" in vulns.text and "DEBIAN-CVE-2024-0003" in vulns.text
    assert "excepted: " in vulns.text and "alice" in vulns.text


def test_sarif_results_and_suppressions(decision: object) -> None:
    log = json.loads(sarif.render(decision))  # type: ignore[arg-type]
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rule_ids == sorted(set(rule_ids))
    by_id = {r["ruleId"]: r for r in run["results"]}
    assert by_id["HB-SEC-004"]["level"] == "error"
    assert by_id["HB-SEC-004"]["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "app/.env", "uriBaseId": "IMAGEROOT"}
    assert by_id["DEBIAN-CVE-2024-0002"]["suppressions"][0]["status"] == "accepted"
    assert "suppressions" not in by_id["DEBIAN-CVE-2024-0001"]
    for r in run["results"]:
        assert run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]


def test_markdown_escapes_and_lists_failures(decision: object) -> None:
    text = markdown.render(decision)  # type: ignore[arg-type]
    assert "❌ failed (2 of 3 rules)" in text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "### ❌ no secrets in the image" in text
    assert "Expired exceptions" in text and "bob" in text


def test_lint_decision_splits_failing_and_notices() -> None:
    result = lint(parse_text("FROM alpine\nMAINTAINER x\n", "Dockerfile"))
    decision = from_lint(result, Severity.HIGH, RULES)
    assert [r.name for r in decision.failed_rules] == ["HB-DF-003"]
    notices = {f.id for r in decision.rules for f in r.notices}
    assert notices == {"HB-DF-001", "HB-DF-002"}
    log = json.loads(sarif.render(decision))
    region = {r["ruleId"]: r["locations"][0]["physicalLocation"] for r in log["runs"][0]["results"]}
    assert region["HB-DF-002"] == {"artifactLocation": {"uri": "Dockerfile"}, "region": {"startLine": 2}}
    assert region["HB-DF-003"]["region"] == {"startLine": 1}
    root = ET.fromstring(junit.render(decision, suite="hardbox lint"))
    assert root.get("tests") == str(len(RULES)) and root.get("failures") == "1"


def test_junit_survives_control_characters() -> None:
    nasty = Subject(name="x\x01y", id="", user="", findings=(
        Finding("HB-SEC-001", Kind.SECRET, Severity.HIGH, "tab\tand \x07bell", path="/a\x1b"),))  # fmt: skip
    text = junit.render(evaluate(nasty, POLICY, [Forbidden("secrets")]))
    root = ET.fromstring(text)
    assert root.find("testsuite/testcase/failure") is not None


# The OASIS SARIF 2.1.0 schema the report tests keep (tests/unit/report/).
SARIF_SCHEMA = Path(__file__).parents[1] / "report" / "sarif-schema-2.1.0.json"


def test_sarif_validates_against_the_oasis_schema(decision: object) -> None:
    if not SARIF_SCHEMA.exists():
        pytest.skip(f"{SARIF_SCHEMA} is not in this checkout")
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text())
    lint_decision = from_lint(lint(parse_text("FROM alpine\nEXPOSE 22\n", "Dockerfile")), Severity.HIGH, RULES)
    for log in (sarif.render(decision), sarif.render(lint_decision)):  # type: ignore[arg-type]
        jsonschema.Draft4Validator(schema).validate(json.loads(log))
