"""SARIF 2.1.0, for code-scanning UIs (GitHub, GitLab, Azure DevOps): the one writer for a
scan (``SarifReporter``) and for a gate or lint decision (``hardbox.gate.sarif`` hands it
``SarifEntry``s), so one finding is one alert whichever command wrote it.

One run; ``tool.driver.rules`` describes every rule a result names: a check rule with its why
and fix (a scan lists every check rule), an advisory with its text, aliases and a ``helpUri``
at osv.dev, and any other finding (a gate or Dockerfile rule) from its title and fix; hardbox's
own rules get a ``helpUri`` at the docs table that lists them (``report/links.py``). Each rule
carries a default level and the ``security-severity`` property GitHub ranks security results
by (a CVSS-like score as a string: 9.0+ critical, 7.0+ high, 4.0+ medium, above 0 low). A
vulnerability result's properties say where its severity came from (``severitySource``:
``cvss_v3``, ``cvss_v4``, ``record``, ``cvss_v2``, or ``default`` for an advisory that carried
no rating, reported ``medium``) and its CVSS score and vector when it has one.

A result points at the file in the image (an absolute path, as ``artifactLocation.uri``
relative to the ``IMAGEROOT`` base), at a file in the repository (a relative path: the
Dockerfile ``hardbox lint`` read, with its line), or at the image name for config findings.
A waived finding (a gate exception, a VEX statement) is a result with a ``suppressions``
entry (§3.27.23, kind ``external``, status ``accepted``), so the UI shows it dismissed, not
gone. ``partialFingerprints`` is ``Finding.fingerprint``: a reworded title or a rebuilt image
is the same alert. No timestamps: SARIF does not require them, and the output is
deterministic. Spec: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbox import __version__
from hardbox.findings import Finding, Kind, Severity
from hardbox.report.common import where
from hardbox.report.interface import Reporter
from hardbox.report.links import advisory_url, rule_url
from hardbox.scan.checks import CHECKS, all_rules

if TYPE_CHECKING:
    from hardbox.scan.checks.interface import Rule
    from hardbox.scan.result import ScanResult

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/hardbox/hardbox"

# SARIF levels (3.27.10): error/warning/note; GitHub maps security-severity to its labels.
_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.INFO: "note"}
_SCORE = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
          Severity.LOW: "2.0", Severity.INFO: "0.0"}


@dataclass(frozen=True)
class SarifEntry:
    """One result to write: the finding, and how the caller wants it shown."""

    finding: Finding
    level: str | None = None  # None: from the severity; "note" for a below-threshold notice
    suppressed_by: str | None = None  # the exception or VEX statement that waives it
    properties: Mapping[str, str] = field(default_factory=dict)  # e.g. the gate rule


class SarifReporter(Reporter):
    format = "sarif"
    extension = "sarif"

    def render(self, result: ScanResult) -> str:
        return render(
            [SarifEntry(f) for f in result.findings], subject=result.image.name,
            rules=all_rules(), list_every_rule=True,
            properties={"image": result.image.name, "imageId": result.image.id,
                        "riskGrade": result.risk.grade, "riskReason": result.risk.reason,
                        # What the vulnerability match covered: a clean run is only clean
                        # for the ecosystems listed as complete here.
                        "vulnerabilityCoverage": result.coverage.to_dict(),
                        "vulnerabilityCoverageComplete": result.coverage.complete},
        )  # fmt: skip


def render(entries: Iterable[SarifEntry], *, subject: str, properties: Mapping[str, Any],
           rules: Sequence[Rule] = (), list_every_rule: bool = False) -> str:
    """The SARIF log of ``entries`` about ``subject`` (the image, or the Dockerfile linted).

    ``rules`` are the check rules known by id (their why and fix describe a result of theirs);
    with ``list_every_rule`` all of them are listed, matched or not, as a scan does. Rules a
    result names and ``rules`` lack are described from the finding. ``properties`` are the
    run's own (image id, grade, policy, verdict)."""
    entries = list(entries)
    known = {rule.id: rule for rule in rules}
    described: dict[str, dict[str, Any]] = {}
    if list_every_rule:
        described = {rule.id: _check_rule(rule) for rule in rules}
    others: dict[str, dict[str, Any]] = {}
    for entry in entries:
        f = entry.finding
        if f.id in described or f.id in others:
            continue
        if f.id in known:
            described[f.id] = _check_rule(known[f.id])
        else:
            others[f.id] = _advisory_rule(f) if f.kind is Kind.VULNERABILITY else _finding_rule(f)
    listed = [*described.values(), *(others[key] for key in sorted(others))]
    index = {rule["id"]: i for i, rule in enumerate(listed)}
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "hardbox",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": listed,
            }},
            "originalUriBaseIds": {
                "IMAGEROOT": {"uri": "file:///", "description": {"text": f"root filesystem of {subject}"}},
            },
            "results": [_result(e, index[e.finding.id], subject) for e in entries],
            "properties": dict(properties),
        }],
    }
    return json.dumps(log, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _rule_name(title: str) -> str:
    """``Runs as root`` -> ``RunsAsRoot``: SARIF's rule ``name`` is an identifier-like word."""
    return "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", title))


@functools.cache
def _check_families() -> dict[str, str]:
    """Rule id -> the check family (``checks/config``…) that declares it, for its docs anchor."""
    return {rule.id: check.name for check in CHECKS for rule in check.rules()}


def _check_rule(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rule.id,
        "name": _rule_name(rule.title),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.why},
        "help": {
            "text": f"{rule.why}\n\nHow to fix: {rule.fix}",
            "markdown": f"**{rule.title}**\n\n{rule.why}\n\n**How to fix:** {rule.fix}",
        },
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {
            "security-severity": _SCORE[rule.severity],
            "tags": ["security", rule.kind.value],
            "precision": "high" if rule.kind is Kind.MISCONFIGURATION else "medium",
        },
    }
    url = rule_url(rule.id, _check_families().get(rule.id))
    if url is not None:
        out["helpUri"] = url
    return out


def _advisory_rule(finding: Finding) -> dict[str, Any]:
    detail = finding.vulnerability
    score = detail.cvss_score if detail else None
    aliases = ", ".join(finding.aliases)
    summary = finding.title or finding.id
    full = finding.detail or summary
    fix = finding.fix or "Upgrade the package to a fixed version."
    also = f"\n\nAliases: {aliases}" if aliases else ""
    return {
        "id": finding.id,
        "name": _rule_name(finding.id),
        "shortDescription": {"text": summary},
        "fullDescription": {"text": full},
        "helpUri": advisory_url(finding.id),
        "help": {
            "text": f"{full}\n\nHow to fix: {fix}{also}",
            "markdown": f"**{finding.id}**: {summary}\n\n{full}\n\n**How to fix:** {fix}{also}",
        },
        "defaultConfiguration": {"level": _LEVEL[finding.severity]},
        "properties": {
            "security-severity": f"{score:.1f}" if score is not None else _SCORE[finding.severity],
            "tags": ["security", "vulnerability"],
        },
    }


def _finding_rule(finding: Finding) -> dict[str, Any]:
    """A rule no check declares (a gate rule, a Dockerfile lint rule), from its finding."""
    out: dict[str, Any] = {
        "id": finding.id,
        "name": _rule_name(finding.id),
        "shortDescription": {"text": finding.title or finding.id},
        "help": {"text": f"How to fix: {finding.fix}" if finding.fix else finding.title or finding.id},
        "defaultConfiguration": {"level": _LEVEL[finding.severity]},
        "properties": {"security-severity": _SCORE[finding.severity],
                       "tags": ["security", finding.kind.value]},
    }
    url = rule_url(finding.id)
    if url is not None:
        out["helpUri"] = url
    return out


def _location(finding: Finding, subject: str) -> dict[str, Any]:
    if finding.path and finding.extra.get("source") == "kubernetes":
        # A manifest `gate --k8s` read, not a file in an image: relative as the user named it
        # (GitHub annotates it in the repository), an absolute path as a file: URI (RFC 8089).
        uri = Path(finding.path).as_uri() if finding.path.startswith("/") else finding.path
        physical: dict[str, Any] = {"artifactLocation": {"uri": uri}}
    elif finding.path and finding.path.startswith("/"):
        physical = {
            "artifactLocation": {"uri": finding.path.lstrip("/"), "uriBaseId": "IMAGEROOT"},
        }
    elif finding.path:
        # A file of the repository (the Dockerfile `hardbox lint` read): GitHub annotates it.
        physical = {"artifactLocation": {"uri": finding.path}}
    else:
        physical = {"artifactLocation": {"uri": subject}}
    if finding.line is not None and finding.line > 0 and finding.path:
        physical["region"] = {"startLine": finding.line}
    location: dict[str, Any] = {"physicalLocation": physical}
    if finding.layer is not None:
        location["logicalLocations"] = [{
            "name": f"layer {finding.layer.index}",
            "fullyQualifiedName": finding.layer.diff_id,
            "kind": "module",
        }]
    return location


def _message(finding: Finding) -> str:
    """The title and what exactly was found. An advisory's text is its rule's description,
    so a vulnerability says instead which upgrade fixes this package; a check's fix is in
    its rule's help; a Dockerfile finding's detail is only its place."""
    if finding.kind is Kind.VULNERABILITY:
        return f"{finding.title}. Fix: {finding.fix}" if finding.fix else finding.title
    if finding.detail in ("", finding.title, f"{finding.path}:{finding.line}"):
        return finding.title
    return f"{finding.title}: {finding.detail}"


def _result(entry: SarifEntry, rule_index: int, subject: str) -> dict[str, Any]:
    finding = entry.finding
    props: dict[str, Any] = {"kind": finding.kind.value, "severity": finding.severity.value,
                             "where": where(finding, 120), **entry.properties}
    if finding.layer is not None:
        props.update(layer=finding.layer.diff_id, layerIndex=finding.layer.index)
    if finding.package:
        props.update(package=finding.package, installedVersion=finding.version or "",
                     fixedVersion=finding.fixed_version)
    detail = finding.vulnerability
    if detail is not None and detail.severity_source:
        props["severitySource"] = detail.severity_source
        if detail.cvss_score is not None:
            props.update(cvssScore=detail.cvss_score, cvssVector=detail.cvss_vector or "")
    out: dict[str, Any] = {
        "ruleId": finding.id,
        "ruleIndex": rule_index,
        "level": entry.level or _LEVEL[finding.severity],
        "message": {"text": _message(finding)},
        "locations": [_location(finding, subject)],
        "partialFingerprints": {"hardboxFinding/v1": finding.fingerprint()},
        "properties": props,
    }
    if entry.suppressed_by is not None:
        out["suppressions"] = [{"kind": "external", "status": "accepted",
                                "justification": entry.suppressed_by}]
    return out
