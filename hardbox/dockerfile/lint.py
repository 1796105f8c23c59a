"""Lint a Dockerfile: every registered rule over the parsed file, findings in line order.

``RULES`` is the one registry; ids are stable and documented in docs/gate.md ("Dockerfile
lint rules"). ``hardbox lint`` and ``hardbox gate --dockerfile`` both call ``lint_file``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbox.dockerfile.model import LintFinding, Rule
from hardbox.dockerfile.parser import Dockerfile, parse_file
from hardbox.dockerfile.rules import (
    AddInsteadOfCopy,
    ExposeSsh,
    FromTag,
    Maintainer,
    RootUser,
    SecretInArgEnv,
    ShellForm,
)
from hardbox.dockerfile.rules_run import (
    PackageCache,
    PipeToShell,
    SshServer,
    Sudo,
    UnpinnedPackages,
    Upgrade,
)
from hardbox.findings import Severity

S = Severity
RULES: tuple[Rule, ...] = (
    FromTag("HB-DF-001", S.MEDIUM, "FROM uses latest or no tag"),
    Maintainer("HB-DF-002", S.INFO, "MAINTAINER is deprecated"),
    RootUser("HB-DF-003", S.HIGH, "the container runs as root"),
    SecretInArgEnv("HB-DF-004", S.HIGH, "secret in ARG or ENV"),
    AddInsteadOfCopy("HB-DF-005", S.MEDIUM, "ADD where COPY fits, or of an unverified URL"),
    PackageCache("HB-DF-006", S.LOW, "package install without cache cleanup"),
    UnpinnedPackages("HB-DF-007", S.LOW, "package install without version pins"),
    ExposeSsh("HB-DF-008", S.MEDIUM, "EXPOSE 22 (SSH)"),
    ShellForm("HB-DF-009", S.MEDIUM, "ENTRYPOINT in shell form", "ENTRYPOINT"),
    ShellForm("HB-DF-010", S.LOW, "CMD in shell form", "CMD"),
    Sudo("HB-DF-011", S.MEDIUM, "sudo in RUN or installed"),
    PipeToShell("HB-DF-012", S.HIGH, "download piped into a shell"),
    Upgrade("HB-DF-013", S.LOW, "package upgrade inside the build"),
    SshServer("HB-DF-014", S.MEDIUM, "SSH server installed"),
)


@dataclass(frozen=True)
class LintResult:
    path: str
    findings: tuple[LintFinding, ...]

    def at_or_above(self, threshold: Severity) -> tuple[LintFinding, ...]:
        return tuple(f for f in self.findings if f.severity.rank >= threshold.rank)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "findings": [f.to_dict() for f in self.findings]}


def lint(df: Dockerfile, rules: tuple[Rule, ...] = RULES) -> LintResult:
    found = [f for rule in rules for f in rule.check(df)]
    return LintResult(df.path, tuple(sorted(found, key=LintFinding.sort_key)))


def lint_file(path: str | Path) -> LintResult:
    return lint(parse_file(path))
