"""Attacking `hardbox bundle` as a hostile image and a hostile local user would (issue 18 §2).

The image is built here by umoci from busybox-static plus a layer of real device nodes: a
block node with the major:minor of a loop device the test sets up over a canary file, the
KVM and /dev/mem character nodes (10:232, 1:1), the root disk (8:0), and a setuid-root
copy of busybox. Then, for real: the bundle's rootfs holds no device node and lists what it
left out, the bundle directory is closed to host user ``nobody`` (EACCES on every way in,
the setuid file included), Debian's runc starts it and no open of the devices works, and
even a node planted in the rootfs afterwards is refused by the config's device allow-list.
The canary's bytes never change.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import imagebuild
from helpers.cli import hardbox, need_root, need_tool

pytestmark = [pytest.mark.root, pytest.mark.slow]

NOBODY = 65534


@dataclass(frozen=True)
class Canary:
    """A loop device over a file of random bytes: what an escape would read or overwrite."""

    file: Path
    data: bytes
    device: str
    major: int
    minor: int

    def unchanged(self) -> bool:
        return self.file.read_bytes() == self.data


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Canary]:
    need_root()
    need_tool("losetup", "runc", "umoci", "setpriv")
    path = tmp_path_factory.mktemp("canary") / "canary.img"
    data = os.urandom(1 << 20)
    path.write_bytes(data)
    device = imagebuild.run(["losetup", "--find", "--show", path]).stdout.strip()
    try:
        rdev = os.stat(device).st_rdev
        yield Canary(path, data, device, os.major(rdev), os.minor(rdev))
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def _hostile_layer(canary: Canary) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        (root / "hostile").mkdir()
        os.mknod(root / "hostile/loop", stat.S_IFBLK | 0o666, os.makedev(canary.major, canary.minor))
        os.mknod(root / "hostile/kvm", stat.S_IFCHR | 0o666, os.makedev(10, 232))
        os.mknod(root / "hostile/mem", stat.S_IFCHR | 0o666, os.makedev(1, 1))
        os.mknod(root / "dev/sda", stat.S_IFBLK | 0o660, os.makedev(8, 0))
        shutil.copy(root / "bin/busybox", root / "hostile/suid")
        os.chown(root / "hostile/suid", 0, 0)
        os.chmod(root / "hostile/suid", 0o4755)  # after chown, which clears setuid
    return change


@pytest.fixture(scope="module")
def hostile(canary: Canary, tmp_path_factory: pytest.TempPathFactory) -> imagebuild.OciImage:
    image = imagebuild.busybox_image(tmp_path_factory.mktemp("hostile"), "hostile", user="0")
    image.add_layer(_hostile_layer(canary), "mknod hostile/loop hostile/kvm hostile/mem dev/sda")
    return image


@pytest.fixture
def reachable(hardbox_root: Path) -> Iterator[Path]:
    """Where bundles go: like /tmp, searchable by everyone (runc opens the rootfs as the
    namespace's root), so only the bundle's own mode keeps ``nobody`` out."""
    path = Path(tempfile.mkdtemp(prefix="hardbox-attack-", dir="/tmp"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path)


def bundle(image: imagebuild.OciImage, dest: Path, profile: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    proc = hardbox("bundle", f"oci:{image.ref}", str(dest), "--profile", profile, "--", *cmd)
    assert proc.returncode == 0, proc.stderr
    return proc


def runc_run(state: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runc", "--root", str(state), "run", "-b", str(dest), f"hb-{uuid.uuid4().hex[:8]}"],
        capture_output=True, text=True, timeout=60, cwd=dest.parent,
    )


def _exec_in_grandchild(path: str) -> None:
    """execve ``path`` (as ``path true``) in a child; raise the OSError it failed with."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - replaced by the program, or exits with 100 + errno
        try:
            os.execv(path, [path, "true"])
        except OSError as err:
            os._exit(100 + (err.errno or 0))
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if status >= 100:
        raise OSError(status - 100, os.strerror(status - 100), path)


def as_nobody(probes: dict[str, tuple[str, str]]) -> dict[str, int]:
    """Run each probe (operation, path) in a child that is host user ``nobody`` with no
    groups; the errno each one failed with (0: it worked)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        results: dict[str, int] = {}
        try:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            for name, (op, path) in probes.items():
                try:
                    if op == "list":
                        os.listdir(path)
                    elif op == "read":
                        with open(path, "rb") as f:
                            f.read(1)
                    elif op == "stat":
                        os.stat(path)
                    elif op == "exec":
                        _exec_in_grandchild(path)
                    results[name] = 0
                except OSError as err:
                    results[name] = err.errno or -1
            os.write(write_fd, json.dumps(results).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return {k: int(v) for k, v in json.loads(out).items()}


def test_bundle_rootfs_has_no_device_node_and_lists_those_left_out(
    hostile: imagebuild.OciImage, canary: Canary, reachable: Path
) -> None:
    dest = reachable / "b"
    proc = bundle(hostile, dest, "strict", "/bin/true")
    nodes = [
        os.path.join(root, name) for root, dirs, files in os.walk(dest / "rootfs")
        for name in (*dirs, *files)
        if stat.S_ISBLK(os.lstat(os.path.join(root, name)).st_mode)
        or stat.S_ISCHR(os.lstat(os.path.join(root, name)).st_mode)
    ]
    assert nodes == []
    assert (dest / "rootfs/hostile/suid").stat().st_mode & 0o7777 == 0o4755  # the image keeps it
    note = json.loads((dest / "hardbox-bundle.json").read_text())
    left = {entry["path"]: entry for entry in note["left_out"]}
    assert {"/hostile/loop", "/hostile/kvm", "/hostile/mem", "/dev/sda"} <= set(left)
    assert f"{canary.major}:{canary.minor}" in left["/hostile/loop"]["reason"]
    assert "10:232" in left["/hostile/kvm"]["reason"]
    layers = {entry["layer"] for entry in note["left_out"]}
    assert len(layers) == 1 and layers.pop().startswith("sha256:")  # the mknod layer
    assert "hardbox-bundle.json" in proc.stderr


def test_bundle_is_0700_and_host_user_nobody_cannot_reach_into_it(
    hostile: imagebuild.OciImage, reachable: Path
) -> None:
    dest = reachable / "b"
    bundle(hostile, dest, "default", "/bin/true")
    config = json.loads((dest / "config.json").read_text())
    container_root = next(m["hostID"] for m in config["linux"]["uidMappings"] if m["containerID"] == 0)
    st = os.stat(dest)
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, container_root)
    rootfs = dest / "rootfs"
    failed = as_nobody({
        "list bundle": ("list", str(dest)),
        "read config.json": ("read", str(dest / "config.json")),
        "list rootfs": ("list", str(rootfs)),
        "stat busybox": ("stat", str(rootfs / "bin/busybox")),
        "read passwd": ("read", str(rootfs / "etc/passwd")),
        "exec setuid file": ("exec", str(rootfs / "hostile/suid")),
    })
    assert failed == dict.fromkeys(failed, errno.EACCES)
    # The same through a local user's shell. Not setpriv's own exec: it keeps root's
    # capabilities (PR_SET_KEEPCAPS) until its execve, so it may exec what nobody may not.
    for cmd in (f"ls {rootfs}", f"{rootfs}/hostile/suid id -u", f"cat {dest}/config.json"):
        proc = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "/bin/sh", "-c", cmd],
            capture_output=True, text=True, timeout=30,
        )
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, (cmd, proc.stderr)
        assert proc.stdout == ""


@pytest.mark.parametrize("profile", ["strict", "default"])
@pytest.mark.parametrize("user", ["0", "1000"])
def test_runc_runs_the_hostile_bundle_and_no_device_opens(
    hostile: imagebuild.OciImage, canary: Canary, reachable: Path, tmp_path: Path,
    profile: str, user: str,
) -> None:
    dest = reachable / "b"
    script = (
        "id -u; for d in /hostile/loop /hostile/kvm /hostile/mem /dev/sda; do "
        "dd if=$d of=/dev/null bs=512 count=1 2>/dev/null && echo \"$d opened\"; done; "
        "dd if=/dev/zero of=/hostile/loop bs=512 count=1 conv=notrunc 2>/dev/null; "
        "test -b /hostile/loop && echo still-a-device; echo done"
    )
    bundle(hostile, dest, profile, "/bin/sh", "-c", script)
    config = json.loads((dest / "config.json").read_text())
    config["process"]["user"] = {"uid": int(user), "gid": int(user)}
    (dest / "config.json").write_text(json.dumps(config))
    proc = runc_run(tmp_path / "runc-state", dest)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert lines[0] == user and lines[-1] == "done"  # the ordinary command ran
    assert "opened" not in proc.stdout and "still-a-device" not in proc.stdout
    assert canary.unchanged()


def test_the_device_allow_list_refuses_a_node_planted_in_the_rootfs(
    hostile: imagebuild.OciImage, canary: Canary, reachable: Path, tmp_path: Path
) -> None:
    """Defence in depth: should a node reach the rootfs anyway (planted by host root after
    the bundle was written), the config's device rules still refuse it to the container's
    root, while the allowed /dev/null works through a node planted the same way."""
    dest = reachable / "b"
    script = (
        "dd if=/planted/loop of=/dev/null bs=512 count=1; echo read=$?; "
        "dd if=/dev/zero of=/planted/loop bs=512 count=1 conv=notrunc; echo write=$?; "
        "head -c1 /planted/mem; echo mem=$?; echo x > /planted/null; echo null=$?"
    )
    bundle(hostile, dest, "default", "/bin/sh", "-c", script)
    config = json.loads((dest / "config.json").read_text())
    config["process"]["user"] = {"uid": 0, "gid": 0}
    (dest / "config.json").write_text(json.dumps(config))
    root = next(m["hostID"] for m in config["linux"]["uidMappings"] if m["containerID"] == 0)
    planted = dest / "rootfs/planted"
    planted.mkdir()
    for name, kind, major, minor in (("loop", stat.S_IFBLK, canary.major, canary.minor),
                                     ("mem", stat.S_IFCHR, 1, 1), ("null", stat.S_IFCHR, 1, 3)):
        os.mknod(planted / name, kind | 0o666, os.makedev(major, minor))
        os.chown(planted / name, root, root)
    proc = runc_run(tmp_path / "runc-state", dest)
    assert proc.returncode == 0, proc.stderr
    assert {"read=1", "write=1", "mem=1", "null=0"} <= set(proc.stdout.split()), proc.stdout
    assert "Operation not permitted" in proc.stderr  # EPERM: the device cgroup said no
    assert canary.unchanged()
