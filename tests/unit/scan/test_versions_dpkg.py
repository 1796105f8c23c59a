"""dpkg ordering checked against the real ``dpkg --compare-versions`` on generated pairs.

The pairs come from a seeded generator that mixes epochs, ``~``, ``+``, ``.``, letters,
leading zeros and revisions, and are built to share prefixes often, where the rules bite.
dpkg runs in one shell loop per batch so hundreds of pairs stay fast.
"""

from __future__ import annotations

import random
import subprocess

import pytest
from helpers.cli import need_tool

from hardbox.scan.versions import InvalidVersion, scheme_for

DPKG = scheme_for("deb")


def _fragment(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        if kind < 0.45:
            parts.append(str(rng.choice([0, 1, 2, 9, 10, 11, 99, 100])) if rng.random() < 0.8 else "0" + str(rng.randint(0, 9)))
        elif kind < 0.65:
            parts.append(rng.choice([".", "+", "~", "."]))
        elif kind < 0.85:
            parts.append(rng.choice(["a", "b", "z", "A", "Z", "rc", "dfsg", "deb12u", "git"]))
        else:
            parts.append(rng.choice(["~", "~~", "+b", ".0", "~rc1"]))
    return "".join(parts)


def _version(rng: random.Random, base: str | None = None) -> str:
    if base is not None and rng.random() < 0.6:
        # Mutate a shared base: most real comparisons are between near neighbours.
        return base + rng.choice(["", "~", "+", ".0", "a", "~~", "1", "-1", "+b1", "~rc1", ".", "0"])
    upstream = str(rng.randint(0, 12)) + _fragment(rng)
    version = upstream
    if rng.random() < 0.25:
        version = f"{rng.randint(0, 3)}:{version}"
    if rng.random() < 0.6:
        version += "-" + rng.choice(["1", "0", "2", "1~bpo1", "1+b1", "1.1", "10", "3~", "1deb12u1", "0.1"])
    return version


def generated_pairs(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    while len(pairs) < count:
        a = _version(rng)
        b = _version(rng, a if rng.random() < 0.5 else None)
        try:
            DPKG.parse(a)
            DPKG.parse(b)
        except InvalidVersion:
            continue  # the generator can make a trailing "-": not a version, skip it
        pairs.append((a, b))
    return pairs


def dpkg_verdicts(pairs: list[tuple[str, str]]) -> list[int]:
    """-1/0/1 per pair from dpkg itself (lt / eq / gt)."""
    script = "\n".join(
        f"if dpkg --compare-versions '{a}' lt '{b}'; then echo -1; "
        f"elif dpkg --compare-versions '{a}' eq '{b}'; then echo 0; else echo 1; fi"
        for a, b in pairs
    )
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    return [int(line) for line in out.split()]


def test_generated_pairs_agree_with_dpkg() -> None:
    need_tool("dpkg")
    pairs = generated_pairs(600, seed=20261128)
    verdicts = dpkg_verdicts(pairs)
    assert len(verdicts) == len(pairs)
    disagreements = [
        (a, b, expected, DPKG.compare(a, b))
        for (a, b), expected in zip(pairs, verdicts, strict=True)
        if DPKG.compare(a, b) != expected
    ]
    assert disagreements == []
    # The generator must exercise all three outcomes, or it proves little.
    assert {-1, 0, 1} <= set(verdicts)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.0~rc1", "1.0"),
        ("1.0~~", "1.0~"),
        ("1.0", "1.0+b1"),
        ("1.0", "1.0a"),
        ("1.0a", "1.0+"),  # letters sort before non-letters
        ("1:0.1", "2:0.0"),
        ("9.9", "1:0.1"),  # any epoch beats none
        ("2.36-9+deb12u3", "2.36-9+deb12u4"),
        ("1.2.3-1", "1.2.3-1.1"),
        ("1.2.3-9", "1.2.3-10"),
        ("1.2~beta-1", "1.2-0"),
    ],
)
def test_known_debian_orderings(lower: str, higher: str) -> None:
    assert DPKG.parse(lower) < DPKG.parse(higher)
    assert DPKG.compare(higher, lower) == 1


def test_equal_spellings() -> None:
    assert DPKG.compare("1.0", "0:1.0") == 0
    assert DPKG.compare("1.0", "1.0-0") == 0
    assert DPKG.compare("1.01", "1.1") == 0


@pytest.mark.parametrize("text", ["", "a1.0", "1.0 beta", "x:1.0", "1:2:3-", "1.0-r#1", "1.0-"])
def test_invalid_versions_raise(text: str) -> None:
    with pytest.raises(InvalidVersion):
        DPKG.parse(text)
