"""The profile model is the one definition: the schema's defaults are what a profile that sets
nothing resolves to, field by field; the JSON forms are derived from the dataclass and a
profile comes back from its JSON unchanged; the decoder refuses what the model would not
hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hardbox.errors import InputError
from hardbox.runtime.profile.load import list_profiles, load_profile, profiles_dir
from hardbox.runtime.profile.model import Profile, parse_bytes
from hardbox.runtime.profile.options import RunOptions, apply_options

# Fields of the file that have no fixed default: a profile's name is its file's name, and
# a profile that says nothing extends nothing.
NO_DEFAULT = {"name", "extends"}
# What `profile show` adds to the file's fields: where it came from and what a run weakened.
NOT_IN_FILE = {"source", "weakenings"}

# A profile that moves every field it can away from its default.
EVERY_FIELD = """\
extends: strict
name: every-field
description: every field set
strict: false
user_namespace: false
capabilities: [NET_BIND_SERVICE, CAP_CHOWN, CAP_NET_BIND_SERVICE]
no_new_privs: false
seccomp: unconfined
selinux:
  mode: required
  type: spc_t
  level: "s0:c1,c2"
  file_type: svirt_sandbox_file_t
network:
  mode: host
  egress: {default: allow, allow: [{cidr: 10.0.0.0/8, ports: [443], proto: tcp}], dns: true}
read_only_root: false
tmpfs_noexec: false
masked_paths: [/proc/kcore]
readonly_paths: [/proc/sys]
limits:
  memory: 512m
  pids: 64
  cpus: 2
  mode: required
rlimits:
  RLIMIT_NPROC: {soft: 10, hard: 20}
volumes_readonly: false
capabilities_inheritable:
  - {name: CAP_CHOWN, reason: a helper with inheritable file capabilities chowns uploads}
capabilities_ambient:
  - {name: NET_BIND_SERVICE, reason: binds :80 as a non-root user}
"""


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((profiles_dir() / "schema.json").read_text())
    return loaded


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_schema_defaults_are_what_a_profile_that_sets_nothing_resolves_to(tmp_path: Path) -> None:
    nothing = load_profile(str(write(tmp_path, "nothing.yaml", "{}\n")), cache_dir=tmp_path / "cache")
    resolved = nothing.to_dict()
    compared: list[str] = []

    def compare(properties: dict[str, Any], values: dict[str, Any], prefix: str) -> None:
        for key, spec in properties.items():
            where = prefix + key
            if where in NO_DEFAULT or spec.get("deprecated"):  # deprecated: accepted, ignored
                continue
            if where == "network":  # a string (shorthand for {mode: ...}) or the mapping form
                assert spec["default"] == values[key]["mode"], where
                spec = next(branch for branch in spec["anyOf"] if "properties" in branch)
            if "properties" in spec:  # selinux, limits, network: a default for each of their keys
                assert set(values[key]) == set(spec["properties"]), where
                compare(spec["properties"], values[key], f"{where}.")
                continue
            assert "default" in spec, f"schema.json gives {where} no default"
            assert values[key] == spec["default"], f"{where}: schema says {spec['default']!r}, model {values[key]!r}"
            compared.append(where)

    compare(schema()["properties"], resolved, "")
    # And the other way round: the model has no field the file cannot set.
    assert set(resolved) - set(schema()["properties"]) == NOT_IN_FILE
    assert not {k for k, spec in schema()["properties"].items() if spec.get("deprecated")} & set(resolved)
    assert "network.mode" in compared and "limits.memory" in compared and "selinux.level" in compared
    assert "network.egress.default" in compared and "network.egress.dns" in compared
    assert resolved["extends"] == [] and nothing.name == "nothing"


def test_profile_show_shape_uses_the_files_names_and_shapes() -> None:
    strict = load_profile("strict").to_dict()
    assert list(strict)[:4] == ["name", "description", "source", "extends"]  # schema order
    assert strict["extends"] == ["default"] and strict["seccomp"] == "strict"
    assert strict["rlimits"]["RLIMIT_NOFILE"] == {"soft": 1024, "hard": 1024}
    assert strict["limits"] == {"memory": 1 << 30, "pids": 512, "cpus": 1.0, "mode": "if-available"}


def round_trip(profile: Profile) -> Profile:
    return Profile.from_json(json.loads(json.dumps(profile.to_json())))


def test_every_shipped_profile_round_trips_through_json_unchanged() -> None:
    for name in list_profiles():
        profile = load_profile(name)
        assert round_trip(profile) == profile, name


def test_a_profile_setting_every_field_round_trips_unchanged(tmp_path: Path) -> None:
    profile = load_profile(str(write(tmp_path, "every.yaml", EVERY_FIELD)), cache_dir=tmp_path / "cache")
    assert profile.seccomp is None and profile.limits.cpus == 2.0 and profile.rlimits
    assert profile.capabilities == ("CAP_NET_BIND_SERVICE", "CAP_CHOWN")
    assert round_trip(profile) == profile
    # Every field differs from what a profile that sets nothing gets (but strict, which would
    # refuse the rest, and the weakenings, which no file sets).
    nothing = load_profile(str(write(tmp_path, "nothing.yaml", "{}\n")), cache_dir=tmp_path / "cache")
    same = {k for k, v in profile.to_dict().items() if nothing.to_dict()[k] == v}
    assert same == {"strict", "weakenings"}, same
    # A run's weakenings are part of the model too.
    weakened, weak = apply_options(load_profile("default"), RunOptions(cap_add=("NET_ADMIN",), cpus=3))
    assert weak and round_trip(weakened) == weakened


def mutate(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        body = body[key]
    if value is KeyError:
        del body[last]
    else:
        body[last] = value


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("strict", KeyError),  # a missing field
        ("privileged", True),  # an unknown one
        ("strict", "yes"),
        ("capabilities", "CAP_KILL"),
        ("capabilities", [1]),
        ("limits.pids", "5"),
        ("limits.pids", True),  # JSON true is not a number of tasks
        ("limits.cpus", False),
        ("limits.mode", KeyError),
        ("selinux", ["if-available", "container_t", "", "container_file_t"]),  # the old shape
        ("rlimits", [["RLIMIT_NOFILE", 1, 2]]),
        ("seccomp.source", KeyError),
        ("chain", None),
        ("weakenings", [{"field": "network"}]),
        ("egress", "deny"),
        ("egress.allow", [{"cidr": "10.0.0.0/8"}]),  # ports and proto missing
        ("egress.dns", 1),
    ],
)
def test_decoder_refuses_a_missing_unknown_or_mistyped_field(path: str, value: Any) -> None:
    body = load_profile("strict").to_json()
    mutate(body, path, value)
    with pytest.raises(ValueError):
        Profile.from_json(body)


def test_decoder_leaves_values_to_the_model() -> None:
    body = load_profile("strict").to_json()
    body["network"] = "sideways"  # well-typed, but not a network mode
    with pytest.raises(InputError, match="sideways"):
        Profile.from_json(body)
    body = load_profile("strict").to_json()
    body["egress"]["allow"] = [{"cidr": "10.0.0.1/8", "ports": [], "proto": "tcp"}]
    with pytest.raises(InputError, match=r"10\.0\.0\.1/8"):
        Profile.from_json(body)


def test_parse_bytes_reads_docker_sizes() -> None:
    assert parse_bytes("512m") == 512 << 20
    assert parse_bytes("1g") == 1 << 30
    assert parse_bytes("1.5k") == 1536
    assert parse_bytes(4096) == 4096
    for bad in ("-1", "a lot", "0", 0, True):
        with pytest.raises(InputError):
            parse_bytes(bad)
