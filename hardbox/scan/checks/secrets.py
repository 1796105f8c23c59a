"""Secrets in file contents: the one detector set (``hardbox.secrets``, the rules in
policies/secrets/rules.yaml) run over every regular file of every layer, with bounded cost:
files over the policy's ``max_file_size`` are not read, a NUL byte in the first
``binary_probe`` bytes marks a binary and skips it, and a rule's regex only runs on files
holding one of its keywords.

A secret is never written out: findings carry the redacted value only. A file that a later
layer deleted is still scanned, because its bytes still ship in the earlier layer's tar.
"""

from __future__ import annotations

import functools
from dataclasses import replace

from hardbox.findings import Finding, Kind, SecretDetail
from hardbox.scan.checks.interface import Check, CheckOptions, ImageContext
from hardbox.scan.checks.rules import Rule
from hardbox.scan.walk import ImageFile
from hardbox.secrets import SecretMatch, SecretPolicy, SecretRule, load_policy, placeholder, redact

# The scan's other readers (config check, image preparation, the scanner) import these here.
__all__ = ["SecretCheck", "SecretMatch", "SecretPolicy", "check_rule", "load_policy",
           "placeholder", "redact"]


@functools.cache
def check_rule(srule: SecretRule) -> Rule:
    """A secret rule as the checks seam (SARIF's rule list, docs) knows rules."""
    return Rule(srule.id, srule.title, srule.severity, Kind.SECRET, srule.why, srule.fix)


class SecretCheck(Check):
    """Scans the contents of every regular file, in every layer, for the policy's rules."""

    name = "checks/secrets"

    def __init__(self, image: ImageContext, options: CheckOptions) -> None:
        super().__init__(image, options)
        self.policy = load_policy()
        self._findings: list[Finding] = []
        # Files not read, by reason, for the scan notes: bounded cost is visible, not silent.
        self.skipped: dict[str, int] = {"too large": 0, "binary": 0, "unreadable": 0}

    @classmethod
    def rules(cls) -> tuple[Rule, ...]:
        return tuple(check_rule(srule) for srule in load_policy().rules)

    def wants(self, path: str) -> bool:
        return self.options.secrets and not self.policy.skips(path)

    def visit(self, file: ImageFile) -> None:
        if not file.is_file or file.size == 0:
            return
        if file.size > self.policy.max_file_size:
            self.skipped["too large"] += 1
            return
        try:
            data = file.read_bytes(self.policy.max_file_size)
        except (OSError, ValueError):
            self.skipped["unreadable"] += 1
            return
        if b"\0" in data[: self.policy.binary_probe]:
            self.skipped["binary"] += 1
            return
        matches = self.policy.find(data, file.path)
        for match in matches[: self.policy.max_findings_per_file]:
            self._findings.append(_file_finding(file, match, len(matches)))

    def findings(self) -> list[Finding]:
        return list(self._findings)


def _file_finding(file: ImageFile, match: SecretMatch, total: int) -> Finding:
    rule = check_rule(match.rule)
    detail = f"{rule.title} at line {match.line} of {file.path}: {match.redacted}."
    secret = SecretDetail(match.redacted, matches_in_file=total if total > 1 else None)
    if file.hidden_by is not None:
        verb = "deleted" if file.deleted else "replaced"
        detail += (
            f" A later layer ({file.hidden_by.index}) {verb} the file, but it still ships in"
            f" layer {file.layer.index}: anyone with the image can extract it."
        )
        secret = replace(secret, hidden_by=file.hidden_by.diff_id, deleted=file.deleted)
    return rule.finding(detail, path=file.path, layer=file.layer, line=match.line, secret=secret)

