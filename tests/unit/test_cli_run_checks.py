"""`hardbox run`'s --hostname and --name rules (cli/run.py), checked without `re` on the run
path: they accept and refuse exactly what the regular expressions they were first written
as did, ASCII only (a Unicode letter or digit is refused), length limits included."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardbox.cli.run import valid_hostname, valid_name

HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,62}[A-Za-z0-9])?")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")

# Mostly the characters the rules are about, with their neighbours and lookalikes.
text = st.text(alphabet=st.sampled_from("aZ09.-_ \n/:\u0663\u00e9\u212a\u0130@") | st.characters(), max_size=140)
edges = st.builds(lambda c, n, d: c * n + d, st.sampled_from("a.-_9"), st.integers(0, 130), st.sampled_from(["", "a", "-", "_", "\n"]))


@settings(max_examples=500, deadline=None)
@given(st.one_of(text, edges))
def test_the_rules_are_the_regular_expressions(name: str) -> None:
    assert valid_hostname(name) == bool(HOSTNAME.fullmatch(name)), name
    assert valid_name(name) == bool(NAME.fullmatch(name)), name


@pytest.mark.parametrize("name, host, container", [
    ("web", True, True), ("a", True, True), ("9", True, True), ("a-b.c", True, True),
    ("a_b", False, True), ("-a", False, False), ("a-", False, True), (".a", False, False),
    ("a.", False, True), ("", False, False), ("a" * 64, True, True), ("a" * 65, False, True),
    ("a" * 128, False, True), ("a" * 129, False, False), ("web\n", False, False),
    ("w\u00e9b", False, False), ("\u0663", False, False), ("K", True, True), ("\u212a", False, False),
    ("a b", False, False), ("a/b", False, False),
])
def test_accepted_and_refused(name: str, host: bool, container: bool) -> None:
    assert (valid_hostname(name), valid_name(name)) == (host, container)
