"""The findings model shared by scan, gate and every report (docs/architecture.md; the
"Shared conventions" of the design).

A finding is one thing a reviewer should know about an image: a vulnerable package, a risky
configuration, a secret. It lives below ``scan`` and ``gate`` so both can stand on it.

What a kind says beyond the shared fields is typed: a vulnerability carries a
``VulnerabilityDetail`` (what the advisory says: aliases, the fixed version, CVSS), a secret a
``SecretDetail`` (its redacted value and where in the config it sits), as pip-audit's
``VulnerabilityResult`` does. Check-specific facts no code branches on (the port, a file
mode) stay in ``extra``. ``to_dict`` flattens all of it into the one ``extra`` object of the
JSON reports (docs/report-json.md), and ``from_dict`` reads it back.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hardbox.errors import UsageError

# A check-specific fact: what the JSON report's ``extra`` may hold besides the typed details.
Fact = str | int | bool


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
class VulnerabilityDetail:
    """What the matched advisory says about a vulnerable package (scan/vulndb/match.py)."""

    aliases: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()  # the CVE ids among the advisory's id and aliases, in order
    fixed_version: str | None = None  # the nearest fixed version above the installed one
    ecosystem: str = ""  # OSV's name of the ecosystem the advisory was matched in
    advisory_package: str = ""  # the package as the advisory names it (a Debian source)
    compared_version: str = ""  # the version compared (a source version, an epoch added)
    purl: str = ""
    severity_source: str = ""  # cvss_v3, cvss_v4, record, cvss_v2, default
    cvss_vector: str | None = None
    cvss_score: float | None = None
    published: str | None = None  # RFC 3339, as the advisory gives it
    modified: str | None = None
    references: tuple[str, ...] = ()  # URLs

    def to_dict(self) -> dict[str, Any]:
        return {
            "aliases": list(self.aliases), "cves": list(self.cves),
            "fixed_version": self.fixed_version, "ecosystem": self.ecosystem,
            "advisory_package": self.advisory_package, "compared_version": self.compared_version,
            "purl": self.purl, "severity_source": self.severity_source,
            "cvss_vector": self.cvss_vector, "cvss_score": self.cvss_score,
            "published": self.published, "modified": self.modified,
            "references": list(self.references),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> VulnerabilityDetail:
        score = doc.get("cvss_score")
        return cls(
            aliases=_strings(doc, "aliases"), cves=_strings(doc, "cves"),
            fixed_version=_optional(doc, "fixed_version"), ecosystem=_text(doc, "ecosystem"),
            advisory_package=_text(doc, "advisory_package"),
            compared_version=_text(doc, "compared_version"), purl=_text(doc, "purl"),
            severity_source=_text(doc, "severity_source"),
            cvss_vector=_optional(doc, "cvss_vector"),
            cvss_score=float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
            published=_optional(doc, "published"), modified=_optional(doc, "modified"),
            references=_strings(doc, "references"),
        )  # fmt: skip


_VULNERABILITY_KEYS = frozenset(VulnerabilityDetail().to_dict())


@dataclass(frozen=True)
class SecretDetail:
    """A secret found: its value as reports may show it (a short prefix and the length,
    ``"AKIA… (20 chars)"``; never the value itself) and where in the config it sits."""

    redacted: str
    source: str | None = None  # ENV or LABEL, for a secret in the image config
    key: str | None = None  # the variable or label holding it
    matches_in_file: int | None = None  # when a file holds several
    hidden_by: str | None = None  # diff_id of the later layer that deleted or replaced the file
    deleted: bool | None = None  # deleted (True) or replaced (False) by ``hidden_by``

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"redacted": self.redacted}
        for name in ("source", "key", "matches_in_file", "hidden_by", "deleted"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> SecretDetail:
        count, deleted = doc.get("matches_in_file"), doc.get("deleted")
        return cls(
            redacted=_text(doc, "redacted"), source=_optional(doc, "source"), key=_optional(doc, "key"),
            matches_in_file=count if isinstance(count, int) and not isinstance(count, bool) else None,
            hidden_by=_optional(doc, "hidden_by"), deleted=deleted if isinstance(deleted, bool) else None,
        )  # fmt: skip


_SECRET_KEYS = frozenset(("redacted", "source", "key", "matches_in_file", "hidden_by", "deleted"))


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
    line: int | None = None  # 1-based line in ``path`` (a secret in a file, a Dockerfile rule)
    history_index: int | None = None  # the build step it is about (one that made no layer too)
    vulnerability: VulnerabilityDetail | None = None  # kind vulnerability
    secret: SecretDetail | None = None  # kind secret
    # What a check adds that no code branches on (the port, a file mode, the user), for the
    # JSON report. Excluded from equality: two findings are the same without it.
    extra: Mapping[str, Fact] = field(default_factory=dict, compare=False, hash=False)

    @property
    def fixed_version(self) -> str:
        """The version that fixes a vulnerability finding, or "" when none is known."""
        return (self.vulnerability.fixed_version or "") if self.vulnerability else ""

    @property
    def aliases(self) -> tuple[str, ...]:
        """The advisory's other ids (CVE ids, GHSA ids); empty for a check's finding."""
        return self.vulnerability.aliases if self.vulnerability else ()

    @property
    def redacted(self) -> str:
        """A secret's value as reports may show it; "" for other kinds."""
        return self.secret.redacted if self.secret else ""

    def fingerprint(self) -> str:
        """The finding's identity across scans and tools (SARIF ``partialFingerprints``): the
        id, package, version, path and layer, never the title or any text, so a reworded title
        is the same alert. The layer counts by index, not diff_id: a rebuild changes every
        diff_id above the base, not which step brought the file. A finding with no path (an
        image-config finding) adds the build step and config key it names, so two exposed
        ports or two ENV secrets stay two alerts; a finding about a field of a structured
        file (a Kubernetes manifest: ``extra["object"]`` and ``["field"]``) adds both, not the
        line, so two containers of one manifest are two alerts and an edit above moves neither.
        An image's finding moved onto the manifest that runs the image (``gate --k8s
        --images``) adds its own fingerprint in the image (``extra["image_fingerprint"]``), so
        two setuid files of one image stay two alerts at that container."""
        parts = [self.id, self.package or "", self.version or "", self.path or "",
                 "" if self.layer is None else str(self.layer.index)]
        if self.path is None:
            parts += ["" if self.history_index is None else str(self.history_index),
                      (self.secret.key or "") if self.secret else "", str(self.extra.get("port", ""))]
        if "field" in self.extra:
            parts += [str(self.extra.get("object", "")), str(self.extra["field"])]
        if "image_fingerprint" in self.extra:
            parts.append(str(self.extra["image_fingerprint"]))
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]

    def extra_dict(self) -> dict[str, Any]:
        """The JSON reports' ``extra``: the check's facts, the location fields, the typed
        details, flattened into one object (docs/report-json.md)."""
        out: dict[str, Any] = dict(self.extra)
        if self.line is not None:
            out["line"] = self.line
        if self.history_index is not None:
            out["history_index"] = self.history_index
        if self.secret is not None:
            out.update(self.secret.to_dict())
        if self.vulnerability is not None:
            out.update(self.vulnerability.to_dict())
        return out

    def to_dict(self) -> dict[str, Any]:
        extra = self.extra_dict()
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
            **({"extra": extra} if extra else {}),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Finding:
        """A finding as ``to_dict`` wrote it (a JSON report read back). Raises ``ValueError``
        or ``KeyError`` naming what is missing or malformed."""
        kind = Kind(doc["kind"])
        extra = doc.get("extra") or {}
        if not isinstance(extra, Mapping):
            raise ValueError(f"finding {doc.get('id')!r}: extra is not an object")
        layer = None
        if doc.get("layer") is not None:
            layer = LayerRef(str(doc["layer"]), int(doc["layer_index"]), str(doc.get("layer_created_by") or ""))
        line, step = extra.get("line"), extra.get("history_index")
        typed = {"line", "history_index"}
        vulnerability = secret = None
        if kind is Kind.VULNERABILITY and _VULNERABILITY_KEYS & extra.keys():
            vulnerability = VulnerabilityDetail.from_dict(extra)
            typed |= _VULNERABILITY_KEYS
        if "redacted" in extra:
            secret = SecretDetail.from_dict(extra)
            typed |= _SECRET_KEYS
        facts = {k: v for k, v in extra.items() if k not in typed and isinstance(v, str | int | bool)}
        return cls(
            id=str(doc["id"]), kind=kind, severity=Severity(doc["severity"]), title=str(doc["title"]),
            detail=str(doc.get("detail") or ""), fix=str(doc.get("fix") or ""),
            package=_optional(doc, "package"), version=_optional(doc, "version"), path=_optional(doc, "path"),
            layer=layer, line=line if isinstance(line, int) else None,
            history_index=step if isinstance(step, int) else None,
            vulnerability=vulnerability, secret=secret, extra=facts,
        )  # fmt: skip

    def sort_key(self) -> tuple[Any, ...]:
        """Worst first, then stable by id, package and path: reports are deterministic."""
        return (-self.severity.rank, self.kind.value, self.id, self.package or "", self.path or "")


def _text(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    return value if isinstance(value, str) else ""


def _optional(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) else None


def _strings(doc: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = doc.get(key)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list | tuple) else ()
