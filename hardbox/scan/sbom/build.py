"""The CycloneDX 1.6 or SPDX 2.3 SBOM of an image: ``write_sbom`` hands the catalog to the
writer of the format asked for — ``cyclonedx`` (cyclonedx-python-lib's model: XML, and JSON
with ``--with-vulns``), ``cyclonedx_json`` (the plain CycloneDX JSON, written directly; its
docstring says why) or ``spdx``. What every SBOM says is decided once, in ``facts``.
"""

from __future__ import annotations

from collections.abc import Iterable

from hardbox.errors import UsageError
from hardbox.findings import Finding
from hardbox.scan.catalog_result import CatalogResult
from hardbox.scan.prepare import ImageIdentity
from hardbox.scan.sbom.cyclonedx_json import cyclonedx_json

FORMATS: tuple[str, ...] = ("cyclonedx-json", "cyclonedx-xml", "spdx-json")


def write_sbom(
    image: ImageIdentity,
    result: CatalogResult,
    fmt: str,
    *,
    with_files: bool = False,
    findings: Iterable[Finding] = (),
) -> str:
    """The SBOM text in one of ``FORMATS``; ``findings`` fill CycloneDX's vulnerabilities."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown SBOM format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "spdx-json":
        # Imported here, for speed: it uses cyclonedx-python-lib's license parser, whose
        # import the default output (plain CycloneDX JSON) never pays.
        from hardbox.scan.sbom.spdx import spdx_json

        return spdx_json(image, result, with_files=with_files)
    findings = list(findings)
    if fmt == "cyclonedx-json" and not findings:
        return cyclonedx_json(image, result, with_files=with_files)
    # Imported here, for speed: cyclonedx-python-lib's model costs ~0.2 s to import and only
    # XML and --with-vulns need it (cyclonedx_json's docstring says more).
    from hardbox.scan.sbom.cyclonedx import build_bom, serialize_cyclonedx

    bom = build_bom(image, result, with_files=with_files)
    if findings:
        from hardbox.scan.sbom.vulns import add_vulnerabilities  # cyclonedx-python-lib, as above

        add_vulnerabilities(bom, result, findings)
    return serialize_cyclonedx(bom, fmt)
