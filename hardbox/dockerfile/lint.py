"""Lint a Dockerfile: every registered rule over the parsed file, findings in line order.

``RULES`` is the one registry; ids are stable and documented in docs/gate.md ("Dockerfile
lint rules"). ``hardbox lint`` and ``hardbox gate --dockerfile`` both call ``lint_file``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbox.dockerfile.config import LintConfig
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
    UntrustedRegistry,
    all_instructions,
)
from hardbox.dockerfile.rules_run import (
    CdInsteadOfWorkdir,
    NoInstallRecommends,
    PackageCache,
    Pipefail,
    PipeToShell,
    SshServer,
    Sudo,
    UnpinnedPackages,
    Upgrade,
)
from hardbox.findings import Severity

S = Severity
# `hadolint=`: the hadolint rules each one covers (hadolint's README rule table), so their
# ignore comments and ignored: lists work here unchanged.
RULES: tuple[Rule, ...] = (
    FromTag("HB-DF-001", S.MEDIUM, "FROM uses latest or no tag", hadolint=("DL3006", "DL3007")),
    Maintainer("HB-DF-002", S.INFO, "MAINTAINER is deprecated", hadolint=("DL4000",)),
    RootUser("HB-DF-003", S.HIGH, "the container runs as root", hadolint=("DL3002",)),
    SecretInArgEnv("HB-DF-004", S.HIGH, "secret in ARG or ENV"),
    AddInsteadOfCopy("HB-DF-005", S.MEDIUM, "ADD where COPY fits, or of an unverified URL", hadolint=("DL3020",)),
    PackageCache("HB-DF-006", S.LOW, "package install without cache cleanup",
                 hadolint=("DL3009", "DL3019", "DL3032", "DL3040")),
    UnpinnedPackages("HB-DF-007", S.LOW, "package install without version pins",
                     hadolint=("DL3008", "DL3013", "DL3018")),
    ExposeSsh("HB-DF-008", S.MEDIUM, "EXPOSE 22 (SSH)"),
    ShellForm("HB-DF-009", S.MEDIUM, "ENTRYPOINT in shell form", "ENTRYPOINT", hadolint=("DL3025",)),
    ShellForm("HB-DF-010", S.LOW, "CMD in shell form", "CMD", hadolint=("DL3025",)),
    Sudo("HB-DF-011", S.MEDIUM, "sudo in RUN or installed", hadolint=("DL3004",)),
    PipeToShell("HB-DF-012", S.HIGH, "download piped into a shell"),
    Upgrade("HB-DF-013", S.LOW, "package upgrade inside the build", hadolint=("DL3005",)),
    SshServer("HB-DF-014", S.MEDIUM, "SSH server installed"),
    NoInstallRecommends("HB-DF-015", S.LOW, "apt-get install without --no-install-recommends",
                        hadolint=("DL3015",)),
    Pipefail("HB-DF-016", S.LOW, "pipe in RUN without pipefail", hadolint=("DL4006",)),
    CdInsteadOfWorkdir("HB-DF-017", S.INFO, "cd in RUN instead of WORKDIR", hadolint=("DL3003",)),
    UntrustedRegistry("HB-DF-018", S.MEDIUM, "FROM an untrusted registry", hadolint=("DL3026",)),
)


@dataclass(frozen=True)
class Ignored:
    """A finding an ignore silenced: ``by`` is ``inline`` (a comment above the instruction)
    or ``config`` (the ``ignored:`` list), ``via`` the id that was named."""

    finding: LintFinding
    by: str
    via: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.finding.rule, "line": self.finding.line, "by": self.by, "via": self.via}


@dataclass(frozen=True)
class LintResult:
    path: str
    findings: tuple[LintFinding, ...]
    ignored: tuple[Ignored, ...] = ()

    def at_or_above(self, threshold: Severity) -> tuple[LintFinding, ...]:
        return tuple(f for f in self.findings if f.severity.rank >= threshold.rank)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "findings": [f.to_dict() for f in self.findings],
            "ignored": [i.to_dict() for i in self.ignored],
        }


def lint(df: Dockerfile, rules: tuple[Rule, ...] = RULES, config: LintConfig | None = None) -> LintResult:
    config = config or LintConfig()
    by_id = {rule.id: rule for rule in rules}
    if config.trusted_registries:
        rules = tuple(
            dataclasses.replace(r, trusted=config.trusted_registries) if isinstance(r, UntrustedRegistry) else r
            for r in rules
        )
    kept: list[LintFinding] = []
    ignored: list[Ignored] = []
    for finding in (f for rule in rules for f in rule.check(df)):
        names = {finding.rule, *by_id[finding.rule].hadolint} if finding.rule in by_id else {finding.rule}
        inline = names & df.ignores.get(_instruction_line(df, finding.line), frozenset())
        listed = names & config.ignored
        if inline:
            ignored.append(Ignored(finding, "inline", min(inline)))
        elif listed:
            ignored.append(Ignored(finding, "config", min(listed)))
        else:
            kept.append(finding)
    return LintResult(
        df.path,
        tuple(sorted(kept, key=LintFinding.sort_key)),
        tuple(sorted(ignored, key=lambda i: i.finding.sort_key())),
    )


def _instruction_line(df: Dockerfile, line: int) -> int:
    """The first line of the instruction holding ``line``: a finding inside a heredoc body
    (a secret on its fourth line) is silenced by the comment above its RUN."""
    for ins in all_instructions(df):
        if ins.line <= line <= max(ins.end_line, ins.line):
            return ins.line
    return line


def lint_file(path: str | Path, config: LintConfig | None = None) -> LintResult:
    return lint(parse_file(path), config=config)
