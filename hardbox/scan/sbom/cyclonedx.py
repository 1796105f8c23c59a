"""The SBOM as cyclonedx-python-lib's model (``Bom``), and its serialisation to CycloneDX 1.6
XML or JSON. ``hardbox.scan.sbom.build`` decides what the SBOM says; this module only spells it
in the library's classes. XML output and ``--with-vulns`` (``vulns`` adds to a ``Bom``)
go through here; ``cyclonedx_json`` writes the plain JSON the same library would.
"""

from __future__ import annotations

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from hardbox import __version__
from hardbox.scan.catalog_result import CatalogResult
from hardbox.scan.ecosystems import BY_NAME, is_os
from hardbox.scan.package import Package
from hardbox.scan.prepare import ImageIdentity
from hardbox.scan.sbom.facts import (
    Properties,
    image_created,
    image_name,
    licenses,
    occurrences,
    oci_purl,
    os_properties,
    os_ref,
    package_properties,
    package_refs,
    root_properties,
    serial_number,
    status_properties,
)


def _properties(props: Properties) -> list[Property]:
    return [Property(name=name, value=value) for name, value in props]


def _root_component(image: ImageIdentity, result: CatalogResult) -> Component:
    hashes = []
    if image.id.startswith("sha256:"):
        hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=image.id.removeprefix("sha256:")))
    purl = oci_purl(image)
    return Component(
        type=ComponentType.CONTAINER,
        name=image_name(image),
        version=image.id or None,
        bom_ref=image.id or image_name(image),
        hashes=hashes,
        purl=PackageURL.from_string(purl) if purl else None,
        properties=_properties(root_properties(image, result)),
    )


def _os_component(result: CatalogResult) -> Component | None:
    os_release = result.os
    if os_release is None:
        return None
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=os_release.id,
        version=os_release.version_id or None,
        description=os_release.pretty_name or None,
        bom_ref=os_ref(result),
        evidence=ComponentEvidence(occurrences=[Occurrence(location=os_release.path)])
        if os_release.path
        else None,
        properties=_properties(os_properties(result)),
    )


def _package_component(pkg: Package, ref: str, with_files: bool) -> Component:
    group, name = BY_NAME[pkg.ecosystem].group_and_name(pkg.name)
    found = [
        Occurrence(location=location, additional_context=context)
        for location, context in occurrences(pkg, with_files)
    ]
    return Component(
        type=ComponentType.LIBRARY,
        name=name,
        group=group,
        version=pkg.version,
        purl=PackageURL.from_string(pkg.purl),
        bom_ref=ref,
        licenses=[
            LicenseExpression(value)
            if kind == "expression"
            else DisjunctiveLicense(id=value)
            if kind == "id"
            else DisjunctiveLicense(name=value)
            for kind, value in licenses(pkg)
        ],
        evidence=ComponentEvidence(occurrences=found) if found else None,
        properties=_properties(package_properties(pkg)),
    )


def build_bom(image: ImageIdentity, result: CatalogResult, *, with_files: bool = False) -> Bom:
    """The CycloneDX model of an image's catalog."""
    root = _root_component(image, result)
    tool = Component(
        type=ComponentType.APPLICATION, name="hardbox", version=__version__, bom_ref="tool:hardbox"
    )
    metadata = BomMetaData(
        component=root,
        timestamp=image_created(image),
        properties=_properties(status_properties(result)),
    )
    metadata.tools.components.add(tool)
    bom = Bom(metadata=metadata)
    refs = package_refs(result.packages)
    components = {pkg: _package_component(pkg, refs[pkg], with_files) for pkg in result.packages}
    os_component = _os_component(result)
    if os_component is not None:
        bom.components.add(os_component)
        bom.register_dependency(
            os_component, [components[p] for p in result.packages if is_os(p.ecosystem)]
        )
    for component in components.values():
        bom.components.add(component)
    bom.register_dependency(root, [*([os_component] if os_component else []), *components.values()])
    bom.serial_number = serial_number(image, result, with_files)
    return bom


def serialize_cyclonedx(bom: Bom, fmt: str) -> str:
    """CycloneDX 1.6 as JSON or XML text."""
    output = OutputFormat.JSON if fmt == "cyclonedx-json" else OutputFormat.XML
    text = make_outputter(bom, output, SchemaVersion.V1_6).output_as_string(indent=2)
    return text if text.endswith("\n") else text + "\n"
