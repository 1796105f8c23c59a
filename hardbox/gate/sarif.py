"""SARIF 2.1.0 for a gate or lint decision, written by the one SARIF writer
(``hardbox.report.sarif``), so a finding is the same alert from ``scan`` and ``gate``.

The decision chooses what is listed and how: one result per finding behind a failed rule
(level from its severity), one per below-threshold notice (level ``note``), and excepted or
VEX-suppressed findings as results carrying a suppression with the exception's reason. Each
result names the gate rule it came from (``properties.gateRule``).
"""

from __future__ import annotations

from hardbox.gate.evaluate import GateResult
from hardbox.report.sarif import SarifEntry
from hardbox.report.sarif import render as render_sarif


def render(result: GateResult) -> str:
    entries: list[SarifEntry] = []
    for rule in result.rules:
        tag = {"gateRule": rule.name}
        entries += [SarifEntry(f, properties=tag) for f in rule.failing]
        entries += [SarifEntry(f, level="note", properties=tag) for f in rule.notices]
        entries += [SarifEntry(w.finding, suppressed_by=w.by, properties=tag) for w in rule.excepted]
        entries += [SarifEntry(w.finding, suppressed_by=w.by, properties=tag) for w in rule.vex_suppressed]
    return render_sarif(entries, subject=result.image, properties={
        "image": result.image, "imageId": result.image_id, "policy": result.policy, "passed": result.passed,
    })  # fmt: skip
