"""apk ordering against apk-tools' own test vectors (test/version.data in apk-tools; a
selection of its lines, "a OP b" each) and the suffix/revision rules it documents."""

from __future__ import annotations

import itertools

import pytest

from hardbox.scan.versions import InvalidVersion, scheme_for

APK = scheme_for("apk")

# From apk-tools test/version.data.
VECTORS = """
2.34 > 0.1.0_alpha
0.1.0_alpha = 0.1.0_alpha
0.1.0_alpha < 0.1.3_alpha
0.1.0_alpha2 > 0.1.0_alpha
0.1.0_alpha < 2.2.39-r1
1.0.4-r3 < 1.0.4-r4
1.1 > 1.1_alpha1
1.2.1 > 1.2
1.2 < 1.3_alpha
1.3_alpha2 < 1.3_alpha3
0.7.0 < 0.8_beta1
0.8_beta4 < 4.8-r1
3.10.18-r1 > 2.3.0b-r1
2.3.0b-r1 < 2.3.0b-r2
0.12.3 > 0.12
0.12 < 0.13_beta1
0.2.0-r1 < 3.1_p16
3.1_p16 < 3.1_p17
3.1_p17 > 1.06-r6
1.06-r6 < 006
006 > 1.0.0
1.2.2-r1 > 1.2.2
3.9.8-r5 > 2.01.01_alpha10
2.01.01_alpha10 > 0.94
1.0 > 0.99.3.20040818
1.02 < 1.03-r1
4.2.52_p2-r1 < 4.2.52_p4-r2
1.05-r18 < 1.05-r19
2.11-r1 > 2.11
3.0.20060720 < 20060720
2.5.1-r8 < 2.5.1a-r1
1.3.5-r10 > 1.3.5-r8
20040401 > 2.0.0_rc3-r1
3.0.0-r2 < 021109-r3
0.9.16-r1 < 3.9_pre20060124
3.97 > 0.10.0-r1
0.10.0 < 0.10.1_rc1
0.15.1b-r2 > 0.15.1b
22.7-r1 < 22.7.3-r1
2.1_pre20 < 2.1_pre26
2.10.1 > 02.08.01b
0.59s-r11 < 0.65
0.20070118 < 0.20070207_rc1
4.5_p1-r1 > 4.5_p1
0.9.8c-r1 < 0.9.8d
1.7 < 1.7b
1.8.5 < 1.8.5_p2
2.9.11_pre20051101-r3 > 2.9.11_pre20051101
1.6.8_p12-r1 > 1.6.8_p9-r2
0.9.28-r2 < 0.9.28.1
104-r11 > 104-r9
2.12r-r4 < 2.12r-r5
7.0.17 < 7.0.174
1.3-r0 < 1.3.1-r0
1.3_pre1-r1 < 1.3.2
1.0_p10-r0 > 1.0_p9-r0
0.1.0_alpha_pre2 < 0.1.0_alpha
1.0.0_pre20191002222144-r0 < 1.0.0_pre20210530193627-r0
"""


def _vectors() -> list[tuple[str, str, str]]:
    return [tuple(line.split()) for line in VECTORS.strip().splitlines()]  # type: ignore[misc]


@pytest.mark.parametrize(("a", "op", "b"), _vectors())
def test_apk_tools_vectors(a: str, op: str, b: str) -> None:
    expected = {"<": -1, "=": 0, ">": 1}[op]
    assert APK.compare(a, b) == expected
    assert APK.compare(b, a) == -expected


@pytest.mark.parametrize(
    "ascending",
    [
        ["1.0_alpha", "1.0_beta", "1.0_pre", "1.0_rc", "1.0", "1.0_cvs", "1.0_svn", "1.0_git", "1.0_hg", "1.0_p"],
        ["1.0_rc1", "1.0_rc2", "1.0", "1.0-r1", "1.0a", "1.0.1"],
        ["1.2.3_git20230101-r0", "1.2.3_git20230101-r1", "1.2.3_git20230102-r0"],
        ["1.0~0abc-r0", "1.0~0abd-r0"],
    ],
)
def test_suffix_and_revision_order(ascending: list[str]) -> None:
    for lower, higher in itertools.pairwise(ascending):
        assert APK.compare(lower, higher) == -1, (lower, higher)


# "1.0bc" and "23_foo" are the lines version.data marks invalid (apk then sorts as strings).
@pytest.mark.parametrize("text", ["1.0bc", "23_foo", "", "abc", "1.0-1", "1.0-r", "1.0_rc1a", "1.0~", "v1.0"])
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidVersion):
        APK.parse(text)
