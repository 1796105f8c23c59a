"""Maven version ordering, as Maven's ``ComparableVersion`` (maven-artifact 3.8) defines it.

A version is lower-cased and parsed into a tree: ``.`` separates items of one list, ``-``
and every switch between digits and letters open a nested list. Items are integers
(leading zeros dropped) or qualifiers. Trailing "null" items (0, "", ga, final, release,
empty lists) are dropped, so "1.0.0" == "1" == "1-ga". A qualifier that follows other items in its list
(the trailing "rc" of "2beta.rc", the "beta" of "2.beta2") opens a list of its own. Qualifiers order as
alpha < beta < milestone < rc = cr < snapshot < "" (release) < sp < any other qualifier
(those among themselves lexically); a one-letter a/b/m followed by a digit means
alpha/beta/milestone ("1a1" = "1-alpha-1"). Integers outrank qualifiers and lists; a list
outranks a qualifier. The tests compare this against the real ComparableVersion from
Debian's maven-artifact jar.
"""

from __future__ import annotations

from typing import Any

from hardbox.scan.versions.base import OrderedVersion, Scheme

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_RELEASE_INDEX = str(_QUALIFIERS.index(""))


def _qualifier_key(value: str) -> str:
    # Known qualifiers become their index as a string; unknown ones "7-name", so they sort
    # after every known one and lexically among themselves (string comparison, as Maven).
    if value in _QUALIFIERS:
        return str(_QUALIFIERS.index(value))
    return f"{len(_QUALIFIERS)}-{value}"


class _Int:
    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    def is_null(self) -> bool:
        return self.value == 0


class _Str:
    __slots__ = ("key",)

    def __init__(self, value: str, followed_by_digit: bool) -> None:
        if followed_by_digit and len(value) == 1:
            value = {"a": "alpha", "b": "beta", "m": "milestone"}.get(value, value)
        self.key = _qualifier_key(_ALIASES.get(value, value))

    def is_null(self) -> bool:
        return self.key == _RELEASE_INDEX


class _List(list[Any]):
    def is_null(self) -> bool:
        return len(self) == 0

    def normalize(self) -> None:
        # Drop trailing null items, looking through nested lists but stopping at the first
        # non-null integer or qualifier.
        for i in range(len(self) - 1, -1, -1):
            item = self[i]
            if item.is_null():
                del self[i]
            elif not isinstance(item, _List):
                break


def _compare(left: Any, right: Any) -> int:
    """ComparableVersion's Item.compareTo, with None for "no item here"."""
    if isinstance(left, _Int):
        if right is None:
            return 0 if left.value == 0 else 1
        if isinstance(right, _Int):
            return (left.value > right.value) - (left.value < right.value)
        return 1
    if isinstance(left, _Str):
        if right is None:
            return (left.key > _RELEASE_INDEX) - (left.key < _RELEASE_INDEX)
        if isinstance(right, _Str):
            return (left.key > right.key) - (left.key < right.key)
        return -1
    assert isinstance(left, _List)
    if right is None:
        # Every item against "nothing", not just the first (MNG-6964): "1-0.1" > "1".
        for item in left:
            result = _compare(item, None)
            if result:
                return result
        return 0
    if isinstance(right, _Int):
        return -1
    if isinstance(right, _Str):
        return 1
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else None
        b = right[i] if i < len(right) else None
        result = -_compare(b, None) if a is None else _compare(a, b)
        if result:
            return result
    return 0


def _item(is_digit: bool, text: str) -> _Int | _Str:
    return _Int(int(text)) if is_digit else _Str(text, False)


def _parse(version: str) -> _List:
    root = current = _List()
    stack = [root]
    is_digit = False
    start = 0

    def open_sublist() -> None:
        nonlocal current
        sub = _List()
        current.append(sub)
        current = sub
        stack.append(sub)

    text = version.lower()
    for i, char in enumerate(text):
        if char in ".-":
            current.append(_Int(0) if i == start else _item(is_digit, text[start:i]))
            start = i + 1
            if char == "-":
                open_sublist()
        elif char.isascii() and char.isdigit():
            if not is_digit and i > start:
                # A qualifier glued to a number ("beta2") gets a list of its own when the
                # current list already holds items, as maven-artifact 3.8 does.
                if current:
                    open_sublist()
                current.append(_Str(text[start:i], True))
                start = i
                open_sublist()
            is_digit = True
        else:
            if is_digit and i > start:
                current.append(_item(True, text[start:i]))
                start = i
                open_sublist()
            is_digit = False
    if len(text) > start:
        if not is_digit and current:
            open_sublist()
        current.append(_item(is_digit, text[start:]))
    while stack:
        stack.pop().normalize()
    return root


class MavenVersion(OrderedVersion):
    __slots__ = ("items",)

    def __init__(self, text: str) -> None:
        self.text = text
        self.items = _parse(text)

    def _cmp(self, other: Any) -> int:
        return _compare(self.items, other.items)


SCHEME = Scheme("maven", MavenVersion)
