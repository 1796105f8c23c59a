"""Attacks on `hardbox run` from a hostile image and a careless caller (issue 18).

Each test builds the hostile image it needs from real parts (busybox-static, umoci) with
real device nodes, symlinks and FIFOs, imports it with the real CLI, and runs it under the
shipped profiles, as root and as a non-root user inside. Every one of these failed on the
runtime before issue 18: a device node from the image opened a host loop device from a
strict container, a volume over /proc/sys/kernel kept a full bounding set, a FIFO at
/etc/passwd hung hardbox, the caller's log file could be read back and truncated, …
The bundle + runc side is in test_attack_bundle.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import termios
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.hbrun import RunStore, build_probes, make_store
from helpers.imagebuild import OciImage, busybox_rootfs

pytestmark = pytest.mark.root

PROFILES = ("strict", "default")
USERS = ("0", "65534")


@pytest.fixture(scope="module")
def loop_device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A real host block device: a loop device over a canary file the container must not
    reach. Yields (device, canary); detached afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root: a loop device and real containers")
    canary = tmp_path_factory.mktemp("loop") / "canary.img"
    canary.write_bytes(b"CANARY-" * 9362)  # 64 KiB of a recognisable pattern
    device = subprocess.run(["losetup", "-f", "--show", str(canary)], capture_output=True, text=True)
    if device.returncode != 0:
        pytest.skip(f"no loop device on this host: {device.stderr.strip()}")
    path = Path(device.stdout.strip())
    try:
        yield path, canary
    finally:
        subprocess.run(["losetup", "-d", str(path)], check=False)


def _device_nodes(loop: Path) -> dict[str, tuple[int, int]]:
    rdev = os.stat(loop).st_rdev
    return {
        # Outside /dev: the container's own /dev is a tmpfs that would hide the image's.
        "srv/dev/hostloop": (stat.S_IFBLK, rdev),
        "srv/dev/kvm": (stat.S_IFCHR, os.makedev(10, 232)),
        "srv/dev/loop-control": (stat.S_IFCHR, os.makedev(10, 237)),
        "srv/dev/mem": (stat.S_IFCHR, os.makedev(1, 1)),
    }


def _hostile(workdir: Path, tag: str, change: Callable[[Path], object]) -> OciImage:
    image = OciImage(workdir / "layout", tag)
    image.add_rootfs(busybox_rootfs(workdir / f"rootfs-{tag}"), "COPY busybox-static /")
    image.add_layer(change, f"RUN hostile {tag}")
    image.configure("--config.cmd=/bin/sh", "--config.workingdir=/")
    return image


@pytest.fixture(scope="module")
def store(busybox_layout, loop_device, tmp_path_factory) -> RunStore:
    base = make_store(tmp_path_factory.mktemp("attack") / "store", busybox_layout.ref)
    work = tmp_path_factory.mktemp("hostile")
    os.chmod(work, 0o755)

    def devices(root: Path) -> None:
        for name, (kind, rdev) in _device_nodes(loop_device[0]).items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            os.mknod(root / name, kind | 0o666, rdev)

    def fifo_passwd(root: Path) -> None:
        (root / "etc/passwd").unlink()
        os.mkfifo(root / "etc/passwd", 0o644)

    def proc_link(root: Path) -> None:
        os.symlink("/proc/sys/kernel", root / "kernelconf")

    for tag, change in (("devices", devices), ("fifo", fifo_passwd), ("proclink", proc_link)):
        image = _hostile(work, tag, change)
        proc = base.hardbox("image", "import", image.ref, "--tag", f"hostile:{tag}")
        assert proc.returncode == 0, proc.stderr
    return base


_OPEN_EVERY_NODE = """
for d in /srv/dev/hostloop /srv/dev/kvm /srv/dev/loop-control /srv/dev/mem; do
    { [ -b $d ] || [ -c $d ]; } && echo "$d IS-A-NODE"
    [ -e $d ] || continue
    dd if=$d of=/dev/null bs=512 count=1 2>/dev/null && echo "$d READ"
    echo pwned | dd of=$d bs=512 count=1 conv=notrunc 2>/dev/null && echo "$d WROTE"
done
echo finished
"""


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("user", USERS)
def test_image_device_nodes_open_nothing(store, loop_device, profile, user):
    _, canary = loop_device
    before = canary.read_bytes()
    proc = store.hardbox("run", "--rm", "--profile", profile, "--user", user, "hostile:devices",
                         "sh", "-c", _OPEN_EVERY_NODE)
    assert proc.returncode == 0, proc.stderr
    assert "finished" in proc.stdout
    assert "READ" not in proc.stdout and "WROTE" not in proc.stdout, proc.stdout
    assert "IS-A-NODE" not in proc.stdout  # the store holds none of them
    assert canary.read_bytes() == before


def test_import_records_the_nodes_and_creates_none(store, loop_device):
    records = [json_load(p) for p in (store.root / "layers").glob("*.json")]
    shipped = {d["name"]: (d["kind"], d["major"], d["minor"]) for r in records for d in r.get("devices", [])}
    rdev = os.stat(loop_device[0]).st_rdev
    assert shipped == {
        "srv/dev/hostloop": ("b", os.major(rdev), os.minor(rdev)),
        "srv/dev/kvm": ("c", 10, 232), "srv/dev/loop-control": ("c", 10, 237), "srv/dev/mem": ("c", 1, 1),
    }
    nodes = [p for p in (store.root / "layers").rglob("*")
             if (p.is_block_device() or p.is_char_device()) and os.lstat(p).st_rdev != 0]
    assert nodes == []  # whiteouts (0/0) are the only nodes in the store


def json_load(path: Path) -> dict[str, object]:
    import json

    return json.loads(path.read_text())  # type: ignore[no-any-return]


@pytest.fixture
def planted_nodes(store, loop_device) -> Iterator[None]:
    """A store written before issue 18 (or tampered with) holds working device nodes in a
    layer: planted here straight into the busybox image's layer directory. The mount's
    nodev and the device allow-list must each stop them."""
    layer = _layer_dir(store, "bbtest")
    planted = []
    try:
        for name, (kind, rdev) in _device_nodes(loop_device[0]).items():
            target = layer / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.mknod(target, kind | 0o666, rdev)
            planted.append(target)
        yield
    finally:
        for target in planted:
            target.unlink()
        (layer / "srv/dev").rmdir()


def _layer_dir(store: RunStore, ref: str) -> Path:
    import json

    info = json.loads(store.hardbox("image", "inspect", "--json", ref).stdout)
    return store.root / "layers" / info["layers"][-1]["diff_id"].split(":")[1]


@pytest.mark.parametrize("profile", PROFILES)
def test_working_nodes_in_the_store_open_nothing(store, loop_device, planted_nodes, profile):
    _, canary = loop_device
    before = canary.read_bytes()
    proc = store.hardbox("run", "--rm", "--profile", profile, "bbtest", "sh", "-c",
                         _OPEN_EVERY_NODE + "grep ' / / ' /proc/self/mountinfo")
    assert proc.returncode == 0, proc.stderr
    assert "READ" not in proc.stdout and "WROTE" not in proc.stdout, proc.stdout
    root_mount = proc.stdout.splitlines()[-1]
    assert "nodev" in root_mount.split()[5].split(","), root_mount
    assert canary.read_bytes() == before


# -- stdio --------------------------------------------------------------------------------


def test_an_appended_log_file_cannot_be_read_back_or_truncated(store, tmp_path):
    log = tmp_path / "host.log"
    log.write_text("EARLIER LINES\n")
    script = "readlink /proc/self/fd/1; echo from-container; (: > /proc/self/fd/1) 2>/dev/null; echo after-truncate"
    with log.open("a") as out:
        proc = subprocess.run([sys.executable, "-m", "hardbox", "run", "--rm", "--profile", "strict",
                               "bbtest", "sh", "-c", script],
                              stdout=out, stderr=subprocess.PIPE, text=True, env=store.env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = log.read_text()
    assert text.startswith("EARLIER LINES\n"), text  # not truncated
    assert str(tmp_path) not in text and "pipe:[" in text  # the container saw a pipe, not the file
    assert "from-container" in text and "after-truncate" in text


def test_the_callers_terminal_modes_survive_the_container(store):
    """Without -t, a terminal on stdin/stdout reaches the container as pipes: its
    ``stty -echo`` cannot turn off echo on the caller's terminal."""
    master, slave = os.openpty()
    try:
        assert termios.tcgetattr(slave)[3] & termios.ECHO
        proc = subprocess.run([sys.executable, "-m", "hardbox", "run", "--rm", "-i", "bbtest", "sh", "-c",
                               "stty -echo; [ -t 0 ] && echo stdin-is-a-terminal; echo ran"],
                              stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=store.env(), timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert termios.tcgetattr(slave)[3] & termios.ECHO, "the container turned off the caller's echo"
        out = os.read(master, 65536).decode(errors="replace")
        assert "ran" in out and "stdin-is-a-terminal" not in out
    finally:
        os.close(master)
        os.close(slave)


# -- volumes, kernel facts ------------------------------------------------------------------


def test_a_volume_through_an_image_symlink_into_proc_is_refused(store, tmp_path):
    (tmp_path / "cap_last_cap").write_text("0\n")
    proc = store.hardbox("run", "--rm", "--profile", "strict", "-v", f"{tmp_path}:/kernelconf",
                         "hostile:proclink", "grep", "CapBnd", "/proc/self/status")
    assert proc.returncode == 125, proc.stdout
    assert "/proc/sys/kernel" in proc.stderr and "inside /proc" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("target", ["/proc/sys/kernel", "/sys/fs", "/dev/shm", "/proc"])
def test_a_volume_over_kernel_trees_is_refused(store, tmp_path, target):
    proc = store.hardbox("run", "--rm", "-v", f"{tmp_path}:{target}", "bbtest", "true")
    assert proc.returncode == 125
    assert target in proc.stderr and "cannot be mounted over /proc, /sys or /dev" in proc.stderr


def test_strict_bounding_set_is_empty_whatever_the_volumes(store, tmp_path):
    proc = store.hardbox("run", "--rm", "--profile", "strict", "-v", f"{tmp_path}:/data",
                         "bbtest", "grep", "CapBnd", "/proc/self/status")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[1] == "0000000000000000"


# -- image files hardbox reads ------------------------------------------------------------


def test_a_fifo_at_etc_passwd_is_refused_not_waited_on(store):
    proc = store.hardbox("run", "--rm", "--user", "nobody", "hostile:fifo", "true", timeout=30)
    assert proc.returncode == 125
    assert proc.stderr.strip() == "hardbox: /etc/passwd of the image is not a regular file"
    assert store.containers() == []


# -- what PID 1 shows ---------------------------------------------------------------------


def test_init_shows_no_host_command_line_or_environment(store, tmp_path):
    script = "tr '\\0' '|' < /proc/1/cmdline; echo; cat /proc/1/environ >/dev/null 2>&1 && echo ENVIRON-READ; echo end"
    proc = store.hardbox("run", "--rm", "--init", "-e", "TOKEN=s3cr3t", "-v", f"{tmp_path}:/data",
                         "bbtest", "sh", "-c", script,
                         env=store.env(HARDBOX_CANARY="host-env-canary"))
    assert proc.returncode == 0, proc.stderr
    cmdline = proc.stdout.splitlines()[0]
    assert cmdline.rstrip("|") == "hardbox-init", cmdline
    for leak in (str(tmp_path), "s3cr3t", sys.prefix, "-m|hardbox"):
        assert leak not in proc.stdout
    assert "ENVIRON-READ" not in proc.stdout


# -- host network, capabilities, 32-bit syscalls ------------------------------------------


def test_host_network_hides_the_host_cgroup_tree(store):
    proc = store.hardbox("run", "--rm", "--profile", "default", "--network", "host", "bbtest", "sh", "-c",
                         "ls -A /sys/fs/cgroup | wc -l; ls /sys/class/net | grep -c . ")
    assert proc.returncode == 0, proc.stderr
    cgroup_entries, interfaces = proc.stdout.split()
    assert cgroup_entries == "0"
    assert int(interfaces) >= 1  # the host's network, as asked: its interfaces show


def test_cap_add_sys_admin_is_refused_while_paths_are_masked(store):
    proc = store.hardbox("run", "--rm", "--cap-add", "SYS_ADMIN", "bbtest", "true")
    assert proc.returncode == 125
    assert "CAP_SYS_ADMIN" in proc.stderr and "masked_paths: []" in proc.stderr


def test_sys_admin_with_the_masks_given_up_in_a_profile_runs(store, tmp_path):
    profile = tmp_path / "admin.yaml"
    profile.write_text("extends: default\ncapabilities: [CAP_SYS_ADMIN]\nmasked_paths: []\nreadonly_paths: []\n")
    proc = store.hardbox("run", "--rm", "--profile", str(profile), "bbtest", "true")
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-probes")
    os.chmod(base, 0o755)
    return build_probes(base / "bin")


def test_the_probe_opens_a_vsock_socket_through_32bit_socketcall_on_the_host(probes):
    """Control: unfiltered, the 32-bit socketcall reaches the kernel (a socket, or an
    errno if vsock is absent) — so the kill below is the filter's doing."""
    out = subprocess.run([str(probes / "socketcall32")], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.startswith("socketcall32 ")


@pytest.mark.parametrize("profile", PROFILES)
def test_32bit_socketcall_is_killed(store, probes, profile):
    proc = store.hardbox("run", "--rm", "--profile", profile, "-v", f"{probes}:/probe:ro",
                         "bbtest", "/probe/socketcall32")
    assert proc.returncode == 128 + 31, (proc.returncode, proc.stdout, proc.stderr)  # SIGSYS
    assert "socketcall32" not in proc.stdout


def test_the_scan_reports_each_shipped_node_with_its_layer(store, loop_device, tmp_path):
    import json

    out = tmp_path / "scan.json"
    proc = store.hardbox("scan", "hostile:devices", "--json", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    found = {f["path"]: f for f in report["findings"] if f["id"] == "HB-FILE-009"}
    assert set(found) == {"/srv/dev/hostloop", "/srv/dev/kvm", "/srv/dev/loop-control", "/srv/dev/mem"}
    rdev = os.stat(loop_device[0]).st_rdev
    assert found["/srv/dev/hostloop"]["detail"].startswith(f"b {os.major(rdev)}:{os.minor(rdev)}, mode 0644")  # mknod under umask 022
    assert {f["severity"] for f in found.values()} == {"high"}
    assert {f["layer_created_by"] for f in found.values()} == {"RUN hostile devices"}
