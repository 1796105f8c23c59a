"""A throwaway qemu VM with pure cgroup v2, for testing hardbox's v2 limits on any host.

On a host whose cgroups are v1 or hybrid (this project's CI machines) the unified tree
holds no memory/pids/cpu controllers, so the v2 limits cannot be exercised there. ``boot``
starts Debian 12's own kernel (fetched with ``apt-get download``, never installed on the
host) with an initramfs built here: busybox loads the 9p, virtio and ext4 modules, mounts the host's
``/`` read-only over 9p as the VM's root (the checkout, its .venv and the host's tools with
it), gives it writable tmpfs and an empty ext4 disk at ``DISK`` (the host's ``/tmp`` stays
visible, read-only: the checkout under test may live there), mounts
cgroup2 alone at /sys/fs/cgroup and runs a job script as PID 1. The job's output goes to a
host directory shared read-write over a second 9p mount; the VM powers itself off.

The ``test_guest_*`` functions below run *inside* that VM (test_cgroup_v2_vm.py passes this
file to the guest's pytest by path; pytest collects it only then, its name not being
``test_*.py``): ``hardbox run`` end to end under real v2 limits, on a 6.1 kernel.
"""

from __future__ import annotations

import gzip
import lzma
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers import imagebuild

if TYPE_CHECKING:
    from subprocess import CompletedProcess

    from helpers.hbrun import RunStore

CACHE = imagebuild.CACHE / "vm"
KERNEL_PACKAGE = "linux-image-amd64"  # the cloud flavour has no 9p (CONFIG_NET_9P unset)
QEMU = "qemu-system-x86_64"
GUEST_ENV = "HARDBOX_IN_CGROUP2_VM"  # set in the guest: the test_guest_* functions need it
# Loaded in this order, each after its own dependencies (read from the module's .modinfo).
# crc32c_generic is only a soft dependency of ext4 ("pre: crypto-crc32c"), which nothing
# here would load on demand: no modprobe in the initramfs and no modules dir on the host.
MODULES = ("virtio_pci", "virtio_blk", "9pnet_virtio", "9p", "overlay", "crc32c_generic", "ext4")
MODULE_DIRS = ("drivers/virtio", "drivers/block", "net/9p", "fs/9p", "fs/netfs", "fs/fscache",
               "fs/overlayfs", "fs/ext4", "fs/jbd2", "fs/mbcache.ko", "lib", "crypto")


@dataclass(frozen=True)
class Kernel:
    vmlinuz: Path
    modules: tuple[Path, ...]  # uncompressed .ko files, in load order


def run(*cmd: str | os.PathLike[str], **kw: object) -> str:
    return imagebuild.run(cmd, **kw).stdout


def debian_kernel() -> Kernel:
    """Debian's current kernel for this release, unpacked (not installed) in ``CACHE``."""
    # The metapackage only depends on the versioned package that holds the image.
    deps = run("apt-cache", "depends", KERNEL_PACKAGE)
    match = re.search(r"Depends: (linux-image-[0-9][^\s]*)", deps)
    if match is None:
        raise RuntimeError(f"apt-cache depends {KERNEL_PACKAGE}: no linux-image package in {deps!r}")
    package = match.group(1)
    target = CACHE / package
    if not (target / "complete").exists():
        partial = CACHE / f"{package}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        run("apt-get", "download", "-q", package, cwd=partial, timeout=600)
        [deb] = partial.glob("*.deb")
        # Only the image and the module folders we need: the whole package is 400 MB unpacked.
        patterns = ["./boot/vmlinuz-*", "./lib/modules/*/modules.builtin",
                    *(f"./lib/modules/*/kernel/{d}*" for d in MODULE_DIRS)]
        data = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
        tar = subprocess.run(["tar", "-x", "-C", partial, "--wildcards", *patterns],
                             stdin=data.stdout, capture_output=True, text=True)
        if data.wait() != 0 or tar.returncode != 0:
            raise RuntimeError(f"unpacking {deb} failed: {tar.stderr.strip()}")
        deb.unlink()
        (partial / "complete").write_text(package + "\n")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)  # never a half-unpacked kernel under the final name
    [vmlinuz] = (target / "boot").glob("vmlinuz-*")
    return Kernel(vmlinuz, load_order(target, MODULES))


def load_order(tree: Path, wanted: Iterable[str]) -> tuple[Path, ...]:
    """``wanted`` and their dependencies, dependencies first; built-in ones left out."""
    [moddir] = (tree / "lib/modules").iterdir()
    builtin = {_name(Path(line)) for line in (moddir / "modules.builtin").read_text().split()}
    found = {_name(p): p for p in moddir.rglob("*.ko*")}
    order: list[Path] = []

    def visit(name: str) -> None:
        if name in builtin or found.get(name) in order:
            return
        if name not in found:
            raise RuntimeError(f"kernel module {name} is neither built in nor under {moddir}")
        ko = _uncompressed(found[name])
        depends = re.search(rb"depends=([^\0]*)", ko.read_bytes())
        for dep in (depends.group(1).decode().split(",") if depends else []):
            if dep:
                visit(dep.replace("-", "_"))
        order.append(found[name])

    for name in wanted:
        visit(name)
    return tuple(_uncompressed(p) for p in order)


def _name(path: Path) -> str:
    return path.name.split(".ko")[0].replace("-", "_")


def _uncompressed(path: Path) -> Path:
    # Newer Debian kernels ship .ko.xz, which busybox's insmod cannot read.
    if path.suffix != ".xz":
        return path
    plain = path.with_suffix("")
    if not plain.exists():
        plain.write_bytes(lzma.decompress(path.read_bytes()))
    return plain


# PID 1 of the VM until switch_root; then the job script (on the shared folder) is PID 1.
INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /newroot
mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t devtmpfs devtmpfs /dev
for m in /lib/modules/*.ko; do insmod "$m" || echo "init: insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /newroot
# tmpfs for what the host root would be written through; an ext4 disk at /run/disk for
# TMPDIR, pytest's base temp and hardbox's stores (tmpfs takes idmapped mounts only from
# Linux 6.3). The host's /tmp is not covered: the checkout under test may live there.
for d in run var/tmp; do mount -t tmpfs -o mode=755 tmpfs "/newroot/$d"; done
mkdir -p /newroot/run/disk && mount -t ext4 /dev/vda /newroot/run/disk && chmod 1777 /newroot/run/disk
mkdir -p /newroot/run/out /newroot/run/lock
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 hostout /newroot/run/out
for d in proc sys dev; do mount --move "/$d" "/newroot/$d"; done
mkdir -p /newroot/dev/pts && mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mkdir -p /newroot/dev/shm && mount -t tmpfs tmpfs /newroot/dev/shm
# Pure cgroup v2: nothing mounts a v1 hierarchy, and cgroup_no_v1=all says so to the kernel.
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup
exec switch_root /newroot /bin/busybox sh /run/out/job.sh
"""


def initramfs(kernel: Kernel, dest: Path) -> Path:
    """A gzipped newc cpio: busybox-static, the modules (numbered in load order), /init."""
    entries: list[tuple[str, int, bytes]] = [
        (".", 0o040755, b""), ("bin", 0o040755, b""), ("lib", 0o040755, b""),
        ("lib/modules", 0o040755, b""),
        ("bin/busybox", 0o100755, imagebuild.BUSYBOX.read_bytes()),
        ("init", 0o100755, INIT.encode()),
    ]
    for i, ko in enumerate(kernel.modules):
        entries.append((f"lib/modules/{i:02d}-{ko.name}", 0o100644, ko.read_bytes()))
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        out += _newc(ino, name, mode, data)
    dest.write_bytes(gzip.compress(bytes(out), compresslevel=1))
    return dest


def _newc(ino: int, name: str, mode: int, data: bytes) -> bytes:
    # "new ASCII" cpio, the format the kernel unpacks (Documentation/driver-api/early-userspace).
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0)
    header = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
    return _pad(header) + _pad(data)


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def accelerator() -> tuple[str, str]:
    """("kvm" or "tcg", why). KVM needs the CPU's own virtualization (vmx/svm) to run a stock
    kernel at speed: a software KVM such as kvm_pvm (this machine's) runs only kernels built
    as PVM guests and crawls through any other, so TCG is faster there."""
    forced = os.environ.get("HARDBOX_VM_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced, f"HARDBOX_VM_ACCEL={forced}"
    flags = set(re.findall(r"^flags\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.M)[0].split())
    if not flags & {"vmx", "svm"}:
        kind = " (kvm_pvm)" if Path("/sys/module/kvm_pvm").exists() else ""
        return "tcg", f"/dev/kvm{kind} without hardware virtualization: the CPU has no vmx/svm flag"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "/dev/kvm is not readable and writable"
    return "kvm", "hardware virtualization"


@dataclass(frozen=True)
class Result:
    returncode: int | None  # the job's exit status; None when it never wrote one
    output: str  # what the job wrote to out/output.log
    console: str  # the serial console: the kernel's log and init's messages
    accel: str


def boot(job: str, workdir: Path, *, timeout: float, memory_mib: int = 1536, cpus: int = 2,
         disk_gib: int = 4) -> Result:
    """Run ``job`` (a shell script, as root, cwd /) in the VM; its stdout+stderr is
    ``Result.output``. ``workdir`` receives the initramfs and the disk; ``workdir/out`` is the
    folder shared read-write (``/run/out`` in the guest), which the caller may fill first."""
    kernel = debian_kernel()
    out = workdir / "out"
    out.mkdir(exist_ok=True)
    (out / "job.sh").write_text(
        "exec >/run/out/output.log 2>&1\n"
        f"(\n{job}\n)\n"  # a subshell: an ``exit`` in the job still reaches the status line
        "echo $? > /run/out/status.tmp && mv /run/out/status.tmp /run/out/status\n"
        "sync; /bin/busybox poweroff -f\n"
    )
    disk = workdir / "tmp.ext4"
    with disk.open("wb") as fh:
        fh.truncate(disk_gib << 30)  # sparse: only what the guest writes takes host space
    run("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", disk)
    accel, _why = accelerator()
    cmd = [
        QEMU, "-accel", "kvm" if accel == "kvm" else "tcg,thread=multi",
        "-cpu", "host" if accel == "kvm" else "max",
        "-m", str(memory_mib), "-smp", str(cpus), "-nic", "none", "-no-reboot",
        "-display", "none", "-monitor", "none", "-serial", "stdio",
        "-kernel", str(kernel.vmlinuz), "-initrd", str(initramfs(kernel, workdir / "initramfs.gz")),
        "-append", "console=ttyS0 quiet panic=-1 cgroup_no_v1=all",
        "-fsdev", "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=root,mount_tag=hostroot",
        "-fsdev", f"local,id=out,path={out},security_model=none,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=out,mount_tag=hostout",
        "-drive", f"file={disk},if=virtio,format=raw,cache=unsafe",
    ]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        console = (proc.stdout + proc.stderr).decode(errors="replace")
    except subprocess.TimeoutExpired as err:  # subprocess.run has killed qemu
        console = ((err.stdout or b"") + (err.stderr or b"")).decode(errors="replace")
        console += f"\n[qemu killed after {timeout:.0f} s]"
    status = out / "status"
    log = out / "output.log"
    return Result(
        int(status.read_text()) if status.exists() else None,
        log.read_text(errors="replace") if log.exists() else "",
        console,
        accel,
    )


# --- run inside the VM ------------------------------------------------------------------
# The shared folder (/run/out) holds what the host prepared before boot: the busybox image
# (``image/``, built by umoci there) and hardbox's cache of compiled seccomp filters and
# parsed profiles (``cache/``, keyed by content: the same bytes the guest would make, in
# seconds instead of the minute each that libseccomp takes under TCG).
SHARE = Path("/run/out")
DISK = Path("/run/disk")  # the guest's writable ext4: TMPDIR, pytest's base temp


@pytest.fixture(scope="module")
def guest_store(tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    if os.environ.get(GUEST_ENV) != "1":
        pytest.skip("runs only inside the cgroup v2 VM (test_cgroup_v2_vm.py boots it)")
    from helpers.hbrun import make_store

    store = make_store(tmp_path_factory.mktemp("guest") / "store", f"{SHARE}/image:latest")
    shutil.copytree(SHARE / "cache", store.root / "cache", dirs_exist_ok=True)
    return store


# A profile whose container root is host root with CAP_MKNOD: the device allow-list is
# then all that stands between a node the container makes and the device (the host
# compiles its seccomp filter for the guest, test_cgroup_v2_vm.share_for_guest).
MKNOD_PROFILE = "extends: default\nuser_namespace: false\ncapabilities: [CAP_MKNOD, CAP_DAC_OVERRIDE]\n"


def hardbox_in_guest(store: RunStore, *args: str, **env: str) -> CompletedProcess[str]:
    # Linux 6.1 has no fd-taking lowerdir+: layers go to overlayfs by path. Pinned here so
    # the limits are tested apart from the auto-mode fallback (see the overlay test below).
    return store.hardbox(*args, env=store.env(**{"HARDBOX_OVERLAY_MODE": "paths", **env}))


def test_guest_is_pure_cgroup_v2(guest_store: RunStore) -> None:
    from hardbox.runtime.cgroups import open_manager
    from hardbox.runtime.cgroups.base import detect_version

    assert detect_version() == 2 and open_manager().version == 2
    assert {"memory", "pids", "cpu"} <= set(Path("/sys/fs/cgroup/cgroup.controllers").read_text().split())


def test_guest_pids_limit_stops_a_fork_bomb(guest_store: RunStore) -> None:
    # Every fork adds a sleeper that outlives the loop; ash gives up at the first refusal.
    proc = hardbox_in_guest(guest_store, "run", "--rm", "--profile", "strict", "--pids-limit", "8",
                            "bbtest", "sh", "-c", "for i in $(seq 64); do sleep 60 & echo forked $i; done")
    assert "can't fork" in proc.stderr, proc.stderr
    forked = [int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("forked")]
    # pids.max counts the shell too: 7 sleepers fit, the 8th fork is refused.
    assert forked == list(range(1, 8)), proc.stdout


def test_guest_memory_hog_is_oom_killed_and_reported(guest_store: RunStore) -> None:
    proc = hardbox_in_guest(guest_store, "run", "--rm", "--profile", "strict", "--memory", "32m",
                            "bbtest", "sh", "-c", 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived')
    assert proc.returncode == 137, proc.stderr
    assert "survived" not in proc.stdout
    assert "killed by the OOM killer" in proc.stderr


def test_guest_overlay_fd_mode_refuses_before_6_13(guest_store: RunStore) -> None:
    proc = hardbox_in_guest(guest_store, "run", "--rm", "bbtest", "true", HARDBOX_OVERLAY_MODE="fd")
    assert proc.returncode == 125 and "lowerdir+" in proc.stderr, proc.stderr


def test_guest_overlay_auto_mode_falls_back_to_paths(guest_store: RunStore) -> None:
    """Linux 6.1's overlayfs is on the legacy mount API: fsconfig answers EOPNOTSUPP to a
    layer by fd, and ``auto`` takes the staged-paths route (runtime/overlay.py)."""
    proc = guest_store.hardbox("run", "--rm", "bbtest", "sh", "-c", "cat /etc/passwd; grep ' / / ' /proc/self/mountinfo",
                               env=guest_store.env(HARDBOX_OVERLAY_MODE="auto"))
    assert proc.returncode == 0 and "root:x:0:0" in proc.stdout, proc.stderr
    assert "lowerdir=" in proc.stdout and "lowerdir+=" not in proc.stdout, proc.stdout


def _in_cgroup(cgroup: Path, *argv: str) -> list[str]:
    """``argv`` started inside ``cgroup`` (the way systemd-run --scope starts a command)."""
    return ["sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "sh", *argv]


def test_guest_a_delegated_cgroup_gets_limits_through_the_supervisor_leaf(guest_store: RunStore) -> None:
    """hardbox alone in a non-root cgroup (a `systemd-run --scope -p Delegate=yes` scope)
    moves itself into ``hardbox-supervisor`` so that its cgroup may hand controllers to the
    container's: the limits apply, as from the root cgroup."""
    scope = Path("/sys/fs/cgroup") / f"hb-{os.getpid()}.scope"
    scope.mkdir()
    try:
        proc = subprocess.run(
            _in_cgroup(scope, sys.executable, "-m", "hardbox", "run", "--rm", "--profile", "strict",
                       "--pids-limit", "8", "bbtest", "sh", "-c",
                       "for i in $(seq 64); do sleep 60 & echo forked $i; done"),
            capture_output=True, text=True, timeout=600,
            env=guest_store.env(HARDBOX_OVERLAY_MODE="paths"))
        assert "can't fork" in proc.stderr, proc.stderr
        assert "skipped: cgroup" not in proc.stderr, proc.stderr
        assert (scope / "hardbox-supervisor").is_dir()
        assert {"pids", "memory", "cpu"} <= set((scope / "cgroup.subtree_control").read_text().split())
        assert not list(scope.glob("hardbox-[0-9a-f]*"))  # the container's cgroup went with it
    finally:
        for leaf in sorted(scope.glob("hardbox-*"), reverse=True):
            leaf.rmdir()
        scope.rmdir()


def test_guest_a_shared_cgroup_is_reported_not_half_used(guest_store: RunStore) -> None:
    """A cgroup hardbox shares with another process (a login shell's session) cannot take
    controllers: the shipped profiles' limits are if-available, so the run goes on without
    them and says why, naming the way out."""
    scope = Path("/sys/fs/cgroup") / f"hb-shared-{os.getpid()}.scope"
    scope.mkdir()
    neighbour = subprocess.Popen(_in_cgroup(scope, "sleep", "600"))
    try:
        for _ in range(600):  # the neighbour is in once its pid shows
            if (scope / "cgroup.procs").read_text().split():
                break
            time.sleep(0.05)
        proc = subprocess.run(
            _in_cgroup(scope, sys.executable, "-m", "hardbox", "run", "--rm", "--profile", "strict",
                       "bbtest", "true"),
            capture_output=True, text=True, timeout=600, env=guest_store.env(HARDBOX_OVERLAY_MODE="paths"))
        assert proc.returncode == 0, proc.stderr
        assert "skipped: cgroup limits:" in proc.stderr and "other process" in proc.stderr, proc.stderr
        assert "systemd-run --scope -p Delegate=yes" in proc.stderr
        assert not (scope / "hardbox-supervisor").exists()
    finally:
        neighbour.kill()
        neighbour.wait()
        scope.rmdir()


def test_guest_the_bpf_device_program_stops_a_node_made_in_the_container(guest_store: RunStore) -> None:
    """cgroup v2 has no devices controller: the container's cgroup gets hardbox's BPF device
    program. A node the container makes in /dev (a tmpfs without nodev) for loop-control or
    loop0 answers EPERM; one for /dev/null's 1:3 works."""
    script = ("mknod /dev/lc c 10 237 && mknod /dev/l0 b 7 0 && mknod /dev/n2 c 1 3 && echo made; "
              "head -c0 /dev/lc && echo loop-control-opened; head -c0 /dev/l0 && echo loop0-opened; "
              "echo x > /dev/n2 && echo null-written; cat /proc/self/cgroup")
    profile = (SHARE / "mknod.path").read_text()  # the host's path: a profile cache hit
    proc = hardbox_in_guest(guest_store, "run", "--rm", "--profile", profile, "--user", "0",
                            "bbtest", "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:2] == ["made", "null-written"], proc.stdout + proc.stderr
    assert proc.stderr.count("Operation not permitted") == 2, proc.stderr
    assert "skipped: devices" not in proc.stderr
