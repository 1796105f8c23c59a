"""Matching installed packages against the advisory index, with OSV's semantics.

For each package: find its OSV ecosystem and name (``ecosystems.query_for``), look the
advisories up in the index, and for each affected entry of that package decide with the
evaluation algorithm of the OSV schema ("Evaluation"):

- the version is affected if it equals one of ``versions``, or lies in a range;
- a range of type ECOSYSTEM is ordered by the package ecosystem's own version scheme, one
  of type SEMVER by semver; GIT ranges need the repository's commit graph and are ignored;
- within a range the events are sorted by version ("0" before everything); walking them,
  ``introduced <= v`` makes v affected, ``fixed <= v`` or ``last_affected < v`` unaffected;
  and a range with ``limit`` events counts only below one of its limits ("*" is infinity).

Withdrawn advisories never match. A version the scheme cannot parse (the package's or an
event's) is recorded in ``MatchResult.errors`` and that comparison skipped; the rest of the
scan goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hardbox.findings import Finding, Kind, VulnerabilityDetail
from hardbox.scan.package import Package
from hardbox.scan.versions import SEMVER, Comparable, InvalidVersion, VersionScheme, scheme_for
from hardbox.scan.vulndb.ecosystems import NoEcosystem, Query, query_for
from hardbox.scan.vulndb.index import VulnIndex, normalise_name
from hardbox.scan.vulndb.osv import Advisory, Affected, Range
from hardbox.scan.vulndb.severity import rate

if TYPE_CHECKING:
    # For the annotations only (ecosystems.py says why).
    from hardbox.scan.catalog.os_release import OSRelease

_MAX_REFERENCES = 20
_MAX_DETAIL = 8000


@dataclass(frozen=True)
class MatchError:
    """A comparison that could not be made: which package, which advisory, and why."""

    package: str
    advisory_id: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.advisory_id} for {self.package}" if self.advisory_id else self.package
        return f"{where}: {self.reason}"


@dataclass
class MatchResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[MatchError] = field(default_factory=list)


@dataclass(frozen=True)
class _Verdict:
    affected: bool
    fixed: str | None = None


@dataclass(frozen=True)
class _Hit:
    advisory: Advisory
    affected: Affected
    fixed: str | None


def match(packages: Sequence[Package], os_info: OSRelease | None, db: VulnIndex) -> MatchResult:
    """Every (advisory, package) pair where the installed version is affected, as findings
    sorted worst first."""
    result = MatchResult()
    unmatched: dict[str, list[str]] = {}
    # The binaries of one source (libc6, libc-bin, ...) share its name and version: decide
    # each (ecosystem, name, version) once and give every binary the same verdicts.
    decided: dict[tuple[str, str, str, str], list[_Hit]] = {}
    streams: dict[str, tuple[str, ...]] = {}
    for package in packages:
        try:
            query = query_for(package, os_info)
        except NoEcosystem as err:
            unmatched.setdefault(str(err), []).append(package.name)
            continue
        scheme = scheme_for(package.ecosystem)
        try:
            installed = scheme.parse(query.version)
        except InvalidVersion as err:
            result.errors.append(MatchError(package.name, None, str(err)))
            continue
        ecosystems = query.ecosystems
        if query.prefix:
            if query.prefix not in streams:
                streams[query.prefix] = db.ecosystems_with_prefix(query.prefix)
            ecosystems += streams[query.prefix]
        seen: set[str] = set()  # an RPM advisory may name both the source and the binary
        for name in query.names:
            key = (package.ecosystem, query.ecosystem, name, query.version)
            if key not in decided:
                decided[key] = [
                    hit for advisory in db.lookup(ecosystems, name)
                    if (hit := _match_advisory(ecosystems, query, name, scheme, installed, advisory, result))
                    is not None
                ]
            for hit in decided[key]:
                if hit.advisory.id not in seen:
                    seen.add(hit.advisory.id)
                    result.findings.append(_finding(package, query, hit))
    for reason, names in sorted(unmatched.items()):
        # One line per cause, not one per package: a whole OS's packages share it.
        result.errors.append(MatchError(f"{len(names)} packages", None, f"{reason}; not matched"))
    result.findings.sort(key=Finding.sort_key)
    return result


def _match_advisory(ecosystems: tuple[str, ...], query: Query, name: str, scheme: VersionScheme,
                    installed: Comparable, advisory: Advisory, result: MatchResult) -> _Hit | None:
    if advisory.withdrawn is not None:
        return None
    fixes: list[str | None] = []
    hit: Affected | None = None
    for affected in advisory.affected:
        if affected.package.ecosystem not in ecosystems or not _same_name(affected, query, name):
            continue
        verdict = _evaluate(affected, query.version, scheme, installed, name, advisory, result)
        if verdict.affected:
            hit = hit or affected
            fixes.append(verdict.fixed)
    if hit is None:
        return None
    known = [f for f in fixes if f is not None]
    fixed = min(known, key=scheme.parse) if known else None  # the nearest fix above v
    return _Hit(advisory, hit, fixed)


def _same_name(affected: Affected, query: Query, name: str) -> bool:
    return normalise_name(query.ecosystem, affected.package.name) == normalise_name(query.ecosystem, name)


def _evaluate(affected: Affected, version: str, scheme: VersionScheme, installed: Comparable,
              name: str, advisory: Advisory, result: MatchResult) -> _Verdict:
    # The versions list is matched by equality; the schema warns its entries need not follow
    # the ecosystem's syntax (they may be git tags), so unparsable ones are simply not equal.
    for listed in affected.versions:
        if listed == version or _equal(scheme, listed, installed):
            return _Verdict(True, _fix_above(affected, scheme, installed))
    for rng in affected.ranges:
        if rng.type not in ("ECOSYSTEM", "SEMVER"):
            continue
        range_scheme = SEMVER if rng.type == "SEMVER" else scheme
        try:
            verdict = _in_range(rng, range_scheme, range_scheme.parse(version) if rng.type == "SEMVER" else installed)
        except InvalidVersion as err:
            result.errors.append(MatchError(f"{name} {version}", advisory.id, f"{rng.type} range skipped: {err}"))
            continue
        if verdict.affected:
            return verdict
    return _Verdict(False)


def _equal(scheme: VersionScheme, listed: str, installed: Comparable) -> bool:
    try:
        return bool(scheme.parse(listed) == installed)
    except InvalidVersion:
        return False


def _in_range(rng: Range, scheme: VersionScheme, v: Comparable) -> _Verdict:
    limits = [e.version for e in rng.events if e.kind == "limit"]
    # The schema: a limit containing "*" is infinity.
    if limits and not any("*" in limit or v < scheme.parse(limit) for limit in limits):
        return _Verdict(False)
    # "0" as introduced sorts before every version; it is not parsed.
    keyed = [
        (e, None if (e.kind == "introduced" and e.version == "0") else scheme.parse(e.version))
        for e in rng.events if e.kind != "limit"
    ]
    ordered = sorted(keyed, key=_SortKey.of)
    affected = False
    for event, at in ordered:
        if event.kind == "introduced" and (at is None or v >= at):
            affected = True
        elif at is not None and (
            (event.kind == "fixed" and v >= at) or (event.kind == "last_affected" and v > at)
        ):
            affected = False
    if not affected:
        return _Verdict(False)
    fixed = next((e.version for e, at in ordered if e.kind == "fixed" and at is not None and at > v), None)
    return _Verdict(True, fixed)


def _fix_above(affected: Affected, scheme: VersionScheme, installed: Comparable) -> str | None:
    """For a version named in ``versions``: the nearest ``fixed`` event above it, if any."""
    above = []
    for rng in affected.ranges:
        # SEMVER events are comparable with the installed version only under semver.
        if rng.type != "ECOSYSTEM" and not (rng.type == "SEMVER" and scheme is SEMVER):
            continue
        for event in rng.events:
            if event.kind != "fixed":
                continue
            try:
                if scheme.parse(event.version) > installed:
                    above.append(event.version)
            except InvalidVersion:
                continue
    return min(above, key=scheme.parse) if above else None


class _SortKey:
    """Orders (event, parsed version) pairs; None (introduced "0") first."""

    __slots__ = ("at",)

    def __init__(self, at: Comparable | None) -> None:
        self.at = at

    @classmethod
    def of(cls, pair: tuple[object, Comparable | None]) -> _SortKey:
        return cls(pair[1])

    def __lt__(self, other: _SortKey) -> bool:
        if self.at is None:
            return other.at is not None
        if other.at is None:
            return False
        return bool(self.at < other.at)


def _finding(package: Package, query: Query, hit: _Hit) -> Finding:
    advisory, affected, fixed = hit.advisory, hit.affected, hit.fixed
    rating = rate(advisory, affected)
    return Finding(
        id=advisory.id,
        kind=Kind.VULNERABILITY,
        severity=rating.severity,
        title=advisory.summary or _title(advisory, package),
        detail=advisory.details[:_MAX_DETAIL],
        fix=f"upgrade {package.name} to {fixed}" if fixed else "",
        package=package.name,
        version=package.version,
        path=package.locations[0] if package.locations else None,
        layer=package.layer,
        vulnerability=VulnerabilityDetail(
            aliases=tuple(advisory.aliases),
            cves=tuple(advisory.cves),
            fixed_version=fixed,
            ecosystem=affected.package.ecosystem,
            advisory_package=affected.package.name,
            compared_version=query.version,
            purl=package.purl,
            severity_source=rating.source,
            cvss_vector=rating.vector,
            cvss_score=rating.score,
            published=advisory.published.isoformat() if advisory.published else None,
            modified=advisory.modified.isoformat(),
            references=tuple(advisory.references[:_MAX_REFERENCES]),
        ),
    )


def _title(advisory: Advisory, package: Package) -> str:
    """``CVE-2023-1234 in urllib3 1.24.1`` for an advisory with no summary (every PyPA one):
    its ``details`` cut at 200 characters made a title that stopped mid-sentence. The CVE
    alias is the id most readers know; the text stays in the finding's ``detail``."""
    shown = advisory.cves[0] if advisory.cves else advisory.id
    return f"{shown} in {package.name} {package.version}"
