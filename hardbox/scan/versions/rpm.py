"""RPM version ordering: ``[epoch:]version[-release]`` compared as rpm does.

Epochs compare as integers (missing = 0). Version, then release, go through rpmvercmp
(rpm's lib/rpmvercmp.c, documented in rpm.org's "Package version comparison"): both strings
are cut into alternating runs of digits and letters, everything else only separates runs;
digit runs compare numerically (leading zeros ignored), letter runs by ASCII, and a digit
run beats a letter run. ``~`` sorts before anything, even the end of the string
("1.0~rc1" < "1.0"); ``^`` sorts after the end of the string but before any other
continuation ("1.0" < "1.0^git1" < "1.0.1"). A missing release compares as an empty one,
as rpm's own ``rpmverCmp`` (and ``rpm.vercmp`` in rpm's Lua) does, so "1.0" < "1.0-1".
"""

from __future__ import annotations

import re
from typing import Any

from hardbox.scan.versions.base import InvalidVersion, OrderedVersion, Scheme

_RUN = re.compile(r"[0-9]+|[A-Za-z]+")
_EVR = re.compile(r"^(?:(?P<epoch>[0-9]+):)?(?P<version>[^:\s-]+|[^:\s]+?)(?:-(?P<release>[^:\s-]+))?$")


def _is_sep(char: str) -> bool:
    return not (char.isascii() and char.isalnum()) and char not in "~^"


def rpmvercmp(a: str, b: str) -> int:
    """rpm's segment-wise comparison of one version or release string."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and _is_sep(a[i]):
            i += 1
        while j < len(b) and _is_sep(b[j]):
            j += 1
        a_char = a[i] if i < len(a) else ""
        b_char = b[j] if j < len(b) else ""
        # Tilde: a pre-release marker, older than anything, the end of the string included.
        if a_char == "~" or b_char == "~":
            if a_char != "~":
                return 1
            if b_char != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        # Caret: a post-release marker, newer than the end of the string but older than
        # any other continuation.
        if a_char == "^" or b_char == "^":
            if not a_char:
                return -1
            if not b_char:
                return 1
            if a_char != "^":
                return 1
            if b_char != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not a_char or not b_char:
            break
        a_run = _RUN.match(a, i)
        b_run = _RUN.match(b, j)
        assert a_run is not None and b_run is not None  # separators were skipped above
        a_seg, b_seg = a_run.group(), b_run.group()
        a_num, b_num = a_seg[0].isdigit(), b_seg[0].isdigit()
        if a_num != b_num:
            # rpm: a numeric segment is always newer than an alphabetic one.
            return 1 if a_num else -1
        if a_num:
            a_seg, b_seg = a_seg.lstrip("0"), b_seg.lstrip("0")
            if len(a_seg) != len(b_seg):
                return 1 if len(a_seg) > len(b_seg) else -1
        if a_seg != b_seg:
            return 1 if a_seg > b_seg else -1
        i, j = a_run.end(), b_run.end()
    a_left, b_left = i < len(a), j < len(b)
    if not a_left and not b_left:
        return 0
    return 1 if a_left else -1


class RpmVersion(OrderedVersion):
    __slots__ = ("epoch", "release", "version")

    def __init__(self, text: str) -> None:
        match = _EVR.match(text)
        if match is None:
            raise InvalidVersion("rpm", text, "not [epoch:]version[-release]")
        self.text = text
        self.epoch = int(match["epoch"] or 0)
        self.version: str = match["version"]
        self.release: str | None = match["release"]

    def _cmp(self, other: Any) -> int:
        if self.epoch != other.epoch:
            return -1 if self.epoch < other.epoch else 1
        result = rpmvercmp(self.version, other.version)
        if result == 0:
            result = rpmvercmp(self.release or "", other.release or "")
        return result


SCHEME = Scheme("rpm", RpmVersion)
