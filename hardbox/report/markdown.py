"""Markdown, sized for a pull-request comment: the one Markdown writer. ``MarkdownReporter``
renders a scan; ``hardbox.gate.markdown`` composes a gate or lint decision from the same
pieces (``md``, ``finding_item``, ``finding_list``), so a finding reads the same in both.

The scan report: the grade and its reason, counts by kind and severity, what to fix first
(``priorities.fix_first``: upgrades ranked by what they fix, and single findings), the
upgrades, then one table per kind (capped at ``MAX_ROWS`` rows: GitHub rejects comments over 65,536
characters) and the layers in a collapsed section. Everything taken from the image is
escaped: GitHub renders inline HTML in comments, and a package named ``<img src=x>`` must
show as text. Advisory ids link to their osv.dev pages; a severity the advisory did not
give is written "unrated", and the CVSS column says which score decided the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from hardbox.findings import Finding, Kind, Severity
from hardbox.report.common import score_text, severity_label, step_text, unrated, where
from hardbox.report.coverage import coverage_lines, empty_vulnerabilities
from hardbox.report.interface import Reporter
from hardbox.report.links import advisory_url
from hardbox.report.priorities import fix_first
from hardbox.scan.upgrades import Upgrade

if TYPE_CHECKING:
    from hardbox.scan.result import ScanResult

MAX_ROWS = 100
# Inline Markdown that could change meaning inside a line or table cell (GFM spec: emphasis,
# code spans, links, tables, strikethrough). Line-start syntax (#, +, >) never starts a cell.
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_ICON = {Severity.CRITICAL: "🟥", Severity.HIGH: "🟧", Severity.MEDIUM: "🟨", Severity.LOW: "🟦",
         Severity.INFO: "⬜"}


def md(text: object) -> str:
    """Escape for a Markdown table cell or line: Markdown punctuation, HTML, newlines."""
    s = " ".join(str(text).split())
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", s)


def finding_item(f: Finding, *, fix: bool = True) -> str:
    """One finding in a line: ``**high** HB-SEC-004: GitLab token at /app/.env:2 in layer 1
    (COPY …) — fix: …``."""
    text = f"**{severity_label(f)}** {md(f.id)}: {md(f.title)} — {md(where(f))}"
    if fix and f.fix:
        text += f" — fix: {md(f.fix)}"
    return text


def finding_list(items: list[str], cap: int, more: str = "see the JSON or SARIF report") -> list[str]:
    """A bulleted list of at most ``cap`` items, then how many were left out and where."""
    out = [f"- {item}" for item in items[:cap]]
    if len(items) > cap:
        out.append(f"- … and {len(items) - cap} more ({more})")
    return out


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _sev(severity: Severity) -> str:
    return f"{_ICON[severity]} {severity.value}"


def _finding_sev(f: Finding) -> str:
    """The severity cell: ``unrated`` (no icon of the scale) when the advisory gave none."""
    return f"⬚ {severity_label(f)}" if unrated(f) else _sev(f.severity)


def advisory_link(advisory_id: str) -> str:
    """``[GHSA-…](https://osv.dev/vulnerability/GHSA-…)``: the id escaped, the URL encoded."""
    return f"[{md(advisory_id)}]({advisory_url(advisory_id)})"


def upgrade_item(u: Upgrade) -> str:
    """``**high** upgrade urllib3 1.24.1 → 1.26.18 fixes 7 (2 high, 5 medium) — /path in layer 0 (…)``."""
    place = where(u.fixes[0]).removeprefix(f"{u.package} {u.version}".strip()).strip()
    return f"**{u.worst.value}** {md(u.summary())}" + (f" — {md(place)}" if place else "")


class MarkdownReporter(Reporter):
    format = "markdown"
    extension = "md"

    def render(self, result: ScanResult) -> str:
        image = result.image
        out = [
            f"## hardbox scan: {md(image.name)}",
            "",
            f"**Risk grade {result.risk.grade}**: {md(result.risk.reason)}.",
            "",
            (f"SBOM `{image.short_id}` (no image: layers, config and files not checked)"
             if image.source == "sbom" else
             f"Image id `{image.short_id}` · {_count(len(image.layers), 'layer')} · {image.size} bytes")
            + f" · {_count(len(result.packages), 'package')}"
            + (f" · {md(image.os['pretty_name'] or image.os['id'])}" if image.os else ""),
            "",
            "| | " + " | ".join(s.value for s in Severity) + " |",
            "|---|" + "---:|" * len(Severity),
        ]
        counts = result.counts()
        for kind in Kind:
            row = counts[kind.value]
            out.append(f"| {kind.value} | " + " | ".join(str(row[s.value]) for s in Severity) + " |")
        out.append("")
        top = fix_first(result, 5)
        if top:
            out += ["### What to fix first", ""]
            for i, item in enumerate(top, 1):
                text = upgrade_item(item) if isinstance(item, Upgrade) else finding_item(item, fix=False)
                out.append(f"{i}. {text}")
            out.append("")
        out += _coverage(result)
        out += _upgrades(result.upgrades())
        out += _table("Vulnerabilities", result.of_kind(Kind.VULNERABILITY),
                      ["Severity", "ID", "Package", "Installed", "Fixed", "CVSS", "Title"],
                      lambda f: [_finding_sev(f), advisory_link(f.id), md(f.package or ""),
                                 md(f.version or ""), md(f.fixed_version), md(score_text(f)), md(f.title)],
                      empty=empty_vulnerabilities(result))
        out += _table("Misconfigurations", result.of_kind(Kind.MISCONFIGURATION),
                      ["Severity", "ID", "Title", "Where"],
                      lambda f: [_sev(f.severity), md(f.id), md(f.title), md(where(f))])
        out += _table("Secrets", result.of_kind(Kind.SECRET),
                      ["Severity", "ID", "Title", "Where", "Value"],
                      lambda f: [_sev(f.severity), md(f.id), md(f.title), md(where(f)),
                                 md(f.redacted)])
        out += _layers(result)
        if result.omitted:
            out.append(f"_{result.omitted} findings left out by filters "
                       f"({md(result.filters.to_dict())})._")
            out.append("")
        if result.notes:
            out += ["### Notes", ""] + [f"- {md(note)}" for note in result.notes] + [""]
        return "\n".join(out).rstrip("\n") + "\n"


def _coverage(result: ScanResult) -> list[str]:
    """The coverage block, beside the counts: gaps in bold, so no one reads them as clean."""
    lines = coverage_lines(result)
    if not lines:
        return []
    return ["### Vulnerability coverage", ""] + [
        f"- **{md(text)}**" if gap else f"- {md(text)}" for gap, text in lines
    ] + [""]


def _upgrades(upgrades: tuple[Upgrade, ...]) -> list[str]:
    """The vulnerabilities grouped by package: one upgrade each, ranked by what it fixes."""
    if not upgrades:
        return []
    out = [f"### Upgrades ({len(upgrades)})", "", "| Upgrade | Fixes | Still open |", "|---|---|---|"]
    for u in upgrades[:MAX_ROWS]:
        fixes = ", ".join(advisory_link(f.id) for f in u.fixes)
        still = ", ".join(advisory_link(f.id) for f in u.still_open)
        out.append(f"| {md(f'{u.package} {u.version} → {u.to_version}')} | {len(u.fixes)} "
                   f"({md(u.counts_text())}): {fixes} | {still} |")
    if len(upgrades) > MAX_ROWS:
        out.append(f"\n_{len(upgrades) - MAX_ROWS} more in the JSON and HTML reports._")
    out.append("")
    return out


def _table(title: str, findings: list[Finding], head: list[str],
           cells: Callable[[Finding], list[str]], empty: str = "None found.") -> list[str]:
    if not findings:
        return [f"### {title}", "", md(empty) if empty != "None found." else empty, ""]
    out = [f"### {title} ({len(findings)})", "", "| " + " | ".join(head) + " |",
           "|" + "---|" * len(head)]
    for f in findings[:MAX_ROWS]:
        out.append("| " + " | ".join(cells(f)) + " |")
    if len(findings) > MAX_ROWS:
        out.append(f"\n_{len(findings) - MAX_ROWS} more in the JSON and HTML reports._")
    out.append("")
    return out


def _layers(result: ScanResult) -> list[str]:
    summary = {s["index"]: s for s in result.layer_summary()}
    out = ["<details><summary>Layers</summary>", "",
           "| # | Created by | Size | Packages | Findings |", "|---:|---|---:|---:|---:|"]
    for layer in result.image.layers:
        s = summary[layer.index]
        out.append(f"| {layer.index} | {md(step_text(layer.created_by, 100))} | {layer.size} | "
                   f"{s['packages']} | {s['findings']} |")
    out += ["", "</details>", ""]
    return out
