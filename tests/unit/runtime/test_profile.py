"""Loading profiles: the shipped ones say what the issue promises; bad files are one clear
error naming file, line and field; extends merges and refuses cycles. (The model's defaults
and JSON: test_profile_model.py; run options: test_profile_options.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbox.errors import InputError
from hardbox.runtime.profile.load import Profile, list_profiles, load_profile

DOCKER_DEFAULT_CAPS = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}  # moby oci/caps/defaults.go


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_profiles_are_listed_and_load() -> None:
    assert {"default", "strict"} <= set(list_profiles())
    for name in list_profiles():
        assert isinstance(load_profile(name), Profile)


def test_strict_profile_promises() -> None:
    strict = load_profile("strict")
    assert strict.strict and strict.capabilities == ()
    assert strict.read_only_root and strict.tmpfs_noexec and strict.volumes_readonly
    assert strict.network == "none" and strict.user_namespace and strict.no_new_privs
    assert strict.seccomp is not None and strict.seccomp_name == "strict"
    assert strict.chain == ("default", "strict")
    # inherited from default through extends
    assert "/proc/kcore" in strict.masked_paths and "/proc/sys" in strict.readonly_paths
    assert strict.limits.memory == 1 << 30 and strict.limits.pids == 512


def test_default_is_docker_minus_net_raw_mknod_audit_write() -> None:
    default = load_profile("default")
    assert set(default.capabilities) == DOCKER_DEFAULT_CAPS - {"CAP_NET_RAW", "CAP_MKNOD", "CAP_AUDIT_WRITE"}
    assert default.user_namespace and not default.read_only_root and not default.strict
    assert default.seccomp is not None and default.seccomp.default_errno_ret == 38  # ENOSYS
    assert default.selinux.mode == "if-available" and default.limits.mode == "if-available"


def test_bad_field_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "description: x\nnetwork: none\nlimits:\n  pids: 10\n  memory: lots\n")
    with pytest.raises(InputError) as caught:
        load_profile(str(path))
    message = str(caught.value)
    assert message.startswith(f"profile {path}:5: limits.memory:"), message


def test_unknown_field_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "typo.yaml", "description: x\n\nread_only_rot: true\n")
    with pytest.raises(InputError, match=r"typo.yaml:3: read_only_rot: unknown field"):
        load_profile(str(path))


def test_yaml_syntax_error_and_duplicate_keys(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.yaml", "network: none\ncapabilities: [CAP_KILL\n")
    with pytest.raises(InputError, match=r"broken.yaml:\d+: not valid YAML"):
        load_profile(str(broken))
    twice = write(tmp_path, "twice.yaml", "network: none\nnetwork: host\n")
    with pytest.raises(InputError, match=r"twice.yaml:2: network: key given twice"):
        load_profile(str(twice))
    listy = write(tmp_path, "list.yaml", "- a\n- b\n")
    with pytest.raises(InputError, match="mapping"):
        load_profile(str(listy))


def test_unknown_capability_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "caps.yaml", "capabilities:\n  - CAP_KILL\n  - CAP_WIZARDRY\n")
    with pytest.raises(InputError, match=r"caps.yaml:3: capabilities.1: unknown capability"):
        load_profile(str(path))


def test_extends_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "web.yaml",
        "extends: default\nname: web\ncapabilities: [NET_BIND_SERVICE]\nlimits:\n  memory: 256m\n",
    )
    web = load_profile(str(path))
    assert web.name == "web" and web.chain == ("default", "web")
    assert web.capabilities == ("CAP_NET_BIND_SERVICE",)
    assert web.limits.memory == 256 << 20 and web.limits.pids == 4096  # pids from default
    assert web.masked_paths == load_profile("default").masked_paths


def test_extends_cycle_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(InputError, match="cycle"):
        load_profile(str(tmp_path / "a.yaml"))


def test_strict_refuses_isolation_breaking_fields_with_their_line(tmp_path: Path) -> None:
    for text, needle in [
        ("extends: strict\ndescription: x\nnetwork: host\n", r":3: network: host network"),
        ("extends: strict\ncapabilities: [CAP_NET_ADMIN]\n", r":2: capabilities: strict allows no"),
        ("extends: strict\nseccomp: unconfined\n", r":2: seccomp: unconfined"),
        ("extends: strict\nuser_namespace: false\n", r":2: user_namespace:"),
    ]:
        path = write(tmp_path, "weak.yaml", text)
        with pytest.raises(InputError, match=needle):
            load_profile(str(path))


def test_seccomp_path_is_relative_to_the_profile(tmp_path: Path) -> None:
    (tmp_path / "sc").mkdir()
    write(tmp_path / "sc", "tiny.json", '{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, '
          '"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}')
    path = write(tmp_path, "p.yaml", "seccomp: sc/tiny.json\n")
    profile = load_profile(str(path))
    assert profile.seccomp is not None and profile.seccomp.syscalls[0].names == ("read",)
    missing = write(tmp_path, "m.yaml", "description: x\nseccomp: nope.json\n")
    with pytest.raises(InputError, match=r"m.yaml:2: seccomp: seccomp profile .* does not exist"):
        load_profile(str(missing))


def test_missing_profile_name_hints_at_shipped_ones() -> None:
    with pytest.raises(InputError) as caught:
        load_profile("no-such-profile")
    assert "strict" in caught.value.hint


def test_minimal_profile_is_the_locked_down_one(tmp_path: Path) -> None:
    profile = load_profile(str(write(tmp_path, "min.yaml", "description: nothing said\n")))
    assert profile.capabilities == () and profile.network == "none" and profile.read_only_root
    assert profile.user_namespace and profile.no_new_privs and profile.seccomp_name == "default"


def test_every_schema_field_is_documented() -> None:
    import json

    from hardbox.resources import policies

    schema = json.loads((policies() / "profiles" / "schema.json").read_text())
    doc = (Path(__file__).parents[3] / "docs" / "writing-a-profile.md").read_text()
    for field in schema["properties"]:
        assert f"| `{field}` |" in doc, f"docs/writing-a-profile.md does not document {field}"
