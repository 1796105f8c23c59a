"""What the SBOM of an image says, decided once here for every writer (``cyclonedx``,
``cyclonedx_json``, ``spdx``, ``vulns``): names, purls, properties, licenses, evidence and
the serial number. The writers import this module and never ``build``, which imports them.

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

Nothing here imports cyclonedx-python-lib's model: the default output never needs it.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from packageurl import PackageURL

from hardbox import __version__
from hardbox.scan.catalog_result import CatalogResult
from hardbox.scan.ecosystems import BY_NAME, is_os
from hardbox.scan.package import Package
from hardbox.scan.prepare import ImageIdentity

# additionalContext of the two kinds of evidence occurrence.
READ_FROM = "package metadata read from here"
OWNED = "file installed by the package"
# A fixed namespace for uuid5 serial numbers: same SBOM content, same serial.
_SERIAL_NAMESPACE = uuid.UUID("6b1f0a52-8a33-4f55-9a57-2f4b3c1d7e90")

# One license of a component, as CycloneDX spells the choice: an SPDX id, an SPDX
# expression, or a free-text name.
LicenseKind = Literal["id", "expression", "name"]
Properties = list[tuple[str, str]]


@dataclass(frozen=True)
class ComponentFacts:
    """One component as the SBOM says it, before a writer spells it: ``type`` as CycloneDX
    names it, an absent field None or empty (no writer prints it). ``occurrences`` are
    (location, additionalContext) pairs; the OS's has no context."""

    type: str
    name: str
    ref: str
    version: str | None = None
    group: str | None = None
    description: str | None = None
    purl: str | None = None
    sha256: str | None = None  # the hex of the component's SHA-256 hash
    licenses: tuple[tuple[LicenseKind, str], ...] = ()
    occurrences: tuple[tuple[str, str | None], ...] = ()
    properties: tuple[tuple[str, str], ...] = ()


# The tool that wrote the SBOM (``metadata.tools.components``).
TOOL = ComponentFacts("application", "hardbox", "tool:hardbox", version=__version__)


def _root_component(image: ImageIdentity, result: CatalogResult) -> ComponentFacts:
    """The image itself (``metadata.component``)."""
    return ComponentFacts(
        "container",
        image_name(image),
        image.id or image_name(image),
        version=image.id or None,
        purl=oci_purl(image),
        sha256=image.id.removeprefix("sha256:") if image.id.startswith("sha256:") else None,
        properties=tuple(root_properties(image, result)),
    )


def _os_component(result: CatalogResult) -> ComponentFacts | None:
    """The operating system os-release describes, None without one."""
    os_release = result.os
    if os_release is None:
        return None
    return ComponentFacts(
        "operating-system",
        os_release.id,
        os_ref(result),
        version=os_release.version_id or None,
        description=os_release.pretty_name or None,
        occurrences=((os_release.path, None),) if os_release.path else (),
        properties=tuple(os_properties(result)),
    )


def _package_components(result: CatalogResult, with_files: bool) -> dict[Package, ComponentFacts]:
    """One ``library`` component per package, in the catalog's order."""
    refs = package_refs(result.packages)
    components = {}
    for pkg in result.packages:
        group, name = BY_NAME[pkg.ecosystem].group_and_name(pkg.name)
        components[pkg] = ComponentFacts(
            "library",
            name,
            refs[pkg],
            version=pkg.version,
            group=group,
            purl=pkg.purl,
            licenses=tuple(licenses(pkg)),
            occurrences=tuple(occurrences(pkg, with_files)),
            properties=tuple(package_properties(pkg)),
        )
    return components


@dataclass(frozen=True)
class SbomFacts:
    """Everything a CycloneDX SBOM of an image says, for a writer to spell: the image
    (``root``), the tool, the OS and package components, which depends on which (by bom-ref:
    the image on every component, the OS on its packages, every component listed), the
    catalogers' status, the creation time and the serial number."""

    root: ComponentFacts
    components: tuple[ComponentFacts, ...]
    depends: dict[str, tuple[str, ...]]
    status: Properties
    created: datetime | None
    serial: uuid.UUID
    tool: ComponentFacts = TOOL


def sbom_facts(image: ImageIdentity, result: CatalogResult, with_files: bool) -> SbomFacts:
    """The SBOM of ``image`` with ``result``'s packages (``with_files``: every file each
    package owns as evidence too)."""
    root = _root_component(image, result)
    packages = _package_components(result, with_files)
    depends: dict[str, tuple[str, ...]] = {facts.ref: () for facts in packages.values()}
    components = list(packages.values())
    system = _os_component(result)
    if system is not None:
        components.insert(0, system)
        depends[system.ref] = tuple(packages[pkg].ref for pkg in result.packages if is_os(pkg.ecosystem))
    depends[root.ref] = tuple(c.ref for c in components)
    return SbomFacts(root, tuple(components), depends, status_properties(result),
                     image_created(image), serial_number(image, result, with_files))


def image_name(image: ImageIdentity) -> str:
    return image.tags[0] if image.tags else (image.id or "image")


def image_created(image: ImageIdentity) -> datetime | None:
    config = getattr(image, "config", None)
    created = getattr(config, "created", None)
    if not isinstance(created, str) or not created:
        return None
    try:
        return datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def oci_purl(image: ImageIdentity) -> str | None:
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
    return PackageURL(type="oci", name=name, version=digest, qualifiers=qualifiers).to_string()


def root_properties(image: ImageIdentity, result: CatalogResult) -> Properties:
    props = [("hardbox:image:id", image.id)] if image.id else []
    if image.manifest_digest:
        props.append(("hardbox:image:manifest-digest", image.manifest_digest))
    props += [("hardbox:image:tag", tag) for tag in image.tags]
    if result.os is not None:
        props.append(("hardbox:image:base-os", result.os.pretty_name or result.os.purl_distro))
    props += [(f"hardbox:image:layer:{layer.index}", layer.diff_id) for layer in image.layers]
    return props


def os_properties(result: CatalogResult) -> Properties:
    os_release = result.os
    if os_release is None:
        return []
    props = [("hardbox:os:distro", os_release.purl_distro)]
    if os_release.osv_ecosystem:
        props.append(("hardbox:os:osv-ecosystem", os_release.osv_ecosystem))
    if os_release.version_codename:
        props.append(("hardbox:os:codename", os_release.version_codename))
    return props


def os_ref(result: CatalogResult) -> str:
    return f"os:{result.os.purl_distro}" if result.os is not None else ""


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


@functools.lru_cache(maxsize=4096)
def _license(text: str, single: bool) -> tuple[LicenseKind, str]:
    # cyclonedx-python-lib's LicenseFactory.make_from_string rules, from the two functions it
    # uses (its model classes are not needed to decide): a known SPDX id (case-fixed), else a
    # valid SPDX expression, else a name. Cached: an image repeats the same few texts.
    from cyclonedx.spdx import fixup_id, is_expression

    spdx_id = fixup_id(text)
    if spdx_id is not None:
        return "id", spdx_id
    if single and is_expression(text):
        return "expression", text
    return "name", text


def licenses(pkg: Package) -> list[tuple[LicenseKind, str]]:
    """SPDX ids and expressions where the text is one, names otherwise. CycloneDX allows one
    expression or a list of single licenses, never both: with several, each is one license."""
    texts = [text.strip() for text in pkg.licenses if text.strip()]
    return [_license(text, len(texts) == 1) for text in texts]


def package_properties(pkg: Package) -> Properties:
    props = [("hardbox:cataloger", pkg.cataloger)]
    if pkg.layer is not None:
        props += [
            ("hardbox:layer:diff_id", pkg.layer.diff_id),
            ("hardbox:layer:index", str(pkg.layer.index)),
        ]
        if pkg.layer.created_by:
            props.append(("hardbox:layer:created_by", pkg.layer.created_by))
    if pkg.source_name:
        props.append(("hardbox:source:name", pkg.source_name))
    if pkg.source_version:
        props.append(("hardbox:source:version", pkg.source_version))
    props += list(pkg.properties)
    return props


def occurrences(pkg: Package, with_files: bool) -> list[tuple[str, str | None]]:
    """(location, additionalContext) of each evidence occurrence: where the package was read
    from, and with ``with_files`` every file it owns. (Nested ``file`` components would say
    the same at a hundred times the cost.)"""
    found: list[tuple[str, str | None]] = [(loc, READ_FROM) for loc in pkg.locations]
    if with_files:
        found += [(path, OWNED) for path in sorted(set(pkg.files))]
    return found


def status_properties(result: CatalogResult) -> Properties:
    props: Properties = []
    for status in result.statuses:
        base = f"hardbox:cataloger:{status.cataloger}"
        props.append((f"{base}:status", status.status.value))
        props.append((f"{base}:packages", str(status.packages)))
        props += [(f"{base}:reason", reason) for reason in status.reasons]
    props += [("hardbox:walk:error", error) for error in result.walk_errors]
    return props


def serial_number(image: ImageIdentity, result: CatalogResult, with_files: bool) -> uuid.UUID:
    parts = [image.id, image.manifest_digest, *image.tags, str(with_files)]
    parts += [f"{p.purl}|{p.locations}|{p.layer}" for p in result.packages]
    parts += [f"{s.cataloger}|{s.status.value}|{s.reasons}" for s in result.statuses]
    return uuid.uuid5(_SERIAL_NAMESPACE, "\n".join(parts))
