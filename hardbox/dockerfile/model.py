"""What a lint rule is and what it reports.

A rule is a small object with an ``id`` (``HB-DF-NNN``, stable: policies, exceptions and CI
annotations refer to it), a default ``severity``, a one-line ``title`` and ``check(dockerfile)``
yielding ``LintFinding``s. Every rule is registered in ``hardbox.dockerfile.lint.RULES``;
``docs/gate.md`` lists them and a test keeps that list and the registry in step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from hardbox.dockerfile.parser import Dockerfile
from hardbox.findings import Finding, Kind, Severity


@dataclass(frozen=True)
class LintFinding:
    """One problem at one place: ``line`` is the first line of the instruction (1-based)."""

    rule: str
    severity: Severity
    line: int
    message: str
    fix: str
    path: str = "Dockerfile"

    def __post_init__(self) -> None:
        if not self.rule.startswith("HB-DF-") or self.line < 1:
            raise ValueError(f"bad lint finding {self.rule!r} at line {self.line}")

    def to_finding(self) -> Finding:
        """The shared findings model (kind ``misconfiguration``), for gate and reports."""
        return Finding(
            id=self.rule,
            kind=Kind.MISCONFIGURATION,
            severity=self.severity,
            title=self.message,
            detail=f"{self.path}:{self.line}",
            fix=self.fix,
            path=self.path,
            line=self.line,
            extra={"source": "dockerfile"},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
            "path": self.path,
        }

    def sort_key(self) -> tuple[int, int, str]:
        return (self.line, -self.severity.rank, self.rule)


class Rule(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def title(self) -> str: ...
    @property
    def hadolint(self) -> tuple[str, ...]: ...

    def check(self, df: Dockerfile) -> Iterator[LintFinding]: ...
