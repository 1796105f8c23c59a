"""The device allow-list of `hardbox run` as root, end to end: the container's cgroup holds
it while the container runs, a device node the container makes itself cannot be opened
(the cgroup alone stops it: /dev is a tmpfs without nodev, and a profile without a user
namespace keeps CAP_MKNOD meaningful), and a host that cannot apply the list refuses the
run instead of starting it without one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.hbrun import RunStore, make_store

from hardbox.runtime.cgroups.base import detect_version
from hardbox.runtime.cgroups.devices import ALLOWED_DEVICES, v1_lines

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def store(busybox_layout, tmp_path_factory) -> RunStore:  # type: ignore[no-untyped-def]
    return make_store(tmp_path_factory.mktemp("run-devices") / "store", busybox_layout.ref)


def test_explain_lists_the_device_allow_list(store: RunStore) -> None:
    proc = store.hardbox("run", "--explain", "--json", "bbtest")
    assert proc.returncode == 0, proc.stderr
    [step] = [s for s in json.loads(proc.stdout)["steps"] if s["step"] == "device allow-list"]
    assert step["status"] == "applied"  # as root, always
    assert "null" in step["setting"] and "pts/*" in step["setting"] and "BPF" in step["setting"]


def test_the_running_containers_cgroup_holds_the_list(store: RunStore) -> None:
    if detect_version() != 1:
        pytest.skip("reads the v1 devices.list; the v2 program is checked in the cgroup v2 VM")
    run = store.popen("run", "--rm", "--name", "devlist", "bbtest", "sleep", "3",
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        paths = _cgroup_paths_of(store, "devlist")
        [devices] = [p for p in paths if "/devices/" in str(p)]
        assert devices.read_text().splitlines() == v1_lines(ALLOWED_DEVICES)
    finally:
        _, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    assert not devices.parent.exists()  # removed with the container


def _cgroup_paths_of(store: RunStore, name: str) -> list[Path]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for state_file in (store.root / "containers").glob("*/state.json"):
            state = json.loads(state_file.read_text())
            if state["name"] == name and state["status"] == "running":
                return [Path(p) / "devices.list" for p in state["cgroup"].split(",")]
        time.sleep(0.05)
    raise AssertionError(f"container {name} did not start")


def test_a_device_node_made_inside_the_container_does_not_open(store: RunStore, tmp_path: Path) -> None:
    """Container root is host root here (no user namespace) with CAP_MKNOD: it may make
    nodes (the list's ``m`` rules), and /dev allows them, but only the listed ones open."""
    profile = tmp_path / "mknod.yaml"
    profile.write_text("extends: default\nuser_namespace: false\ncapabilities: [CAP_MKNOD, CAP_DAC_OVERRIDE]\n")
    script = ("mknod /dev/lc c 10 237 && mknod /dev/l0 b 7 0 && mknod /dev/n2 c 1 3 && echo made; "
              "head -c0 /dev/lc && echo loop-control-opened; head -c0 /dev/l0 && echo loop0-opened; "
              "echo x > /dev/n2 && echo null-written")
    proc = store.hardbox("run", "--rm", "--profile", str(profile), "--user", "0", "bbtest", "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["made", "null-written"], proc.stdout + proc.stderr
    assert proc.stderr.count("Operation not permitted") == 2, proc.stderr


def test_a_root_run_without_a_devices_controller_is_refused(store: RunStore) -> None:
    """Fail closed: the shipped default profile's limits are if-available, but a run as
    root that cannot apply the device list does not start (exit 125, one line)."""
    if detect_version() != 1:
        pytest.skip("hides the v1 devices hierarchy")
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    devices = next(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                   if line.split(" - ")[1].split()[0] == "cgroup" and "devices" in line.split(" - ")[1].split()[2].split(","))
    before = store.containers()
    # A private mount namespace where the devices hierarchy is not mounted: what a host
    # without the controller looks like to hardbox.
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f'umount {devices} && exec "$@"', "sh", sys.executable, "-m", "hardbox", "run", "--rm", "bbtest", "true"],
        capture_output=True, text=True, env=store.env(), timeout=60,
    )
    assert proc.returncode == 125, proc.stderr
    message = proc.stderr.splitlines()
    assert "device allow-list" in message[0] and "devices controller is not mounted" in message[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert store.containers() == before  # nothing left of the refused start
