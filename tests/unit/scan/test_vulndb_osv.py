"""The OSV record model: what parses, and what is refused with the id and field named."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.osv_fixtures import CVSS3_CRITICAL, record

from hardbox.scan.vulndb.osv import Advisory, InvalidAdvisory


def test_full_record_parses() -> None:
    rec = record(
        "GHSA-xxxx-yyyy-zzzz", "PyPI", "Jinja2",
        [{"introduced": "0"}, {"fixed": "3.1.3"}],
        versions=["3.1.2"], severity=[{"type": "CVSS_V3", "score": CVSS3_CRITICAL}],
        aliases=["CVE-2024-22195"], withdrawn="2024-06-01T00:00:00Z",
        credits=[{"name": "someone"}],  # unknown to hardbox: ignored, as the schema asks
    )
    adv = Advisory.from_json(rec)
    assert adv.id == "GHSA-xxxx-yyyy-zzzz"
    assert adv.cves == ("CVE-2024-22195",)
    assert adv.withdrawn is not None and adv.withdrawn.year == 2024
    (affected,) = adv.affected
    assert affected.package.name == "Jinja2"
    assert [(e.kind, e.version) for e in affected.ranges[0].events] == [("introduced", "0"), ("fixed", "3.1.3")]
    assert affected.versions == ("3.1.2",)
    assert adv.severity[0].score == CVSS3_CRITICAL
    assert adv.references == ("https://example.invalid/GHSA-xxxx-yyyy-zzzz",)


def _broken(**changes: Any) -> dict[str, Any]:
    rec = record("OSV-2024-1", "npm", "left-pad", [{"introduced": "0"}, {"fixed": "1.0.1"}])
    rec.update(changes)
    return rec


@pytest.mark.parametrize(
    ("rec", "needle"),
    [
        (["not", "an", "object"], "JSON object"),
        ({"modified": "2024-01-01T00:00:00Z"}, "'id'"),
        (_broken(id=42), "'id'"),
        (_broken(modified=None), "modified: missing"),
        (_broken(modified="yesterday"), "RFC 3339"),
        (_broken(modified="2024-01-01T00:00:00"), "time zone"),
        (_broken(aliases="CVE-1"), "aliases: expected an array"),
        (_broken(affected={"package": {}}), "affected: expected an array"),
        (_broken(affected=[{"package": {"ecosystem": "npm"}}]), "affected[0].package.name: missing"),
        (_broken(affected=[{"package": {"ecosystem": "npm", "name": 3}}]), "expected a string"),
        (_broken(affected=[{"package": {"ecosystem": "npm", "name": "x"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0", "fixed": "1.0.0"}]}]}]), "exactly one"),
        (_broken(affected=[{"package": {"ecosystem": "npm", "name": "x"}, "ranges": [{"type": "SEMVER", "events": []}]}]), "at least one event"),
        (_broken(affected=[{"package": {"ecosystem": "npm", "name": "x"}, "ranges": [{"events": [{"introduced": "0"}]}]}]), "type: missing"),
        (_broken(severity=[{"type": "CVSS_V3"}]), "severity[0].score: missing"),
        (_broken(database_specific=[]), "database_specific: expected an object"),
    ],
)
def test_malformed_records_name_the_problem(rec: Any, needle: str) -> None:
    with pytest.raises(InvalidAdvisory) as caught:
        Advisory.from_json(rec)
    assert needle in str(caught.value)
    if isinstance(rec, dict) and rec.get("id") == "OSV-2024-1":
        assert caught.value.advisory_id == "OSV-2024-1"
