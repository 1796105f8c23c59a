"""The scan: one walk of an image with every cataloger and check, then vulnerability matching.

``scan(image, db, options)`` is the whole of ``hardbox scan`` below the CLI. The image is
prepared once (``prepare.prepare_image``: ``created_by`` scrubbed, history aligned to the
layers), by the caller when it opens it or here when handed an opened image. The
scan walks the image's layers once (docs/architecture.md, "One walk, many readers") with the catalogers
of ``CATALOGERS`` and the checks of ``CHECKS`` (the walk itself counts each layer's shadowed
bytes); then matches the packages against the vulnerability database if there is one. No
database is a note in the result, not an error: the misconfiguration and secret findings
stand on their own. The risk grade is computed over every finding; the listing is narrowed
by ``ScanOptions`` afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hardbox.findings import Finding, Severity
from hardbox.scan.catalog.interface import CatalogerStatus
from hardbox.scan.catalog.os_release import OSRelease
from hardbox.scan.catalog_result import CatalogResult, CatalogSession
from hardbox.scan.checks import CHECKS
from hardbox.scan.checks.interface import Check, CheckOptions, HistoryStep, ImageContext
from hardbox.scan.checks.secrets import SecretCheck
from hardbox.scan.coverage import Coverage, describe_age
from hardbox.scan.package import Package
from hardbox.scan.prepare import OpenedImage, PreparedImage, prepare_image
from hardbox.scan.result import Filters, HistoryInfo, ImageInfo, LayerInfo, ScanResult
from hardbox.scan.risk import grade
from hardbox.scan.walk import MergedView, walk


@dataclass(frozen=True)
class ScanOptions:
    name: str = ""  # how the user named the image; defaults to its first tag, else its id
    secrets: bool = True  # --skip-secrets turns file-content secret scanning off
    config: bool = True  # False for a dir: root filesystem, which has no image config
    severities: tuple[Severity, ...] = ()
    ignore_unfixed: bool = False
    db_max_age: int | None = 86400  # seconds; an older database is noted as stale (--db-max-age)


def check_context(name: str, image: PreparedImage) -> ImageContext:
    """What the checks know of the image besides its files, from the prepared image."""
    steps = tuple(HistoryStep(s.index, s.created_by, s.layer) for s in image.history)
    devices = tuple((layer.ref, node) for layer in image.layers for node in layer.devices)
    return ImageContext(name, image.config, image.refs, image.tags, steps, devices)


def scan(
    image: PreparedImage | OpenedImage,
    db: Path | None,
    options: ScanOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScanResult:
    """Scan ``image`` (prepared here unless the caller prepared it when opening it);
    ``progress`` is told each stage as it starts (the CLI's terminal line)."""
    if not isinstance(image, PreparedImage):
        image = prepare_image(image)
    options = options or ScanOptions()
    say = progress or (lambda _stage: None)
    name = options.name or (image.tags[0] if image.tags else image.id)
    check_options = CheckOptions(secrets=options.secrets, config=options.config)
    checks: list[Check] = [cls(check_context(name, image), check_options) for cls in CHECKS]
    session = CatalogSession()
    say(f"reading {len(image.layers)} layers")
    merged = walk(image, [*session.visitors, *checks])
    catalog = session.finish(merged)

    notes = _catalog_notes(catalog)
    findings: list[Finding] = []
    for check in checks:
        findings.extend(check.findings())
        if isinstance(check, SecretCheck):
            notes.extend(_secret_notes(check))
    if not options.secrets:
        notes.append("secret scanning of file contents was skipped (--skip-secrets)")
    if not options.config:
        notes.append("a root filesystem has no image config: user, ports, healthcheck, "
                     "command and history were not checked")

    say(f"matching {len(catalog.packages)} packages")
    db_used, vuln_findings, vuln_notes, covered = match_vulnerabilities(
        catalog.packages, catalog.os, db, options.db_max_age)
    findings.extend(vuln_findings)
    notes.extend(vuln_notes)

    return assemble(_image_info(name, image, catalog.os, merged), catalog.packages, catalog.statuses,
                    findings, options, db_used, covered, notes, catalog.walk_errors)


def assemble(image: ImageInfo, packages: tuple[Package, ...], catalogers: tuple[CatalogerStatus, ...],
             findings: list[Finding], options: ScanOptions, db_used: str | None, covered: Coverage,
             notes: list[str], walk_errors: tuple[str, ...] = ()) -> ScanResult:
    """The result of a scan (of an image, or of an SBOM: ``sbom_scan``): the findings sorted,
    the user's filters applied and recorded, the risk graded on everything found."""
    findings = sorted(findings, key=Finding.sort_key)
    filters = Filters(tuple(options.severities), options.ignore_unfixed)
    kept = tuple(f for f in findings if filters.keeps(f))
    return ScanResult(
        image=image,
        packages=packages,
        catalogers=catalogers,
        findings=kept,
        risk=grade(findings),
        filters=filters,
        vuln_db=db_used,
        coverage=covered,
        notes=tuple(notes),
        omitted=len(findings) - len(kept),
        walk_errors=walk_errors,
    )


def match_vulnerabilities(
    packages: Sequence[Package], os_release: OSRelease | None, db: Path | None,
    max_age: int | None = None,
) -> tuple[str | None, list[Finding], list[str], Coverage]:
    """Match packages against the database at ``db`` and say what that covered; no
    database is a note and a coverage gap for every ecosystem, not an error."""
    if db is None or not db.exists():
        from hardbox.scan.vulndb.coverage import without_database

        where = f" at {db}" if db is not None else ""
        return None, [], [
            f"no vulnerability database{where}: vulnerabilities were not matched "
            "(fetch advisories with `hardbox db update` or load them with `hardbox db import PATH`)"
        ], without_database(packages, os_release)
    from hardbox.scan.vulndb import match, open_db
    from hardbox.scan.vulndb.coverage import coverage

    with open_db(db) as index:
        result = match(packages, os_release, index)
        covered = coverage(packages, os_release, index, max_age)
    notes = [f"vulnerability matching: {error}" for error in result.errors]
    if covered.db_stale:
        notes.append(f"the vulnerability database is {describe_age(covered.db_age_seconds())} old, older "
                     "than --db-max-age: newer advisories are missing (`hardbox db update`)")
    notes.extend(f"vulnerability coverage: {gap.sentence()}" for gap in covered.gaps)
    return str(db), list(result.findings), notes, covered


def _catalog_notes(catalog: CatalogResult) -> list[str]:
    notes = []
    for status in catalog.statuses:
        if status.status.value != "succeeded":
            reasons = "; ".join(status.reasons[:3])
            notes.append(f"cataloger {status.cataloger}: {status.status.value}: {reasons}")
    if catalog.walk_errors:
        notes.append(f"{len(catalog.walk_errors)} entries could not be read: "
                     + "; ".join(catalog.walk_errors[:3]))
    return notes


def _secret_notes(check: SecretCheck) -> list[str]:
    skipped = {reason: n for reason, n in check.skipped.items() if n}
    if not skipped:
        return []
    said = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
    return [f"secret scanning skipped files by policy ({said}; limit "
            f"{check.policy.max_file_size} bytes)"]


def _image_info(name: str, image: PreparedImage, os_release: OSRelease | None,
                merged: MergedView) -> ImageInfo:
    config = image.config
    layers = tuple(
        LayerInfo(
            index=layer.index, diff_id=layer.diff_id, digest=layer.digest, size=layer.size,
            created_by=layer.created_by, created=layer.created,
            shadowed_bytes=shadow.bytes if (shadow := merged.shadowed.get(layer.ref)) else 0,
        )
        for layer in image.layers
    )
    history = tuple(
        HistoryInfo(step.index, step.shown, step.created,
                    step.layer.index if step.layer is not None else None)
        for step in image.history
    )
    return ImageInfo(
        name=name, id=image.id, tags=tuple(image.tags),
        os=os_release.to_dict() if os_release else None,
        architecture=config.architecture, created=config.created, user=config.user,
        entrypoint=config.entrypoint, cmd=config.cmd,
        exposed_ports=tuple(sorted(config.exposed_ports)),
        layers=layers, history=history,
    )
