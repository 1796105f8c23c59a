"""The head of every human-readable report: what to fix first.

Vulnerabilities are grouped into upgrades (``hardbox.scan.upgrades``), so one upgrade that
fixes seven advisories is one item, not seven; the other findings (misconfigurations,
secrets, vulnerabilities no upgrade fixes) are items of their own. Items rank by what
acting on them fixes: more critical findings first, then more high, and so on down; at a
tie, the order of the findings list (kind, id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardbox.findings import Finding, Kind, Severity
from hardbox.scan.upgrades import Upgrade

if TYPE_CHECKING:
    from hardbox.scan.result import ScanResult

Item = Upgrade | Finding


def fix_first(result: ScanResult, n: int = 5) -> list[Item]:
    """The ``n`` items to act on first: upgrades and single findings, ranked together."""
    upgrades = result.upgrades()
    covered = {id(f) for u in upgrades for f in u.fixes}
    ranked: list[tuple[tuple[Any, ...], Item]] = []
    for position, upgrade in enumerate(upgrades):
        ranked.append((_key(upgrade.fixed_by_severity(), len(upgrade.fixes), Kind.VULNERABILITY, position),
                       upgrade))
    for position, finding in enumerate(result.findings):
        if id(finding) not in covered:
            counts = {s.value: int(s is finding.severity) for s in Severity}
            ranked.append((_key(counts, 1, finding.kind, position), finding))
    ranked.sort(key=lambda pair: pair[0])
    return [item for _, item in ranked[:n]]


def _key(counts: dict[str, int], total: int, kind: Kind, position: int) -> tuple[Any, ...]:
    return (*(-counts[s.value] for s in Severity), -total, kind.value, position)
