"""``--with-vulns``: vulnerability findings as CycloneDX 1.6's ``vulnerabilities`` section.

Each vulnerability finding (the shared findings model, as vulndb's matcher writes it)
becomes one entry affecting the package component it was matched on: the advisory id and
source, aliases (CVE ids) as references, the rating (severity, CVSS score, vector and its
method), the fix as the recommendation, reference URLs as advisories.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from cyclonedx.model import XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityAdvisory,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)

from hardbox.findings import Finding, Kind, VulnerabilityDetail
from hardbox.scan.catalog_result import CatalogResult
from hardbox.scan.sbom.facts import package_refs


def add_vulnerabilities(bom: Bom, result: CatalogResult, findings: Iterable[Finding]) -> None:
    """``--with-vulns``: a CycloneDX ``vulnerabilities`` entry per vulnerability finding,
    affecting the package component it was matched on.

    From a finding it reads the shared fields (id, severity, title, detail, fix, package,
    version) and its ``VulnerabilityDetail``: ``purl`` (preferred to find the component),
    ``aliases`` (CVE ids), ``cvss_vector`` and ``cvss_score``, ``references`` (URLs).
    """
    refs = package_refs(result.packages)
    by_purl = {pkg.purl: ref for pkg, ref in refs.items()}
    by_name = {(pkg.name, pkg.version): ref for pkg, ref in refs.items()}
    added: set[tuple[str, str]] = set()
    for finding in sorted(findings, key=Finding.sort_key):
        if finding.kind is not Kind.VULNERABILITY:
            continue
        detail = finding.vulnerability or VulnerabilityDetail()
        ref = by_purl.get(detail.purl) if detail.purl else None
        ref = ref or by_name.get((finding.package or "", finding.version or ""))
        if ref is None or (finding.id, ref) in added:
            continue
        added.add((finding.id, ref))
        bom.vulnerabilities.add(_vulnerability(finding, detail, ref))


def _vulnerability(finding: Finding, detail: VulnerabilityDetail, ref: str) -> Vulnerability:
    aliases = [a for a in detail.aliases if a != finding.id]
    vector, score = detail.cvss_vector, detail.cvss_score
    method = None
    if vector:
        method = (
            VulnerabilityScoreSource.CVSS_V4
            if vector.startswith("CVSS:4")
            else VulnerabilityScoreSource.CVSS_V3_1
            if vector.startswith("CVSS:3.1")
            else VulnerabilityScoreSource.CVSS_V3
            if vector.startswith("CVSS:3")
            else VulnerabilityScoreSource.OTHER
        )
    rating = VulnerabilityRating(
        severity=VulnerabilitySeverity(finding.severity.value),
        score=Decimal(str(score)) if score is not None else None,
        method=method,
        vector=vector,
    )
    return Vulnerability(
        bom_ref=f"{finding.id}|{ref}",
        id=finding.id,
        source=VulnerabilitySource(name="OSV"),
        references=[
            VulnerabilityReference(id=alias, source=VulnerabilitySource(name="alias"))
            for alias in aliases
        ],
        ratings=[rating],
        advisories=[
            VulnerabilityAdvisory(url=XsUri(url))
            for url in detail.references
            if url.startswith(("https://", "http://"))
        ],
        description=finding.title or None,
        detail=finding.detail or None,
        recommendation=finding.fix or None,
        affects=[
            BomTarget(
                ref=ref,
                versions=[
                    BomTargetVersionRange(
                        version=finding.version, status=ImpactAnalysisAffectedStatus.AFFECTED
                    )
                ]
                if finding.version
                else [],
            )
        ],
    )
