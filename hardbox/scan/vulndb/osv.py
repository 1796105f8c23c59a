"""The OSV record, parsed and checked at the boundary (ossf.github.io/osv-schema, 1.7).

``Advisory.from_json(obj)`` turns one decoded OSV JSON object into frozen dataclasses, or
raises ``InvalidAdvisory`` naming the record id (when it has one) and the field that is
wrong. Fields hardbox does not use (credits, related, upstream, ...) are ignored, as the
schema asks of readers ("ignoring any unexpected fields"). Past this point the importer,
index and matcher trust the types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The four event kinds; each event object holds exactly one of them (schema, "Requirements").
EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_MAX_ID = 200


class InvalidAdvisory(ValueError):
    """One OSV record that does not follow the schema; the importer reports and skips it."""

    def __init__(self, advisory_id: str | None, reason: str) -> None:
        super().__init__(f"{advisory_id or 'record without an id'}: {reason}")
        self.advisory_id = advisory_id
        self.reason = reason


@dataclass(frozen=True)
class Event:
    kind: str  # one of EVENT_KINDS
    version: str


@dataclass(frozen=True)
class Range:
    type: str  # ECOSYSTEM, SEMVER or GIT (others are kept and ignored by the matcher)
    events: tuple[Event, ...]


@dataclass(frozen=True)
class SeverityScore:
    type: str  # CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu, ...
    score: str


@dataclass(frozen=True)
class AffectedPackage:
    ecosystem: str
    name: str
    purl: str = ""


@dataclass(frozen=True)
class Affected:
    package: AffectedPackage
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    severity: tuple[SeverityScore, ...] = ()
    ecosystem_specific: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    database_specific: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Advisory:
    id: str
    modified: datetime
    published: datetime | None = None
    withdrawn: datetime | None = None
    aliases: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""
    severity: tuple[SeverityScore, ...] = ()
    affected: tuple[Affected, ...] = ()
    references: tuple[str, ...] = ()
    database_specific: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def from_json(cls, obj: Any) -> Advisory:
        if not isinstance(obj, dict):
            raise InvalidAdvisory(None, f"an OSV record is a JSON object, not {_kind(obj)}")
        raw_id = obj.get("id")
        if not isinstance(raw_id, str) or not raw_id.strip() or len(raw_id) > _MAX_ID or not raw_id.isprintable():
            raise InvalidAdvisory(None, f"'id' must be a short printable string, got {_kind(raw_id)}")
        reader = _Reader(raw_id)
        return cls(
            id=raw_id,
            modified=reader.timestamp(obj, "modified", required=True),  # type: ignore[arg-type]
            published=reader.timestamp(obj, "published"),
            withdrawn=reader.timestamp(obj, "withdrawn"),
            aliases=reader.strings(obj, "aliases"),
            summary=reader.string(obj, "summary"),
            details=reader.string(obj, "details"),
            severity=reader.severities(obj, "severity"),
            affected=tuple(
                reader.affected(item, f"affected[{i}]") for i, item in enumerate(reader.array(obj, "affected"))
            ),
            references=tuple(
                url
                for i, ref in enumerate(reader.array(obj, "references"))
                if (url := reader.string(reader.obj(ref, f"references[{i}]"), "url", where=f"references[{i}]"))
            ),
            database_specific=reader.mapping(obj, "database_specific"),
        )

    @property
    def cves(self) -> tuple[str, ...]:
        """The CVE ids among the id and aliases, in order."""
        ids = (self.id, *self.aliases)
        return tuple(dict.fromkeys(i for i in ids if i.startswith("CVE-")))


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


class _Reader:
    """Typed access to the fields of one record; every error names the record and field."""

    def __init__(self, advisory_id: str) -> None:
        self.id = advisory_id

    def fail(self, where: str, reason: str) -> InvalidAdvisory:
        return InvalidAdvisory(self.id, f"{where}: {reason}")

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {_kind(value)}")
        return value

    def array(self, obj: dict[str, Any], key: str, where: str = "") -> list[Any]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(f"{where}{'.' if where else ''}{key}", f"expected an array, got {_kind(value)}")
        return value

    def mapping(self, obj: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"{where}{'.' if where else ''}{key}", f"expected an object, got {_kind(value)}")
        return value

    def string(self, obj: dict[str, Any], key: str, *, where: str = "", required: bool = False) -> str:
        value = obj.get(key)
        if type(value) is str:  # the common case first: this runs for every field
            return value
        label = f"{where}{'.' if where else ''}{key}"
        if value is None:
            if required:
                raise self.fail(label, "missing")
            return ""
        raise self.fail(label, f"expected a string, got {_kind(value)}")

    def strings(self, obj: dict[str, Any], key: str, where: str = "") -> tuple[str, ...]:
        items = self.array(obj, key, where)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self.fail(f"{where}{'.' if where else ''}{key}[{i}]", f"expected a string, got {_kind(item)}")
        return tuple(items)

    def timestamp(self, obj: dict[str, Any], key: str, *, required: bool = False) -> datetime | None:
        text = self.string(obj, key, required=required)
        if not text:
            if required:
                raise self.fail(key, "empty")
            return None
        # RFC 3339 in UTC per the schema; fromisoformat (3.11) reads "Z" and fractions.
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(key, f"{text!r} is not an RFC 3339 timestamp") from None
        if stamp.tzinfo is None:
            raise self.fail(key, f"{text!r} has no time zone (RFC 3339 requires one)")
        return stamp

    def severities(self, obj: dict[str, Any], key: str, where: str = "") -> tuple[SeverityScore, ...]:
        out = []
        for i, item in enumerate(self.array(obj, key, where)):
            label = f"{where}{'.' if where else ''}{key}[{i}]"
            item = self.obj(item, label)
            out.append(SeverityScore(
                type=self.string(item, "type", where=label, required=True),
                score=self.string(item, "score", where=label, required=True),
            ))
        return tuple(out)

    def affected(self, item: Any, where: str) -> Affected:
        item = self.obj(item, where)
        package = self.obj(item.get("package"), f"{where}.package")
        ecosystem = self.string(package, "ecosystem", where=f"{where}.package", required=True)
        name = self.string(package, "name", where=f"{where}.package", required=True)
        if not ecosystem or not name:
            raise self.fail(f"{where}.package", "ecosystem and name must not be empty")
        return Affected(
            package=AffectedPackage(ecosystem, name, self.string(package, "purl", where=f"{where}.package")),
            ranges=tuple(
                self.range(r, f"{where}.ranges[{i}]") for i, r in enumerate(self.array(item, "ranges", where))
            ),
            versions=self.strings(item, "versions", where),
            severity=self.severities(item, "severity", where),
            ecosystem_specific=self.mapping(item, "ecosystem_specific", where),
            database_specific=self.mapping(item, "database_specific", where),
        )

    def range(self, item: Any, where: str) -> Range:
        item = self.obj(item, where)
        range_type = self.string(item, "type", where=where, required=True)
        events = []
        for i, event in enumerate(self.array(item, "events", where)):
            label = f"{where}.events[{i}]"
            event = self.obj(event, label)
            kinds = [k for k in EVENT_KINDS if k in event]
            if len(kinds) != 1:
                raise self.fail(label, f"an event holds exactly one of {', '.join(EVENT_KINDS)}")
            version = self.string(event, kinds[0], where=label, required=True)
            if not version:
                raise self.fail(f"{label}.{kinds[0]}", "empty version")
            events.append(Event(kinds[0], version))
        if not events:
            raise self.fail(f"{where}.events", "a range needs at least one event")
        return Range(range_type, tuple(events))
