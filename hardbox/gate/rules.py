"""The gate's rules: small objects, each turning one policy field into the findings that
break it. ``build_rules(policy, …)`` makes the rules a policy asks for, in a fixed order.

A rule's ``violations(subject)`` returns ``Finding``s — the scanner's own where it has them
(so an exception or a SARIF annotation names the same id the scan report shows), and
findings with ``HB-GATE-NNN`` ids for facts the scanner does not report as findings (a
missing label, the image size). ``evaluate`` then applies VEX and exceptions.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from hardbox.dockerfile.lint import LintResult
from hardbox.findings import Finding, Kind, Severity
from hardbox.gate.licenses import canonical, judge
from hardbox.gate.policy import FindingMatcher, Policy, VulnerabilityThreshold
from hardbox.gate.subject import Subject
from hardbox.scan.coverage import describe_age


class GateRule(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    def violations(self, subject: Subject) -> list[Finding]: ...


def gate_finding(id: str, title: str, fix: str, severity: Severity = Severity.HIGH, **kw: object) -> Finding:
    return Finding(id=id, kind=Kind.MISCONFIGURATION, severity=severity, title=title, fix=fix, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Vulnerabilities:
    """Fails closed on coverage: "no vulnerabilities found" must mean checked, so under
    ``coverage: required`` (the default) every ecosystem whose packages were not all checked
    against advisories — no database, an empty one, none for that ecosystem or release —
    is a violation naming why (HB-GATE-011). ``best-effort`` leaves that to the report.
    ``max_db_age`` fails a database older than that (HB-GATE-012)."""

    threshold: VulnerabilityThreshold
    db_available: bool = True
    db_problem: str | None = None  # e.g. "the vulnerability database X holds no advisories"
    name: str = "vulnerabilities"

    @property
    def description(self) -> str:
        sev = "/".join(s.value for s in sorted(self.threshold.severities, key=lambda s: -s.rank))
        fixed = "" if self.threshold.count_unfixed else " with a fix available"
        text = f"no {sev} vulnerabilities{fixed}" + (f" (up to {self.threshold.max} allowed)" if self.threshold.max else "")
        if self.threshold.coverage_required:
            text += ", every package checked"
        if self.threshold.max_db_age is not None:
            text += f", advisories at most {describe_age(self.threshold.max_db_age)} old"
        return text

    def violations(self, subject: Subject) -> list[Finding]:
        out = self._coverage(subject) if self.threshold.coverage_required else []
        age, limit = subject.coverage.db_age_seconds(), self.threshold.max_db_age
        if limit is not None and self.db_available and (age is None or age > limit):
            out.append(gate_finding(
                "HB-GATE-012", f"the vulnerability database is {describe_age(age)} old "
                f"(policy max_db_age {describe_age(limit)})",
                "refresh it: hardbox db update (or hardbox scan --db-update)",
            ))  # fmt: skip
        hits = [
            f for f in subject.findings
            if f.kind is Kind.VULNERABILITY and f.severity in self.threshold.severities
            and (self.threshold.count_unfixed or f.fixed_version)
        ]  # fmt: skip
        return out + (hits if len(hits) > self.threshold.max else [])

    def _coverage(self, subject: Subject) -> list[Finding]:
        if not self.db_available or self.db_problem:
            reason = self.db_problem or "no vulnerability database"
            return [gate_finding(
                "HB-GATE-011", f"{reason}, so vulnerabilities could not be checked",
                "fetch advisories with `hardbox db update` (or `hardbox db import PATH`, --db PATH)",
            )]  # fmt: skip
        return [
            gate_finding("HB-GATE-011", gap.sentence(),
                         f"run `{gap.hint}`" if gap.hint else
                         "these packages cannot be checked; set vulnerabilities.coverage: best-effort to accept that",
                         extra={"ecosystem": gap.ecosystem, "unchecked": gap.unchecked})
            for gap in subject.coverage.gaps
        ]


_SSH_PACKAGES = frozenset({"openssh-server", "openssh", "dropbear", "openssh-server-pam", "tinyssh"})


@dataclass(frozen=True)
class Forbidden:
    """A named category (``forbid: [secrets, root-user, …]``)."""

    category: str

    @property
    def name(self) -> str:
        return f"forbid.{self.category}"

    @property
    def description(self) -> str:
        return {
            "secrets": "no secrets in the image", "root-user": "does not run as root",
            "setuid-files": "no setuid/setgid files", "ssh-server": "no SSH server",
            "world-writable": "no world-writable files", "private-keys": "no private keys or credential files",
        }[self.category]  # fmt: skip

    def violations(self, subject: Subject) -> list[Finding]:
        ids = {"setuid-files": {"HB-FILE-001"}, "world-writable": {"HB-FILE-002"},
               "private-keys": {"HB-FILE-003", "HB-FILE-006"}}.get(self.category, set())  # fmt: skip
        out = [f for f in subject.findings if f.id in ids]
        if self.category == "secrets":
            out = [f for f in subject.findings if f.kind is Kind.SECRET]
        elif self.category == "root-user":
            out = [f for f in subject.findings if f.id == "HB-CFG-001"]
            if not out and subject.runs_as_root:
                out = [gate_finding(
                    "HB-GATE-009", f"runs as root (user {subject.user or 'not set'})",
                    "set USER to a non-zero uid in the Dockerfile",
                )]  # fmt: skip
        elif self.category == "ssh-server":
            out = [f for f in subject.findings if f.id == "HB-CFG-002" and str(f.extra.get("port", "")).startswith("22/")]
            out += [
                gate_finding("HB-GATE-010", f"SSH server package {p.name} {p.version} installed",
                             "remove the SSH server; use `kubectl exec` for access", package=p.name, version=p.version)
                for p in subject.packages if p.name in _SSH_PACKAGES
            ]  # fmt: skip
        return out


@dataclass(frozen=True)
class ForbiddenFindings:
    matcher: FindingMatcher

    @property
    def name(self) -> str:
        return f"forbid_findings[{self.matcher.describe()}]"

    @property
    def description(self) -> str:
        return f"no findings with {self.matcher.describe()}"

    def violations(self, subject: Subject) -> list[Finding]:
        m = self.matcher
        return [
            f for f in subject.findings
            if (m.id is None or fnmatch.fnmatchcase(f.id, m.id))
            and (m.kind is None or f.kind is m.kind)
            and (m.min_severity is None or f.severity.rank >= m.min_severity.rank)
        ]  # fmt: skip


@dataclass(frozen=True)
class RequiredLabels:
    labels: tuple[str, ...]
    name: str = "required_labels"

    @property
    def description(self) -> str:
        return f"labels {', '.join(self.labels)} are set"

    def violations(self, subject: Subject) -> list[Finding]:
        return [
            gate_finding("HB-GATE-001", f"label {label} is missing", f'add LABEL {label}="…" to the Dockerfile',
                         Severity.MEDIUM, extra={"label": label})
            for label in self.labels if not subject.labels.get(label, "").strip()
        ]  # fmt: skip


@dataclass(frozen=True)
class MaxSize:
    limit: int
    name: str = "max_size"

    @property
    def description(self) -> str:
        return f"image is at most {self.limit} bytes"

    def violations(self, subject: Subject) -> list[Finding]:
        if subject.size <= self.limit:
            return []
        return [gate_finding(
            "HB-GATE-002", f"image is {subject.size} bytes, over the {self.limit} byte limit",
            "run `hardbox minimize`, use a smaller base, or drop build tools in a multi-stage build",
            Severity.MEDIUM, detail=f"{subject.size - self.limit} bytes too many",
        )]  # fmt: skip


@dataclass(frozen=True)
class AllowedBaseImages:
    patterns: tuple[str, ...]
    require_known: bool = False
    name: str = "base_images"

    @property
    def description(self) -> str:
        return f"base image matches {', '.join(self.patterns)}"

    def violations(self, subject: Subject) -> list[Finding]:
        base = subject.base_name
        fix = f"build FROM one of: {', '.join(self.patterns)}"
        if base is None:
            return [gate_finding("HB-GATE-003", "the image does not say what its base image is (no "
                                 "org.opencontainers.image.base.name label)", fix)] if self.require_known else []
        if any(fnmatch.fnmatchcase(base, p) for p in self.patterns):
            return []
        return [gate_finding("HB-GATE-003", f"base image {base} is not allowed", fix, detail=base)]


@dataclass(frozen=True)
class AllowedBaseOs:
    patterns: tuple[str, ...]
    name: str = "base_os"

    @property
    def description(self) -> str:
        return f"OS matches {', '.join(self.patterns)}"

    def violations(self, subject: Subject) -> list[Finding]:
        found = f"{subject.os_id}:{subject.os_version}" if subject.os_version else subject.os_id
        if not subject.os_id:
            found = "unknown"
        for pattern in self.patterns:
            if fnmatch.fnmatchcase(found, pattern) or (":" not in pattern and subject.os_id == pattern):
                return []
        detail = "" if subject.os_id else "the image has no readable /etc/os-release"
        return [gate_finding("HB-GATE-004", f"OS {found} is not allowed",
                             f"build on one of: {', '.join(self.patterns)}", detail=detail)]


@dataclass(frozen=True)
class Licenses:
    allowed: frozenset[str]
    denied: frozenset[str]
    unknown_fails: bool = False
    name: str = "licenses"

    @classmethod
    def of(cls, allowed: tuple[str, ...], denied: tuple[str, ...], unknown_fails: bool) -> Licenses:
        return cls(frozenset(map(canonical, allowed)), frozenset(map(canonical, denied)), unknown_fails)

    @property
    def description(self) -> str:
        parts = [f"allowed: {', '.join(sorted(self.allowed))}" if self.allowed else "",
                 f"denied: {', '.join(sorted(self.denied))}" if self.denied else ""]  # fmt: skip
        return "package licenses " + "; ".join(p for p in parts if p)

    def violations(self, subject: Subject) -> list[Finding]:
        out: list[Finding] = []
        for p in subject.packages:
            expression = " AND ".join(f"({lic})" for lic in p.licenses) if p.licenses else ""
            verdict = judge(expression, self.allowed, self.denied) if expression else None
            if verdict is None or verdict.unknown:
                if self.unknown_fails:
                    why = verdict.why if verdict else "no license recorded"
                    out.append(gate_finding("HB-GATE-006", f"{p.name} {p.version}: unknown license ({why})",
                                            "check the package's license by hand and add an exception",
                                            Severity.LOW, package=p.name, version=p.version))
            elif not verdict.ok:
                out.append(gate_finding("HB-GATE-005", f"{p.name} {p.version}: license {verdict.why}",
                                        "replace the package, or record a reviewed exception",
                                        package=p.name, version=p.version, detail=expression))
        return out


@dataclass(frozen=True)
class DockerfileLint:
    lint: LintResult
    fail_on: Severity
    ignore: frozenset[str] = frozenset()
    name: str = "dockerfile"

    @property
    def description(self) -> str:
        return f"Dockerfile {self.lint.path} has no lint findings at or above {self.fail_on.value}"

    def violations(self, subject: Subject) -> list[Finding]:
        return [f.to_finding() for f in self.lint.at_or_above(self.fail_on) if f.rule not in self.ignore]


@dataclass(frozen=True)
class Callback:
    """A rule whose check is given as a function (the profile checks: see ``profile_check``)."""

    name: str
    description: str
    check: Callable[[Subject], list[Finding]] = field(compare=False)

    def violations(self, subject: Subject) -> list[Finding]:
        return self.check(subject)


def build_rules(policy: Policy, lint: LintResult | None = None, *, vuln_db: bool = True,
                db_problem: str | None = None) -> list[GateRule]:
    """The rules ``policy`` asks for; ``vuln_db`` says whether the scan had a vulnerability
    database, ``db_problem`` why the one it had cannot be trusted (it holds no advisory).
    Profile rules are added by ``profile_check.profile_rules``."""
    rules: list[GateRule] = []
    if policy.vulnerabilities:
        rules.append(Vulnerabilities(policy.vulnerabilities, vuln_db, db_problem))
    rules.extend(Forbidden(c) for c in policy.forbid)
    rules.extend(ForbiddenFindings(m) for m in policy.forbid_findings)
    if policy.required_labels:
        rules.append(RequiredLabels(policy.required_labels))
    if policy.max_size is not None:
        rules.append(MaxSize(policy.max_size))
    if policy.base_images:
        rules.append(AllowedBaseImages(policy.base_images, policy.base_images_require_known))
    if policy.base_os:
        rules.append(AllowedBaseOs(policy.base_os))
    if policy.licenses:
        lic = policy.licenses
        rules.append(Licenses.of(lic.allowed, lic.denied, lic.unknown_fails))
    if lint is not None:
        dfp = policy.dockerfile
        rules.append(DockerfileLint(lint, dfp.fail_on if dfp else Severity.HIGH, dfp.ignore if dfp else frozenset()))
    return rules
