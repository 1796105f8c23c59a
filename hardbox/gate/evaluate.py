"""The decision: every rule of a policy over one image, then VEX and exceptions.

For each rule, its violations are sorted into three piles: *suppressed by VEX* (a statement
says the vulnerability does not affect this image), *excepted* (an active exception covers
it) and *failing* (everything else). A rule fails when its failing pile is not empty, and the
image fails when any rule does. Expired exceptions never hide anything; they are listed so a
reviewer renews or removes them. ``GateResult`` is what every output format renders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hardbox import __version__
from hardbox.dockerfile.lint import LintResult
from hardbox.dockerfile.model import Rule as LintRule
from hardbox.findings import Finding, Severity
from hardbox.gate.exceptions import GateException
from hardbox.gate.policy import Policy
from hardbox.gate.subject import Subject
from hardbox.gate.vex import VexStatement

if TYPE_CHECKING:
    from hardbox.gate.rules import GateRule


@dataclass(frozen=True)
class Waived:
    finding: Finding
    by: str  # the exception or VEX statement, described


@dataclass(frozen=True)
class RuleResult:
    name: str
    description: str
    failing: tuple[Finding, ...]
    excepted: tuple[Waived, ...] = ()
    vex_suppressed: tuple[Waived, ...] = ()
    notices: tuple[Finding, ...] = ()  # reported, below the threshold (``hardbox lint``)

    @property
    def passed(self) -> bool:
        return not self.failing

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.name, "description": self.description, "passed": self.passed,
            "findings": [f.to_dict() for f in self.failing],
            "excepted": [{"finding": w.finding.to_dict(), "by": w.by} for w in self.excepted],
            "vex_suppressed": [{"finding": w.finding.to_dict(), "by": w.by} for w in self.vex_suppressed],
            "notices": [f.to_dict() for f in self.notices],
        }  # fmt: skip


@dataclass(frozen=True)
class GateResult:
    image: str
    image_id: str
    policy: str
    policy_source: str
    rules: tuple[RuleResult, ...]
    expired_exceptions: tuple[GateException, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rules)

    @property
    def failed_rules(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if not r.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "hardbox.gate", "schema_version": 1,
            "tool": {"name": "hardbox", "version": __version__},
            "image": self.image, "image_id": self.image_id,
            "policy": {"name": self.policy, "source": self.policy_source},
            "passed": self.passed,
            "rules": [r.to_dict() for r in self.rules],
            "expired_exceptions": [e.to_dict() for e in self.expired_exceptions],
            "notes": list(self.notes),
        }  # fmt: skip


def evaluate(
    subject: Subject,
    policy: Policy,
    rules: Sequence[GateRule],
    exceptions: Sequence[GateException] = (),
    vex: Sequence[VexStatement] = (),
    *,
    today: dt.date | None = None,
    notes: Sequence[str] = (),
) -> GateResult:
    """Judge ``subject`` by ``rules`` (built from ``policy`` by ``rules.build_rules`` and
    ``profile_check.profile_rules``); ``today`` decides which exceptions have expired."""
    day = today or dt.datetime.now(dt.UTC).date()
    active = [e for e in exceptions if not e.expired(day)]
    expired = tuple(e for e in exceptions if e.expired(day))
    statements = [s for s in vex if s.not_affecting]
    purls = {(p.name, p.version): p.purl for p in subject.packages}
    results = []
    for rule in rules:
        failing: list[Finding] = []
        excepted: list[Waived] = []
        suppressed: list[Waived] = []
        for finding in sorted(rule.violations(subject), key=Finding.sort_key):
            purl = (finding.vulnerability.purl if finding.vulnerability else "") or purls.get((finding.package or "", finding.version or ""))
            statement = next((s for s in statements if s.applies_to(finding, purl)), None)
            exception = next((e for e in active if e.matches(finding)), None)
            if statement is not None:
                suppressed.append(Waived(finding, statement.describe()))
            elif exception is not None:
                excepted.append(Waived(finding, f"exception {exception.describe()}: {exception.reason}"))
            else:
                failing.append(finding)
        results.append(RuleResult(rule.name, rule.description, tuple(failing), tuple(excepted), tuple(suppressed)))
    return GateResult(
        image=subject.name, image_id=subject.id, policy=policy.name, policy_source=policy.source,
        rules=tuple(results), expired_exceptions=expired, notes=tuple(notes),
    )  # fmt: skip


def from_lint(lint: LintResult, fail_on: Severity, rules: Sequence[LintRule]) -> GateResult:
    """A lint run as a decision, so ``hardbox lint`` shares gate's output formats: one rule
    result per lint rule; findings at or above ``fail_on`` fail it, the rest are notices."""
    results = []
    for rule in rules:
        mine = [f for f in lint.findings if f.rule == rule.id]
        failing = tuple(f.to_finding() for f in mine if f.severity.rank >= fail_on.rank)
        notices = tuple(f.to_finding() for f in mine if f.severity.rank < fail_on.rank)
        results.append(RuleResult(rule.id, rule.title, failing, notices=notices))
    return GateResult(image=lint.path, image_id="", policy=f"lint --fail-on {fail_on.value}",
                      policy_source="hardbox lint", rules=tuple(results))
