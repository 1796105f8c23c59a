"""What to fix first among the vulnerabilities: one upgrade per vulnerable package, Snyk-style
("upgrade urllib3 1.24.1 → 1.26.18 fixes 7 (2 high)"), ranked by what it fixes.

A package's advisories each name the nearest version that fixes them (the matcher's
``fixed_version``). The upgrade that fixes all of them is the greatest of those versions in
the package ecosystem's own ordering (``hardbox.scan.versions``, the one the matcher
compares with): OSV ranges fix a vulnerability from their ``fixed`` event on, so any version
at or above every advisory's fix fixes every one, and the greatest fix is the smallest such
version among those the advisories name. An advisory with no known fix, or one whose fixed
version the ordering cannot parse, stays open after the upgrade and is listed so
(``still_open``), never silently counted as fixed.

Upgrades rank by what they fix, worst first: more critical findings fixed, then more high,
and so on down, then more findings in all. The JSON report lists them (``upgrades``); the
HTML and Markdown reports lead with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hardbox.findings import Finding, Kind, LayerRef, Severity
from hardbox.scan.ecosystems import TABLE
from hardbox.scan.versions import InvalidVersion, VersionScheme, scheme_for


@dataclass(frozen=True)
class Upgrade:
    """One package's upgrade: from ``version`` to ``to_version``, which fixes ``fixes``."""

    package: str
    version: str
    to_version: str
    fixes: tuple[Finding, ...]  # worst first
    still_open: tuple[Finding, ...] = ()  # this package's findings the upgrade does not fix
    ecosystem: str = ""  # the package ecosystem (``deb``, ``pypi``), "" when unknown
    purl: str = ""
    path: str | None = None
    layer: LayerRef | None = None

    def fixed_by_severity(self) -> dict[str, int]:
        """How many findings of each severity the upgrade fixes, every severity present."""
        return {s.value: sum(f.severity is s for f in self.fixes) for s in Severity}

    def rank_key(self) -> tuple[Any, ...]:
        counts = self.fixed_by_severity()
        return (*(-counts[s.value] for s in Severity), -len(self.fixes), self.package, self.version,
                self.path or "")

    @property
    def worst(self) -> Severity:
        return max((f.severity for f in self.fixes), key=lambda s: s.rank)

    def unrated(self) -> int:
        """How many of the fixed advisories carried no severity (reported as medium)."""
        return sum(_unrated(f) for f in self.fixes)

    def counts_text(self) -> str:
        """``2 high, 5 medium, 1 unrated``: the severities fixed, worst first, zeros left
        out; an advisory that gave no severity counts as unrated, not as its default."""
        counts = {s.value: sum(f.severity is s and not _unrated(f) for f in self.fixes) for s in Severity}
        counts["unrated"] = self.unrated()
        return ", ".join(f"{n} {sev}" for sev, n in counts.items() if n)

    def summary(self) -> str:
        """``upgrade urllib3 1.24.1 → 1.26.18 fixes 7 (2 high, 5 medium)``."""
        return (f"upgrade {self.package} {self.version} → {self.to_version} fixes "
                f"{len(self.fixes)} ({self.counts_text()})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package, "version": self.version, "to_version": self.to_version,
            "ecosystem": self.ecosystem, "purl": self.purl, "path": self.path,
            "layer_index": self.layer.index if self.layer is not None else None,
            "fixes": [f.id for f in self.fixes], "fixes_by_severity": self.fixed_by_severity(),
            "fixes_unrated": self.unrated(),
            "still_open": [f.id for f in self.still_open],
        }  # fmt: skip


def _unrated(finding: Finding) -> bool:
    return finding.vulnerability is not None and finding.vulnerability.severity_source == "default"


def plan_upgrades(findings: Iterable[Finding]) -> tuple[Upgrade, ...]:
    """One upgrade per vulnerable package that has at least one fixable advisory, ranked."""
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    for f in findings:
        if f.kind is Kind.VULNERABILITY and f.package:
            purl = f.vulnerability.purl if f.vulnerability else ""
            groups.setdefault((f.package, f.version or "", purl, f.path or ""), []).append(f)
    plans = [plan for group in groups.values() if (plan := _plan(group)) is not None]
    return tuple(sorted(plans, key=Upgrade.rank_key))


def _plan(group: list[Finding]) -> Upgrade | None:
    first = group[0]
    ecosystem = _ecosystem(first)
    scheme = scheme_for(ecosystem) if ecosystem else None
    orderable: list[tuple[Any, Finding]] = []
    still_open: list[Finding] = []
    for f in group:
        fixed = f.fixed_version
        parsed = _parse(scheme, fixed) if fixed else None
        if parsed is None:
            still_open.append(f)
        else:
            orderable.append((parsed, f))
    if not orderable:
        return None
    if scheme is None and len({f.fixed_version for _, f in orderable}) > 1:
        # No ordering known and the fixes differ: no version can be said to fix them all.
        return None
    target = max(orderable, key=lambda pair: pair[0])[1].fixed_version
    detail = first.vulnerability
    return Upgrade(
        package=first.package or "", version=first.version or "", to_version=target,
        fixes=tuple(sorted((f for _, f in orderable), key=Finding.sort_key)),
        still_open=tuple(sorted(still_open, key=Finding.sort_key)), ecosystem=ecosystem,
        purl=detail.purl if detail else "", path=first.path, layer=first.layer,
    )  # fmt: skip


def _parse(scheme: VersionScheme | None, text: str) -> Any:
    """The fixed version as an ordered value; the text itself when no ordering is known
    (then only equal fixes are combined); None when the ordering rejects it."""
    if scheme is None:
        return text
    try:
        return scheme.parse(text)
    except InvalidVersion:
        return None


def _ecosystem(finding: Finding) -> str:
    """The package ecosystem of a vulnerability finding: from its purl's type, else from the
    OSV ecosystem the advisory was matched in (``PyPI``, ``Debian:12``); "" if neither says."""
    detail = finding.vulnerability
    if detail is None:
        return ""
    if detail.purl.startswith("pkg:"):
        kind = detail.purl[4:].split("/", 1)[0].lower()
        for row in TABLE:
            if row.purl_type == kind:
                return row.name
    family = detail.ecosystem.split(":", 1)[0]
    for row in TABLE:
        if family and (row.osv == family or family in row.families):
            return row.name
    return ""
