"""Each gate rule on the facts it reads: a subject that breaks it, and one that does not."""

from __future__ import annotations

import dataclasses

import pytest

from hardbox.dockerfile.lint import lint
from hardbox.dockerfile.parser import parse_text
from hardbox.findings import Finding, Kind, Severity, VulnerabilityDetail
from hardbox.gate.policy import FindingMatcher, Policy, VulnerabilityThreshold
from hardbox.gate.rules import (
    AllowedBaseImages,
    AllowedBaseOs,
    DockerfileLint,
    Forbidden,
    ForbiddenFindings,
    Licenses,
    MaxSize,
    RequiredLabels,
    Vulnerabilities,
    build_rules,
)
from hardbox.gate.subject import PackageFacts, Subject


def vuln(id: str, severity: Severity, fixed: str | None, package: str = "openssl") -> Finding:
    detail = VulnerabilityDetail(aliases=("CVE-2024-0001",), fixed_version=fixed)
    return Finding(id, Kind.VULNERABILITY, severity, f"{id} in {package}", package=package, version="3.0.1",
                   vulnerability=detail)


def check(id: str, kind: Kind = Kind.MISCONFIGURATION, severity: Severity = Severity.HIGH, **kw: object) -> Finding:
    return Finding(id, kind, severity, id, **kw)  # type: ignore[arg-type]


NON_ROOT = Subject(name="app", id="sha256:" + "1" * 64, user="1000")


def ids(findings: list[Finding]) -> list[str]:
    return [f.id for f in findings]


def test_vulnerabilities_count_only_fixable_by_default() -> None:
    rule = Vulnerabilities(VulnerabilityThreshold(frozenset({Severity.CRITICAL, Severity.HIGH})))
    subject = dataclasses.replace(NON_ROOT, findings=(
        vuln("GHSA-aaaa", Severity.HIGH, "3.0.2"), vuln("GHSA-bbbb", Severity.CRITICAL, None),
        vuln("GHSA-cccc", Severity.MEDIUM, "3.0.2"),
    ))  # fmt: skip
    assert ids(rule.violations(subject)) == ["GHSA-aaaa"]
    counting = Vulnerabilities(VulnerabilityThreshold(frozenset({Severity.CRITICAL, Severity.HIGH}), count_unfixed=True))
    assert sorted(ids(counting.violations(subject))) == ["GHSA-aaaa", "GHSA-bbbb"]
    tolerant = Vulnerabilities(VulnerabilityThreshold(frozenset({Severity.HIGH}), max=1))
    assert tolerant.violations(subject) == []
    assert rule.violations(NON_ROOT) == []


def test_vulnerabilities_fail_closed_without_a_database() -> None:
    rule = Vulnerabilities(VulnerabilityThreshold(frozenset({Severity.HIGH})), db_available=False)
    assert ids(rule.violations(NON_ROOT)) == ["HB-GATE-011"]


def test_forbidden_secrets_by_kind() -> None:
    secret = check("HB-SEC-001", Kind.SECRET, path="/app/.env")
    subject = dataclasses.replace(NON_ROOT, findings=(secret, check("HB-CFG-004", severity=Severity.LOW)))
    assert Forbidden("secrets").violations(subject) == [secret]
    assert Forbidden("secrets").violations(NON_ROOT) == []


def test_forbidden_root_user_from_scanner_or_config() -> None:
    root = check("HB-CFG-001")
    assert Forbidden("root-user").violations(dataclasses.replace(NON_ROOT, user="", findings=(root,))) == [root]
    # Without the scanner's finding the config still decides: root:root is root.
    assert ids(Forbidden("root-user").violations(dataclasses.replace(NON_ROOT, user="root:root"))) == ["HB-GATE-009"]
    assert Forbidden("root-user").violations(NON_ROOT) == []


def test_forbidden_setuid_ssh_world_writable_private_keys() -> None:
    findings = (
        check("HB-FILE-001", path="/bin/su"), check("HB-FILE-002", path="/tmp2"),
        check("HB-FILE-006", Kind.SECRET, path="/root/.ssh/id_rsa"),
        check("HB-CFG-002", extra={"port": "22/tcp"}), check("HB-CFG-002", extra={"port": "23/tcp"}),
    )  # fmt: skip
    subject = dataclasses.replace(
        NON_ROOT, findings=findings,
        packages=(PackageFacts("openssh-server", "1:9.2p1-2", "deb", "pkg:deb/debian/openssh-server@1:9.2p1-2"),),
    )  # fmt: skip
    assert [f.path for f in Forbidden("setuid-files").violations(subject)] == ["/bin/su"]
    assert ids(Forbidden("world-writable").violations(subject)) == ["HB-FILE-002"]
    assert ids(Forbidden("private-keys").violations(subject)) == ["HB-FILE-006"]
    ssh = Forbidden("ssh-server").violations(subject)
    assert ids(ssh) == ["HB-CFG-002", "HB-GATE-010"] and ssh[0].extra["port"] == "22/tcp"
    for category in ("setuid-files", "world-writable", "private-keys", "ssh-server"):
        assert Forbidden(category).violations(NON_ROOT) == []


def test_forbidden_findings_by_id_glob_kind_and_severity() -> None:
    subject = dataclasses.replace(NON_ROOT, findings=(
        check("HB-FILE-004", severity=Severity.LOW), check("HB-CFG-006", Kind.SECRET),
        check("HB-CFG-003", severity=Severity.LOW),
    ))  # fmt: skip
    assert ids(ForbiddenFindings(FindingMatcher(id="HB-FILE-*")).violations(subject)) == ["HB-FILE-004"]
    assert ids(ForbiddenFindings(FindingMatcher(kind=Kind.MISCONFIGURATION, min_severity=Severity.MEDIUM)).violations(subject)) == []
    assert ids(ForbiddenFindings(FindingMatcher(kind=Kind.SECRET)).violations(subject)) == ["HB-CFG-006"]


def test_required_labels() -> None:
    rule = RequiredLabels(("org.opencontainers.image.source", "team"))
    subject = dataclasses.replace(NON_ROOT, labels={"org.opencontainers.image.source": "https://x", "team": " "})
    assert [f.title for f in rule.violations(subject)] == ["label team is missing"]
    full = dataclasses.replace(NON_ROOT, labels={"org.opencontainers.image.source": "https://x", "team": "infra"})
    assert rule.violations(full) == []


def test_max_size() -> None:
    assert ids(MaxSize(1000).violations(dataclasses.replace(NON_ROOT, size=1001))) == ["HB-GATE-002"]
    assert MaxSize(1000).violations(dataclasses.replace(NON_ROOT, size=1000)) == []


def test_allowed_base_images() -> None:
    rule = AllowedBaseImages(("docker.io/library/alpine:3.*",))
    labelled = dataclasses.replace(NON_ROOT, labels={"org.opencontainers.image.base.name": "docker.io/library/ubuntu:24.04"})
    assert ids(rule.violations(labelled)) == ["HB-GATE-003"]
    ok = dataclasses.replace(NON_ROOT, labels={"org.opencontainers.image.base.name": "docker.io/library/alpine:3.20"})
    assert rule.violations(ok) == []
    assert rule.violations(NON_ROOT) == []  # base unknown, not required
    assert ids(AllowedBaseImages(rule.patterns, require_known=True).violations(NON_ROOT)) == ["HB-GATE-003"]


def test_allowed_base_os() -> None:
    rule = AllowedBaseOs(("debian:12", "alpine:3.*", "distroless"))
    assert rule.violations(dataclasses.replace(NON_ROOT, os_id="alpine", os_version="3.20.1")) == []
    assert rule.violations(dataclasses.replace(NON_ROOT, os_id="distroless", os_version="12")) == []
    bad = rule.violations(dataclasses.replace(NON_ROOT, os_id="ubuntu", os_version="24.04"))
    assert [f.title for f in bad] == ["OS ubuntu:24.04 is not allowed"]
    assert [f.title for f in rule.violations(NON_ROOT)] == ["OS unknown is not allowed"]


def pkg(name: str, *licenses: str) -> PackageFacts:
    return PackageFacts(name, "1.0", "pypi", f"pkg:pypi/{name}@1.0", licenses)


def test_licenses_denied_allowed_and_unknown() -> None:
    subject = dataclasses.replace(NON_ROOT, packages=(
        pkg("a", "MIT"), pkg("b", "MIT OR GPL-3.0-only"), pkg("c", "GPL-3.0-only"),
        pkg("d", "GPL-2.0+"), pkg("e", "Artistic and GPL"), pkg("f"),
    ))  # fmt: skip
    denied = Licenses.of((), ("GPL-3.0-only", "GPL-2.0-or-later"), unknown_fails=False)
    assert [f.package for f in denied.violations(subject)] == ["c", "d"]
    allowed = Licenses.of(("MIT", "Apache-2.0"), (), unknown_fails=True)
    got = {f.package: f.id for f in allowed.violations(subject)}
    assert got == {"c": "HB-GATE-005", "d": "HB-GATE-005", "e": "HB-GATE-006", "f": "HB-GATE-006"}
    assert denied.violations(dataclasses.replace(NON_ROOT, packages=(pkg("a", "MIT"),))) == []


@pytest.mark.parametrize("text", ["BSD-3-clause and/or GPL-3+", "GPL-2+ with OpenSSL exception", "((", "a and"])
def test_debian_free_text_license_is_unknown_not_a_crash(text: str) -> None:
    # license-expression 30.4's validate() raised AttributeError on the first of these, a
    # copyright file string in Debian's own packages (issue 16 item 7).
    subject = dataclasses.replace(NON_ROOT, packages=(pkg("deb", text),))
    assert Licenses.of((), ("AGPL-3.0-only",), unknown_fails=False).violations(subject) == []
    assert ids(Licenses.of((), ("AGPL-3.0-only",), unknown_fails=True).violations(subject)) == ["HB-GATE-006"]


def test_dockerfile_lint_rule_uses_the_policy_threshold_and_ignores() -> None:
    result = lint(parse_text("FROM alpine\nRUN curl -fsSL https://x | sh\n", "Dockerfile"))
    assert sorted(ids(DockerfileLint(result, Severity.HIGH).violations(NON_ROOT))) == ["HB-DF-003", "HB-DF-012"]
    assert ids(DockerfileLint(result, Severity.HIGH, frozenset({"HB-DF-003"})).violations(NON_ROOT)) == ["HB-DF-012"]
    clean = lint(parse_text("FROM alpine:3.20\nUSER 10001\n"))
    assert DockerfileLint(clean, Severity.LOW).violations(NON_ROOT) == []


@pytest.mark.parametrize("with_lint", [False, True])
def test_build_rules_follows_the_policy(with_lint: bool) -> None:
    policy = Policy(name="p", source="p.yaml", forbid=("secrets",), max_size=10, required_labels=("a",))
    result = lint(parse_text("FROM alpine:3.20\nUSER 1\n")) if with_lint else None
    names = [r.name for r in build_rules(policy, result)]
    assert names == ["forbid.secrets", "required_labels", "max_size", *(["dockerfile"] if with_lint else [])]
