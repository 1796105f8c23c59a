"""The risk grade: one letter, A (best) to F, and the reason, shown at the top of every report.

The grade is decided by the worst things found, not by a weighted sum: one live cloud key
matters more than fifty low-severity notes, and a reviewer must be able to check the grade
by hand. The rules, first match wins (docs/report-json.md repeats them):

  F  any critical finding, or any secret of high severity or worse
  D  five or more high findings
  C  one to four high findings
  B  any medium finding
  A  nothing worse than low

The grade is computed over every finding of the scan, before ``--severity`` or
``--ignore-unfixed`` narrow what a report lists: filters change the view, not the image.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hardbox.findings import Finding, Kind, Severity

METHOD: tuple[str, ...] = (
    "F: any critical finding, or any secret of high severity or worse",
    "D: five or more high findings",
    "C: one to four high findings",
    "B: any medium finding",
    "A: nothing worse than low",
)
# At or above this many high findings the grade drops from C to D.
MANY_HIGH = 5


@dataclass(frozen=True)
class RiskGrade:
    grade: str
    reason: str
    counts: tuple[tuple[str, int], ...]  # severity value -> count, worst first

    def to_dict(self) -> dict[str, Any]:
        return {"grade": self.grade, "reason": self.reason, "method": list(METHOD),
                "counts": dict(self.counts)}


def grade(findings: Iterable[Finding]) -> RiskGrade:
    """Grade the findings by the rules in ``METHOD``; the reason names what decided it."""
    items = list(findings)
    by_severity = Counter(f.severity for f in items)
    counts = tuple((s.value, by_severity.get(s, 0)) for s in Severity)
    critical = by_severity.get(Severity.CRITICAL, 0)
    high = by_severity.get(Severity.HIGH, 0)
    medium = by_severity.get(Severity.MEDIUM, 0)
    secrets = [f for f in items if f.kind is Kind.SECRET and f.severity.rank >= Severity.HIGH.rank]
    if critical or secrets:
        parts = []
        if critical:
            parts.append(_plural(critical, "critical finding"))
        if secrets:
            parts.append(_plural(len(secrets), "high-severity secret"))
        return RiskGrade("F", f"{' and '.join(parts)}{_examples(items, _is_f)}", counts)
    if high >= MANY_HIGH:
        return RiskGrade("D", f"{_plural(high, 'high finding')}{_examples(items, _is_high)}", counts)
    if high:
        return RiskGrade("C", f"{_plural(high, 'high finding')}{_examples(items, _is_high)}", counts)
    if medium:
        return RiskGrade("B", f"{_plural(medium, 'medium finding')}, nothing worse", counts)
    return RiskGrade("A", "nothing worse than low severity", counts)


def _is_f(f: Finding) -> bool:
    return f.severity is Severity.CRITICAL or (f.kind is Kind.SECRET and _is_high(f))


def _is_high(f: Finding) -> bool:
    return f.severity.rank >= Severity.HIGH.rank


def _examples(items: list[Finding], pick: Any) -> str:
    """The first few deciding findings by title, worst first, so the reason is concrete."""
    chosen = sorted((f for f in items if pick(f)), key=Finding.sort_key)
    titles: list[str] = []
    for f in chosen:
        if f.title not in titles:
            titles.append(f.title)
    if not titles:
        return ""
    shown = "; ".join(titles[:3])
    more = f"; and {len(titles) - 3} more" if len(titles) > 3 else ""
    return f" ({shown}{more})"


def _plural(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"
