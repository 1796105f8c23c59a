"""Semver 2.0 precedence (semver.org section 11) for npm and Go, and the registry."""

from __future__ import annotations

import itertools

import pytest

from hardbox.scan.ecosystems import BY_NAME
from hardbox.scan.versions import SCHEMES, InvalidVersion, scheme_for

SEMVER = scheme_for("npm")
GO = scheme_for("golang")


def test_spec_example_order() -> None:
    # The example chain from semver.org, section 11.
    ascending = [
        "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
        "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1",
    ]
    for lower, higher in itertools.pairwise(ascending):
        assert SEMVER.compare(lower, higher) == -1, (lower, higher)
        assert SEMVER.compare(higher, lower) == 1


def test_build_metadata_is_ignored() -> None:
    assert SEMVER.compare("1.0.0+build.1", "1.0.0+build.2") == 0


def test_go_spellings() -> None:
    assert GO.compare("v1.2.3", "1.2.3") == 0
    assert GO.compare("v2.0.0+incompatible", "2.0.0") == 0
    # Pseudo-versions are pre-releases of the next patch, ordered by timestamp.
    assert GO.compare("v0.0.0-20200101000000-abcdefabcdef", "v0.0.0-20210101000000-abcdefabcdef") == -1
    assert GO.compare("v1.2.4-0.20200101000000-abcdefabcdef", "v1.2.4") == -1
    assert GO.compare("v1.2.4-0.20200101000000-abcdefabcdef", "v1.2.3") == 1


@pytest.mark.parametrize("text", ["1.0", "01.0.0", "1.0.0-01", "1.0.0-", "(devel)", "1.0.0+"])
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidVersion):
        SEMVER.parse(text)


def test_every_package_ecosystem_has_an_ordering() -> None:
    assert {scheme_for(name).name for name in BY_NAME} == set(SCHEMES)
    with pytest.raises(KeyError):
        scheme_for("cargo")
