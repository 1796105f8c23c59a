"""PEP 440 ordering through packaging.version, as pip orders PyPI versions."""

from __future__ import annotations

import itertools

import pytest

from hardbox.scan.versions import InvalidVersion, scheme_for

PEP440 = scheme_for("pypi")


def test_pep440_order() -> None:
    ascending = ["1.0.dev1", "1.0a1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1!0.1"]
    for lower, higher in itertools.pairwise(ascending):
        assert PEP440.compare(lower, higher) == -1, (lower, higher)


def test_normalised_spellings_are_equal() -> None:
    assert PEP440.compare("1.0", "1.0.0") == 0
    assert PEP440.compare("1.0RC1", "1.0rc1") == 0
    assert PEP440.compare("v1.0", "1.0") == 0


@pytest.mark.parametrize("text", ["", "not a version", "1.0-foo-bar"])
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidVersion):
        PEP440.parse(text)
