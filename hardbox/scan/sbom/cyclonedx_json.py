"""The default ``hardbox sbom`` output, CycloneDX 1.6 JSON, written directly as a dict.

Why not cyclonedx-python-lib here, as everywhere else: on the Debian minbase (88 packages)
importing its model costs ~0.2 s and building plus serialising the ``Bom`` ~0.3 s (models
sorted through ``SortedSet`` keys compared field by field, a JSON round trip in the
outputter) — together more than the walk and every cataloger, and the reason ``hardbox sbom``
could not reach half of trivy's time (issue 4). The document is small and its JSON shape is
fixed by the CycloneDX 1.6 schema (bom-1.6.schema.json: ``metadata``, ``components``,
``dependencies``, ``licenses`` as ``{"license": {"id"|"name"}}`` or ``{"expression"}``,
``evidence.occurrences``), so it is written here, from the same content
``hardbox.scan.sbom.build`` decides for the library path. The library stays in charge of what it
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
from datetime import UTC, datetime
from typing import Any

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

_SCHEMA = "http://cyclonedx.org/schema/bom-1.6.schema.json"
Json = dict[str, Any]


def _properties(props: Properties) -> list[Json]:
    return [{"name": name, "value": value} for name, value in sorted(set(props))]


def _component(type_: str, name: str, ref: str, **fields: Any) -> Json:
    """A component with the fields that have a value (the schema has no nulls)."""
    component: Json = {"bom-ref": ref, "type": type_, "name": name}
    component.update((key, value) for key, value in fields.items() if value)
    return component


def _root_component(image: ImageIdentity, result: CatalogResult) -> Json:
    hashes = []
    if image.id.startswith("sha256:"):
        hashes.append({"alg": "SHA-256", "content": image.id.removeprefix("sha256:")})
    return _component(
        "container",
        image_name(image),
        image.id or image_name(image),
        version=image.id,
        hashes=hashes,
        purl=oci_purl(image),
        properties=_properties(root_properties(image, result)),
    )


def _os_component(result: CatalogResult) -> Json | None:
    os_release = result.os
    if os_release is None:
        return None
    return _component(
        "operating-system",
        os_release.id,
        os_ref(result),
        version=os_release.version_id,
        description=os_release.pretty_name,
        evidence={"occurrences": [{"location": os_release.path}]} if os_release.path else None,
        properties=_properties(os_properties(result)),
    )


def _licenses(pkg: Package) -> list[Json]:
    # The library's order: expressions first, then ids, then names (None sorts last).
    chosen = set(licenses(pkg))
    ordered = sorted(chosen, key=lambda c: (c[0] != "expression", c[0] != "id", c[1]))
    return [
        {"expression": value} if kind == "expression" else {"license": {kind: value}}
        for kind, value in ordered
    ]


def _package_component(pkg: Package, ref: str, with_files: bool) -> Json:
    group, name = BY_NAME[pkg.ecosystem].group_and_name(pkg.name)
    found = [
        {"location": location, "additionalContext": context}
        for location, context in sorted(set(occurrences(pkg, with_files)))
    ]
    return _component(
        "library",
        name,
        ref,
        group=group,
        version=pkg.version,
        purl=pkg.purl,
        licenses=_licenses(pkg),
        evidence={"occurrences": found} if found else None,
        properties=_properties(package_properties(pkg)),
    )


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
    root = _root_component(image, result)
    refs = package_refs(result.packages)
    packages = [_package_component(pkg, refs[pkg], with_files) for pkg in result.packages]
    depends: dict[str, list[str]] = {refs[pkg]: [] for pkg in result.packages}
    components = list(packages)
    os_component = _os_component(result)
    if os_component is not None:
        components.append(os_component)
        depends[os_component["bom-ref"]] = [
            refs[pkg] for pkg in result.packages if is_os(pkg.ecosystem)
        ]
    depends[root["bom-ref"]] = [c["bom-ref"] for c in components]
    created = image_created(image) or datetime.now(tz=UTC)
    metadata: Json = {
        "timestamp": created.isoformat(),
        "tools": {
            "components": [
                _component("application", "hardbox", "tool:hardbox", version=__version__)
            ]
        },
        "component": root,
    }
    status = _properties(status_properties(result))
    if status:
        metadata["properties"] = status
    doc: Json = {
        "$schema": _SCHEMA,
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial_number(image, result, with_files).urn,
        "version": 1,
        "metadata": metadata,
    }
    if components:
        doc["components"] = sorted(components, key=_component_order)
    doc["dependencies"] = [
        {"ref": ref, **({"dependsOn": sorted(set(on))} if on else {})}
        for ref, on in sorted(depends.items())
    ]
    return json.dumps(doc, indent=2) + "\n"
