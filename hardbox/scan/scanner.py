"""The scan: one walk of an image with every cataloger and check, then vulnerability matching.

``scan(image, db, options)`` is the whole of ``hardbox scan`` below the CLI. It walks the
image's layers once (DESIGN.md, "One walk, many readers") with the catalogers of
``CATALOGERS``, the checks of ``CHECKS`` and a small visitor that tallies shadowed bytes per
layer; then matches the packages against the vulnerability database if there is one. No
database is a note in the result, not an error: the misconfiguration and secret findings
stand on their own. The risk grade is computed over every finding; the listing is narrowed
by ``ScanOptions`` afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hardbox.findings import Finding, LayerRef, Severity
from hardbox.image.config import ImageConfig
from hardbox.scan.catalog.os_release import OSRelease
from hardbox.scan.catalog_result import CatalogResult, CatalogSession
from hardbox.scan.checks import CHECKS, Check, CheckOptions, ImageContext
from hardbox.scan.checks.config import scrub
from hardbox.scan.checks.secrets import SecretCheck, SecretPolicy, load_policy
from hardbox.scan.package import Package
from hardbox.scan.result import Filters, HistoryInfo, ImageInfo, LayerInfo, ScanResult
from hardbox.scan.risk import grade
from hardbox.scan.walk import ImageFile, LayerSource, walk


class ScannableLayer(LayerSource, Protocol):
    @property
    def digest(self) -> str: ...
    @property
    def size(self) -> int: ...


class ScannableImage(Protocol):
    """What the scanner needs of an image: ``StoredImage`` and ``ImageView`` both fit."""

    @property
    def id(self) -> str: ...
    @property
    def tags(self) -> tuple[str, ...]: ...
    @property
    def config(self) -> ImageConfig: ...
    @property
    def layers(self) -> Sequence[ScannableLayer]: ...


@dataclass(frozen=True)
class ScanOptions:
    name: str = ""  # how the user named the image; defaults to its first tag, else its id
    secrets: bool = True  # --skip-secrets turns file-content secret scanning off
    config: bool = True  # False for a dir: root filesystem, which has no image config
    severities: tuple[Severity, ...] = ()
    ignore_unfixed: bool = False


class _LayerTally:
    """Counts, per layer, the bytes of regular files that later layers delete or replace."""

    name = "scan/layer-tally"

    def __init__(self) -> None:
        self.shadowed: dict[str, int] = defaultdict(int)

    def wants(self, path: str) -> bool:
        return True

    def visit(self, file: ImageFile) -> None:
        if file.hidden_by is not None and file.is_file:
            self.shadowed[file.layer.diff_id] += file.size


@dataclass(frozen=True)
class _Layer:
    """A layer as the scan reads it: the image's, with ``created_by`` scrubbed of secrets,
    because every package and finding carries its layer's command into the reports."""

    path: Path
    diff_id: str
    index: int
    created_by: str
    digest: str
    size: int


@dataclass(frozen=True)
class _Layers:
    layers: tuple[_Layer, ...]


def scan(
    image: ScannableImage,
    db: Path | None,
    options: ScanOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScanResult:
    """Scan ``image``; ``progress`` is told each stage as it starts (the CLI's terminal line)."""
    options = options or ScanOptions()
    say = progress or (lambda _stage: None)
    name = options.name or (image.tags[0] if image.tags else image.id)
    policy = load_policy()
    layers = _Layers(tuple(
        _Layer(Path(layer.path), layer.diff_id, layer.index, scrub(layer.created_by, policy),
               layer.digest, layer.size)
        for layer in image.layers
    ))
    refs = tuple(LayerRef(layer.diff_id, layer.index, layer.created_by) for layer in layers.layers)
    context = ImageContext.build(name, image.config, refs, tuple(image.tags))
    check_options = CheckOptions(secrets=options.secrets, config=options.config)
    checks: list[Check] = [cls(context, check_options) for cls in CHECKS]
    session = CatalogSession()
    tally = _LayerTally()
    say(f"reading {len(layers.layers)} layers")
    merged = walk(layers, [*session.visitors, *checks, tally])
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
    db_used, vuln_findings, vuln_notes = _vulnerabilities(catalog.packages, catalog.os, db)
    findings.extend(vuln_findings)
    notes.extend(vuln_notes)

    findings.sort(key=Finding.sort_key)
    filters = Filters(tuple(options.severities), options.ignore_unfixed)
    kept = tuple(f for f in findings if filters.keeps(f))
    return ScanResult(
        image=_image_info(name, image, layers, catalog.os, tally, policy),
        packages=catalog.packages,
        catalogers=catalog.statuses,
        findings=kept,
        risk=grade(findings),
        filters=filters,
        vuln_db=db_used,
        notes=tuple(notes),
        omitted=len(findings) - len(kept),
        walk_errors=catalog.walk_errors,
    )


def _vulnerabilities(
    packages: Sequence[Package], os_release: OSRelease | None, db: Path | None
) -> tuple[str | None, list[Finding], list[str]]:
    """Match packages against the database at ``db``; no database is a note, not an error."""
    if db is None or not db.exists():
        where = f" at {db}" if db is not None else ""
        return None, [], [
            f"no vulnerability database{where}: vulnerabilities were not matched "
            "(load advisories with `hardbox db import PATH`)"
        ]
    from hardbox.scan.vulndb import match, open_db

    with open_db(db) as index:
        result = match(packages, os_release, index)
    notes = [f"vulnerability matching: {error}" for error in result.errors]
    return str(db), list(result.findings), notes


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


def _image_info(name: str, image: ScannableImage, layers_read: _Layers,
                os_release: OSRelease | None, tally: _LayerTally, policy: SecretPolicy) -> ImageInfo:
    config = image.config
    history_entries = config.history
    layer_steps = [h for h in history_entries if not h.empty_layer]
    aligned = len(layer_steps) == len(layers_read.layers)
    layers = tuple(
        LayerInfo(
            index=layer.index, diff_id=layer.diff_id, digest=layer.digest, size=layer.size,
            created_by=layer.created_by,
            created=layer_steps[layer.index].created if aligned else None,
            shadowed_bytes=tally.shadowed.get(layer.diff_id, 0),
        )
        for layer in layers_read.layers
    )
    history: list[HistoryInfo] = []
    next_layer = 0
    for i, entry in enumerate(history_entries):
        layer_index = None
        if not entry.empty_layer:
            layer_index = next_layer if aligned else None
            next_layer += 1
        history.append(HistoryInfo(i, scrub(entry.created_by, policy), entry.created, layer_index))
    return ImageInfo(
        name=name, id=image.id, tags=tuple(image.tags),
        os=os_release.to_dict() if os_release else None,
        architecture=config.architecture, created=config.created, user=config.user,
        entrypoint=config.entrypoint, cmd=config.cmd,
        exposed_ports=tuple(sorted(config.exposed_ports)),
        layers=layers, history=tuple(history),
    )
