"""Static profile compatibility against the shipped profiles (strict, default)."""

from __future__ import annotations

import dataclasses

import pytest

from hardbox.errors import InputError
from hardbox.gate.profile_check import profile_rules, static_violations
from hardbox.gate.subject import Subject
from hardbox.runtime.profile.load import load_profile

WEB = Subject(name="web", id="sha256:" + "4" * 64, user="", exposed_ports=("80/tcp",), volumes=("/data",))


def titles(profile: str, subject: Subject) -> list[str]:
    return [f.title for f in static_violations(load_profile(profile), subject)]


def test_strict_refuses_low_ports_network_and_volumes() -> None:
    got = titles("strict", WEB)
    assert len(got) == 3
    assert "privileged port(s) 80/tcp" in got[0] and "CAP_NET_BIND_SERVICE" in got[0]
    assert "no network (network: none)" in got[1]
    assert got[2] == "VOLUME /data is read-only under profile strict (read_only_root)"


def test_strict_claims_no_refusal_of_a_root_image() -> None:
    # hardbox runs the image's root user as container root in the user namespace (issue 16).
    root_only = dataclasses.replace(WEB, exposed_ports=(), volumes=())
    assert root_only.runs_as_root and titles("strict", root_only) == []


def test_default_profile_runs_the_same_image() -> None:
    # default grants CAP_NET_BIND_SERVICE, has a private network and a writable root.
    assert titles("default", WEB) == []


def test_strict_accepts_a_non_root_batch_image() -> None:
    batch = dataclasses.replace(WEB, user="10001:10001", exposed_ports=(), volumes=())
    assert titles("strict", batch) == []


def test_profile_rules_name_the_profile_and_refuse_unknown_ones() -> None:
    (static,) = profile_rules("strict", None, "img")
    assert static.name == "profile.strict"
    static_probe = profile_rules("default", "true", "img")
    assert [r.name for r in static_probe] == ["profile.default", "profile.default.probe"]
    with pytest.raises(InputError):
        profile_rules("no-such-profile", None, "img")
