"""The gate policy: YAML validated by ``policies/gate/schema.json`` into a frozen ``Policy``.

``load_policy(None)`` is the shipped ``policies/gate/default.yaml``. Every field is optional;
``rules.build_rules`` turns the fields that are set into rule objects. A bad policy is one
``InputError`` naming the file, the line and the field (exit 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbox.errors import InputError
from hardbox.findings import Kind, Severity
from hardbox.gate.yamldoc import Document, load_schema, read
from hardbox.resources import policies
from hardbox.scan.coverage import parse_duration

_UNITS = {"": 1, "B": 1, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
          "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}  # fmt: skip


@dataclass(frozen=True)
class VulnerabilityThreshold:
    severities: frozenset[Severity]
    count_unfixed: bool = False
    max: int = 0
    coverage_required: bool = True  # coverage: required (default) | best-effort
    max_db_age: int | None = None  # seconds; an older database fails the gate


@dataclass(frozen=True)
class FindingMatcher:
    """Matches findings by id glob, kind and minimum severity; every field given must match."""

    id: str | None = None
    kind: Kind | None = None
    min_severity: Severity | None = None

    def describe(self) -> str:
        parts = [f"id {self.id}" if self.id else "", f"kind {self.kind.value}" if self.kind else "",
                 f"severity >= {self.min_severity.value}" if self.min_severity else ""]  # fmt: skip
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class LicensePolicy:
    allowed: tuple[str, ...] = ()
    denied: tuple[str, ...] = ()
    unknown_fails: bool = False


@dataclass(frozen=True)
class ProfileRequirement:
    name: str
    probe: str | None = None


@dataclass(frozen=True)
class DockerfilePolicy:
    fail_on: Severity
    ignore: frozenset[str] = frozenset()


# hardbox's own checks of every container for `gate --k8s` (gate/k8s/controls.REQUIREMENTS).
K8S_REQUIREMENTS = ("run-as-non-root", "no-privilege-escalation", "read-only-root-filesystem",
                    "drop-all-capabilities", "seccomp", "no-host-namespaces", "no-host-path", "no-privileged")


@dataclass(frozen=True)
class KubernetesPolicy:
    """What ``gate --k8s`` checks: a Pod Security Standards level and hardbox's requirements."""

    pod_security: str = "restricted"
    require: tuple[str, ...] = K8S_REQUIREMENTS


@dataclass(frozen=True)
class Policy:
    name: str
    source: str
    description: str = ""
    vulnerabilities: VulnerabilityThreshold | None = None
    forbid: tuple[str, ...] = ()
    forbid_findings: tuple[FindingMatcher, ...] = ()
    required_labels: tuple[str, ...] = ()
    max_size: int | None = None
    base_images: tuple[str, ...] = ()
    base_images_require_known: bool = False
    base_os: tuple[str, ...] = ()
    licenses: LicensePolicy | None = None
    profile: ProfileRequirement | None = None
    dockerfile: DockerfilePolicy | None = None
    kubernetes: KubernetesPolicy = KubernetesPolicy()


def default_policy_path() -> Path:
    return Path(str(policies() / "gate" / "default.yaml"))


def load_policy(path: str | Path | None = None) -> Policy:
    p = Path(path) if path is not None else default_policy_path()
    doc = read(p, "policy", load_schema("schema.json"))
    return _policy(doc)


def parse_size(value: int | str) -> int:
    """``200MB`` → 200000000; ``1.5GiB`` → 1610612736 (SI and IEC units, as `du` spells them)."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([kKMGT]i?B|B)?", value.strip())
    if not m:
        raise ValueError(f"not a size: {value!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2) or ""])


def _policy(doc: Document) -> Policy:
    d = doc.data
    vulns = d.get("vulnerabilities")
    lic = d.get("licenses")
    prof = d.get("profile")
    dfp = d.get("dockerfile")
    k8s = d.get("kubernetes") or {}
    base = d.get("base_images") or {}
    for lic_id in [*(lic or {}).get("allowed", []), *(lic or {}).get("denied", [])]:
        _check_license(doc, lic_id)
    return Policy(
        name=d.get("name") or doc.path.stem,
        source=str(doc.path),
        description=d.get("description", ""),
        vulnerabilities=VulnerabilityThreshold(
            frozenset(Severity(s) for s in vulns["severities"]),
            bool(vulns.get("count_unfixed", False)),
            int(vulns.get("max", 0)),
            vulns.get("coverage", "required") == "required",
            _duration(doc, vulns["max_db_age"]) if "max_db_age" in vulns else None,
        ) if vulns else None,
        forbid=tuple(d.get("forbid", ())),
        forbid_findings=tuple(
            FindingMatcher(
                m.get("id"),
                Kind(m["kind"]) if "kind" in m else None,
                Severity(m["min_severity"]) if "min_severity" in m else None,
            )
            for m in d.get("forbid_findings", ())
        ),
        required_labels=tuple(d.get("required_labels", ())),
        max_size=parse_size(d["max_size"]) if "max_size" in d else None,
        base_images=tuple(base.get("allowed", ())),
        base_images_require_known=bool(base.get("require_known", False)),
        base_os=tuple((d.get("base_os") or {}).get("allowed", ())),
        licenses=LicensePolicy(
            tuple(lic.get("allowed", ())), tuple(lic.get("denied", ())), lic.get("unknown") == "fail"
        ) if lic else None,
        profile=ProfileRequirement(prof["name"], prof.get("probe")) if prof else None,
        dockerfile=DockerfilePolicy(Severity(dfp["fail_on"]), frozenset(dfp.get("ignore", ()))) if dfp else None,
        kubernetes=KubernetesPolicy(k8s.get("pod_security", "restricted"), tuple(k8s.get("require", K8S_REQUIREMENTS))),
    )  # fmt: skip


def _duration(doc: Document, value: Any) -> int:
    try:
        return parse_duration(value)
    except ValueError as err:
        raise InputError(f"policy {doc.path}:{doc.line_of(['vulnerabilities', 'max_db_age'])}: vulnerabilities.max_db_age: {err}") from None


def _check_license(doc: Document, lic_id: str) -> None:
    """Allowed/denied entries must be SPDX license ids, or a typo silently allows everything."""
    from hardbox.gate.licenses import is_known_spdx_id

    if not is_known_spdx_id(lic_id):
        raise InputError(
            f"policy {doc.path}:{_line_of_value(doc, lic_id)}: licenses: {lic_id!r} is not an SPDX license id",
            hint="use ids from https://spdx.org/licenses/ (e.g. MIT, Apache-2.0, GPL-3.0-only)",
        )


def _line_of_value(doc: Document, value: Any) -> int:
    for key in ("allowed", "denied"):
        items = doc.data.get("licenses", {}).get(key, [])
        if value in items:
            return doc.line_of(["licenses", key, items.index(value)])
    return doc.line_of(["licenses"])
