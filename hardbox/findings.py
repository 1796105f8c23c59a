"""The findings model shared by scan, gate and every report (DESIGN.md, "Shared conventions").

A finding is one thing a reviewer should know about an image: a vulnerable package, a risky
configuration, a secret. It lives below ``scan`` and ``gate`` so both can stand on it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse: critical 4 … info 0."""
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            from hardbox.errors import UsageError

            raise UsageError(f"unknown severity {text!r}: expected one of {names}") from None

    @classmethod
    def from_cvss_score(cls, score: float) -> Severity:
        """The CVSS v3/v4 qualitative rating scale (FIRST, CVSS v3.1 spec section 5)."""
        if score >= 9.0:
            return cls.CRITICAL
        if score >= 7.0:
            return cls.HIGH
        if score >= 4.0:
            return cls.MEDIUM
        if score > 0.0:
            return cls.LOW
        return cls.INFO


_RANK = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1, Severity.INFO: 0}


class Kind(enum.Enum):
    VULNERABILITY = "vulnerability"
    MISCONFIGURATION = "misconfiguration"
    SECRET = "secret"


@dataclass(frozen=True)
class LayerRef:
    """Where in the image a finding came from: the layer's diff_id, index (0 = oldest) and
    the ``created_by`` of the history entry that made it."""

    diff_id: str
    index: int
    created_by: str = ""


@dataclass(frozen=True)
class Finding:
    id: str
    kind: Kind
    severity: Severity
    title: str
    detail: str = ""
    fix: str = ""
    package: str | None = None
    version: str | None = None
    path: str | None = None
    layer: LayerRef | None = None
    # Advisory aliases (CVE ids), the fixed version, CVSS vector/score, references: whatever a
    # kind needs beyond the shared fields, kept JSON-serialisable.
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "title": self.title,
            "detail": self.detail,
            "fix": self.fix,
            "package": self.package,
            "version": self.version,
            "path": self.path,
            "layer": self.layer.diff_id if self.layer else None,
            "layer_index": self.layer.index if self.layer else None,
            "layer_created_by": self.layer.created_by if self.layer else None,
            **({"extra": self.extra} if self.extra else {}),
        }

    def sort_key(self) -> tuple[Any, ...]:
        """Worst first, then stable by id, package and path: reports are deterministic."""
        return (-self.severity.rank, self.kind.value, self.id, self.package or "", self.path or "")
