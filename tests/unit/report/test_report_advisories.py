"""Advisories in every report (issue 17, "Links and scores"): ids link to their pages, a CVSS
score is shown, a severity the advisory did not give reads "unrated", vulnerabilities are
grouped into upgrades, and SARIF rules carry a ``helpUri``.

The scan is the committed sample (tests/fixtures/report/sample-scan.json) with urllib3
findings added: the advisories' facts are what the matcher records (aliases, fixed version,
severity source, CVSS), one of them with a hostile id.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from hardbox.findings import Finding, Kind, LayerRef, Severity, VulnerabilityDetail
from hardbox.report import REPORTERS
from hardbox.report.links import advisory_links
from hardbox.scan.checks import CHECKS
from hardbox.scan.result import ScanResult, from_dict

ROOT = Path(__file__).parents[3]
FIXTURE = ROOT / "tests" / "fixtures" / "report" / "sample-scan.json"
SARIF_SCHEMA = Path(__file__).parent / "sarif-schema-2.1.0.json"
VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
HOSTILE_ID = 'PYSEC-X"><img src=x onerror=alert(1)>/../../x?y#z'


def _vuln(advisory: str, severity: Severity, fixed: str | None, source: str, score: float | None = None,
          aliases: tuple[str, ...] = ()) -> Finding:
    return Finding(
        id=advisory, kind=Kind.VULNERABILITY, severity=severity, title=f"{advisory} in urllib3 1.24.1",
        fix=f"upgrade urllib3 to {fixed}" if fixed else "", package="urllib3", version="1.24.1",
        path="/usr/lib/python3/dist-packages/urllib3-1.24.1.dist-info/METADATA",
        layer=LayerRef("sha256:" + "0" * 64, 0, "COPY rootfs /"),
        vulnerability=VulnerabilityDetail(
            aliases=aliases, cves=tuple(a for a in aliases if a.startswith("CVE-")), fixed_version=fixed,
            ecosystem="PyPI", purl="pkg:pypi/urllib3@1.24.1", severity_source=source,
            cvss_vector=VECTOR if score is not None else None, cvss_score=score))


@pytest.fixture(scope="module")
def result() -> ScanResult:
    base = from_dict(json.loads(FIXTURE.read_text()))
    layer = base.image.layers[0]
    extra = [
        _vuln("GHSA-v845-jxx5-vc9f", Severity.HIGH, "1.26.5", "cvss_v3", 7.5,
              ("CVE-2023-43804", "PYSEC-2023-192")),
        _vuln("PYSEC-2023-212", Severity.HIGH, "1.26.18", "cvss_v3", 8.1, ("CVE-2023-45803",)),
        _vuln("PYSEC-2019-133", Severity.MEDIUM, "1.24.2", "default"),  # no rating in the advisory
        _vuln(HOSTILE_ID, Severity.LOW, None, "record", aliases=("CVE-1-2", "GHSA-nope")),
    ]
    extra = [replace(f, layer=LayerRef(layer.diff_id, layer.index, layer.created_by)) for f in extra]
    return replace(base, findings=tuple(sorted(base.findings + tuple(extra), key=Finding.sort_key)))


class _Elements(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.tags


def test_advisory_links_are_the_pages_and_only_for_well_formed_ids() -> None:
    links = advisory_links("GHSA-v845-jxx5-vc9f", ("CVE-2023-43804", "PYSEC-2023-192"))
    assert [(link.site, link.url) for link in links] == [
        ("OSV", "https://osv.dev/vulnerability/GHSA-v845-jxx5-vc9f"),
        ("GitHub", "https://github.com/advisories/GHSA-v845-jxx5-vc9f"),
        ("NVD", "https://nvd.nist.gov/vuln/detail/CVE-2023-43804"),
    ]
    (hostile,) = advisory_links(HOSTILE_ID, ("CVE-1-2", "GHSA-nope", "CVE-2023-1 "))
    assert hostile.url.startswith("https://osv.dev/vulnerability/PYSEC-X%22%3E%3Cimg")
    assert not re.search(r"[\"'<> /?#]", hostile.url.removeprefix("https://osv.dev/vulnerability/"))


def test_html_links_every_advisory_and_loads_nothing(result: ScanResult) -> None:
    html = REPORTERS["html"]().render(result)
    tags = _elements(html)
    loading = [(tag, attrs) for tag, attrs in tags
               if "src" in attrs or "srcset" in attrs or ("href" in attrs and tag != "a")
               or tag in ("link", "iframe", "object", "embed", "base")]
    assert loading == []
    assert not re.search(r"url\(|@import", html)
    hrefs = {attrs["href"] for tag, attrs in tags if tag == "a"}
    for advisory in ("GHSA-v845-jxx5-vc9f", "PYSEC-2023-212", "PYSEC-2019-133", "GHSA-hbx0-test-0001"):
        assert f"https://osv.dev/vulnerability/{advisory}" in hrefs
    assert {"https://nvd.nist.gov/vuln/detail/CVE-2023-43804", "https://nvd.nist.gov/vuln/detail/CVE-2023-45803",
            "https://github.com/advisories/GHSA-v845-jxx5-vc9f"} <= hrefs
    external = sorted(h for h in hrefs if h and not h.startswith("#"))
    assert all(h.startswith(("https://osv.dev/", "https://nvd.nist.gov/", "https://github.com/advisories/"))
               for h in external), external
    # Every external link opens apart from the report and tells the site nothing of it.
    assert all(attrs.get("rel") == "noopener noreferrer" for tag, attrs in tags
               if tag == "a" and (attrs["href"] or "").startswith("https:"))
    assert "<img src=x" not in html and "CVE-1-2</a>" not in html  # malformed alias: text only


def test_html_shows_cvss_unrated_and_upgrades(result: ScanResult) -> None:
    html = REPORTERS["html"]().render(result)
    rows = re.findall(r"<tr data-sev=[^>]*>.*?</tr>", html.split('id="t-vulns"')[1].split("</table>")[0], re.S)
    defaulted = next(r for r in rows if "PYSEC-2019-133" in r)
    assert 'data-sev="medium"' in defaulted  # the severity filter still counts it as medium
    assert ">unrated</span>" in defaulted and ">medium</span>" not in defaulted
    assert "Severity from unrated: the advisory gives no severity, counted as medium" in defaulted
    rated = next(r for r in rows if "PYSEC-2023-212" in r)
    assert 'data-v="8.1"' in rated and ">8.1 (CVSS v3)</span>" in rated and f'title="{VECTOR}"' in rated
    assert "Severity from CVSS v3 base score 8.1" in rated
    recorded = next(r for r in rows if "PYSEC-X" in r)
    assert ">advisory&#39;s rating</span>" in recorded and "Severity from the advisory&#39;s own rating" in recorded
    top = html.split('id="top"')[1].split("</section>")[0]
    # The urllib3 upgrade fixes 2 high and 1 unrated: it comes in the top five, one item.
    assert "Upgrade urllib3 <code>1.24.1</code> → <code>1.26.18</code>" in top
    assert "fixes 3 (2 high, 1 unrated)" in top
    assert top.count("GHSA-v845-jxx5-vc9f</code>") == 1


def test_markdown_links_scores_and_unrated(result: ScanResult) -> None:
    text = REPORTERS["markdown"]().render(result)
    assert "[PYSEC\\-2019\\-133](https://osv.dev/vulnerability/PYSEC-2019-133)" not in text  # - is not escaped
    assert "[PYSEC-2019-133](https://osv.dev/vulnerability/PYSEC-2019-133)" in text
    row = next(line for line in text.splitlines() if line.startswith("| ") and "PYSEC-2019-133](" in line
               and "1.24.2" in line)
    assert row.startswith("| ⬚ unrated |")
    assert "| 8.1 (CVSS v3) |" in text
    recorded = next(line for line in text.splitlines() if line.startswith("| 🟦 low |") and "PYSEC-X" in line)
    assert "| advisory's rating |" in recorded
    assert "upgrade urllib3 1.24.1 → 1.26.18 fixes 3 (2 high, 1 unrated)" in text
    assert "<img" not in text


def test_json_carries_upgrades_and_severity_source(result: ScanResult) -> None:
    doc = json.loads(REPORTERS["json"]().render(result))
    by_id = {f["id"]: f for f in doc["findings"]}
    assert by_id["PYSEC-2019-133"]["extra"]["severity_source"] == "default"
    assert by_id["PYSEC-2023-212"]["extra"]["severity_source"] == "cvss_v3"
    urllib3 = next(u for u in doc["upgrades"] if u["package"] == "urllib3")
    assert urllib3["to_version"] == "1.26.18" and urllib3["still_open"] == [HOSTILE_ID]
    assert urllib3["fixes_by_severity"]["medium"] == 1 and urllib3["fixes_unrated"] == 1
    assert [u["package"] for u in doc["upgrades"]] == ["jinja2", "urllib3"]  # a critical fix first
    # Read back, the report is the same: upgrades are derived, not stored.
    assert REPORTERS["json"]().render(from_dict(doc)) == REPORTERS["json"]().render(result)


def _github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to -."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+\s+(.*)$", markdown, re.M)}


def test_sarif_rules_have_help_uris_that_exist_and_the_log_validates(result: ScanResult) -> None:
    log = json.loads(REPORTERS["sarif"]().render(result))
    schema = json.loads(SARIF_SCHEMA.read_text())
    errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(log))
    assert not errors, [e.message for e in errors[:3]]
    run = log["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["PYSEC-2019-133"]["helpUri"] == "https://osv.dev/vulnerability/PYSEC-2019-133"
    assert rules[HOSTILE_ID]["helpUri"].startswith("https://osv.dev/vulnerability/PYSEC-X%22%3E")
    declared = {rule.id for check in CHECKS for rule in check.rules()}
    docs = "https://github.com/hardbox/hardbox/blob/main/docs/"
    for rule_id in declared:
        page, anchor = rules[rule_id]["helpUri"].removeprefix(docs).split("#")
        text = (ROOT / "docs" / page).read_text()
        assert anchor in _github_anchors(text) and f"`{rule_id}`" in text, rule_id
    results = {r["ruleId"]: r for r in run["results"]}
    assert results["PYSEC-2019-133"]["properties"]["severitySource"] == "default"
    assert results["PYSEC-2023-212"]["properties"]["cvssScore"] == 8.1
    assert results["PYSEC-2023-212"]["properties"]["cvssVector"] == VECTOR


def test_gate_and_lint_rules_link_to_their_docs_tables() -> None:
    """Rules no check declares (the gate's own, the Dockerfile lint's) as a gate or lint
    SARIF writes them: each links to the table of docs/gate.md that lists it."""
    from hardbox.report.sarif import SarifEntry, render

    gate_doc = (ROOT / "docs" / "gate.md").read_text()
    anchors = _github_anchors(gate_doc)
    for rule_id in ("HB-GATE-002", "HB-DF-001"):
        finding = Finding(id=rule_id, kind=Kind.MISCONFIGURATION, severity=Severity.MEDIUM, title=rule_id)
        log = json.loads(render([SarifEntry(finding)], subject="Dockerfile", properties={}))
        (rule,) = log["runs"][0]["tool"]["driver"]["rules"]
        page, anchor = rule["helpUri"].removeprefix("https://github.com/hardbox/hardbox/blob/main/docs/").split("#")
        assert page == "gate.md" and anchor in anchors and f"`{rule_id}`" in gate_doc
