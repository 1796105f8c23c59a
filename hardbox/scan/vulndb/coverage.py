"""Computing a match's ``Coverage`` (``hardbox.scan.coverage``): for each package, which
OSV ecosystem it is filed under (``ecosystems.query_for``) and whether the index holds any
advisory of that ecosystem — of that release, for OS packages — so the package was really
checked. A package counts as unchecked, with the reason, when its OS has no OSV ecosystem
(an unknown distro), when it is not named as advisories name it (a jar whose Maven
coordinates are unknown), when the index has no advisory of its ecosystem or release, or when
its version cannot be parsed by the ecosystem's ordering.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hardbox.scan.coverage import Coverage, EcosystemCoverage
from hardbox.scan.ecosystems import BY_NAME
from hardbox.scan.package import Package
from hardbox.scan.versions import InvalidVersion, scheme_for
from hardbox.scan.vulndb.ecosystems import NoEcosystem, query_for
from hardbox.scan.vulndb.index import VulnIndex

if TYPE_CHECKING:
    # For the annotations only (ecosystems.py says why).
    from hardbox.scan.catalog.os_release import OSRelease


def update_hint(ecosystem: str) -> str:
    """The command that fetches ``ecosystem``'s advisories (OSV's top-level name)."""
    top = ecosystem.split(":", 1)[0]
    return f"hardbox db update --ecosystem {top}" if top else ""


def without_database(packages: Sequence[Package], os_info: OSRelease | None) -> Coverage:
    """Coverage when there is no database at all: every ecosystem a gap, named as a
    database would have filed it (``Debian:12``, ``PyPI``), with the command that fetches it."""
    found: dict[str, int] = defaultdict(int)
    hints: dict[str, str] = {}
    for package in packages:
        try:
            label = query_for(package, os_info).ecosystem
            hints.setdefault(label, update_hint(label))
        except NoEcosystem:
            label = BY_NAME[package.ecosystem].name
        found[label] += 1
    return Coverage(tuple(
        EcosystemCoverage(label, n, 0, "there is no vulnerability database", hints.get(label, "hardbox db update"))
        for label, n in sorted(found.items())))


def coverage(packages: Sequence[Package], os_info: OSRelease | None, db: VulnIndex,
             max_age_seconds: int | None = None) -> Coverage:
    loaded = db.loaded_ecosystems()
    found: dict[str, int] = defaultdict(int)
    checked: dict[str, int] = defaultdict(int)
    advisories: dict[str, int] = defaultdict(int)
    reasons: dict[str, str] = {}
    hints: dict[str, str] = {}
    for package in packages:
        try:
            query = query_for(package, os_info)
        except NoEcosystem as err:
            row = BY_NAME[package.ecosystem]
            label = row.osv or row.name  # a language's packages stay under its one OSV name
            found[label] += 1
            reasons.setdefault(label, str(err))
            continue
        label = query.ecosystem
        found[label] += 1
        present = [e for e in query.ecosystems if e in loaded]
        if query.prefix:
            present += [e for e in loaded if e.startswith(query.prefix)]
        if not present:
            what = label.replace(":", " ") if ":" in label else label
            reasons.setdefault(label, f"the database has no {what} advisories")
            hints.setdefault(label, update_hint(label))
            continue
        advisories[label] = max(advisories[label], sum(loaded[e] for e in present))
        try:
            scheme_for(package.ecosystem).parse(query.version)
        except InvalidVersion:
            reasons.setdefault(label, "their versions cannot be parsed by the ecosystem's ordering")
            continue
        checked[label] += 1
    entries = tuple(
        EcosystemCoverage(label, n, checked[label], reasons.get(label, "") if checked[label] < n else "",
                          hints.get(label, "") if checked[label] < n else "", advisories[label])
        for label, n in sorted(found.items())
    )
    updated = db.last_updated()
    result = Coverage(entries, updated)
    age = result.db_age_seconds()
    stale = max_age_seconds is not None and (age is None or age > max_age_seconds)
    return Coverage(entries, updated, stale)
