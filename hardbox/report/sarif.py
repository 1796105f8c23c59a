"""The SARIF 2.1.0 report, for code-scanning UIs (GitHub, GitLab, Azure DevOps).

One run; ``tool.driver.rules`` lists every hardbox check rule plus one rule per advisory that
matched, each with a short and full description, help text and markdown, a default level and
the ``security-severity`` property GitHub uses to rank security results (a CVSS-like score as
a string: 9.0+ critical, 7.0+ high, 4.0+ medium, above 0 low). Results point at the file in
the image (``artifactLocation.uri`` relative to the ``IMAGEROOT`` base), or at the image name
for config findings. ``partialFingerprints`` make the same finding in a rebuilt image the
same alert. No timestamps: SARIF does not require them, and the output is deterministic.
Spec: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from hardbox import __version__
from hardbox.findings import Finding, Severity
from hardbox.report import Reporter
from hardbox.report.common import where
from hardbox.scan.checks import Rule, all_rules
from hardbox.scan.result import ScanResult, fixed_version

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/hardbox/hardbox"

# SARIF levels (3.27.10): error/warning/note; GitHub maps security-severity to its labels.
_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.INFO: "note"}
_SCORE = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
          Severity.LOW: "2.0", Severity.INFO: "0.0"}


class SarifReporter(Reporter):
    format = "sarif"
    extension = "sarif"

    def render(self, result: ScanResult) -> str:
        rules = [_check_rule(rule) for rule in all_rules()]
        known = {rule.id for rule in all_rules()}
        advisories: dict[str, dict[str, Any]] = {}
        for finding in result.findings:
            if finding.id not in known and finding.id not in advisories:
                advisories[finding.id] = _advisory_rule(finding)
        rules += [advisories[key] for key in sorted(advisories)]
        index = {rule["id"]: i for i, rule in enumerate(rules)}
        log = {
            "$schema": SCHEMA_URI,
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "hardbox",
                    "version": __version__,
                    "semanticVersion": __version__,
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                }},
                "originalUriBaseIds": {
                    "IMAGEROOT": {"uri": "file:///",
                                  "description": {"text": f"root filesystem of {result.image.name}"}},
                },
                "results": [_result(f, index[f.id], result) for f in result.findings],
                "properties": {
                    "image": result.image.name,
                    "imageId": result.image.id,
                    "riskGrade": result.risk.grade,
                    "riskReason": result.risk.reason,
                },
            }],
        }
        return json.dumps(log, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _rule_name(title: str) -> str:
    """``Runs as root`` -> ``RunsAsRoot``: SARIF's rule ``name`` is an identifier-like word."""
    return "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", title))


def _check_rule(rule: Rule) -> dict[str, Any]:
    return {
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
            "precision": "high" if rule.kind.value == "misconfiguration" else "medium",
        },
    }


def _advisory_rule(finding: Finding) -> dict[str, Any]:
    score = finding.extra.get("cvss_score")
    aliases = ", ".join(finding.extra.get("aliases", ()))
    summary = finding.title or finding.id
    full = finding.detail or summary
    fix = finding.fix or "Upgrade the package to a fixed version."
    rule: dict[str, Any] = {
        "id": finding.id,
        "name": _rule_name(finding.id),
        "shortDescription": {"text": summary},
        "fullDescription": {"text": full},
        "help": {
            "text": f"{full}\n\nHow to fix: {fix}" + (f"\n\nAliases: {aliases}" if aliases else ""),
            "markdown": f"**{finding.id}**: {summary}\n\n{full}\n\n**How to fix:** {fix}"
                        + (f"\n\nAliases: {aliases}" if aliases else ""),
        },
        "defaultConfiguration": {"level": _LEVEL[finding.severity]},
        "properties": {
            "security-severity": f"{float(score):.1f}" if isinstance(score, int | float)
            else _SCORE[finding.severity],
            "tags": ["security", "vulnerability"],
        },
    }
    return rule


def _result(finding: Finding, rule_index: int, scan: ScanResult) -> dict[str, Any]:
    if finding.path:
        physical: dict[str, Any] = {
            "artifactLocation": {"uri": finding.path.lstrip("/"), "uriBaseId": "IMAGEROOT"},
        }
        line = finding.extra.get("line")
        if isinstance(line, int) and line > 0:
            physical["region"] = {"startLine": line}
    else:
        physical = {"artifactLocation": {"uri": scan.image.name}}
    message = finding.title
    if finding.detail and finding.detail != finding.title:
        message = f"{finding.title}: {finding.detail}"
    location: dict[str, Any] = {"physicalLocation": physical}
    if finding.layer is not None:
        location["logicalLocations"] = [{
            "name": f"layer {finding.layer.index}",
            "fullyQualifiedName": finding.layer.diff_id,
            "kind": "module",
        }]
    props: dict[str, Any] = {"kind": finding.kind.value, "severity": finding.severity.value,
                             "where": where(finding, 120)}
    if finding.layer is not None:
        props.update(layer=finding.layer.diff_id, layerIndex=finding.layer.index)
    if finding.package:
        props.update(package=finding.package, installedVersion=finding.version or "",
                     fixedVersion=fixed_version(finding))
    return {
        "ruleId": finding.id,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.severity],
        "message": {"text": message},
        "locations": [location],
        "partialFingerprints": {"hardboxFinding/v1": _fingerprint(finding)},
        "properties": props,
    }


def _fingerprint(finding: Finding) -> str:
    """Stable across rebuilds: the rule, what and where, not the layer digest (which
    changes whenever anything below it does)."""
    key = "\0".join((finding.id, finding.package or "", finding.version or "", finding.path or "",
                     finding.title, str(finding.extra.get("redacted", ""))))
    return hashlib.sha256(key.encode()).hexdigest()[:32]
