"""``hardbox scan sbom:FILE`` below the CLI: the packages an SBOM lists
(``hardbox.scan.sbom_input``) matched against the vulnerability database exactly as a
scanned image's are (``scanner.match_vulnerabilities``: the same findings, notes and
coverage block), as a ``ScanResult`` every reporter renders.

There is no image: no layers, no config, no files. The result says so instead of looking
clean: its image facts are empty, and a note tells the reader that image facts,
misconfigurations and secrets were not checked. The SBOM's reading is one cataloger status
(``sbom/cyclonedx`` or ``sbom/spdx``), partial when components were skipped, with why.
"""

from __future__ import annotations

from pathlib import Path

from hardbox.scan.catalog.interface import CatalogerStatus, Status
from hardbox.scan.ecosystems import is_os
from hardbox.scan.result import ImageInfo, ScanResult
from hardbox.scan.sbom_input import SbomInput
from hardbox.scan.scanner import ScanOptions, assemble, match_vulnerabilities

NOT_CHECKED = (
    "not checked: the input is an SBOM: image facts (layers, config, user, ports, history), "
    "misconfigurations and secrets need the image (`hardbox scan IMAGE`)"
)


def scan_sbom(sbom: SbomInput, db: Path | None, options: ScanOptions | None = None) -> ScanResult:
    options = options or ScanOptions()
    status = CatalogerStatus(
        f"sbom/{sbom.format}",
        Status.PARTIAL
        if sbom.skipped and sbom.packages
        else Status.FAILED
        if sbom.skipped
        else Status.SUCCEEDED,
        len(sbom.packages),
        sbom.problems,
    )
    notes = [NOT_CHECKED]
    if sbom.skipped:
        notes.append(
            f"{sbom.skipped} SBOM components were skipped: " + "; ".join(sbom.problems[:3])
        )
    if sbom.os is None and any(is_os(p.ecosystem) for p in sbom.packages):
        notes.append(
            "the SBOM names no operating system (no operating-system component, "
            "no purl distro qualifier): OS packages could not be matched"
        )
    db_used, found, vuln_notes, covered = match_vulnerabilities(
        sbom.packages, sbom.os, db, options.db_max_age
    )
    notes.extend(vuln_notes)
    image = ImageInfo(
        name=options.name or f"sbom:{sbom.path}",
        id=sbom.digest,
        tags=(),
        os=sbom.os.to_dict() if sbom.os is not None else None,
        architecture="",
        created=None,
        user="",
        entrypoint=(),
        cmd=(),
        exposed_ports=(),
        layers=(),
        history=(),
        source="sbom",
    )
    return assemble(image, sbom.packages, (status,), list(found), options, db_used, covered, notes)
