"""The risk grade: each rule of hardbox/scan/risk.py, and that the reason names the cause."""

from __future__ import annotations

import pytest

from hardbox.findings import Finding, Kind, Severity
from hardbox.scan.risk import MANY_HIGH, METHOD, grade


def finding(severity: Severity, kind: Kind = Kind.MISCONFIGURATION, title: str = "t") -> Finding:
    return Finding(id=f"X-{severity.value}", kind=kind, severity=severity, title=title)


@pytest.mark.parametrize(("findings", "letter"), [
    ([], "A"),
    ([finding(Severity.LOW), finding(Severity.INFO)], "A"),
    ([finding(Severity.MEDIUM)], "B"),
    ([finding(Severity.HIGH)] * (MANY_HIGH - 1), "C"),
    ([finding(Severity.HIGH)] * MANY_HIGH, "D"),
    ([finding(Severity.CRITICAL, Kind.VULNERABILITY)], "F"),
    ([finding(Severity.HIGH, Kind.SECRET)], "F"),
    ([finding(Severity.MEDIUM, Kind.SECRET)], "B"),
])
def test_grade_rules(findings: list[Finding], letter: str) -> None:
    assert grade(findings).grade == letter


def test_reason_names_the_deciding_findings_worst_first() -> None:
    result = grade([finding(Severity.HIGH, title="Runs as root"),
                    finding(Severity.CRITICAL, Kind.VULNERABILITY, title="CVE in openssl"),
                    finding(Severity.LOW, title="No HEALTHCHECK")])
    assert result.grade == "F"
    assert result.reason == "1 critical finding (CVE in openssl)"
    assert dict(result.counts) == {"critical": 1, "high": 1, "medium": 0, "low": 1, "info": 0}


def test_the_method_is_part_of_the_result() -> None:
    assert grade([]).to_dict()["method"] == list(METHOD)
    assert [line[0] for line in METHOD] == ["F", "D", "C", "B", "A"]
