"""The SPDX 2.3 JSON form of an image's SBOM, written from the same ``CatalogResult`` as the
CycloneDX one (spdx.github.io/spdx-spec/v2.3).

The image is the described package (``primaryPackagePurpose: CONTAINER``), the OS an
``OPERATING-SYSTEM`` package, and each package carries its purl as a ``PACKAGE-MANAGER``
external reference. The image ``CONTAINS`` every package; the OS ``DEPENDS_ON`` nothing
here (SPDX has no "provided by" relation) but its packages are ``DEPENDENCY_OF`` it.
``licenseDeclared`` is an SPDX expression: each license that is an SPDX id or expression as
it stands, and each other name (Debian's ``GPL-2+``, a jar's ``Apache License``) a
``LicenseRef-`` of its own, declared once in ``hasExtractedLicensingInfos`` with the name as
written, as Syft does. ``NOASSERTION`` only when the package states no license. Layers go in the package
``comment`` as ``hardbox:layer:diff_id=...`` lines: SPDX 2.3 has no property fields.
SPDX requires a SHA-1 for every listed file, which hardbox does not compute, so file lists
(``--with-files``) are a CycloneDX feature.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression

from hardbox import __version__
from hardbox.errors import UsageError
from hardbox.scan.catalog_result import CatalogResult
from hardbox.scan.ecosystems import is_os
from hardbox.scan.package import Package
from hardbox.scan.prepare import ImageIdentity
from hardbox.scan.sbom.facts import image_created, image_name

_SPDXID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
_NAMESPACE = uuid.UUID("2c0b9a7e-4d8f-4b8e-8a43-6f0f2d1e9c51")


def _spdx_id(*parts: str) -> str:
    return "SPDXRef-" + "-".join(_SPDXID_UNSAFE.sub("-", p).strip("-") or "x" for p in parts)


class _LicenseRefs:
    """The document's ``LicenseRef-`` ids: one per license name that is not SPDX, stable for
    the same name, distinct for names that sanitize alike."""

    def __init__(self) -> None:
        self._factory = LicenseFactory()
        self.by_name: dict[str, str] = {}

    def declared(self, pkg: Package) -> str:
        parts = []
        for text in dict.fromkeys(t.strip() for t in pkg.licenses if t.strip()):
            lic = self._factory.make_from_string(text)
            if isinstance(lic, LicenseExpression):
                parts.append(f"({lic.value})" if " " in lic.value else lic.value)
            elif isinstance(lic, DisjunctiveLicense) and lic.id:
                parts.append(lic.id)
            else:
                parts.append(self._ref(text))
        return " AND ".join(parts) if parts else "NOASSERTION"

    def _ref(self, name: str) -> str:
        if name not in self.by_name:
            # idstring = 1*(ALPHA / DIGIT / "-" / "."); "+" means "or later" in Debian's names.
            base = "LicenseRef-" + (_SPDXID_UNSAFE.sub("-", name.replace("+", "-plus")).strip("-") or "x")
            ref, n = base, 1
            while ref in self.by_name.values():
                n += 1
                ref = f"{base}-{n}"
            self.by_name[name] = ref
        return self.by_name[name]

    def extracted(self) -> list[dict[str, str]]:
        return [
            {"licenseId": ref, "name": name, "extractedText": name,
             "comment": "the license name as the package states it; not an SPDX license id"}
            for name, ref in sorted(self.by_name.items(), key=lambda item: item[1])
        ]  # fmt: skip


def _package(pkg: Package, spdx_id: str, refs: _LicenseRefs) -> dict[str, Any]:
    comment = []
    if pkg.layer is not None:
        comment += [
            f"hardbox:layer:diff_id={pkg.layer.diff_id}",
            f"hardbox:layer:index={pkg.layer.index}",
        ]
    comment += [
        f"hardbox:cataloger={pkg.cataloger}",
        *(f"hardbox:location={loc}" for loc in pkg.locations),
    ]
    entry: dict[str, Any] = {
        "SPDXID": spdx_id,
        "name": pkg.name,
        "versionInfo": pkg.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "LIBRARY",
        "externalRefs": [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": pkg.purl,
            }
        ],
        "comment": "\n".join(comment),
        "licenseDeclared": refs.declared(pkg),
    }
    if pkg.source_name and (pkg.source_name, pkg.source_version) != (pkg.name, pkg.version):
        entry["sourceInfo"] = (
            f"built from source package {pkg.source_name} {pkg.source_version}".strip()
        )
    return entry


def spdx_document(image: ImageIdentity, result: CatalogResult) -> dict[str, Any]:
    """The SPDX 2.3 document as a JSON-ready dict."""
    name = image_name(image)
    created = image_created(image) or datetime.now(UTC)
    root_id = "SPDXRef-Image"
    root: dict[str, Any] = {
        "SPDXID": root_id,
        "name": name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
    }
    if image.id:
        root["versionInfo"] = image.id
        if image.id.startswith("sha256:"):
            root["checksums"] = [
                {"algorithm": "SHA256", "checksumValue": image.id.removeprefix("sha256:")}
            ]
    packages: list[dict[str, Any]] = [root]
    relationships: list[dict[str, str]] = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": root_id,
        }
    ]
    refs = _LicenseRefs()
    os_id = None
    if result.os is not None:
        os_id = _spdx_id("OperatingSystem", result.os.purl_distro)
        packages.append(
            {
                "SPDXID": os_id,
                "name": result.os.id,
                "versionInfo": result.os.version_id or "NOASSERTION",
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": "NOASSERTION",
                "copyrightText": "NOASSERTION",
                "primaryPackagePurpose": "OPERATING-SYSTEM",
                "description": result.os.pretty_name or result.os.purl_distro,
            }
        )
        relationships.append(
            {"spdxElementId": root_id, "relationshipType": "CONTAINS", "relatedSpdxElement": os_id}
        )
    for number, pkg in enumerate(result.packages):
        pkg_id = _spdx_id("Package", pkg.ecosystem, pkg.name, str(number))
        packages.append(_package(pkg, pkg_id, refs))
        relationships.append(
            {"spdxElementId": root_id, "relationshipType": "CONTAINS", "relatedSpdxElement": pkg_id}
        )
        if os_id is not None and is_os(pkg.ecosystem):
            relationships.append(
                {
                    "spdxElementId": pkg_id,
                    "relationshipType": "DEPENDENCY_OF",
                    "relatedSpdxElement": os_id,
                }
            )
    fingerprint = "\n".join([image.id, *image.tags, *(p.purl for p in result.packages)])
    extracted = {"hasExtractedLicensingInfos": refs.extracted()} if refs.by_name else {}
    return {
        **extracted,
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": f"https://hardbox.invalid/spdx/{uuid.uuid5(_NAMESPACE, fingerprint)}",
        "creationInfo": {
            "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": [f"Tool: hardbox-{__version__}"],
        },
        "comment": "\n".join(
            f"hardbox:cataloger:{s.cataloger}:status={s.status.value}" for s in result.statuses
        ),
        "packages": packages,
        "relationships": relationships,
    }


def spdx_json(image: ImageIdentity, result: CatalogResult, *, with_files: bool = False) -> str:
    if with_files:
        raise UsageError(
            "--with-files is a CycloneDX feature: SPDX 2.3 requires a SHA-1 of every file listed"
        )
    return json.dumps(spdx_document(image, result), indent=2, sort_keys=True) + "\n"
