"""The reporter seam: ``Reporter``, the one interface every output format implements.

This module imports no reporter; they are registered in ``REPORTERS`` (the package's
``__init__``).

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
