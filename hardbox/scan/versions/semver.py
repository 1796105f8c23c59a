"""Semantic Versioning 2.0.0 ordering (semver.org, section 11), for npm, Go modules and
OSV ranges of type SEMVER.

Precedence: major.minor.patch numerically; a version with a pre-release sorts before the
same version without one; pre-release identifiers compare left to right, numeric ones
numerically and below alphanumeric ones (ASCII order), and a longer list wins when all
shared identifiers are equal. Build metadata (``+...``) is ignored.

Go spells module versions with a leading ``v`` ("v1.2.3", "v2.0.0+incompatible") and
pseudo-versions ("v0.0.0-20200101120000-abcdef123456") that are ordinary semver
pre-releases, so they order correctly under the same rules (go.dev/ref/mod#pseudo-versions).
OSV writes SEMVER events without the ``v``; both spellings parse here.
"""

from __future__ import annotations

import re
from typing import Any

from hardbox.scan.versions.base import InvalidVersion, OrderedVersion, Scheme

# The grammar of semver.org's BNF: no leading zeros in numeric parts or identifiers.
_NUM = r"0|[1-9][0-9]*"
_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(
    rf"^v?(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_ID}(?:\.{_ID})*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


class SemverVersion(OrderedVersion):
    __slots__ = ("core", "prerelease")

    def __init__(self, text: str) -> None:
        match = _SEMVER.match(text)
        if match is None:
            raise InvalidVersion("semver", text, "not MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (semver.org)")
        self.text = text
        self.core = (int(match["major"]), int(match["minor"]), int(match["patch"]))
        pre = match["pre"]
        # Numeric identifiers sort below alphanumeric ones: (0, n) < (1, "text").
        self.prerelease: tuple[tuple[int, int | str], ...] = tuple(
            (0, int(part)) if part.isdigit() else (1, part) for part in pre.split(".")
        ) if pre else ()

    def _cmp(self, other: Any) -> int:
        if self.core != other.core:
            return -1 if self.core < other.core else 1
        a, b = self.prerelease, other.prerelease
        if a == b:
            return 0
        # No pre-release outranks any pre-release of the same core version.
        if not a:
            return 1
        if not b:
            return -1
        return -1 if a < b else 1


SCHEME = Scheme("semver", SemverVersion)
