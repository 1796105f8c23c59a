"""The device allow-list for real: the kernel's own verifier loads the BPF program, and a
process in a cgroup beneath our own (v1 devices controller, or the BPF program on the
unified hierarchy, which hybrid hosts have too) mknods real device nodes on a filesystem
without nodev and tries to open them: what the list leaves out answers EPERM, what it
lists opens, and the same process outside the cgroup opens them all."""

from __future__ import annotations

import errno
import json
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hardbox.runtime import bpf, mounts
from hardbox.runtime.cgroups.base import (
    CgroupLimits,
    CgroupUnavailable,
    DevicesUnavailable,
    detect_version,
)
from hardbox.runtime.cgroups.devices import (
    ALLOWED_DEVICES,
    BPF_EXIT,
    BPF_JMP,
    LICENSE,
    bpf_instructions,
    bpf_program,
    v1_lines,
)
from hardbox.runtime.cgroups.v1 import V1Manager
from hardbox.runtime.cgroups.v2 import V2Manager

# name -> (kind, major, minor): nodes the list allows to open ...
ALLOWED = {
    "null": ("c", 1, 3), "zero": ("c", 1, 5), "full": ("c", 1, 7), "random": ("c", 1, 8),
    "urandom": ("c", 1, 9), "tty": ("c", 5, 0), "ptmx": ("c", 5, 2), "pts-7": ("c", 136, 7),
}
# ... and nodes it must not: the escapes, the two runc allows that hardbox leaves
# out, a neighbouring major, and a listed major:minor asked as the other device type.
DENIED = {
    "mem": ("c", 1, 1), "loop-control": ("c", 10, 237), "kvm": ("c", 10, 232), "loop0": ("b", 7, 0),
    "console": ("c", 5, 1), "tun": ("c", 10, 200), "pty-137": ("c", 137, 0), "block-1-3": ("b", 1, 3),
}


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: bpf(2) program loads, cgroups beneath our own, mknod")


def managers() -> Iterator[object]:
    """The v1 devices controller where this host has one, and the unified hierarchy."""
    if os.geteuid() == 0 and detect_version() == 1:
        yield pytest.param("v1", id="v1-devices-controller")
    yield pytest.param("v2", id="v2-bpf-program")


def open_manager_of(version: str) -> V1Manager | V2Manager:
    need_root()
    try:
        manager = V1Manager.discover() if version == "v1" else V2Manager.discover()
    except CgroupUnavailable as err:
        pytest.skip(f"no cgroup {version} hierarchy: {err}")
    if version == "v1" and "devices" not in manager.parents:  # type: ignore[union-attr]
        pytest.skip("this v1 host has no devices hierarchy")
    return manager


def probe(directory: Path, join: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Fork: join the cgroup the way a container's first child does (``join`` empty: stay
    where we are), mknod every node in ``directory``, try to open each; errno names back."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(r)
            for path in join:
                fd = os.open(path, os.O_WRONLY)
                os.write(fd, b"0")
                os.close(fd)
            out: dict[str, dict[str, str]] = {}
            for name, (kind, major, minor) in {**ALLOWED, **DENIED}.items():
                node = directory / name
                mode = 0o600 | (stat.S_IFCHR if kind == "c" else stat.S_IFBLK)
                flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
                out[name] = {"mknod": _try(os.mknod, node, mode, os.makedev(major, minor)),
                             "open": _try(_open_close, node, flags)}
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    return json.loads(data)  # type: ignore[no-any-return]


def _open_close(path: Path, flags: int) -> None:
    os.close(os.open(path, flags))


def _try(call: Callable[..., object], *args: object) -> str:
    try:
        call(*args)
    except OSError as err:
        return errno.errorcode.get(err.errno or 0, str(err.errno))
    return "ok"


def test_the_list_is_runcs_default_without_console_and_tun() -> None:
    assert v1_lines(ALLOWED_DEVICES) == [
        "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
        "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm",
    ]


def test_every_device_of_hardboxs_dev_is_allowed_to_open() -> None:
    """The list and runtime/mounts.py's /dev must agree: each device file _mount_dev binds
    from the host is allowed by its real major:minor here, read and write."""
    for name in mounts.DEVICES:
        rdev = os.stat(f"/dev/{name}").st_rdev
        match = [r for r in ALLOWED_DEVICES if r.kind == "c" and r.major in (None, os.major(rdev))
                 and r.minor in (None, os.minor(rdev)) and set("rw") <= set(r.access)]
        assert match, f"/dev/{name} ({os.major(rdev)}:{os.minor(rdev)}) is not allowed"


def test_the_program_is_one_block_per_rule_ending_in_deny() -> None:
    insns = bpf_instructions(ALLOWED_DEVICES)
    exits = [i for i, insn in enumerate(insns) if insn.code == BPF_JMP | BPF_EXIT]
    assert len(exits) == len(ALLOWED_DEVICES) + 1  # one "allow" per rule, then the default
    assert insns[-2].imm == 0 and exits[-1] == len(insns) - 1  # the default answer: deny
    for i, insn in enumerate(insns):  # every jump lands inside the program, forwards
        if insn.code & 0x07 == BPF_JMP and insn.code != BPF_JMP | BPF_EXIT:
            assert insn.off > 0 and i + 1 + insn.off < len(insns)
    assert bpf_program(ALLOWED_DEVICES) is bpf_program(ALLOWED_DEVICES)  # built once


def test_the_kernel_verifier_accepts_the_program() -> None:
    need_root()
    fd = bpf.bpf_prog_load(
        bpf.BPF_PROG_TYPE_CGROUP_DEVICE, bpf_program(ALLOWED_DEVICES), name="hb_test",
        license_name=LICENSE, expected_attach_type=bpf.BPF_CGROUP_DEVICE,
    )
    os.close(fd)
    # And a broken one is refused with the verifier's reason in the message (the last
    # instruction, the exit, cut off: the program falls off its end).
    with pytest.raises(OSError, match="verifier"):
        bpf.bpf_prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, bpf_program(ALLOWED_DEVICES)[:-8],
                          name="hb_broken", license_name=LICENSE)


@pytest.mark.root
@pytest.mark.parametrize("version", list(managers()))
def test_a_process_in_the_cgroup_opens_only_what_the_list_allows(version: str, tmp_path: Path) -> None:
    manager = open_manager_of(version)
    # The nodes live on the test's tmp dir: it must allow device nodes, or nodev would
    # refuse the opens and prove nothing about the cgroup.
    outside = probe(tmp_path / _mkdir(tmp_path, "outside"), ())
    assert all(r["mknod"] == "ok" for r in outside.values()), f"{tmp_path} refuses device nodes: {outside}"
    assert all(r["open"] != "EPERM" for r in outside.values()), outside  # the control: no list
    cgroup = manager.create(f"test-{uuid.uuid4().hex[:10]}", CgroupLimits(devices=ALLOWED_DEVICES))
    try:
        inside = probe(tmp_path / _mkdir(tmp_path, "inside"), cgroup.join_files())
    finally:
        cgroup.destroy()
    assert all(r["mknod"] == "ok" for r in inside.values()), inside  # "c *:* m", "b *:* m"
    refused = {name for name, r in inside.items() if r["open"] == "EPERM"}
    assert refused == set(DENIED), inside
    assert inside["null"]["open"] == inside["urandom"]["open"] == "ok"


def _mkdir(base: Path, name: str) -> str:
    (base / name).mkdir()
    return name


@pytest.mark.root
def test_v1_devices_list_is_the_allow_list() -> None:
    manager = open_manager_of("v1") if detect_version() == 1 else pytest.skip("not a cgroup v1 host")
    cgroup = manager.create(f"test-{uuid.uuid4().hex[:10]}", CgroupLimits(pids=8, devices=ALLOWED_DEVICES))
    try:
        assert set(cgroup.dirs) == {"pids", "devices"}  # type: ignore[union-attr]
        listed = Path(cgroup.dirs["devices"], "devices.list").read_text().splitlines()  # type: ignore[union-attr]
        assert listed == v1_lines(ALLOWED_DEVICES)
    finally:
        cgroup.destroy()
    assert not any(os.path.exists(p) for p in cgroup.paths())


@pytest.mark.root
def test_v1_without_a_devices_hierarchy_is_a_clear_refusal() -> None:
    manager = open_manager_of("v1") if detect_version() == 1 else pytest.skip("not a cgroup v1 host")
    assert isinstance(manager, V1Manager)
    without = V1Manager({c: p for c, p in manager.parents.items() if c != "devices"})
    with pytest.raises(DevicesUnavailable, match="devices controller is not mounted"):
        without.create(f"test-{uuid.uuid4().hex[:10]}", CgroupLimits(devices=ALLOWED_DEVICES))


@pytest.mark.root
def test_v2_program_is_attached_once_and_freed_with_the_cgroup() -> None:
    """Nothing leaks: hardbox keeps no descriptor (the attachment holds the program), the
    cgroup has exactly our program, and removing the cgroup frees it."""
    manager = open_manager_of("v2")
    fds_before = sorted(os.listdir("/proc/self/fd"))
    cgroup = manager.create(f"test-{uuid.uuid4().hex[:10]}", CgroupLimits(devices=ALLOWED_DEVICES))
    try:
        assert sorted(os.listdir("/proc/self/fd")) == fds_before
        dir_fd = os.open(cgroup.path, os.O_RDONLY | os.O_DIRECTORY)  # type: ignore[union-attr]
        try:
            [prog_id] = bpf.bpf_prog_query(dir_fd, bpf.BPF_CGROUP_DEVICE, str(cgroup.path))  # type: ignore[union-attr]
        finally:
            os.close(dir_fd)
    finally:
        cgroup.destroy()
    deadline = time.monotonic() + 10  # the kernel frees a detached program after a grace period
    while True:
        try:
            os.close(bpf.bpf_prog_get_fd_by_id(prog_id))
        except OSError as err:
            assert err.errno == errno.ENOENT, err
            break
        assert time.monotonic() < deadline, f"program {prog_id} outlived its cgroup"
        time.sleep(0.05)
