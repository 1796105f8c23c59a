"""The package model: one installed package a cataloger found, as the SBOM and the
vulnerability matcher see it.

A ``Package`` is built once, by a cataloger, and checks itself when built: an ecosystem of
``hardbox.scan.ecosystems.TABLE``, a non-empty name and version, and a purl that parses. Past that boundary the
SBOM writer and vulndb trust it. ``make_purl`` is the one place purls are spelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from packageurl import PackageURL

from hardbox.findings import LayerRef
from hardbox.scan.ecosystems import BY_NAME


def make_purl(
    type_: str,
    name: str,
    version: str,
    *,
    namespace: str | None = None,
    qualifiers: Mapping[str, str] | None = None,
) -> str:
    """A package URL string (github.com/package-url/purl-spec); empty qualifiers are dropped
    and the rest sorted, as the spec's canonical form requires."""
    quals = {k: v for k, v in sorted((qualifiers or {}).items()) if v}
    return PackageURL(
        type=type_,
        namespace=namespace or None,
        name=name,
        version=version or None,
        qualifiers=quals,
    ).to_string()


@dataclass(frozen=True)
class Package:
    """One package found in an image.

    ``layer`` is the earliest layer whose files or database entry brought this name and
    version. ``locations`` are the image paths of the evidence (the database or manifest the
    package was read from); ``files`` the image paths the package owns, where its ecosystem
    records them (dpkg ``info/*.list``, ``RECORD``, apk ``F:``/``R:`` lines).
    ``source_name``/``source_version`` are the source package (Debian's ``Source:`` field,
    an rpm's SRPM, an apk's origin); Debian advisories are keyed by it.
    """

    name: str
    version: str
    ecosystem: str
    purl: str
    cataloger: str
    layer: LayerRef | None = None
    arch: str = ""
    source_name: str = ""
    source_version: str = ""
    licenses: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    # Ecosystem-specific facts the SBOM carries as properties (go toolchain version,
    # maven groupId, ...): sorted (name, value) pairs so the model stays hashable.
    properties: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.ecosystem not in BY_NAME:
            raise ValueError(f"package {self.name!r}: unknown ecosystem {self.ecosystem!r}")
        if not self.name or not self.name.strip():
            raise ValueError(f"{self.ecosystem} package with an empty name")
        if not self.version or not self.version.strip():
            raise ValueError(f"{self.ecosystem} package {self.name!r} has no version")
        if not self.purl.startswith("pkg:"):
            raise ValueError(f"package {self.name!r}: purl {self.purl!r} is not a package URL")
        PackageURL.from_string(self.purl)  # raises ValueError when malformed
        if list(self.properties) != sorted(self.properties):
            object.__setattr__(self, "properties", tuple(sorted(self.properties)))

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes two findings of a package the same package: ecosystem, name,
        version, and where it was found."""
        return (
            self.ecosystem,
            self.name,
            self.version,
            self.locations[0] if self.locations else "",
        )

    def get_property(self, name: str) -> str | None:
        for key, value in self.properties:
            if key == name:
                return value
        return None

    def sort_key(self) -> tuple[str, str, str, str]:
        return (
            self.ecosystem,
            self.name,
            self.version,
            self.locations[0] if self.locations else "",
        )
