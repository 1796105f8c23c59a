"""runtime/profile.is_shipped_name keeps NAME's rule without `re` (a cached run's start-up):
the two agree on every string, hostile ones included."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardbox.runtime import profile
from hardbox.runtime.profile import NAME, is_shipped_name


def by_regex(name: str) -> bool:
    return bool(NAME.match(name)) and not name.endswith((".yaml", ".yml"))


@settings(max_examples=500, deadline=None)
@given(st.text(st.sampled_from("abz09._-A/\n\r \x00é\u0130Kk") | st.characters(), max_size=70)
       | st.from_regex(profile.NAME_PATTERN, fullmatch=True))
def test_is_shipped_name_is_names_rule(name: str) -> None:
    assert is_shipped_name(name) == by_regex(name)


@pytest.mark.parametrize("name", [
    "strict", "strict\n", "strict\n\n", "a" * 64, "a" * 65, "a" * 64 + "\n", "", "\n", "p.yaml", "p.yaml\n",
    "-x", "./strict", "Strict", "\u212a",  # the Kelvin sign: not a-z
])
def test_edges(name: str) -> None:
    assert is_shipped_name(name) == by_regex(name)


def test_name_is_the_pattern_compiled() -> None:
    assert isinstance(NAME, re.Pattern) and NAME.pattern == profile.NAME_PATTERN
