"""The HTML risk report: one self-contained file a security reviewer opens in any browser.

templates/report.html.j2 is rendered with autoescaping on; the shipped report.css and
report.js are inlined at render time, so the file makes no request and works offline. A
Content-Security-Policy allows only those two inline blocks, by hash (CSP Level 3,
"hash-source"): even a string from the image that slipped past escaping could neither run a
script nor load anything. Tables are rendered here, so the report reads (and prints) without
JavaScript; the script only adds filtering and sorting.

The report leads with what to fix first (``priorities.fix_first``: upgrades that fix several
advisories at once, ranked by what they fix). Advisory ids are plain ``<a href>`` links to
their pages (``links.py``): a reader's click navigates, the file itself still loads nothing.
On a narrow screen (a phone) the overview cards stack and each table row becomes a card of
labelled fields (``data-label``), so nothing is wider than the screen.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from typing import Any

import jinja2
from markupsafe import Markup

from hardbox import __version__
from hardbox.findings import Finding, Kind, Severity
from hardbox.report.charts import human_bytes, layer_size_chart, severity_chart
from hardbox.report.common import (
    cvss_text,
    layer_text,
    score_text,
    severity_label,
    severity_source_text,
    step_text,
    unrated,
    where,
)
from hardbox.report.coverage import coverage_lines, empty_vulnerabilities
from hardbox.report.interface import Reporter
from hardbox.report.links import advisory_links
from hardbox.report.priorities import fix_first
from hardbox.resources import templates
from hardbox.scan.result import ScanResult
from hardbox.scan.risk import METHOD
from hardbox.scan.upgrades import Upgrade

TEMPLATE = "report.html.j2"
# Rows of a table displayed before "Show more" (report.js pages the same way): a browser lays
# out a few hundred rows fast, however many thousand the image has.
PAGE = 250


def _environment() -> jinja2.Environment:
    root = templates()

    def load(name: str) -> str:
        return (root / name).read_text(encoding="utf-8")

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["bytes"] = human_bytes
    return env


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


class HtmlReporter(Reporter):
    format = "html"
    extension = "html"

    def render(self, result: ScanResult) -> str:
        env = _environment()
        root = templates()
        css = (root / "report.css").read_text(encoding="utf-8")
        js = (root / "report.js").read_text(encoding="utf-8")
        if "</" in js or "</" in css:
            # A closing tag inside the inlined block would end it early; keep them out.
            raise ValueError("report.css/report.js must not contain '</'")
        csp = (f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; "
               "img-src data:; base-uri 'none'; form-action 'none'")
        return env.get_template(TEMPLATE).render(
            css=Markup(css), js=Markup(js), csp=csp, version=__version__, **_context(result))


def _finding_row(f: Finding) -> dict[str, Any]:
    detail = f.vulnerability
    return {
        "upgrade": False,
        "severity": f.severity.value,
        "label": severity_label(f),
        "unrated": unrated(f),
        "rank": f.severity.rank,
        "id": f.id,
        "title": f.title,
        "detail": f.detail,
        "fix": f.fix,
        "package": f.package or "",
        "version": f.version or "",
        "fixed": f.fixed_version,
        "path": f.path or "",
        "where": where(f, 80),
        "layer": f.layer.index if f.layer is not None else "",
        "layer_text": layer_text(f.layer, 80) if f.layer is not None else "",
        "value": f.redacted,
        "aliases": ", ".join(f.aliases),
        **(_advisory_fields(f) if f.kind is Kind.VULNERABILITY else {}),
        "cvss": cvss_text(f),
        "score_text": score_text(f),
        "cvss_score": detail.cvss_score if detail is not None and detail.cvss_score is not None else -1,
        "cvss_vector": (detail.cvss_vector or "") if detail is not None else "",
        "rated_by": severity_source_text(f),
    }


def _advisory_fields(f: Finding) -> dict[str, Any]:
    """The advisory's page, its aliases' pages, and the aliases no page is known for."""
    links = advisory_links(f.id, f.aliases)
    linked = {link.text for link in links}
    return {
        "url": links[0].url,
        "refs": [{"text": link.site if link.text == f.id else link.text, "url": link.url, "site": link.site}
                 for link in links[1:]],
        "plain_aliases": [a for a in f.aliases if a not in linked],
    }


def _upgrade_row(u: Upgrade) -> dict[str, Any]:
    return {
        "upgrade": True,
        "severity": u.worst.value,
        "package": u.package,
        "version": u.version,
        "to": u.to_version,
        "summary": u.summary(),
        "count": len(u.fixes),
        "counts": u.counts_text(),
        "where": where(replace(u.fixes[0], package=None), 80),  # the package is named already
        "fixes": [_finding_row(f) for f in u.fixes],
        "still_open": [_finding_row(f) for f in u.still_open],
    }


def _item_row(item: Upgrade | Finding) -> dict[str, Any]:
    return _upgrade_row(item) if isinstance(item, Upgrade) else _finding_row(item)


def _context(result: ScanResult) -> dict[str, Any]:
    image = result.image
    summary = {s["index"]: s for s in result.layer_summary()}
    layers = [{
        "index": layer.index,
        "diff_id": layer.diff_id,
        "size": layer.size,
        "command": step_text(layer.created_by, 0),
        "created": layer.created or "",
        "packages": summary[layer.index]["packages"],
        "findings": summary[layer.index]["findings"],
        "shadowed": layer.shadowed_bytes,
    } for layer in image.layers]
    history = [{
        "index": h.index,
        "command": step_text(h.created_by, 0),
        "created": h.created or "",
        "layer": h.layer_index,
        "size": image.layers[h.layer_index].size if h.layer_index is not None else 0,
    } for h in reversed(image.history)]
    packages = [{
        "name": p.name, "version": p.version, "ecosystem": p.ecosystem, "purl": p.purl,
        "licenses": ", ".join(p.licenses), "layer": p.layer.index if p.layer else "",
        "location": p.locations[0] if p.locations else "",
    } for p in result.packages]
    counts = result.counts()
    return {
        "image": image,
        "risk": result.risk,
        "method": METHOD,
        "severities": [s.value for s in Severity],
        "kinds": [k.value for k in Kind],
        # Soft hyphens: the long words break, hyphenated, where a phone's column is narrow.
        "kind_labels": {"vulnerability": "Vulner\u00adabilities", "misconfiguration": "Miscon\u00adfigurations",
                        "secret": "Secrets"},
        "counts": counts,
        "severity_counts": result.severity_counts(),
        "total": len(result.findings),
        "top": [_item_row(item) for item in fix_first(result, 5)],
        "upgrades": [_upgrade_row(u) for u in result.upgrades()],
        "vulns": [_finding_row(f) for f in result.of_kind(Kind.VULNERABILITY)],
        "misconfigs": [_finding_row(f) for f in result.of_kind(Kind.MISCONFIGURATION)],
        "secrets": [_finding_row(f) for f in result.of_kind(Kind.SECRET)],
        "packages": packages,
        "layers": layers,
        "history": history,
        "catalogers": result.catalogers,
        "notes": result.notes,
        "omitted": result.omitted,
        "filters": result.filters.to_dict(),
        "vuln_db": result.vuln_db,
        "coverage": [{"gap": gap, "text": text} for gap, text in coverage_lines(result)],
        "vulns_empty": empty_vulnerabilities(result),
        "page": PAGE,
        "severity_chart": severity_chart(result.severity_counts()),
        "layer_chart": layer_size_chart([(la.index, la.size, la.created_by) for la in image.layers]),
    }
