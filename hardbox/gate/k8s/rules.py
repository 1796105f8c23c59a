"""The gate's rules for ``--k8s``: one rule per control, so the JUnit report lists the Pod
Security Standards control by control and an exception can waive one control by its id.

A rule's findings carry the manifest path and the line of the offending field (SARIF writes
it as the result's region), and say which object and field they are about.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardbox.findings import Finding, Kind
from hardbox.gate.k8s.controls import Control, controls_for
from hardbox.gate.k8s.manifests import Manifests, Workload
from hardbox.gate.policy import KubernetesPolicy
from hardbox.gate.subject import Subject


@dataclass(frozen=True)
class ControlRule:
    control: Control
    manifests: Manifests

    @property
    def name(self) -> str:
        return self.control.rule_name

    @property
    def description(self) -> str:
        return self.control.description

    def violations(self, subject: Subject) -> list[Finding]:
        return [self._finding(w, v.keys, v.what, v.from_root)
                for w in self.manifests.workloads for v in self.control.check(w)]

    def _finding(self, w: Workload, keys: tuple[str | int, ...], what: str, from_root: bool) -> Finding:
        c = self.control
        line = w.doc.line_of(list(keys)) if from_root else w.line(keys)
        field = ".".join(map(str, keys)) if from_root else w.field(keys)
        return Finding(
            id=c.id, kind=Kind.MISCONFIGURATION, severity=c.severity,
            title=f"{c.name}: {what} ({w.describe()})", detail=f"{field} (document {w.number})",
            fix=c.fix, path=str(w.path), line=line,
            extra={"source": "kubernetes", "object": f"{w.kind}/{w.name}", "field": field, "level": c.level},
        )  # fmt: skip


def k8s_rules(manifests: Manifests, policy: KubernetesPolicy) -> list[ControlRule]:
    return [ControlRule(c, manifests) for c in controls_for(policy.pod_security, policy.require)]
