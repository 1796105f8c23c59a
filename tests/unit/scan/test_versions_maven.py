"""Maven ordering, checked against Maven's own ComparableVersion (the maven-artifact jar
Debian ships in libmaven3-core-java; its main() prints how consecutive arguments compare)
on generated versions, plus the orderings Maven documents."""

from __future__ import annotations

import itertools
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.cli import need_tool

from hardbox.scan.versions import scheme_for

MAVEN = scheme_for("maven")
JAR = Path("/usr/share/java/maven3-artifact.jar")


@pytest.mark.parametrize(
    "ascending",
    [
        ["1-alpha", "1-alpha-1", "1-beta", "1-milestone", "1-rc", "1-snapshot", "1", "1-sp", "1-abc", "1.1"],
        ["1.0-alpha1", "1.0-beta1", "1.0-rc1", "1.0-SNAPSHOT", "1.0", "1.0-sp1", "1.0.1"],
        ["1a1", "1b1", "1m1", "1-rc1", "1"],
        ["2.9", "2.10", "2.10.1", "10.0"],
    ],
)
def test_documented_order(ascending: list[str]) -> None:
    for lower, higher in itertools.pairwise(ascending):
        assert MAVEN.compare(lower, higher) == -1, (lower, higher)
        assert MAVEN.compare(higher, lower) == 1, (higher, lower)


@pytest.mark.parametrize(
    ("a", "b"),
    [("1", "1.0.0"), ("1-ga", "1"), ("1-final", "1.0"), ("1-release", "1"), ("1-cr1", "1-rc1"), ("1.0-RC1", "1.0-rc1"), ("1.0.0-0", "1")],
)
def test_equal_spellings(a: str, b: str) -> None:
    assert MAVEN.compare(a, b) == 0


def _maven_version(rng: random.Random) -> str:
    parts = [str(rng.randint(0, 3))]
    for _ in range(rng.randint(0, 4)):
        parts.append(rng.choice([".", "-", ".", ""]))
        parts.append(rng.choice(["0", "1", "2", "10", "alpha", "beta", "rc", "cr", "a", "b", "m", "SNAPSHOT", "sp", "ga", "final", "foo", "Beta2"]))
    return "".join(parts)


def test_generated_versions_agree_with_maven() -> None:
    need_tool("java")
    if not JAR.exists():
        pytest.skip(f"{JAR} missing: apt-get install libmaven3-core-java provides Maven's ComparableVersion")
    rng = random.Random(7)
    versions = [_maven_version(rng) for _ in range(300)]
    out = subprocess.run(
        [shutil.which("java") or "java", "-cp", str(JAR), "org.apache.maven.artifact.versioning.ComparableVersion", *versions],
        capture_output=True, text=True, check=True,
    ).stdout
    verdicts = [m.group(2) for m in re.finditer(r"^   (\S+) ([<>=]+) (\S+)$", out, re.MULTILINE)]
    assert len(verdicts) == len(versions) - 1
    sign = {"<": -1, "==": 0, ">": 1}
    wrong = [
        (a, b, verdict, MAVEN.compare(a, b))
        for a, b, verdict in zip(versions, versions[1:], verdicts, strict=False)
        if MAVEN.compare(a, b) != sign[verdict]
    ]
    assert wrong == []
    assert {"<", "==", ">"} <= set(verdicts)
