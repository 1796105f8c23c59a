"""The package ecosystems hardbox knows, in one table: every fact about an ecosystem that more
than one module needs lives in its row here, and those modules read it from here.

One frozen ``Ecosystem`` per ecosystem says how hardbox spells it (``Package.ecosystem``), its
purl type (github.com/package-url/purl-spec, PURL-TYPES.rst), which version ordering its
versions follow (a key of ``hardbox.scan.versions.SCHEMES``), whether it is an operating
system's package manager (its packages depend on the OS component of the SBOM, and its
advisories are filed per distribution release) or a language's (filed under one OSV
ecosystem), which name OSV advisories key a package by, and how a name splits into
CycloneDX's ``group`` and ``name``.

The readers: ``package`` (a ``Package`` of an ecosystem not in the table is refused),
``versions.scheme_for``, ``vulndb.ecosystems.query_for``, the SBOM writers (``sbom.build``,
``sbom.cyclonedx``, ``sbom.cyclonedx_json``, ``sbom.spdx``). This module imports none of them: it is data.
``tests/unit/scan/test_ecosystems.py`` fails when a cataloger declares an ecosystem the table
lacks, when a row names a version scheme that is not registered, or when a row has no
cataloger. docs/adding-a-cataloger.md is the checklist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

# Which package name OSV advisories key a package by (OSV schema, "Defined ecosystems"):
# its own; its source package's name and version (Debian, Alpine); or both names, source
# first (RPM distributions file source RPMs, but "Red Hat" also names binaries).
AdvisoryName = Literal["name", "source", "source-and-name"]
NameSplit = Callable[[str], tuple[str | None, str]]


def whole_name(name: str) -> tuple[str | None, str]:
    """No group: the name is the whole name (deb, pypi, Go module paths, ...)."""
    return None, name


def maven_coordinates(name: str) -> tuple[str | None, str]:
    """``groupId:artifactId`` -> (groupId, artifactId); an artifact without a group stays whole."""
    if ":" in name:
        group, artifact = name.split(":", 1)
        return group, artifact
    return None, name


def npm_scope(name: str) -> tuple[str | None, str]:
    """``@scope/name`` -> (``@scope``, ``name``), as CycloneDX's npm examples spell the group."""
    if name.startswith("@") and "/" in name:
        scope, bare = name.split("/", 1)
        return scope, bare
    return None, name


@dataclass(frozen=True)
class Ecosystem:
    """One row of the table. ``osv`` is the OSV ecosystem of a language ecosystem's
    advisories; an OS ecosystem has none of its own (the image's os-release decides:
    ``Debian:12``) and names instead the OSV distribution ``families`` whose advisories
    describe its packages."""

    name: str
    purl_type: str
    version_scheme: str
    os: bool = False
    osv: str = ""
    families: tuple[str, ...] = ()
    advisory_name: AdvisoryName = "name"
    split_name: NameSplit = whole_name

    def __post_init__(self) -> None:
        if self.os and (self.osv or not self.families):
            raise ValueError(f"ecosystem {self.name!r}: an OS ecosystem names OSV families, no OSV ecosystem")
        if not self.os and (not self.osv or self.families):
            raise ValueError(f"ecosystem {self.name!r}: a language ecosystem names one OSV ecosystem")

    def group_and_name(self, name: str) -> tuple[str | None, str]:
        """CycloneDX's ``group`` and ``name`` of a package of this ecosystem."""
        return self.split_name(name)


# Every ecosystem, OS package managers first (the order of CATALOGERS).
TABLE: tuple[Ecosystem, ...] = (
    Ecosystem("deb", purl_type="deb", version_scheme="dpkg", os=True,
              families=("Debian", "Ubuntu"), advisory_name="source"),
    Ecosystem("apk", purl_type="apk", version_scheme="apk", os=True,
              families=("Alpine", "Wolfi", "Chainguard"), advisory_name="source"),
    Ecosystem("rpm", purl_type="rpm", version_scheme="rpm", os=True,
              families=("Rocky Linux", "AlmaLinux", "Red Hat", "openSUSE", "SUSE", "Photon OS"),
              advisory_name="source-and-name"),
    Ecosystem("pypi", purl_type="pypi", version_scheme="pep440", osv="PyPI"),
    Ecosystem("npm", purl_type="npm", version_scheme="semver", osv="npm", split_name=npm_scope),
    Ecosystem("golang", purl_type="golang", version_scheme="semver", osv="Go"),
    Ecosystem("maven", purl_type="maven", version_scheme="maven", osv="Maven",
              split_name=maven_coordinates),
)

BY_NAME: dict[str, Ecosystem] = {row.name: row for row in TABLE}


def ecosystem(name: str) -> Ecosystem:
    """The row of ``name``; ``KeyError`` names an ecosystem the table lacks."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown package ecosystem {name!r} (not in hardbox.scan.ecosystems.TABLE)") from None


def is_os(name: str) -> bool:
    """Whether packages of ``name`` come from the operating system's package manager."""
    row = BY_NAME.get(name)
    return row is not None and row.os
