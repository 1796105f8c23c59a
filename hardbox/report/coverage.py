"""Wording shared by the reports for what the vulnerability match covered
(``hardbox.scan.coverage``): one sentence per ecosystem, and what an empty vulnerability
table says. "None found" is said only when every ecosystem was fully checked, so that it
never stands for "not checked".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hardbox.scan.coverage import counted

if TYPE_CHECKING:
    from hardbox.scan.result import ScanResult


def coverage_lines(result: ScanResult) -> list[tuple[bool, str]]:
    """(is a gap, sentence) per ecosystem, gaps first; plus the database's age."""
    cov = result.coverage
    lines = [(True, gap.sentence() + ".") for gap in cov.gaps]
    lines += [(False, e.sentence() + ".") for e in cov.ecosystems if e.complete]
    if result.vuln_db is not None:
        # The time, not an age: a report rendered twice from one scan reads the same.
        when = f"last updated {cov.db_updated}" if cov.db_updated else "never updated"
        lines.append((cov.db_stale, f"Vulnerability data {when}"
                      + (": older than the scan's --db-max-age." if cov.db_stale else ".")))
    return lines


def empty_vulnerabilities(result: ScanResult) -> str:
    """What the vulnerability table says when it is empty."""
    if result.vuln_db is None:
        return "Not checked: no vulnerability database (`hardbox db update`)."
    cov = result.coverage
    if cov.complete:
        return "None found."
    checked = sum(e.checked for e in cov.ecosystems)
    unchecked = sum(e.unchecked for e in cov.ecosystems)
    if not checked:
        what = "the 1 package" if unchecked == 1 else f"none of the {unchecked} packages"
        return f"Not checked: {what} could{' not' if unchecked == 1 else ''} be checked (see coverage)."
    full = ", ".join(sorted(cov.fully_checked())) or "no ecosystem"
    return (f"None found among the {counted(checked, 'checked package')} (fully checked: {full}); "
            f"{counted(unchecked, 'package')} {'was' if unchecked == 1 else 'were'} not checked (see coverage).")
