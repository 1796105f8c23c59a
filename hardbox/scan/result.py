"""What a scan found, as one immutable value every reporter renders: ``ScanResult``.

It holds the image (name, id, tags, OS, layers with what each introduced, the build
history), the packages and each cataloger's status, the findings sorted worst first, the
risk grade and the notes a reader needs to trust the result (no vulnerability database,
files skipped by the secrets policy). ``to_dict`` is the JSON report's body; its shape is
documented in docs/report-json.md and changes only with ``SCHEMA_VERSION``. ``from_dict``
reads such a report back into the same types (the reporters' golden files are rendered
from a committed one, as syft's format snapshots are).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hardbox import __version__
from hardbox.findings import Finding, Kind, LayerRef, Severity
from hardbox.scan.catalog.interface import CatalogerStatus, Status
from hardbox.scan.coverage import Coverage
from hardbox.scan.package import Package
from hardbox.scan.risk import RiskGrade
from hardbox.scan.upgrades import Upgrade, plan_upgrades

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class LayerInfo:
    """One layer as ``docker history`` shows it, plus what hardbox found in it."""

    index: int
    diff_id: str
    digest: str
    size: int
    created_by: str
    created: str | None
    shadowed_bytes: int = 0  # bytes of this layer's files that later layers hide

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "diff_id": self.diff_id, "digest": self.digest,
                "size": self.size, "created_by": self.created_by, "created": self.created,
                "shadowed_bytes": self.shadowed_bytes}


@dataclass(frozen=True)
class HistoryInfo:
    """One build step; ``layer_index`` is None for steps that made no layer (ENV, EXPOSE)."""

    index: int
    created_by: str
    created: str | None
    layer_index: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "created_by": self.created_by, "created": self.created,
                "layer_index": self.layer_index}


@dataclass(frozen=True)
class ImageInfo:
    name: str
    id: str
    tags: tuple[str, ...]
    os: dict[str, Any] | None
    architecture: str
    created: str | None
    user: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    exposed_ports: tuple[str, ...]
    layers: tuple[LayerInfo, ...]
    history: tuple[HistoryInfo, ...]
    # What was scanned: "image", or "sbom" for `scan sbom:FILE` (``id`` is then the SBOM
    # file's digest, and there are no layers, config or files).
    source: str = "image"

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[-1][:12]

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.source, "id": self.id, "tags": list(self.tags), "os": self.os,
            "architecture": self.architecture, "created": self.created, "user": self.user,
            "entrypoint": list(self.entrypoint), "cmd": list(self.cmd),
            "exposed_ports": list(self.exposed_ports), "size": self.size,
            "layers": [layer.to_dict() for layer in self.layers],
            "history": [h.to_dict() for h in self.history],
        }


@dataclass(frozen=True)
class Filters:
    """What the user narrowed the listing to; recorded so a report says what it omits."""

    severities: tuple[Severity, ...] = ()  # empty: every severity
    ignore_unfixed: bool = False

    def keeps(self, finding: Finding) -> bool:
        if self.severities and finding.severity not in self.severities:
            return False
        return not (self.ignore_unfixed and finding.kind is Kind.VULNERABILITY
                    and not finding.fixed_version)

    def to_dict(self) -> dict[str, Any]:
        return {"severities": [s.value for s in self.severities],
                "ignore_unfixed": self.ignore_unfixed}


@dataclass(frozen=True)
class ScanResult:
    image: ImageInfo
    packages: tuple[Package, ...]
    catalogers: tuple[CatalogerStatus, ...]
    findings: tuple[Finding, ...]  # after filters, sorted by Finding.sort_key
    risk: RiskGrade  # over every finding, before filters
    filters: Filters = field(default_factory=Filters)
    vuln_db: str | None = None  # the database matched against, None when there was none
    coverage: Coverage = field(default_factory=Coverage)  # what the vulnerability match checked
    notes: tuple[str, ...] = ()
    omitted: int = 0  # findings the filters left out
    walk_errors: tuple[str, ...] = ()  # entries the walk could not read, "path: reason"

    def of_kind(self, kind: Kind) -> list[Finding]:
        return [f for f in self.findings if f.kind is kind]

    def counts(self) -> dict[str, dict[str, int]]:
        """Findings by kind, then severity, every key present (zeros too): stable columns."""
        tally = Counter((f.kind, f.severity) for f in self.findings)
        return {k.value: {s.value: tally.get((k, s), 0) for s in Severity} for k in Kind}

    def severity_counts(self) -> dict[str, int]:
        tally = Counter(f.severity for f in self.findings)
        return {s.value: tally.get(s, 0) for s in Severity}

    def layer_summary(self) -> list[dict[str, Any]]:
        """Per layer: how many packages and findings it introduced."""
        packages = Counter(p.layer.diff_id for p in self.packages if p.layer is not None)
        findings = Counter(f.layer.diff_id for f in self.findings if f.layer is not None)
        return [{"index": layer.index, "packages": packages.get(layer.diff_id, 0),
                 "findings": findings.get(layer.diff_id, 0)} for layer in self.image.layers]

    def top(self, n: int = 5) -> list[Finding]:
        return list(self.findings[:n])

    def upgrades(self) -> tuple[Upgrade, ...]:
        """One upgrade per vulnerable package with a known fix, ranked by what it fixes
        (``hardbox.scan.upgrades``), over the findings the filters keep."""
        return plan_upgrades(self.findings)

    def sbom_summary(self) -> dict[str, Any]:
        """What ``hardbox sbom`` would say, in brief: the OS, packages by ecosystem, and
        each cataloger's status (a damaged package database shows here as partial/failed)."""
        by_ecosystem = Counter(p.ecosystem for p in self.packages)
        return {
            "os": self.image.os,
            "packages": len(self.packages),
            "by_ecosystem": dict(sorted(by_ecosystem.items())),
            "catalogers": [c.to_dict() for c in self.catalogers],
            "walk_errors": list(self.walk_errors),
        }

    def to_dict(self) -> dict[str, Any]:
        summary = {layer["index"]: layer for layer in self.layer_summary()}
        image = self.image.to_dict()
        for layer in image["layers"]:
            layer["packages"] = summary[layer["index"]]["packages"]
            layer["findings"] = summary[layer["index"]]["findings"]
        return {
            "schema": "hardbox.scan",
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "hardbox", "version": __version__},
            "image": image,
            "risk": self.risk.to_dict(),
            "summary": {
                "findings": len(self.findings),
                "omitted_by_filters": self.omitted,
                "by_severity": self.severity_counts(),
                "by_kind": self.counts(),
                "packages": len(self.packages),
            },
            "filters": self.filters.to_dict(),
            "vulnerability_db": self.vuln_db,
            "coverage": self.coverage.to_dict(),
            "notes": list(self.notes),
            "sbom": self.sbom_summary(),
            "packages": [_package_dict(p) for p in self.packages],
            "findings": [f.to_dict() for f in self.findings],
            "upgrades": [u.to_dict() for u in self.upgrades()],
        }


def _package_dict(p: Package) -> dict[str, Any]:
    return {
        "name": p.name, "version": p.version, "ecosystem": p.ecosystem, "purl": p.purl,
        "cataloger": p.cataloger, "arch": p.arch, "source_name": p.source_name,
        "source_version": p.source_version, "licenses": list(p.licenses),
        "locations": list(p.locations),
        "layer": p.layer.diff_id if p.layer else None,
        "layer_index": p.layer.index if p.layer else None,
    }


class ReportShapeError(ValueError):
    """A JSON document that is not a hardbox scan report of this schema version."""


def from_dict(doc: Mapping[str, Any]) -> ScanResult:
    """The ``ScanResult`` a JSON report (``ScanResult.to_dict``) was written from. Fields the
    report derives (counts, sizes, summaries) are recomputed, not read; a package's file list
    and properties, which the report leaves out, come back empty."""
    if doc.get("schema") != "hardbox.scan" or doc.get("schema_version") != SCHEMA_VERSION:
        raise ReportShapeError(f"not a hardbox.scan report of schema version {SCHEMA_VERSION}")
    try:
        return _from_dict(doc)
    except (KeyError, TypeError, ValueError) as err:
        raise ReportShapeError(f"malformed scan report: {type(err).__name__}: {err}") from None


def _from_dict(doc: Mapping[str, Any]) -> ScanResult:
    image = doc["image"]
    layers = tuple(LayerInfo(
        index=la["index"], diff_id=la["diff_id"], digest=la["digest"], size=la["size"],
        created_by=la["created_by"], created=la["created"], shadowed_bytes=la.get("shadowed_bytes", 0),
    ) for la in image["layers"])  # fmt: skip
    refs = {la.diff_id: LayerRef(la.diff_id, la.index, la.created_by) for la in layers}
    packages = tuple(Package(
        name=p["name"], version=p["version"], ecosystem=p["ecosystem"], purl=p["purl"],
        cataloger=p["cataloger"], layer=refs.get(p["layer"]) if p.get("layer") else None,
        arch=p.get("arch", ""), source_name=p.get("source_name", ""),
        source_version=p.get("source_version", ""), licenses=tuple(p.get("licenses", ())),
        locations=tuple(p.get("locations", ())),
    ) for p in doc["packages"])  # fmt: skip
    sbom, risk, filters = doc["sbom"], doc["risk"], doc["filters"]
    return ScanResult(
        image=ImageInfo(
            name=image["name"], id=image["id"], tags=tuple(image["tags"]), os=image["os"],
            architecture=image["architecture"], created=image["created"], user=image["user"],
            entrypoint=tuple(image["entrypoint"]), cmd=tuple(image["cmd"]),
            exposed_ports=tuple(image["exposed_ports"]), layers=layers,
            history=tuple(HistoryInfo(h["index"], h["created_by"], h["created"], h["layer_index"])
                          for h in image["history"]),
            source=image.get("source", "image"),
        ),
        packages=packages,
        catalogers=tuple(CatalogerStatus(c["cataloger"], Status(c["status"]), c["packages"], tuple(c["reasons"]))
                         for c in sbom["catalogers"]),
        findings=tuple(Finding.from_dict(f) for f in doc["findings"]),
        risk=RiskGrade(risk["grade"], risk["reason"], tuple(risk["counts"].items())),
        filters=Filters(tuple(Severity(s) for s in filters["severities"]), filters["ignore_unfixed"]),
        vuln_db=doc["vulnerability_db"],
        coverage=Coverage.from_dict(doc.get("coverage")),
        notes=tuple(doc["notes"]),
        omitted=doc["summary"]["omitted_by_filters"],
        walk_errors=tuple(sbom["walk_errors"]),
    )
