"""What every version ordering offers the matcher: parse a version string into a value that
compares with ``<``, ``==`` as its ecosystem orders versions, or raise ``InvalidVersion``.

Each ecosystem has its own rules (dpkg's ``~``, apk's ``_rc``, rpm's ``^``, Maven's
qualifiers); the matcher knows none of them and asks the scheme registered for the
package's ecosystem (``hardbox.scan.versions.scheme_for``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol


class InvalidVersion(ValueError):
    """A version string that its ecosystem's grammar rejects. The matcher records it (with
    the advisory or package it came from) and skips that comparison."""

    def __init__(self, scheme: str, text: str, reason: str) -> None:
        super().__init__(f"invalid {scheme} version {text!r}: {reason}")
        self.scheme = scheme
        self.text = text
        self.reason = reason


class Comparable(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...
    def __le__(self, other: Any, /) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...


class VersionScheme(Protocol):
    """One ecosystem's version ordering."""

    @property
    def name(self) -> str: ...

    def parse(self, text: str) -> Comparable:
        """The version as an ordered value; ``InvalidVersion`` if the grammar rejects it."""
        ...

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b``."""
        ...


class OrderedVersion:
    """Base of every scheme's version: total ordering from one ``_cmp(other) -> int`` (only
    equal schemes compare); ``text`` is the version as it was spelled, set by ``__init__``."""

    __slots__ = ("text",)
    text: str

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"

    def _cmp(self, other: Any) -> int:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _check(self, other: object) -> bool:
        return type(other) is type(self)

    def __lt__(self, other: Any) -> bool:
        if not self._check(other):
            return NotImplemented
        return self._cmp(other) < 0

    def __le__(self, other: Any) -> bool:
        if not self._check(other):
            return NotImplemented
        return self._cmp(other) <= 0

    def __gt__(self, other: Any) -> bool:
        if not self._check(other):
            return NotImplemented
        return self._cmp(other) > 0

    def __ge__(self, other: Any) -> bool:
        if not self._check(other):
            return NotImplemented
        return self._cmp(other) >= 0

    def __eq__(self, other: object) -> bool:
        if not self._check(other):
            return NotImplemented
        return self._cmp(other) == 0

    def __hash__(self) -> int:
        # Versions that compare equal may be spelled differently ("1.0" == "1.0-0" in dpkg),
        # so no hash is both cheap and consistent; they are compared, never used as keys.
        raise TypeError(f"{type(self).__name__} is not hashable")


@dataclass(frozen=True)
class Scheme:
    """A registered ordering: its name and the parser that builds comparable versions."""

    name: str
    parser: Callable[[str], Comparable]

    def __post_init__(self) -> None:
        # Matching parses the same event versions over and over (one advisory, many binary
        # packages of its source); parsed versions are immutable, so remember them.
        object.__setattr__(self, "parser", lru_cache(maxsize=65536)(self.parser))

    def parse(self, text: str) -> Comparable:
        if not isinstance(text, str) or not text.strip():
            raise InvalidVersion(self.name, str(text), "empty version")
        return self.parser(text.strip())

    def compare(self, a: str, b: str) -> int:
        va, vb = self.parse(a), self.parse(b)
        if va == vb:
            return 0
        return -1 if va < vb else 1
