"""SELinux: unique MCS labels recorded under the store, and CIL modules that Debian's
``secilc`` compiles against hardbox's minimal base policy (this host has no SELinux, so
labels are computed and policies compiled, not enforced)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers.cli import need_tool

from hardbox.errors import ContainerError, InputError
from hardbox.resources import policies
from hardbox.runtime.profile.load import load_profile
from hardbox.runtime.profile.selinux_cil import Volume, module_name
from hardbox.runtime.selinux import (
    Label,
    allocate_label,
    apply_exec_label,
    host_has_selinux,
    policy_cil,
    release_label,
)

NGINX_LIKE = {
    "architecture": "amd64",
    "os": "linux",
    "config": {"ExposedPorts": {"80/tcp": {}, "9000/udp": {}}, "Volumes": {"/var/cache/app": {}}},
    "rootfs": {"type": "layers", "diff_ids": []},
}


def compile_cil(tmp_path: Path, module: str) -> subprocess.CompletedProcess[str]:
    need_tool("secilc")
    selinux_dir = Path(str(policies())) / "selinux"
    (tmp_path / "module.cil").write_text(module)
    return subprocess.run(
        ["secilc", "-o", str(tmp_path / "policy.bin"), "-f", "/dev/null",
         str(selinux_dir / "base.cil"), str(selinux_dir / "templates.cil"), str(tmp_path / "module.cil")],
        capture_output=True, text=True, cwd=tmp_path,
    )


def test_labels_are_unique_while_containers_live(tmp_path: Path) -> None:
    seen = set()
    for i in range(40):
        (tmp_path / f"c{i}").mkdir()
        label = allocate_label(tmp_path, f"c{i}")
        assert label.type == "container_t" and label.user == "system_u" and label.role == "system_r"
        a, b = (int(c[1:]) for c in label.level.removeprefix("s0:").split(","))
        assert 0 <= a < b < 1024
        seen.add(label.level)
    assert len(seen) == 40
    assert str(label) == f"system_u:system_r:container_t:{label.level}"
    assert label.file_label == f"system_u:object_r:container_file_t:{label.level}"


def test_concurrent_allocations_never_share_a_pair(tmp_path: Path) -> None:
    """Four processes allocate at once; the lock keeps the record consistent."""
    per_process = 10
    pids = []
    for worker in range(4):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for i in range(per_process):
                    (tmp_path / f"w{worker}-{i}").mkdir()
                    allocate_label(tmp_path, f"w{worker}-{i}")
            except BaseException:  # the parent sees the exit status and fails the test
                code = 1
            os._exit(code)
        pids.append(pid)
    for pid in pids:
        assert os.waitpid(pid, 0)[1] == 0
    record = json.loads((tmp_path / "selinux-mcs.json").read_text())
    assert len(record) == 4 * per_process  # 40 distinct pairs, one per container
    assert sorted(record.values()) == sorted(f"w{w}-{i}" for w in range(4) for i in range(per_process))


def test_released_and_stale_pairs_are_freed(tmp_path: Path) -> None:
    (tmp_path / "live").mkdir()
    live = allocate_label(tmp_path, "live")
    gone = allocate_label(tmp_path, "gone")  # no state dir: a container that no longer exists
    record = (tmp_path / "selinux-mcs.json").read_text()
    assert live.level.removeprefix("s0:") in record
    allocate_label(tmp_path, "other")  # the next allocation prunes "gone"
    record = (tmp_path / "selinux-mcs.json").read_text()
    assert gone.level.removeprefix("s0:") not in record and live.level.removeprefix("s0:") in record
    release_label(tmp_path, live)
    assert live.level.removeprefix("s0:") not in (tmp_path / "selinux-mcs.json").read_text()


def test_apply_exec_label_fails_clearly_without_selinux() -> None:
    if host_has_selinux():
        pytest.skip("this host has SELinux: applying a label would change this test process")
    with pytest.raises(ContainerError, match="attr/exec"):
        apply_exec_label(Label("system_u", "system_r", "container_t", "s0:c1,c2"))


def test_policy_module_compiles_with_secilc(tmp_path: Path) -> None:
    profile = load_profile("default")
    module = policy_cil(
        NGINX_LIKE, profile, name="docker.io/library/nginx:1.25",
        volumes=[Volume("/srv/www", "/usr/share/nginx/html", read_only=True)],
    )
    assert "(block hardbox_nginx" in module and "(blockinherit container)" in module
    assert "(allow process http_port_t (tcp_socket (name_bind)))" in module
    assert "(allow process unreserved_port_t (udp_socket (name_bind)))" in module
    assert "net_raw" not in module and "chown" in module
    result = compile_cil(tmp_path, module)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "policy.bin").stat().st_size > 0


def test_strict_module_has_no_capabilities_or_network(tmp_path: Path) -> None:
    module = policy_cil(NGINX_LIKE, load_profile("strict"), name="nginx")
    assert "(capability" not in module
    assert "net_container" not in module and "name_bind)" not in module
    result = compile_cil(tmp_path, module)
    assert result.returncode == 0, result.stderr


def test_secilc_rejects_a_broken_module(tmp_path: Path) -> None:
    # The compile check is meaningful: an undeclared type fails.
    module = policy_cil(NGINX_LIKE, load_profile("default"), name="nginx").replace(
        "http_port_t", "no_such_port_t"
    )
    assert compile_cil(tmp_path, module).returncode != 0


def test_hostile_image_config_is_refused() -> None:
    with pytest.raises(InputError, match="exposed port"):
        policy_cil({"config": {"ExposedPorts": {"80/tcp; (allow": {}}}}, load_profile("default"))
    assert module_name("registry:5000/team/My-App@sha256:abc") == "hardbox_my_app"
