"""SARIF 2.1.0 for a gate or lint decision, for code-scanning UIs (GitHub, GitLab).

``hardbox.report.sarif`` renders a whole scan; this renders the decision: one result per
finding behind a failed rule (level from its severity), one per below-threshold notice
(level ``note``), and excepted or VEX-suppressed findings as results carrying a SARIF
``suppressions`` entry (§3.27.23, kind ``external``, status ``accepted``) with the exception's
reason — so the UI shows them as dismissed, not as gone. Dockerfile findings point at the
Dockerfile and its line (a real file in the repository, which GitHub annotates); image
findings at the path inside the image (``IMAGEROOT``). Deterministic: no timestamps.
Spec: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hardbox import __version__
from hardbox.findings import Finding, Severity
from hardbox.gate.evaluate import GateResult

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.INFO: "note"}  # fmt: skip
# GitHub ranks security results by this property (a CVSS-like score, as a string).
_SCORE = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
          Severity.LOW: "2.0", Severity.INFO: "0.0"}  # fmt: skip


def render(result: GateResult) -> str:
    entries: list[tuple[Finding, str, str, dict[str, Any] | None]] = []
    for rule in result.rules:
        entries += [(f, rule.name, _LEVEL[f.severity], None) for f in rule.failing]
        entries += [(f, rule.name, "note", None) for f in rule.notices]
        entries += [(w.finding, rule.name, _LEVEL[w.finding.severity], _suppression(w.by)) for w in rule.excepted]
        entries += [(w.finding, rule.name, _LEVEL[w.finding.severity], _suppression(w.by)) for w in rule.vex_suppressed]
    rules: dict[str, dict[str, Any]] = {}
    for finding, *_ in entries:
        rules.setdefault(finding.id, _rule(finding))
    ids = sorted(rules)
    index = {rule_id: i for i, rule_id in enumerate(ids)}
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "hardbox", "version": __version__, "semanticVersion": __version__,
                                "rules": [rules[i] for i in ids]}},
            "originalUriBaseIds": {"IMAGEROOT": {"uri": "file:///", "description": {"text": f"root filesystem of {result.image}"}}},
            "results": [_result(f, index[f.id], gate_rule, level, sup, result.image) for f, gate_rule, level, sup in entries],
            "properties": {"image": result.image, "imageId": result.image_id, "policy": result.policy,
                           "passed": result.passed},
        }],
    }  # fmt: skip
    return json.dumps(log, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _suppression(by: str) -> dict[str, Any]:
    return {"kind": "external", "status": "accepted", "justification": by}


def _rule(f: Finding) -> dict[str, Any]:
    return {
        "id": f.id,
        "shortDescription": {"text": f.title},
        "help": {"text": f"How to fix: {f.fix}" if f.fix else f.title},
        "defaultConfiguration": {"level": _LEVEL[f.severity]},
        "properties": {"security-severity": _SCORE[f.severity], "tags": ["security", f.kind.value]},
    }


def _result(f: Finding, rule_index: int, gate_rule: str, level: str, suppression: dict[str, Any] | None, image: str) -> dict[str, Any]:
    line = f.extra.get("line")
    if f.extra.get("source") == "dockerfile" and f.path:
        physical: dict[str, Any] = {"artifactLocation": {"uri": f.path}}
    elif f.path and f.path.startswith("/"):
        physical = {"artifactLocation": {"uri": f.path.lstrip("/"), "uriBaseId": "IMAGEROOT"}}
    else:
        physical = {"artifactLocation": {"uri": image}}
    if isinstance(line, int) and line > 0:
        physical["region"] = {"startLine": line}
    text = f.title if not f.package else f"{f.title} ({f.package} {f.version or ''})".replace(" )", ")")
    out: dict[str, Any] = {
        "ruleId": f.id, "ruleIndex": rule_index, "level": level,
        "message": {"text": f"{text}. Fix: {f.fix}" if f.fix else text},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {"hardboxFinding/v1": _fingerprint(f)},
        "properties": {"gateRule": gate_rule, "severity": f.severity.value, "kind": f.kind.value},
    }  # fmt: skip
    if suppression is not None:
        out["suppressions"] = [suppression]
    return out


def _fingerprint(f: Finding) -> str:
    key = "\0".join((f.id, f.package or "", f.version or "", f.path or "", f.title))
    return hashlib.sha256(key.encode()).hexdigest()[:32]
