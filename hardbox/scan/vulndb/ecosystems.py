"""Which OSV ecosystem and package name an installed package is filed under.

The facts per ecosystem are its row of ``hardbox.scan.ecosystems.TABLE``. Language packages
map one to one (the row's ``osv``: pypi → ``PyPI``, golang → ``Go``, ...), under the
package's own name (Maven's ``group:artifact``, npm's ``@scope/name``, Go's module path,
``stdlib`` for the toolchain). OS packages are filed per distribution release, so the
image's os-release decides: ``Debian:12``, ``Alpine:v3.19``, ``Rocky Linux:9``,
``AlmaLinux:9`` (``OSRelease.osv_ecosystem``), ``Ubuntu:22.04[:LTS]``, and every ``Red
Hat:enterprise_linux:9::*`` product stream for RHEL 9 — when that release's family is one of
the row's ``families``. The row's ``advisory_name`` says which name to look up: Debian and
Alpine advisories name the *source* package, so those packages are looked up by their
source name and source version (a binNMU's "+bN" is the binary's, not the source's),
falling back to the binary name when a package has no separate source; RPM distributions name source RPMs too, but "Red Hat" also names
binaries: both names are looked up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hardbox.scan.ecosystems import BY_NAME
from hardbox.scan.package import Package

if TYPE_CHECKING:
    # For the annotations only: importing the cataloger package at run time would load
    # every cataloger into `hardbox db`, which never catalogs.
    from hardbox.scan.catalog.os_release import OSRelease


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
    """The package's advisories cannot be found: its OS has no OSV ecosystem, or the package
    is not named as advisories name it."""


def query_for(package: Package, os_info: OSRelease | None) -> Query:
    row = BY_NAME[package.ecosystem]  # a Package's ecosystem is always a row
    if not row.os:
        if package.get_property("hardbox:maven:coordinates") == "unknown":
            # A jar that states no Maven coordinates: matching its file name against
            # advisories keyed by group:artifact would say "none found" without checking.
            raise NoEcosystem("their Maven coordinates are unknown (no pom.properties, and the image does not state them)")
        return Query(row.osv, (package.name,), package.version, (row.osv,))
    label, exact, prefix = _os_ecosystems(os_info)
    if label.split(":", 1)[0] not in row.families:
        raise NoEcosystem(f"{package.ecosystem} packages on {label} have no OSV ecosystem")
    if row.advisory_name == "source-and-name":
        names = tuple(dict.fromkeys(n for n in (package.source_name, package.name) if n))
        return Query(label, names, package.version, exact, prefix)
    if row.advisory_name == "name":
        return Query(label, (package.name,), package.version, exact, prefix)
    return Query(
        label,
        (package.source_name or package.name,),
        _source_version(package),
        exact,
        prefix,
    )


# A Debian binNMU rebuilds binaries without a new source upload: the binary's version gains
# "+bN" (1.2-3+b1) and dpkg records the source's own in "Source: foo (1.2-3)". Advisories
# give source versions, so a "+bN" binary is compared as its source: against last_affected
# 1.2-3, 1.2-3+b1 would wrongly count as past it. A status paragraph that names no source
# version (hand-built images) still says which source version the binary came from.
_BINNMU = re.compile(r"\+b[0-9]+$")


def _source_version(package: Package) -> str:
    version = package.source_version or package.version
    if package.ecosystem == "deb" and version == package.version:
        return _BINNMU.sub("", version)
    return version


def _os_ecosystems(os_info: OSRelease | None) -> tuple[str, tuple[str, ...], str]:
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
