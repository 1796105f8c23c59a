"""Reports: one reporter per format behind one interface, all registered in ``REPORTERS``.

A ``Reporter`` turns a ``ScanResult`` into the text of one file. Reporters are pure: the same
result gives the same bytes (timestamps only where a format needs one, and none does today),
so golden-file tests can hold them to it. The CLI maps ``--json``/``--sarif``/``--markdown``/
``--html`` to the reporter of that name; a test fails when a format maps to nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from hardbox.scan.result import ScanResult


class Reporter(ABC):
    """Renders a scan result as one document of ``format``."""

    format: ClassVar[str]
    extension: ClassVar[str]

    @abstractmethod
    def render(self, result: ScanResult) -> str: ...


def _registry() -> dict[str, type[Reporter]]:
    from hardbox.report.html import HtmlReporter
    from hardbox.report.json_report import JsonReporter
    from hardbox.report.markdown import MarkdownReporter
    from hardbox.report.sarif import SarifReporter

    return {r.format: r for r in (JsonReporter, SarifReporter, MarkdownReporter, HtmlReporter)}


# format name -> reporter class, in the order `hardbox scan --help` lists them.
REPORTERS: dict[str, type[Reporter]] = _registry()


def render(format_name: str, result: ScanResult) -> str:
    return REPORTERS[format_name]().render(result)
