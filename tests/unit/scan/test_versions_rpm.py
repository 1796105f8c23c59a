"""rpm ordering: rpmvercmp's own documented cases, and generated pairs checked against the
real rpm (``rpm.vercmp`` in rpm's embedded Lua, which parses epoch:version-release as rpm
does) when the ``rpm`` package is installed."""

from __future__ import annotations

import random
import subprocess

import pytest
from helpers.cli import need_tool

from hardbox.scan.versions import InvalidVersion, scheme_for

RPM = scheme_for("rpm")

# (a, b, expected) from rpm's tests/rpmvercmp.at, the upstream test suite of rpmvercmp.
KNOWN = [
    ("1.0", "1.0", 0), ("1.0", "2.0", -1), ("2.0", "1.0", 1),
    ("2.0.1", "2.0.1", 0), ("2.0", "2.0.1", -1), ("2.0.1", "2.0", 1),
    ("2.0.1a", "2.0.1a", 0), ("2.0.1a", "2.0.1", 1), ("2.0.1", "2.0.1a", -1),
    ("5.5p1", "5.5p1", 0), ("5.5p1", "5.5p2", -1), ("5.5p2", "5.5p1", 1),
    ("5.5p10", "5.5p10", 0), ("5.5p1", "5.5p10", -1), ("5.5p10", "5.5p1", 1),
    ("10xyz", "10.1xyz", -1), ("10.1xyz", "10xyz", 1),
    ("xyz10", "xyz10", 0), ("xyz10", "xyz10.1", -1), ("xyz10.1", "xyz10", 1),
    ("xyz.4", "xyz.4", 0), ("xyz.4", "8", -1), ("8", "xyz.4", 1), ("xyz.4", "2", -1), ("2", "xyz.4", 1),
    ("5.5p2", "5.6p1", -1), ("5.6p1", "5.5p2", 1),
    ("5.6p1", "6.5p1", -1), ("6.5p1", "5.6p1", 1),
    ("6.0.rc1", "6.0", 1), ("6.0", "6.0.rc1", -1),
    ("10b2", "10a1", 1), ("10a2", "10b2", -1),
    ("1.0aa", "1.0aa", 0), ("1.0a", "1.0aa", -1), ("1.0aa", "1.0a", 1),
    ("10.0001", "10.0001", 0), ("10.0001", "10.1", 0), ("10.1", "10.0001", 0),
    ("10.0001", "10.0039", -1), ("10.0039", "10.0001", 1),
    ("4.999.9", "5.0", -1), ("5.0", "4.999.9", 1),
    ("20101121", "20101121", 0), ("20101121", "20101122", -1), ("20101122", "20101121", 1),
    ("2_0", "2_0", 0), ("2.0", "2_0", 0), ("2_0", "2.0", 0),
    ("a", "a", 0), ("a+", "a+", 0), ("a+", "a_", 0), ("a_", "a+", 0),
    ("+a", "+a", 0), ("+a", "_a", 0), ("_a", "+a", 0),
    ("+_", "+_", 0), ("_+", "+_", 0), ("_+", "_+", 0), ("+", "_", 0), ("_", "+", 0),
    ("1.0~rc1", "1.0~rc1", 0), ("1.0~rc1", "1.0", -1), ("1.0", "1.0~rc1", 1),
    ("1.0~rc1", "1.0~rc2", -1), ("1.0~rc2", "1.0~rc1", 1),
    ("1.0~rc1~git123", "1.0~rc1~git123", 0), ("1.0~rc1~git123", "1.0~rc1", -1), ("1.0~rc1", "1.0~rc1~git123", 1),
    ("1.0^", "1.0^", 0), ("1.0^", "1.0", 1), ("1.0", "1.0^", -1),
    ("1.0^git1", "1.0^git1", 0), ("1.0^git1", "1.0", 1), ("1.0", "1.0^git1", -1),
    ("1.0^git1", "1.0^git2", -1), ("1.0^git2", "1.0^git1", 1),
    ("1.0^git1", "1.01", -1), ("1.01", "1.0^git1", 1),
    ("1.0^20160101", "1.0^20160101", 0), ("1.0^20160101", "1.0.1", -1), ("1.0.1", "1.0^20160101", 1),
    ("1.0^20160101^git1", "1.0^20160101^git1", 0), ("1.0^20160102", "1.0^20160101^git1", 1),
    ("1.0^20160101^git1", "1.0^20160102", -1),
    ("1.0~rc1^git1", "1.0~rc1^git1", 0), ("1.0~rc1^git1", "1.0~rc1", 1), ("1.0~rc1", "1.0~rc1^git1", -1),
    ("1.0^git1~pre", "1.0^git1~pre", 0), ("1.0^git1", "1.0^git1~pre", 1), ("1.0^git1~pre", "1.0^git1", -1),
]


@pytest.mark.parametrize(("a", "b", "expected"), KNOWN)
def test_rpmvercmp_upstream_cases(a: str, b: str, expected: int) -> None:
    assert RPM.compare(a, b) == expected


def test_epoch_and_release() -> None:
    assert RPM.compare("1:1.0-1", "2.0-1") == 1
    assert RPM.compare("0:1.0-1.el9", "1.0-1.el9") == 0
    assert RPM.compare("1.0-1.el9", "1.0-1.el9_2") == -1
    assert RPM.compare("1.0-9.el9", "1.0-10.el9") == -1
    assert RPM.compare("1.0", "1.0-1") == -1


def _rpm_version(rng: random.Random) -> str:
    pieces = [str(rng.randint(0, 12))]
    for _ in range(rng.randint(0, 4)):
        pieces.append(rng.choice([".", ".", "~", "^", "_", "+"]))
        pieces.append(rng.choice([str(rng.randint(0, 20)), "rc1", "git", "a", "b2", "01", "el9", "p1"]))
    version = "".join(pieces)
    if rng.random() < 0.3:
        version = f"{rng.randint(0, 2)}:{version}"
    if rng.random() < 0.6:
        version += "-" + rng.choice(["1", "1.el9", "2.el9_1", "10.fc39", "0.rc1", "1~bootstrap"])
    return version


def test_generated_pairs_agree_with_rpm() -> None:
    need_tool("rpm")
    rng = random.Random(4242)
    pairs = []
    for _ in range(400):
        a = _rpm_version(rng)
        b = a + rng.choice(["", "~1", "^1", ".0", "a", "-1"]) if rng.random() < 0.4 else _rpm_version(rng)
        if b.count("-") > 1:
            b = b.rsplit("-", 1)[0]
        pairs.append((a, b))
    table = ",".join(f'{{"{a}","{b}"}}' for a, b in pairs)
    lua = f'%{{lua: for _, p in ipairs({{{table}}}) do print(rpm.vercmp(p[1], p[2]) .. "\\n") end}}'
    out = subprocess.run(["rpm", "--eval", lua], capture_output=True, text=True, check=True).stdout
    verdicts = [int(line) for line in out.split()]
    assert len(verdicts) == len(pairs)
    wrong = [(a, b, want, RPM.compare(a, b)) for (a, b), want in zip(pairs, verdicts, strict=True) if RPM.compare(a, b) != want]
    assert wrong == []
    assert {-1, 0, 1} <= set(verdicts)


@pytest.mark.parametrize("text", ["", "1.0 1", "1:2:3"])
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidVersion):
        RPM.parse(text)
