"""What a vulnerability match covered: per ecosystem, how many packages were found, how
many were checked against advisories of that ecosystem (and, for OS packages, of that
release: a Debian 12 image needs ``Debian:12`` records), and how many could not be
checked and why (no database, no advisories for the ecosystem or release, an unknown
distro, a version the ordering cannot parse).

It is part of every ``ScanResult`` so that "no vulnerabilities" never stands for "not
checked": reports print it beside the vulnerability counts and the gate's
``vulnerabilities.coverage: required`` fails on any gap. The computation lives in
``hardbox.scan.vulndb.coverage``; this module is only the model every reader shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class EcosystemCoverage:
    """One ecosystem (an OSV ecosystem such as ``PyPI`` or ``Debian:12``, or the package
    ecosystem when no OSV one applies). ``unchecked`` packages share one ``reason``; ``hint``
    says how to close the gap."""

    ecosystem: str
    packages: int
    checked: int
    reason: str = ""
    hint: str = ""
    advisories: int = 0  # advisories the database holds for this ecosystem

    @property
    def unchecked(self) -> int:
        return self.packages - self.checked

    @property
    def complete(self) -> bool:
        return self.checked == self.packages

    @property
    def family(self) -> str:
        """What a reader calls these packages: ``Debian`` for ``Debian:12``, ``PyPI``."""
        return self.ecosystem.split(":", 1)[0]

    def sentence(self) -> str:
        """The line a reviewer reads beside the counts, e.g. ``88 Debian packages were not
        checked: the database has no Debian 12 advisories (`hardbox db update --ecosystem
        Debian`)``; for a fully checked ecosystem, how many were checked against what."""
        if self.complete:
            return (f"{counted(self.checked, self.family + ' package')} "
                    f"{'was' if self.checked == 1 else 'were'} checked against "
                    f"{counted(self.advisories, self.ecosystem.replace(':', ' ') + ' advisory')}")
        hint = f" (`{self.hint}`)" if self.hint else ""
        part = f" of {self.packages}" if self.checked else ""
        # "1 of 3 PyPI packages was", "2 Debian packages were": the verb follows the count.
        noun = f"{self.family} package" + ("" if self.unchecked == 1 and not part else "s")
        verb = "was" if self.unchecked == 1 else "were"
        return f"{self.unchecked}{part} {noun} {verb} not checked: {self.reason}{hint}"

    def to_dict(self) -> dict[str, Any]:
        return {"ecosystem": self.ecosystem, "packages": self.packages, "checked": self.checked,
                "unchecked": self.unchecked, "advisories": self.advisories,
                "reason": self.reason or None, "hint": self.hint or None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EcosystemCoverage:
        return cls(str(d["ecosystem"]), int(d["packages"]), int(d["checked"]), d.get("reason") or "",
                   d.get("hint") or "", int(d.get("advisories", 0)))


@dataclass(frozen=True)
class Coverage:
    """Every ecosystem of the scanned packages, plus the database's age when it had one."""

    ecosystems: tuple[EcosystemCoverage, ...] = ()
    db_updated: str | None = None  # when the database's last import or update finished (ISO 8601)
    db_stale: bool = False  # older than the scan's --db-max-age when scanned

    def db_age_seconds(self, now: datetime | None = None) -> int | None:
        """Seconds from the database's last update to ``now`` (default: this moment)."""
        if self.db_updated is None:
            return None
        try:
            then = datetime.fromisoformat(self.db_updated)
        except ValueError:
            return None
        return int(((now or datetime.now(UTC)) - then).total_seconds())

    @property
    def complete(self) -> bool:
        return all(e.complete for e in self.ecosystems)

    @property
    def gaps(self) -> tuple[EcosystemCoverage, ...]:
        return tuple(e for e in self.ecosystems if not e.complete)

    def fully_checked(self) -> set[str]:
        return {e.ecosystem for e in self.ecosystems if e.complete}

    def to_dict(self) -> dict[str, Any]:
        return {"complete": self.complete, "db_updated": self.db_updated,
                "db_stale": self.db_stale, "ecosystems": [e.to_dict() for e in self.ecosystems]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Coverage:
        if not d:
            return cls()
        return cls(tuple(EcosystemCoverage.from_dict(e) for e in d.get("ecosystems", ())),
                   d.get("db_updated"), bool(d.get("db_stale", False)))


def counted(n: int, noun: str) -> str:
    """``1 PyPI package``, ``2 PyPI packages``, ``3 Debian 12 advisories``."""
    if n == 1:
        return f"1 {noun}"
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {plural}"


def describe_age(seconds: int | None) -> str:
    if seconds is None:
        return "unknown"
    days, rest = divmod(max(seconds, 0), 86400)
    if days:
        return f"{days} days"
    hours = rest // 3600
    return f"{hours} hours" if hours else f"{rest // 60} minutes"




_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | int) -> int:
    """``24h``, ``90m``, ``7d``, ``1w`` or plain seconds, as seconds (``ValueError`` otherwise);
    shared by ``scan --db-max-age`` and the gate's ``vulnerabilities.max_db_age``."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"{text}: a duration cannot be negative")
        return text
    value = str(text).strip()
    unit = value[-1:] if value[-1:] in _DURATION_UNITS else "s"
    number = value[:-1] if value[-1:] in _DURATION_UNITS else value
    if not number.isdigit():
        raise ValueError(f"{text!r}: not a duration (say 24h, 90m, 7d or seconds)")
    return int(number) * _DURATION_UNITS[unit]
