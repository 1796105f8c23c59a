"""Which OSV ecosystem and package name an installed package is filed under.

Language packages map one to one: pypi → ``PyPI``, npm → ``npm``, golang → ``Go``, maven →
``Maven``, under the package's own name (Maven's ``group:artifact``, npm's ``@scope/name``,
Go's module path, ``stdlib`` for the toolchain). OS packages are filed per distribution
release, so the image's os-release decides: ``Debian:12``, ``Alpine:v3.19``, ``Rocky
Linux:9``, ``AlmaLinux:9`` (``OSRelease.osv_ecosystem``), ``Ubuntu:22.04[:LTS]``, and every
``Red Hat:enterprise_linux:9::*`` product stream for RHEL 9. Debian and Alpine advisories
name the *source* package (OSV schema, "Defined ecosystems"), so those packages are looked
up by their source name and source version, falling back to the binary name when a
package has no separate source. RPM distributions name source RPMs too, but "Red Hat"
also names binaries: both names are looked up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hardbox.scan.package import Package

LANGUAGE_ECOSYSTEMS = {"pypi": "PyPI", "npm": "npm", "golang": "Go", "maven": "Maven"}

# Which package ecosystem each OSV distribution family's advisories describe.
OS_FAMILIES = {
    "deb": ("Debian", "Ubuntu"),
    "apk": ("Alpine", "Wolfi", "Chainguard"),
    "rpm": ("Rocky Linux", "AlmaLinux", "Red Hat", "openSUSE", "SUSE", "Photon OS"),
}


class OSInfo(Protocol):
    """What matching needs of the image's OS (``hardbox.scan.catalog.os_release.OSRelease``)."""

    @property
    def id(self) -> str: ...
    @property
    def version_id(self) -> str: ...
    @property
    def osv_ecosystem(self) -> str | None: ...


@dataclass(frozen=True)
class Query:
    """Where to look a package up, and which version of it to compare. ``ecosystem`` names
    the release for reports; ``ecosystems`` are every exact OSV ecosystem string to look in,
    and ``prefix`` (when set) adds every loaded ecosystem that starts with it."""

    ecosystem: str
    names: tuple[str, ...]
    version: str
    ecosystems: tuple[str, ...]
    prefix: str = ""


class NoEcosystem(LookupError):
    """The package's advisories cannot be found: its OS has no OSV ecosystem."""


def query_for(package: Package, os_info: OSInfo | None) -> Query:
    if package.ecosystem in LANGUAGE_ECOSYSTEMS:
        ecosystem = LANGUAGE_ECOSYSTEMS[package.ecosystem]
        return Query(ecosystem, (package.name,), package.version, (ecosystem,))
    label, exact, prefix = _os_ecosystems(os_info)
    if label.split(":", 1)[0] not in OS_FAMILIES.get(package.ecosystem, ()):
        raise NoEcosystem(f"{package.ecosystem} packages on {label} have no OSV ecosystem")
    if package.ecosystem == "rpm":
        names = tuple(dict.fromkeys(n for n in (package.source_name, package.name) if n))
        return Query(label, names, package.version, exact, prefix)
    return Query(
        label,
        (package.source_name or package.name,),
        package.source_version or package.version,
        exact,
        prefix,
    )


def _os_ecosystems(os_info: OSInfo | None) -> tuple[str, tuple[str, ...], str]:
    """(label, exact ecosystems, prefix) for the image's OS release."""
    if os_info is not None and os_info.id == "rhel" and os_info.version_id:
        # Red Hat files advisories per product stream, a CPE without its "cpe:/o:redhat:"
        # head ("Red Hat:enterprise_linux:9::appstream"): every stream of the major release.
        label = f"Red Hat:enterprise_linux:{os_info.version_id.split('.')[0]}"
        return label, (), label + "::"
    ecosystem = os_info.osv_ecosystem if os_info is not None else None
    if ecosystem is None:
        what = f"{os_info.id} {os_info.version_id}".strip() if os_info is not None else "an unknown OS"
        raise NoEcosystem(f"no OSV ecosystem for {what}")
    if ecosystem.startswith("Ubuntu:") and not ecosystem.endswith(":LTS"):
        # Ubuntu suffixes LTS releases ("Ubuntu:22.04:LTS"); os-release does not say which
        # releases are LTS, so look in both spellings.
        return ecosystem, (ecosystem, ecosystem + ":LTS"), ""
    return ecosystem, (ecosystem,), ""
