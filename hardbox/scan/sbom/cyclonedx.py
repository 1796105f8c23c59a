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
from hardbox.scan.prepare import ImageIdentity
from hardbox.scan.sbom.facts import ComponentFacts, sbom_facts


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
    facts = sbom_facts(image, result, with_files)
    root = _component(facts.root)
    metadata = BomMetaData(
        component=root,
        timestamp=facts.created,
        properties=_properties(facts.status),
    )
    metadata.tools.components.add(_component(facts.tool))
    bom = Bom(metadata=metadata)
    by_ref = {facts.root.ref: root} | {c.ref: _component(c) for c in facts.components}
    for component in facts.components:
        bom.components.add(by_ref[component.ref])
    for ref, on in facts.depends.items():
        bom.register_dependency(by_ref[ref], [by_ref[r] for r in on])
    bom.serial_number = facts.serial
    return bom


def serialize_cyclonedx(bom: Bom, fmt: str) -> str:
    """CycloneDX 1.6 as JSON or XML text."""
    output = OutputFormat.JSON if fmt == "cyclonedx-json" else OutputFormat.XML
    text = make_outputter(bom, output, SchemaVersion.V1_6).output_as_string(indent=2)
    return text if text.endswith("\n") else text + "\n"
