"""Format-level guarantees of the reporters, on a real scan of the sample image: SARIF
validates against the SARIF 2.1.0 schema, image-controlled text is escaped in HTML and
Markdown, the HTML is self-contained, and filters are recorded."""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

import jsonschema
import pytest
from helpers import scanimages
from helpers.cli import need_tool

from hardbox.findings import Kind, Severity
from hardbox.report import REPORTERS
from hardbox.scan.checks import all_rules
from hardbox.scan.result import ScanResult

# Building the sample image (umoci, openssl) and scanning it takes ~10 s once per session.
pytestmark = pytest.mark.slow


# The OASIS SARIF 2.1.0 schema (final, "rtm.5"), as shipped by the MIT-licensed npm package
# @microsoft/jest-sarif 1.0.0-beta.0 (lib/schemas/sarif-2.1.0-rtm.5.json).
SARIF_SCHEMA = Path(__file__).parent / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> ScanResult:
    need_tool("umoci", "openssl")
    result, _ = scanimages.sample_scan(tmp_path_factory)
    assert isinstance(result, ScanResult)
    return result


def test_sarif_is_valid_sarif_2_1_0(sample: ScanResult) -> None:
    log = json.loads(REPORTERS["sarif"]().render(sample))
    schema = json.loads(SARIF_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_sarif_rules_and_results(sample: ScanResult) -> None:
    run = json.loads(REPORTERS["sarif"]().render(sample))["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert {r.id for r in all_rules()} <= set(rules)
    root = rules["HB-CFG-001"]
    assert root["help"]["markdown"].startswith("**Runs as root**")
    assert root["properties"]["security-severity"] == "8.0"
    assert root["defaultConfiguration"]["level"] == "error"
    vuln = rules["GHSA-hbx0-test-0001"]
    assert vuln["properties"]["security-severity"] == "9.1"  # the advisory's CVSS 3.1 score
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["HB-CFG-001"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == sample.image.name
    deleted = by_rule["HB-FILE-007"]
    location = deleted["locations"][0]
    assert location["physicalLocation"]["artifactLocation"] == {"uri": "root/.aws/credentials",
                                                                 "uriBaseId": "IMAGEROOT"}
    assert location["logicalLocations"][0]["name"] == "layer 2"
    assert by_rule["HB-SEC-013"]["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    for result in run["results"]:
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["partialFingerprints"]["hardboxFinding/v1"]


def test_html_escapes_what_the_image_controls(sample: ScanResult) -> None:
    html = REPORTERS["html"]().render(sample)
    assert scanimages.HOSTILE_FILE not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "Jinja2 &lt;attr&gt;" in html and "Jinja2 <attr>" not in html
    # Exactly one script element: the shipped one.
    assert len(re.findall(r"<script\b", html)) == 1


def test_html_is_self_contained(sample: ScanResult) -> None:
    """Nothing is loaded: no element has a src, only anchors have an href (an advisory's
    page, opened by the reader's click), and the styles import nothing."""
    html = REPORTERS["html"]().render(sample)
    assert not re.search(r"""\bsrc(?:set)?\s*=""", html.replace("&lt;img src=x", ""))
    hrefs = re.findall(r"""<(\w+)\b[^>]*\shref\s*=""", html)
    assert hrefs and set(hrefs) == {"a"}
    assert "<link" not in html and "@import" not in html and "url(" not in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp and "default-src 'none'" in html_lib.unescape(csp.group(1))


def test_markdown_escapes_what_the_image_controls(sample: ScanResult) -> None:
    text = REPORTERS["markdown"]().render(sample)
    assert scanimages.HOSTILE_FILE not in text and "<attr>" not in text
    assert "&lt;img src=x onerror=alert\\(1)&gt;" in text or "&lt;img src=x onerror=alert(1)&gt;" in text


def test_json_points_each_finding_at_its_layer(sample: ScanResult) -> None:
    doc = json.loads(REPORTERS["json"]().render(sample))
    assert doc["schema"] == "hardbox.scan" and doc["schema_version"] == 1
    layers = {la["index"]: la for la in doc["image"]["layers"]}
    by_id = {f["id"]: f for f in doc["findings"]}
    assert by_id["HB-FILE-007"]["layer"] == layers[2]["diff_id"]
    assert by_id["GHSA-hbx0-test-0001"]["layer_index"] == 1
    assert by_id["GHSA-hbx0-test-0001"]["extra"]["fixed_version"]
    assert layers[1]["packages"] == 1 and layers[2]["findings"] == 10


def test_filters_narrow_the_listing_but_not_the_grade(sample: ScanResult, tmp_path: Path) -> None:
    narrowed = scanimages.scan_ref(sample.image.name, tmp_path / "store", Path(str(sample.vuln_db)),
                                   severities=(Severity.CRITICAL,))
    assert isinstance(narrowed, ScanResult)
    assert {f.severity for f in narrowed.findings} == {Severity.CRITICAL}
    assert narrowed.risk == sample.risk
    assert narrowed.omitted == len(sample.findings) - len(narrowed.findings)
    doc = json.loads(REPORTERS["json"]().render(narrowed))
    assert doc["filters"] == {"severities": ["critical"], "ignore_unfixed": False}
    assert doc["summary"]["omitted_by_filters"] == narrowed.omitted
    assert [f for f in narrowed.findings if f.kind is Kind.VULNERABILITY]
