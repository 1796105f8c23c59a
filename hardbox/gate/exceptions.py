"""Reviewed exceptions to a gate policy, each with a reason, an approver and an expiry date.

An exception names findings by ``advisory`` (id or alias), ``check`` (finding id, glob) and/or
``path`` (glob), optionally narrowed to a ``package``; every field given must match. It
applies through the end of its ``expires`` day (UTC); after that it is *expired*: it no longer
hides anything, and the gate reports it so someone renews or drops it.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardbox.findings import Finding
from hardbox.gate.yamldoc import Document, load_schema, read


@dataclass(frozen=True)
class GateException:
    reason: str
    approved_by: str
    expires: dt.date
    advisory: str | None = None
    check: str | None = None
    path: str | None = None
    package: str | None = None
    line: int = 0  # where in the exceptions file, for messages
    source: str = ""

    def __post_init__(self) -> None:
        if not (self.advisory or self.check or self.path):
            raise ValueError("an exception must name an advisory, a check or a path")

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def matches(self, finding: Finding) -> bool:
        if self.advisory and self.advisory != finding.id and self.advisory not in finding.aliases:
            return False
        if self.check and not fnmatch.fnmatchcase(finding.id, self.check):
            return False
        if self.path and not (finding.path and fnmatch.fnmatchcase(finding.path, self.path)):
            return False
        return not (self.package and finding.package != self.package)

    def describe(self) -> str:
        what = " ".join(f"{k} {v}" for k, v in (("advisory", self.advisory), ("check", self.check),
                                                 ("path", self.path), ("package", self.package)) if v)  # fmt: skip
        return f"{what} (approved by {self.approved_by}, expires {self.expires.isoformat()})"

    def to_dict(self) -> dict[str, Any]:
        return {"advisory": self.advisory, "check": self.check, "path": self.path, "package": self.package,
                "reason": self.reason, "approved_by": self.approved_by, "expires": self.expires.isoformat(),
                "source": f"{self.source}:{self.line}"}  # fmt: skip


def load_exceptions(path: str | Path) -> tuple[GateException, ...]:
    doc = read(Path(path), "exceptions", load_schema("exceptions.schema.json"))
    return tuple(_exception(doc, i, item) for i, item in enumerate(doc.data["exceptions"]))


def _exception(doc: Document, index: int, item: dict[str, Any]) -> GateException:
    try:
        expires = dt.date.fromisoformat(item["expires"])
    except ValueError:
        raise doc.error(["exceptions", index, "expires"], f"{item['expires']!r} is not a date (YYYY-MM-DD)") from None
    return GateException(
        reason=item["reason"], approved_by=item["approved_by"], expires=expires,
        advisory=item.get("advisory"), check=item.get("check"), path=item.get("path"),
        package=item.get("package"), line=doc.line_of(["exceptions", index]), source=str(doc.path),
    )  # fmt: skip
