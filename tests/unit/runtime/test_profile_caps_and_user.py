"""Issue 16 items 3 and 4 in the profile, its exports and ``--explain``: inheritable and
ambient capabilities only where a profile names them (with a reason), and one story about
the image's root user — it runs as container root in a user namespace, an unprivileged
host uid — told the same way by every export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hardbox.errors import InputError
from hardbox.runtime.profile.explain import explain
from hardbox.runtime.profile.export import NONROOT_ID, export
from hardbox.runtime.profile.load import Profile, load_profile

AMBIENT = """\
extends: default
capabilities_ambient:
  - name: NET_BIND_SERVICE
    reason: binds :80 as uid 1000
capabilities_inheritable:
  - name: CAP_CHOWN
    reason: a helper with inheritable file capabilities
"""


def profile(tmp_path: Path, text: str, name: str = "p.yaml") -> Profile:
    path = tmp_path / name
    path.write_text(text)
    return load_profile(str(path), cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("name", ["default", "strict"])
def test_shipped_profiles_leave_inheritable_and_ambient_empty(name: str) -> None:
    p = load_profile(name)
    assert p.capabilities_inheritable == () and p.capabilities_ambient == ()
    caps = json.loads(export(p, "oci")["config.json"])["process"]["capabilities"]
    assert caps["inheritable"] == [] and caps["ambient"] == []
    assert caps["bounding"] == caps["permitted"] == caps["effective"] == list(p.capabilities)


def test_named_grants_reach_the_model_show_explain_and_oci(tmp_path: Path) -> None:
    p = profile(tmp_path, AMBIENT)
    assert p.ambient_names == ("CAP_NET_BIND_SERVICE",) and p.inheritable_names == ("CAP_CHOWN",)
    assert p.to_dict()["capabilities_ambient"] == [{"name": "CAP_NET_BIND_SERVICE", "reason": "binds :80 as uid 1000"}]
    caps = json.loads(export(p, "oci")["config.json"])["process"]["capabilities"]
    assert caps["ambient"] == ["CAP_NET_BIND_SERVICE"]
    assert caps["inheritable"] == ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]  # the kernel wants ambient there too
    (step,) = [s for s in explain(p)["steps"] if s["step"] == "capabilities"]
    assert "ambient = CAP_NET_BIND_SERVICE (binds :80 as uid 1000)" in step["setting"]
    # Engines that cannot set ambient capabilities say so instead of dropping them silently.
    assert "ambient capabilities CAP_NET_BIND_SERVICE cannot be set by docker" in export(p, "docker")["docker-run.txt"]
    assert "cannot set ambient capabilities" in export(p, "k8s")["p-pod.yaml"]


@pytest.mark.parametrize(("text", "message"), [
    ("capabilities: [CAP_KILL]\ncapabilities_ambient: [{name: CAP_CHOWN, reason: x}]\n",
     "capabilities_ambient.0.name: CAP_CHOWN is not in capabilities"),
    ("capabilities: [CAP_KILL]\ncapabilities_inheritable: [{name: CAP_KILL}]\n", "'reason' is a required property"),
    ("capabilities: [CAP_KILL]\ncapabilities_ambient: [{name: CAP_KILL, reason: ''}]\n", "reason"),
    ("capabilities: [CAP_KILL]\ncapabilities_ambient: [CAP_KILL]\n", "capabilities_ambient.0"),
    ("capabilities: [CAP_KILL]\ncapabilities_ambient: [{name: CAP_NOPE, reason: x}]\n", "unknown capability CAP_NOPE"),
])  # fmt: skip
def test_bad_grants_are_one_line_errors_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        profile(tmp_path, text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_strict_refuses_an_ambient_capability(tmp_path: Path) -> None:
    text = "extends: strict\ncapabilities_ambient: [{name: CAP_KILL, reason: x}]\n"
    with pytest.raises(InputError, match="capabilities_ambient"):
        profile(tmp_path, text)


def test_run_as_non_root_is_gone_but_an_old_file_still_loads(tmp_path: Path) -> None:
    assert "run_as_non_root" not in load_profile("strict").to_dict()
    old = profile(tmp_path, "extends: strict\nrun_as_non_root: true\n")
    assert old.user_namespace and old.capabilities == ()


def test_explain_shows_the_host_uid_of_container_root() -> None:
    (step,) = [s for s in explain(load_profile("strict"))["steps"] if s["step"] == "user namespace"]
    assert "container root runs as host uid " in step["setting"]
    uid = int(step["setting"].split("container root runs as host uid ", 1)[1].split()[0])
    assert uid != 0


def test_strict_exports_carry_the_user_namespace_exposure() -> None:
    strict = load_profile("strict")
    docker = export(strict, "docker")
    lines = docker["docker-run.txt"].splitlines()
    assert lines[-1].startswith("docker run ") and f"--user={NONROOT_ID}:{NONROOT_ID}" in lines[-1]
    assert lines[0].startswith("#") and "no per-container user namespace" in lines[0]
    podman = docker["podman-run.txt"]
    assert "--userns=auto" in podman and "--user=" not in podman
    text = export(strict, "k8s")["strict-pod.yaml"]
    assert "# hostUsers: false gives the pod its own user namespace" in text
    assert "for clusters without user namespaces" in text
    pod = yaml.safe_load(text)
    assert pod["spec"]["hostUsers"] is False
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_default_exports_keep_root_with_its_capabilities() -> None:
    # default grants container root capabilities: a uid of 65534 would not be the same
    # exposure, so Docker gets a note about userns-remap instead, and k8s no runAsNonRoot.
    default = load_profile("default")
    docker = export(default, "docker")["docker-run.txt"]
    assert "--user=" not in docker and "userns-remap" in docker
    pod = yaml.safe_load(export(default, "k8s")["default-pod.yaml"])
    assert pod["spec"]["hostUsers"] is False
    assert "runAsNonRoot" not in pod["spec"]["securityContext"]
