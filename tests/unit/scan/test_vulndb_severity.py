"""Severity from an OSV record: CVSS v3 first, then v4, then the record's own word, then
CVSS v2, else medium marked "default" (scores computed by the cvss library)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.osv_fixtures import CVSS3_CRITICAL, CVSS3_MEDIUM, CVSS4_HIGH, record

from hardbox.findings import Severity
from hardbox.scan.vulndb.osv import Advisory
from hardbox.scan.vulndb.severity import rate


def _rate(**fields: Any) -> tuple[Severity, str, float | None]:
    affected_fields = fields.pop("affected_fields", {})
    rec = record("SEV-1", "npm", "x", [{"introduced": "0"}], **fields)
    rec["affected"][0].update(affected_fields)
    adv = Advisory.from_json(rec)
    rating = rate(adv, adv.affected[0])
    return rating.severity, rating.source, rating.score


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"severity": [{"type": "CVSS_V3", "score": CVSS3_CRITICAL}]}, (Severity.CRITICAL, "cvss_v3", 9.8)),
        ({"severity": [{"type": "CVSS_V4", "score": CVSS4_HIGH}, {"type": "CVSS_V3", "score": CVSS3_MEDIUM}]},
         (Severity.MEDIUM, "cvss_v3", 5.0)),
        ({"severity": [{"type": "CVSS_V4", "score": CVSS4_HIGH}]}, (Severity.HIGH, "cvss_v4", 8.8)),
        ({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/garbage"}, {"type": "CVSS_V4", "score": CVSS4_HIGH}]},
         (Severity.HIGH, "cvss_v4", 8.8)),
        ({"severity": [{"type": "Ubuntu", "score": "negligible"}]}, (Severity.LOW, "record", None)),
        ({"database_specific": {"severity": "MODERATE"}}, (Severity.MEDIUM, "record", None)),
        ({"affected_fields": {"database_specific": {"severity": "CRITICAL"}}}, (Severity.CRITICAL, "record", None)),
        ({"affected_fields": {"ecosystem_specific": {"severity": "important"}}}, (Severity.HIGH, "record", None)),
        ({"severity": [{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}]}, (Severity.HIGH, "cvss_v2", 7.5)),
        ({"database_specific": {"severity": "whatever"}}, (Severity.MEDIUM, "default", None)),
        ({}, (Severity.MEDIUM, "default", None)),
    ],
)
def test_severity_evidence_order(fields: dict[str, Any], expected: tuple[Severity, str, float | None]) -> None:
    assert _rate(**fields) == expected


def test_package_level_severity_wins_over_record_level() -> None:
    got = _rate(severity=[{"type": "CVSS_V3", "score": CVSS3_CRITICAL}],
                affected_fields={"severity": [{"type": "CVSS_V3", "score": CVSS3_MEDIUM}]})
    assert got[:2] == (Severity.MEDIUM, "cvss_v3")
