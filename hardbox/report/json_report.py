"""The JSON report: ``ScanResult.to_dict`` with sorted keys, the stable machine-readable form.

The shape is documented in docs/report-json.md and versioned by ``schema_version``; keys are
only ever added within a version. Findings are sorted worst first, packages by ecosystem and
name, so the same image and database give byte-identical output.
"""

from __future__ import annotations

import json

from hardbox.report.interface import Reporter
from hardbox.scan.result import ScanResult


class JsonReporter(Reporter):
    format = "json"
    extension = "json"

    def render(self, result: ScanResult) -> str:
        return json.dumps(result.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
