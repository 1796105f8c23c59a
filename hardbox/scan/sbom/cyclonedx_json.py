"""The default ``hardbox sbom`` output, CycloneDX 1.6 JSON, written directly as a dict.

Why not cyclonedx-python-lib here, as everywhere else: on the Debian minbase (88 packages)
importing its model costs ~0.2 s and building plus serialising the ``Bom`` ~0.3 s (models
sorted through ``SortedSet`` keys compared field by field, a JSON round trip in the
outputter) — together more than the walk and every cataloger, and the reason ``hardbox sbom``
could not reach half of trivy's time (issue 4). The document is small and its JSON shape is
fixed by the CycloneDX 1.6 schema (bom-1.6.schema.json: ``metadata``, ``components``,
``dependencies``, ``licenses`` as ``{"license": {"id"|"name"}}`` or ``{"expression"}``,
``evidence.occurrences``), so it is written here, from the same content
``hardbox.scan.sbom.facts.sbom_facts`` decides for the library path. The library stays in charge of what it
does well: classifying license texts (``cyclonedx.spdx``), XML, ``--with-vulns``, and — in
the tests — checking this output with its strict JSON schema validator and comparing it,
document for document, with what its own outputter writes.

The output repeats the library's conventions so the two paths cannot be told apart: every
list the library keeps as a sorted set (properties, licenses, occurrences, components,
dependencies) is de-duplicated and sorted by the same key, absent values are omitted, and
every component has a ``dependencies`` entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from hardbox.scan.catalog_result import CatalogResult
from hardbox.scan.prepare import ImageIdentity
from hardbox.scan.sbom.facts import ComponentFacts, LicenseKind, sbom_facts

_SCHEMA = "http://cyclonedx.org/schema/bom-1.6.schema.json"
Json = dict[str, Any]


def _properties(props: Iterable[tuple[str, str]]) -> list[Json]:
    return [{"name": name, "value": value} for name, value in sorted(set(props))]


def _licenses(chosen: Iterable[tuple[LicenseKind, str]]) -> list[Json]:
    # The library's order: expressions first, then ids, then names (None sorts last).
    ordered = sorted(set(chosen), key=lambda c: (c[0] != "expression", c[0] != "id", c[1]))
    return [
        {"expression": value} if kind == "expression" else {"license": {kind: value}}
        for kind, value in ordered
    ]


def _occurrence(location: str, context: str | None) -> Json:
    return {"location": location, **({"additionalContext": context} if context else {})}


def _component(facts: ComponentFacts) -> Json:
    """The component with the fields that have a value (the schema has no nulls)."""
    found = [_occurrence(location, context) for location, context
             in sorted(set(facts.occurrences), key=lambda o: (o[0], o[1] or ""))]
    fields = {
        "group": facts.group,
        "version": facts.version,
        "description": facts.description,
        "hashes": [{"alg": "SHA-256", "content": facts.sha256}] if facts.sha256 else None,
        "purl": facts.purl,
        "licenses": _licenses(facts.licenses),
        "evidence": {"occurrences": found} if found else None,
        "properties": _properties(facts.properties),
    }
    component: Json = {"bom-ref": facts.ref, "type": facts.type, "name": facts.name}
    component.update((key, value) for key, value in fields.items() if value)
    return component


def _component_order(component: Json) -> tuple[Any, ...]:
    # The library's component key: type, group, name, version, bom-ref (None sorts last).
    group = component.get("group")
    return (
        component["type"],
        group is None,
        group or "",
        component["name"],
        component.get("version") is None,
        component.get("version", ""),
        component["bom-ref"],
    )


def cyclonedx_json(image: ImageIdentity, result: CatalogResult, *, with_files: bool = False) -> str:
    """The CycloneDX 1.6 JSON text of an image's catalog."""
    facts = sbom_facts(image, result, with_files)
    root = _component(facts.root)
    created = facts.created or datetime.now(tz=UTC)
    metadata: Json = {
        "timestamp": created.isoformat(),
        "tools": {"components": [_component(facts.tool)]},
        "component": root,
    }
    status = _properties(facts.status)
    if status:
        metadata["properties"] = status
    doc: Json = {
        "$schema": _SCHEMA,
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": facts.serial.urn,
        "version": 1,
        "metadata": metadata,
    }
    components = [_component(c) for c in facts.components]
    if components:
        doc["components"] = sorted(components, key=_component_order)
    doc["dependencies"] = [
        {"ref": ref, **({"dependsOn": sorted(set(on))} if on else {})}
        for ref, on in sorted(facts.depends.items())
    ]
    return json.dumps(doc, indent=2) + "\n"
