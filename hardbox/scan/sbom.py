"""The CycloneDX 1.6 SBOM of an image, built with cyclonedx-python-lib from a ``CatalogResult``.

Shape (each ``hardbox:`` property is documented in docs/adding-a-cataloger.md):

* ``metadata.component``: the image, type ``container`` — name (first tag, else the id),
  version and SHA-256 hash (the image id, its config digest), an ``oci`` purl when the
  manifest digest is known, and properties ``hardbox:image:id``, ``hardbox:image:tag``,
  ``hardbox:image:manifest-digest``, ``hardbox:image:base-os``, ``hardbox:image:layer:N``
  (the diff_id of layer N).
* an ``operating-system`` component from os-release, on which the OS packages depend.
* one ``library`` component per package: purl, licenses, evidence occurrences (the database
  or manifest it was read from), properties ``hardbox:layer:diff_id``, ``hardbox:layer:index``,
  ``hardbox:layer:created_by`` (the earliest layer that brought it), ``hardbox:cataloger``,
  ``hardbox:source:name`` / ``hardbox:source:version``, and the cataloger's own; with
  ``with_files``, one more evidence occurrence per file the package owns (its
  ``additionalContext`` says which kind of occurrence it is).
* ``metadata.properties``: each cataloger's status, ``hardbox:cataloger:NAME:status`` /
  ``:packages`` / ``:reason``, so a partial catalog is visible in the SBOM itself.

The serial number is derived from the content, so the same image gives the same SBOM; the
timestamp is the image's creation time when known (tests redact it otherwise).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from hardbox import __version__
from hardbox.errors import UsageError
from hardbox.findings import Finding
from hardbox.scan.catalog_result import CatalogResult
from hardbox.scan.package import Package
from hardbox.scan.walk import LayerSource

FORMATS: tuple[str, ...] = ("cyclonedx-json", "cyclonedx-xml", "spdx-json")
OS_ECOSYSTEMS = ("deb", "apk", "rpm")
# additionalContext of the two kinds of evidence occurrence.
_READ_FROM = "package metadata read from here"
_OWNED = "file installed by the package"
# A fixed namespace for uuid5 serial numbers: same SBOM content, same serial.
_SERIAL_NAMESPACE = uuid.UUID("6b1f0a52-8a33-4f55-9a57-2f4b3c1d7e90")


class SbomImage(Protocol):
    """What the SBOM says about the image itself (``StoredImage`` and ``ImageView`` fit)."""

    @property
    def id(self) -> str: ...
    @property
    def tags(self) -> Sequence[str]: ...
    @property
    def manifest_digest(self) -> str: ...
    @property
    def layers(self) -> Sequence[LayerSource]: ...


def image_name(image: SbomImage) -> str:
    return image.tags[0] if image.tags else (image.id or "image")


def image_created(image: SbomImage) -> datetime | None:
    config = getattr(image, "config", None)
    created = getattr(config, "created", None)
    if not isinstance(created, str) or not created:
        return None
    try:
        return datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _oci_purl(image: SbomImage) -> PackageURL | None:
    digest = image.manifest_digest
    if not digest or not digest.startswith("sha256:"):
        return None
    qualifiers: dict[str, str] = {}
    name = "image"
    if image.tags:
        repository, _, tag = image.tags[0].rpartition(":")
        if "/" in tag or not repository:  # "host:5000/name" without a tag
            repository, tag = image.tags[0], ""
        name = repository.rsplit("/", 1)[-1]
        qualifiers = {"repository_url": repository, **({"tag": tag} if tag else {})}
    return PackageURL(type="oci", name=name, version=digest, qualifiers=qualifiers)


def _root_component(image: SbomImage, result: CatalogResult) -> Component:
    props = [Property(name="hardbox:image:id", value=image.id)] if image.id else []
    if image.manifest_digest:
        props.append(Property(name="hardbox:image:manifest-digest", value=image.manifest_digest))
    props += [Property(name="hardbox:image:tag", value=tag) for tag in image.tags]
    if result.os is not None:
        props.append(
            Property(
                name="hardbox:image:base-os", value=result.os.pretty_name or result.os.purl_distro
            )
        )
    props += [
        Property(name=f"hardbox:image:layer:{layer.index}", value=layer.diff_id)
        for layer in image.layers
    ]
    hashes = []
    if image.id.startswith("sha256:"):
        hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=image.id.removeprefix("sha256:")))
    return Component(
        type=ComponentType.CONTAINER,
        name=image_name(image),
        version=image.id or None,
        bom_ref=image.id or image_name(image),
        hashes=hashes,
        purl=_oci_purl(image),
        properties=props,
    )


def _os_component(result: CatalogResult) -> Component | None:
    os_release = result.os
    if os_release is None:
        return None
    props = [Property(name="hardbox:os:distro", value=os_release.purl_distro)]
    if os_release.osv_ecosystem:
        props.append(Property(name="hardbox:os:osv-ecosystem", value=os_release.osv_ecosystem))
    if os_release.version_codename:
        props.append(Property(name="hardbox:os:codename", value=os_release.version_codename))
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=os_release.id,
        version=os_release.version_id or None,
        description=os_release.pretty_name or None,
        bom_ref=f"os:{os_release.purl_distro}",
        evidence=ComponentEvidence(occurrences=[Occurrence(location=os_release.path)])
        if os_release.path
        else None,
        properties=props,
    )


def package_refs(packages: Iterable[Package]) -> dict[Package, str]:
    """A unique bom-ref per package: its purl, with the location appended when the same purl
    occurs twice (one pypi package in two virtualenvs, stdlib in several Go binaries)."""
    refs: dict[Package, str] = {}
    taken: set[str] = set()
    for pkg in packages:
        ref = pkg.purl
        if ref in taken:
            ref = f"{pkg.purl}#{pkg.locations[0] if pkg.locations else len(taken)}"
        while ref in taken:
            ref += "+"
        taken.add(ref)
        refs[pkg] = ref
    return refs


_LICENSES = LicenseFactory()


@functools.lru_cache(maxsize=4096)
def _license(text: str, single: bool) -> LicenseExpression | DisjunctiveLicense:
    # Cached: checking a text against the SPDX list is the slowest step of building a BOM,
    # and an image repeats the same few license texts hundreds of times.
    lic = _LICENSES.make_from_string(text)
    return (
        _LICENSES.make_with_name(text) if not single and isinstance(lic, LicenseExpression) else lic
    )


def _licenses(pkg: Package) -> list[LicenseExpression | DisjunctiveLicense]:
    """SPDX ids and expressions where the text is one, names otherwise. CycloneDX allows one
    expression or a list of single licenses, never both: with several, each is one license."""
    texts = [text.strip() for text in pkg.licenses if text.strip()]
    return [_license(text, len(texts) == 1) for text in texts]


def _package_component(pkg: Package, ref: str, with_files: bool) -> Component:
    props: list[Property] = [Property(name="hardbox:cataloger", value=pkg.cataloger)]
    if pkg.layer is not None:
        props += [
            Property(name="hardbox:layer:diff_id", value=pkg.layer.diff_id),
            Property(name="hardbox:layer:index", value=str(pkg.layer.index)),
        ]
        if pkg.layer.created_by:
            props.append(Property(name="hardbox:layer:created_by", value=pkg.layer.created_by))
    if pkg.source_name:
        props.append(Property(name="hardbox:source:name", value=pkg.source_name))
    if pkg.source_version:
        props.append(Property(name="hardbox:source:version", value=pkg.source_version))
    props += [Property(name=key, value=value) for key, value in pkg.properties]
    group, name = None, pkg.name
    if pkg.ecosystem == "maven" and ":" in pkg.name:
        group, name = pkg.name.split(":", 1)
    elif pkg.ecosystem == "npm" and pkg.name.startswith("@") and "/" in pkg.name:
        group, name = pkg.name.split("/", 1)
    # Evidence occurrences: where the package was read from, and with ``with_files`` every
    # file it owns. (Nested ``file`` components would say the same at a hundred times the
    # cost: cyclonedx-python-lib sorts components by a costly key.)
    occurrences = [Occurrence(location=loc, additional_context=_READ_FROM) for loc in pkg.locations]
    if with_files:
        occurrences += [
            Occurrence(location=path, additional_context=_OWNED) for path in sorted(set(pkg.files))
        ]
    return Component(
        type=ComponentType.LIBRARY,
        name=name,
        group=group,
        version=pkg.version,
        purl=PackageURL.from_string(pkg.purl),
        bom_ref=ref,
        licenses=_licenses(pkg),
        evidence=ComponentEvidence(occurrences=occurrences) if occurrences else None,
        properties=props,
    )


def _status_properties(result: CatalogResult) -> list[Property]:
    props: list[Property] = []
    for status in result.statuses:
        base = f"hardbox:cataloger:{status.cataloger}"
        props.append(Property(name=f"{base}:status", value=status.status.value))
        props.append(Property(name=f"{base}:packages", value=str(status.packages)))
        props += [Property(name=f"{base}:reason", value=reason) for reason in status.reasons]
    props += [Property(name="hardbox:walk:error", value=error) for error in result.walk_errors]
    return props


def build_bom(image: SbomImage, result: CatalogResult, *, with_files: bool = False) -> Bom:
    """The CycloneDX model of an image's catalog."""
    root = _root_component(image, result)
    tool = Component(
        type=ComponentType.APPLICATION, name="hardbox", version=__version__, bom_ref="tool:hardbox"
    )
    metadata = BomMetaData(
        component=root,
        timestamp=image_created(image),
        properties=_status_properties(result),
    )
    metadata.tools.components.add(tool)
    bom = Bom(metadata=metadata)
    refs = package_refs(result.packages)
    components = {pkg: _package_component(pkg, refs[pkg], with_files) for pkg in result.packages}
    os_component = _os_component(result)
    if os_component is not None:
        bom.components.add(os_component)
        bom.register_dependency(
            os_component, [components[p] for p in result.packages if p.ecosystem in OS_ECOSYSTEMS]
        )
    for component in components.values():
        bom.components.add(component)
    bom.register_dependency(root, [*([os_component] if os_component else []), *components.values()])
    bom.serial_number = uuid.uuid5(_SERIAL_NAMESPACE, _fingerprint(image, result, with_files))
    return bom


def _fingerprint(image: SbomImage, result: CatalogResult, with_files: bool) -> str:
    parts = [image.id, image.manifest_digest, *image.tags, str(with_files)]
    parts += [f"{p.purl}|{p.locations}|{p.layer}" for p in result.packages]
    parts += [f"{s.cataloger}|{s.status.value}|{s.reasons}" for s in result.statuses]
    return "\n".join(parts)


def serialize_cyclonedx(bom: Bom, fmt: str) -> str:
    """CycloneDX 1.6 as JSON or XML text."""
    output = OutputFormat.JSON if fmt == "cyclonedx-json" else OutputFormat.XML
    text = make_outputter(bom, output, SchemaVersion.V1_6).output_as_string(indent=2)
    return text if text.endswith("\n") else text + "\n"


def write_sbom(
    image: SbomImage,
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
        from hardbox.scan.spdx import spdx_json

        return spdx_json(image, result, with_files=with_files)
    bom = build_bom(image, result, with_files=with_files)
    if findings:
        from hardbox.scan.sbom_vulns import add_vulnerabilities

        add_vulnerabilities(bom, result, findings)
    return serialize_cyclonedx(bom, fmt)
