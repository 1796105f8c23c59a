"""cgroup v2 limits for real, on any host: boot Debian's kernel with pure cgroup v2 in qemu
(tests/vmboot.py) and run, inside it, the cgroup unit tests (limits, and the BPF device
program) and vmboot's ``test_guest_*`` checks (``hardbox run`` with --pids-limit and
--memory, from the root cgroup and from a delegated scope; the device allow-list; the
overlayfs fallback of Linux 6.1).
Every v2 test must pass there; on this host they skip, its controllers being bound to v1."""

from __future__ import annotations

import os
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import vmboot
from helpers import imagebuild

from hardbox.runtime.profile.load import load_profile
from hardbox.runtime.seccomp import compile_filter

REPO = Path(__file__).resolve().parents[2]
GUEST_TESTS = ("tests/unit/runtime/test_cgroups.py", "tests/unit/runtime/test_cgroup_devices.py", "tests/vmboot.py")
# Must have run and passed in the guest (with every other test named *_v2_* or test_guest_*).
MUST_PASS = {
    "test_v2_cgroup_lifecycle_without_controllers",
    "test_v2_limits_need_controllers",
    "test_v2_a_process_joins_by_writing_0_to_cgroup_procs",
    "test_the_kernel_verifier_accepts_the_program",
    "test_a_process_in_the_cgroup_opens_only_what_the_list_allows[v2-bpf-program]",
    "test_v2_program_is_attached_once_and_freed_with_the_cgroup",
    "test_guest_the_bpf_device_program_stops_a_node_made_in_the_container",
    "test_guest_is_pure_cgroup_v2",
    "test_guest_pids_limit_stops_a_fork_bomb",
    "test_guest_memory_hog_is_oom_killed_and_reported",
    "test_guest_overlay_fd_mode_refuses_before_6_13",
    "test_guest_overlay_auto_mode_falls_back_to_paths",
    "test_guest_a_delegated_cgroup_gets_limits_through_the_supervisor_leaf",
    "test_guest_a_shared_cgroup_is_reported_not_half_used",
}


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root: the guest's tests create cgroups and start containers as root"
    for tool in (vmboot.QEMU, "umoci", "mkfs.ext4", "apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/install-deps.sh installs it)"
    return None


pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(_missing() is not None, reason=_missing() or ""),
]


def share_for_guest(out: Path, image: imagebuild.OciImage) -> None:
    """What vmboot.SHARE holds: the busybox image, and hardbox's caches for the profiles
    the guest runs (the real bytes, made here where libseccomp is 20 times faster)."""
    shutil.copytree(image.layout, out / "image", symlinks=True)
    # The guest sees this host path too (read-only, over 9p): by it, the profile is a cache
    # hit there (the cache key is the resolved path), no YAML or schema work under TCG.
    (out / "mknod.yaml").write_text(vmboot.MKNOD_PROFILE)
    (out / "mknod.path").write_text(str((out / "mknod.yaml").resolve()))
    for name in ("strict", "default", str((out / "mknod.yaml").resolve())):
        profile = load_profile(name, cache_dir=out / "cache/profiles")
        if profile.seccomp is not None:
            compile_filter(profile.seccomp, profile.capabilities, cache_dir=out / "cache/seccomp")


def test_v2_limits_pass_in_a_pure_cgroup_v2_vm(tmp_path: Path, busybox_layout: imagebuild.OciImage) -> None:
    accel, why = vmboot.accelerator()
    python = REPO / ".venv/bin/python"
    python = python if python.exists() else Path(sys.executable)
    # pytest stays in the root cgroup (the unit tests create cgroups beneath their own
    # process); the guest tests start hardbox in scopes of its own, as systemd would.
    job = f"""
echo '+memory +pids +cpu' > /sys/fs/cgroup/cgroup.subtree_control || exit 90
mkdir -p {vmboot.DISK}/home {vmboot.DISK}/tmp && cd {REPO} || exit 91
env -i PATH={python.parent}:/usr/sbin:/usr/bin:/sbin:/bin HOME={vmboot.DISK}/home LANG=C.UTF-8 \\
    TMPDIR={vmboot.DISK}/tmp PYTHONDONTWRITEBYTECODE=1 {vmboot.GUEST_ENV}=1 \\
    {python} -m pytest -q -p no:cacheprovider --basetemp={vmboot.DISK}/pytest \\
    --junitxml=/run/out/junit.xml {' '.join(GUEST_TESTS)}
"""
    started = time.monotonic()
    share_for_guest(tmp_path / "out", busybox_layout)
    result = vmboot.boot(job, tmp_path, timeout=240 if accel == "tcg" else 120)
    shown = (f"qemu with {accel} ({why}), {time.monotonic() - started:.0f} s\n"
             f"--- guest pytest ---\n{result.output}\n--- console (tail) ---\n{result.console[-4000:]}")
    assert result.returncode == 0, shown
    outcomes = junit_outcomes(tmp_path / "out/junit.xml")
    assert outcomes.keys() >= MUST_PASS, f"not run in the guest: {MUST_PASS - outcomes.keys()}\n{shown}"
    v2 = {n for n in outcomes if "_v2_" in n or n.startswith("test_guest_") or n in MUST_PASS}
    not_passed = {n: outcomes[n] for n in sorted(v2) if outcomes[n] != "passed"}
    assert not not_passed, f"in the guest: {not_passed}\n{shown}"
    print(shown)


def junit_outcomes(path: Path) -> dict[str, str]:
    """Test name -> "passed", "skipped: REASON", "failure" or "error" (pytest's JUnit XML;
    an xfail shows as skipped)."""
    outcomes: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag == "skipped":
                outcome = f"skipped: {child.get('message', '')}"
            elif child.tag in ("failure", "error"):
                outcome = child.tag
        outcomes[case.get("name", "")] = outcome
    return outcomes
