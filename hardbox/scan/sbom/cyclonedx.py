"""The SBOM as cyclonedx-python-lib's model (``Bom``), and its serialisation to CycloneDX 1.6
XML or JSON. ``hardbox.scan.sbom.facts`` decides what the SBOM says; this module only spells it
in the library's classes. XML output and ``--with-vulns`` (``vulns`` adds to a ``Bom``)
go through here; ``cyclonedx_json`` writes the plain JSON the same library would.
"""

from __future__ import annotations

from collections.abc import Iterable

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from hardbox.scan.catalog_result import CatalogResult
from hardbox.scan.ecosystems import is_os
from hardbox.scan.prepare import ImageIdentity
from hardbox.scan.sbom.facts import (
    TOOL,
    ComponentFacts,
    image_created,
    os_component,
    package_components,
    root_component,
    serial_number,
    status_properties,
)


def _properties(props: Iterable[tuple[str, str]]) -> list[Property]:
    return [Property(name=name, value=value) for name, value in props]


def _license(kind: str, value: str) -> LicenseExpression | DisjunctiveLicense:
    if kind == "expression":
        return LicenseExpression(value)
    return DisjunctiveLicense(id=value) if kind == "id" else DisjunctiveLicense(name=value)


def _component(facts: ComponentFacts) -> Component:
    found = [Occurrence(location=location, additional_context=context)
             for location, context in facts.occurrences]
    return Component(
        type=ComponentType(facts.type),
        name=facts.name,
        group=facts.group,
        version=facts.version,
        description=facts.description,
        bom_ref=facts.ref,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=facts.sha256)] if facts.sha256 else [],
        purl=PackageURL.from_string(facts.purl) if facts.purl else None,
        licenses=[_license(kind, value) for kind, value in facts.licenses],
        evidence=ComponentEvidence(occurrences=found) if found else None,
        properties=_properties(facts.properties),
    )


def build_bom(image: ImageIdentity, result: CatalogResult, *, with_files: bool = False) -> Bom:
    """The CycloneDX model of an image's catalog."""
    root = _component(root_component(image, result))
    metadata = BomMetaData(
        component=root,
        timestamp=image_created(image),
        properties=_properties(status_properties(result)),
    )
    metadata.tools.components.add(_component(TOOL))
    bom = Bom(metadata=metadata)
    components = {pkg: _component(facts)
                  for pkg, facts in package_components(result, with_files).items()}
    os_facts = os_component(result)
    system = _component(os_facts) if os_facts is not None else None
    if system is not None:
        bom.components.add(system)
        bom.register_dependency(
            system, [components[p] for p in result.packages if is_os(p.ecosystem)]
        )
    for component in components.values():
        bom.components.add(component)
    bom.register_dependency(root, [*([system] if system else []), *components.values()])
    bom.serial_number = serial_number(image, result, with_files)
    return bom


def serialize_cyclonedx(bom: Bom, fmt: str) -> str:
    """CycloneDX 1.6 as JSON or XML text."""
    output = OutputFormat.JSON if fmt == "cyclonedx-json" else OutputFormat.XML
    text = make_outputter(bom, output, SchemaVersion.V1_6).output_as_string(indent=2)
    return text if text.endswith("\n") else text + "\n"
