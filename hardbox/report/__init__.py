"""Reports: one reporter per format behind one interface (``interface.Reporter``), all
registered in ``REPORTERS``; the CLI maps ``--json``/``--sarif``/``--markdown``/``--html`` to
the reporter of that name, and a test fails when a format maps to nothing.
"""

from __future__ import annotations

from hardbox.report.html import HtmlReporter
from hardbox.report.interface import Reporter
from hardbox.report.json_report import JsonReporter
from hardbox.report.markdown import MarkdownReporter
from hardbox.report.sarif import SarifReporter

# format name -> reporter class, in the order `hardbox scan --help` lists them.
REPORTERS: dict[str, type[Reporter]] = {
    r.format: r for r in (JsonReporter, SarifReporter, MarkdownReporter, HtmlReporter)
}
