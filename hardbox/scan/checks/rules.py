"""What a check reports: ``Rule``, and the table of hardbox's own check rules, read from
``policies/checks/rules.yaml``.

A rule's words — title, severity, kind, why it matters, how to fix it — are data, as the
secret rules' are (policies/secrets/rules.yaml): every report, SARIF's ``tool.driver.rules``
and docs/adding-a-check.md show them, and the code that finds a problem names its rule by id
(``rule("HB-CFG-001").finding(...)``), so each is written once. The shipped file is validated
against ``SCHEMA`` by the test suite, not on every scan (importing jsonschema costs a quarter
second), and read once per process, when a check first asks for a rule.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hardbox.findings import Fact, Finding, Kind, LayerRef, SecretDetail, Severity
from hardbox.resources import policies

_TEXT = {"type": "string", "minLength": 1}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version"],
    "properties": {"version": {"const": 1}},
    # Every other key is a check family's name ("checks/config") holding its rules.
    "patternProperties": {
        "^checks/[a-z]+$": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "title", "severity", "kind", "why", "fix"],
                "properties": {
                    "id": {"type": "string", "pattern": "^HB-(CFG|FILE)-[0-9]{3}$"},
                    "title": _TEXT,
                    "severity": {"enum": [s.value for s in Severity]},
                    "kind": {"enum": [Kind.MISCONFIGURATION.value, Kind.SECRET.value]},
                    "why": _TEXT,
                    "fix": _TEXT,
                },
            },
        },
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Rule:
    """What one check reports, independent of any image: the metadata every report shows."""

    id: str
    title: str
    severity: Severity
    kind: Kind
    why: str
    fix: str

    def __post_init__(self) -> None:
        if not self.id.startswith("HB-") or not self.title or not self.why or not self.fix:
            raise ValueError(f"rule {self.id!r}: needs an HB- id, a title, why and fix")

    def finding(
        self,
        detail: str,
        *,
        title: str | None = None,
        path: str | None = None,
        layer: LayerRef | None = None,
        severity: Severity | None = None,
        package: str | None = None,
        line: int | None = None,
        history_index: int | None = None,
        secret: SecretDetail | None = None,
        extra: Mapping[str, Fact] | None = None,
    ) -> Finding:
        """A finding of this rule; ``title`` overrides the rule's for a more specific one."""
        return Finding(
            id=self.id,
            kind=self.kind,
            severity=severity or self.severity,
            title=title or self.title,
            detail=detail,
            fix=self.fix,
            package=package,
            path=path,
            layer=layer,
            line=line,
            history_index=history_index,
            secret=secret,
            extra=dict(extra or {}),
        )


def shipped_rules_path() -> Path:
    return policies() / "checks" / "rules.yaml"


@functools.cache
def _families() -> dict[str, tuple[Rule, ...]]:
    # libyaml's loader when PyYAML has it: a tenth of the pure-Python one's 35 ms here.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = yaml.load(shipped_rules_path().read_text(encoding="utf-8"), Loader=loader)
    return {
        family: tuple(
            Rule(item["id"], item["title"], Severity(item["severity"]), Kind(item["kind"]),
                 why=item["why"], fix=item["fix"])
            for item in items
        )
        for family, items in doc.items()
        if family != "version"
    }


@functools.cache
def _by_id() -> dict[str, Rule]:
    return {r.id: r for rules in _families().values() for r in rules}


def family_rules(family: str) -> tuple[Rule, ...]:
    """The rules of the check family named ``family`` ("checks/config"), in the file's order."""
    try:
        return _families()[family]
    except KeyError:
        raise KeyError(f"check family {family!r} has no rules in policies/checks/rules.yaml") from None


def rule(rule_id: str) -> Rule:
    """The rule ``rule_id`` ("HB-FILE-007") of any family."""
    try:
        return _by_id()[rule_id]
    except KeyError:
        raise KeyError(f"no rule {rule_id!r} in policies/checks/rules.yaml") from None
