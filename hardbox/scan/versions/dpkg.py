"""Debian package version ordering (Debian Policy 5.6.12, "Version").

``[epoch:]upstream_version[-debian_revision]``: epochs compare as integers; upstream and
revision compare by alternating non-digit and digit runs, where in the non-digit runs ``~``
sorts before everything (even the end of the string), letters before non-letters, and digit
runs compare numerically. python-debian's ``NativeVersion`` implements exactly this in pure
Python (no apt_pkg needed); the tests check it against ``dpkg --compare-versions``.
"""

from __future__ import annotations

import re
from typing import Any

from debian.debian_support import NativeVersion

from hardbox.scan.versions.base import InvalidVersion, OrderedVersion, Scheme

# Policy 5.6.12: the epoch is an unsigned integer; upstream starts with a digit and holds
# alphanumerics and . + - ~ (and : only with an epoch); the revision alphanumerics and + . ~.
_GRAMMAR = re.compile(
    r"^(?:(?P<epoch>[0-9]+):)?"
    r"(?P<upstream>[0-9][A-Za-z0-9.+~:-]*?)"
    r"(?:-(?P<revision>[A-Za-z0-9.+~]+))?$"
)


class DpkgVersion(OrderedVersion):
    __slots__ = ("_native",)

    def __init__(self, text: str) -> None:
        match = _GRAMMAR.match(text)
        if match is None:
            raise InvalidVersion("dpkg", text, "not [epoch:]upstream[-revision] per Debian Policy 5.6.12")
        if text.endswith("-"):
            raise InvalidVersion("dpkg", text, "empty revision after the last '-'")
        if match.group("epoch") is None and ":" in match.group("upstream"):
            raise InvalidVersion("dpkg", text, "a colon in the upstream version needs an epoch")
        self.text = text
        self._native = NativeVersion(text)

    def _cmp(self, other: Any) -> int:
        return int(self._native._compare(other._native))


SCHEME = Scheme("dpkg", DpkgVersion)
