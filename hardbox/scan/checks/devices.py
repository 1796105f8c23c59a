"""Device nodes an image ships: recorded at import, never created, reported here.

hardbox keeps an image's ``c``/``b`` entries as data (image/layers/apply.py, issue 18): no
store, bundle or container of hardbox's holds a working node from an image. Other runtimes
may create them, and a node in an image has no business there — runtimes make ``/dev``
themselves — so a reviewer is told: on a runtime without a device allow-list or ``nodev``,
``b 8:0`` is the host's first disk.
"""

from __future__ import annotations

from typing import ClassVar

from hardbox.findings import Finding
from hardbox.scan.checks.interface import Check
from hardbox.scan.checks.rules import rule


class DeviceCheck(Check):
    """Reads the device nodes each layer's record lists (``ImageContext.devices``)."""

    name: ClassVar[str] = "checks/devices"

    def findings(self) -> list[Finding]:
        return [
            rule("HB-FILE-009").finding(
                f"{node.kind} {node.major}:{node.minor}, mode {node.mode:04o}, owner {node.uid}:{node.gid}"
                f" ({'block' if node.kind == 'b' else 'character'} device)",
                path="/" + node.name, layer=layer,
            )
            for layer, node in self.image.devices
        ]
