"""Alpine apk version ordering, as apk-tools' src/version.c (2.14 and 3.x) defines it.

Grammar: ``digits{.digits}...{letter}{_suffix{digits}}...{~hexhash}{-rdigits}``. The version is
read as a sequence of typed tokens, in this order of types: the initial number, ``.N``
components, one lower-case letter, ``_suffix`` (``_alpha _beta _pre _rc`` sort before the bare
version, ``_cvs _svn _git _hg _p`` after it) each optionally numbered, a ``~commit`` hash,
and the ``-rN`` package revision. Two versions compare token by token while the token types
agree: numbers numerically, except that a ``.N`` component with a leading zero on either
side compares as a string (Gentoo's rule, so "1.02" < "1.1"); suffixes by the list above;
hashes as strings. Where the types first differ, a pre-release suffix is the lower side;
otherwise the side that goes on with a type earlier in the list is higher ("1.0.1" > "1.0a"
> "1.0" and "1.0-r1" > "1.0"). Anything the grammar rejects ("1.0bc", "1_foo") is
``InvalidVersion``; apk would fall back to a string sort, which says nothing about
vulnerability ranges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hardbox.scan.versions.base import InvalidVersion, OrderedVersion, Scheme

# Token types in apk-tools' order.
_INITIAL_DIGIT, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _COMMIT_HASH, _REVISION_NO, _END = range(8)

# Suffix ranks: pre-releases below _NONE (the bare version), post-releases above it.
_SUFFIX_RANK = {"alpha": 1, "beta": 2, "pre": 3, "rc": 4, "cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10}
_NONE = 5

_DIGITS = re.compile(r"[0-9]+")
_SUFFIX_WORD = re.compile(r"[a-z]*")
_HEX = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: int
    raw: str = ""
    number: int = 0


def _fail(text: str, pos: int, why: str) -> InvalidVersion:
    return InvalidVersion("apk", text, f"{why} at offset {pos}")


def _digits(text: str, pos: int, kind: int) -> tuple[_Token, int]:
    match = _DIGITS.match(text, pos)
    if match is None:
        raise _fail(text, pos, "expected digits")
    return _Token(kind, match.group(), int(match.group())), match.end()


def _tokenize(text: str) -> list[_Token]:
    token, pos = _digits(text, 0, _INITIAL_DIGIT)
    tokens = [token]
    while pos < len(text):
        prev, char = token.kind, text[pos]
        if "a" <= char <= "z":
            if prev > _DIGIT:
                raise _fail(text, pos, f"letter {char!r} after a suffix, hash or revision")
            token, pos = _Token(_LETTER, char, ord(char)), pos + 1
        elif char == "." or char.isdigit():
            # A bare digit can only continue a suffix ("_rc2"); numbers otherwise need a dot.
            if char == ".":
                if prev > _DIGIT:
                    raise _fail(text, pos, "'.' after a letter or suffix")
                pos += 1
                kind = _DIGIT
            elif prev == _SUFFIX:
                kind = _SUFFIX_NO
            else:
                raise _fail(text, pos, f"unexpected digit {char!r}")
            token, pos = _digits(text, pos, kind)
        elif char == "_":
            if prev > _SUFFIX_NO:
                raise _fail(text, pos, "suffix after a hash or revision")
            word = _SUFFIX_WORD.match(text, pos + 1)
            assert word is not None  # [a-z]* always matches
            if word.group() not in _SUFFIX_RANK:
                raise _fail(text, pos, f"unknown suffix {word.group()!r}")
            token, pos = _Token(_SUFFIX, word.group(), _SUFFIX_RANK[word.group()]), word.end()
        elif char == "~":
            if prev >= _COMMIT_HASH:
                raise _fail(text, pos, "'~' after a hash or revision")
            hexhash = _HEX.match(text, pos + 1)
            if hexhash is None:
                raise _fail(text, pos, "'~' not followed by a hex commit hash")
            token, pos = _Token(_COMMIT_HASH, hexhash.group()), hexhash.end()
        elif text.startswith("-r", pos):
            if prev >= _REVISION_NO:
                raise _fail(text, pos, "second revision")
            token, pos = _digits(text, pos + 2, _REVISION_NO)
        else:
            raise _fail(text, pos, f"unexpected {char!r}")
        tokens.append(token)
    tokens.append(_Token(_END))
    return tokens


def _token_cmp(a: _Token, b: _Token) -> int:
    if a.kind == _COMMIT_HASH or (a.kind == _DIGIT and (a.raw[0] == "0" or b.raw[0] == "0")):
        left: Any = a.raw.encode()
        right: Any = b.raw.encode()
    elif a.kind == _LETTER:
        left, right = a.raw, b.raw
    else:
        left, right = a.number, b.number
    return (left > right) - (left < right)


class ApkVersion(OrderedVersion):
    __slots__ = ("tokens",)

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)

    def _cmp(self, other: Any) -> int:
        for a, b in zip(self.tokens, other.tokens, strict=False):
            if a.kind != b.kind:
                # Equal so far; a pre-release suffix loses, otherwise the side going on
                # with an earlier token type is the newer one.
                if a.kind == _SUFFIX and a.number < _NONE:
                    return -1
                if b.kind == _SUFFIX and b.number < _NONE:
                    return 1
                return -1 if a.kind > b.kind else 1
            if a.kind == _END:
                return 0
            result = _token_cmp(a, b)
            if result:
                return result
        return 0  # pragma: no cover - both token lists end with _END


SCHEME = Scheme("apk", ApkVersion)
