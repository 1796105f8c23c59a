"""The severity of one advisory for one affected package (docs/architecture.md, "Shared conventions":
CVSS v3.x base score where present, else v4, else the record's own rating).

Order of evidence, first found wins:

1. a ``CVSS_V3`` vector (the package's own ``affected[].severity``, else the record's),
   scored with the ``cvss`` library;
2. a ``CVSS_V4`` vector, likewise;
3. the record's own word: an ``Ubuntu`` severity entry, or ``database_specific.severity``
   / ``ecosystem_specific.severity`` of the affected package or the record (GitHub writes
   CRITICAL/HIGH/MODERATE/LOW);
4. a ``CVSS_V2`` vector;
5. otherwise ``medium``, with ``severity_source`` "default" so reports can say the record
   carried no rating. Medium, not info: an unrated advisory still names a vulnerable
   version, and a ``--fail-on high`` gate should not be the only thing that sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

from hardbox.findings import Severity
from hardbox.scan.vulndb.osv import Advisory, Affected, SeverityScore

# Vendor words mapped onto the shared scale.
_WORDS = {
    "critical": Severity.CRITICAL,
    "important": Severity.HIGH,
    "high": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.LOW,
    "unimportant": Severity.LOW,
}


@dataclass(frozen=True)
class Rating:
    severity: Severity
    source: str  # cvss_v3, cvss_v4, record, cvss_v2, default
    vector: str | None = None
    score: float | None = None


def rate(advisory: Advisory, affected: Affected) -> Rating:
    scores = affected.severity or advisory.severity
    for kind, source in (("CVSS_V3", "cvss_v3"), ("CVSS_V4", "cvss_v4")):
        rating = _cvss(scores, kind, source)
        if rating is not None:
            return rating
    word = _record_word(scores, affected, advisory)
    if word is not None:
        return Rating(word, "record")
    rating = _cvss(scores, "CVSS_V2", "cvss_v2")
    if rating is not None:
        return rating
    return Rating(Severity.MEDIUM, "default")


def _cvss(scores: tuple[SeverityScore, ...], kind: str, source: str) -> Rating | None:
    for entry in scores:
        if entry.type != kind:
            continue
        score = base_score(kind, entry.score)
        if score is None:
            continue  # a malformed vector is no rating; try the next evidence
        return Rating(Severity.from_cvss_score(score), source, entry.score, score)
    return None


@lru_cache(maxsize=4096)
def base_score(kind: str, vector: str) -> float | None:
    """The base score of a vector, or None if the ``cvss`` library rejects it. Cached: feeds
    repeat the same few thousand vectors across many records."""
    try:
        if kind == "CVSS_V3":
            return float(CVSS3(vector).scores()[0])
        if kind == "CVSS_V4":
            return float(CVSS4(vector).base_score)
        return float(CVSS2(vector).scores()[0])
    except (CVSSError, ValueError, KeyError, IndexError, TypeError):
        return None


def _record_word(scores: tuple[SeverityScore, ...], affected: Affected, advisory: Advisory) -> Severity | None:
    for entry in scores:
        if entry.type == "Ubuntu" and entry.score.lower() in _WORDS:
            return _WORDS[entry.score.lower()]
    blocks: tuple[Mapping[str, Any], ...] = (
        affected.database_specific, affected.ecosystem_specific, advisory.database_specific,
    )
    for block in blocks:
        value = block.get("severity")
        if isinstance(value, str) and value.strip().lower() in _WORDS:
            return _WORDS[value.strip().lower()]
    return None
