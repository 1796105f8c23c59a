"""`hardbox bundle` writes an OCI bundle that Debian's runc starts with the profile's
hardening, asserted from inside the container (/proc/self/status) and from the host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import imagebuild
from helpers.cli import hardbox, need_root, need_tool

pytestmark = [pytest.mark.root, pytest.mark.slow]


def status_fields(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def make_bundle(layout: imagebuild.OciImage, dest: Path, profile: str, *cmd: str) -> dict:
    proc = hardbox("bundle", f"oci:{layout.ref}", str(dest), "--profile", profile, "--", *cmd)
    assert proc.returncode == 0, proc.stderr
    return json.loads((dest / "config.json").read_text())


def runc(tmp_path: Path, *args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runc", "--root", str(tmp_path / "runc-state"), *args],
        capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
    )


@pytest.fixture
def ready(hardbox_root: Path) -> None:
    need_root()
    need_tool("runc", "umoci")


@pytest.fixture
def reachable(tmp_path: Path) -> Iterator[Path]:
    """A directory the user namespace's root can traverse (pytest's tmp is 0700, and runc
    opens the rootfs as that unprivileged host uid)."""
    path = Path(tempfile.mkdtemp(prefix="hardbox-bundle-", dir="/tmp"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path)


def test_strict_bundle_runs_under_runc_hardened(
    ready: None, busybox_layout: imagebuild.OciImage, tmp_path: Path, reachable: Path
) -> None:
    bundle = reachable / "bb"
    config = make_bundle(busybox_layout, bundle, "strict", "/bin/sh", "-c",
                         "cat /proc/self/status; cat /proc/self/uid_map; touch /rootfs-is-ro; echo touch=$?; ls /sys/class/net")
    assert config["process"]["noNewPrivileges"] is True
    assert all(config["process"]["capabilities"][s] == [] for s in ("bounding", "effective", "permitted"))
    assert config["root"] == {"path": "rootfs", "readonly": True}
    proc = runc(tmp_path, "run", "-b", str(bundle), f"hb-{uuid.uuid4().hex[:8]}")
    assert proc.returncode == 0, proc.stderr
    status = status_fields(proc.stdout)
    assert status["CapEff"] == "0000000000000000" and status["CapBnd"] == "0000000000000000"
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"
    assert status["Uid"].split()[0] == "1000"  # the image's User
    # uid_map: container 0 is an unprivileged host uid, never host root.
    uid_line = next(line for line in proc.stdout.splitlines() if line.split()[:1] == ["0"])
    assert int(uid_line.split()[1]) > 0
    assert "touch=1" in proc.stdout  # read-only root
    assert proc.stdout.strip().splitlines()[-1] == "lo"  # network none: only loopback


def test_default_bundle_keeps_docker_minus_three_capabilities(
    ready: None, busybox_layout: imagebuild.OciImage, tmp_path: Path, reachable: Path
) -> None:
    bundle = reachable / "bb"
    make_bundle(busybox_layout, bundle, "default", "/bin/cat", "/proc/self/status")
    # The image runs as uid 1000: run the probe as root in the container to see the caps.
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["user"] = {"uid": 0, "gid": 0}
    (bundle / "config.json").write_text(json.dumps(config))
    proc = runc(tmp_path, "run", "-b", str(bundle), f"hb-{uuid.uuid4().hex[:8]}")
    assert proc.returncode == 0, proc.stderr
    eff = int(status_fields(proc.stdout)["CapEff"], 16)
    cap_net_raw, cap_mknod, cap_audit_write, cap_chown, cap_kill = 13, 27, 29, 0, 5
    assert eff & (1 << cap_chown) and eff & (1 << cap_kill)
    assert not eff & ((1 << cap_net_raw) | (1 << cap_mknod) | (1 << cap_audit_write))
    assert status_fields(proc.stdout)["Seccomp"] == "2"


def mount_table(mountinfo: str) -> dict[str, tuple[str, frozenset[str]]]:
    """{mount point: (filesystem type, the hardening flags of that mount)}."""
    table = {}
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        table[fields[4]] = (right.split()[0], frozenset(fields[5].split(",")) & {"ro", "nosuid", "nodev", "noexec"})
    return table


@pytest.mark.parametrize("profile", ["strict", "default", "host-network"])
def test_bundle_mounts_what_hardbox_run_mounts(
    ready: None, busybox_layout: imagebuild.OciImage, tmp_path: Path, reachable: Path, profile: str
) -> None:
    """The same mount points under runc as under `hardbox run` (issue 18: the bundle had a
    /dev/mqueue and an executable /dev), and the config's mounts with the same flags; with
    the host's network, the host's /sys with its cgroup tree masked, in both."""
    if profile == "host-network":
        path = tmp_path / "host-network.yaml"
        path.write_text("extends: default\nnetwork: host\n")
        profile = str(path)
    hardbox("image", "import", busybox_layout.ref, "--tag", "bbmounts", check=True)
    ran = hardbox("run", "--rm", "--profile", profile, "bbmounts", "--", "cat", "/proc/self/mountinfo")
    assert ran.returncode == 0, ran.stderr
    bundle = reachable / "bb"
    config = make_bundle(busybox_layout, bundle, profile, "cat", "/proc/self/mountinfo")
    proc = runc(tmp_path, "run", "-b", str(bundle), f"hb-{uuid.uuid4().hex[:8]}")
    assert proc.returncode == 0, proc.stderr
    ours, theirs = mount_table(ran.stdout), mount_table(proc.stdout)
    # A run's own /etc/hostname, hosts and resolv.conf (runtime/net/etcfiles.py) are its
    # network's, not the profile's: a bundle leaves them to whoever runs it, as runc does.
    for etc_file in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf"):
        assert ours.pop(etc_file)[1] >= {"ro"}
    # "/" differs by design: hardbox's overlay of the store's layers, runc's bind of rootfs.
    assert set(theirs) - {"/"} == set(ours) - {"/"}
    host_network = profile.endswith("host-network.yaml")
    for mount in config["mounts"]:
        dest = mount["destination"]
        if host_network and dest == "/sys":
            # The host's /sys: `hardbox run` binds it read-only only; the bundle's rbind adds
            # nosuid, nodev, noexec (bundle._mounts), stricter, never weaker.
            assert theirs[dest][0] == ours[dest][0] and theirs[dest][1] >= ours[dest][1] | {"ro"}
        else:
            assert theirs[dest] == ours[dest], dest
    assert "/dev/mqueue" not in theirs and "noexec" in theirs["/dev"][1]
    if host_network:
        assert theirs["/sys/fs/cgroup"][0] == ours["/sys/fs/cgroup"][0] == "tmpfs"  # masked
        assert "ro" in theirs["/sys/fs/cgroup"][1]


def test_runc_cgroup_is_beneath_our_own(
    ready: None, busybox_layout: imagebuild.OciImage, tmp_path: Path, reachable: Path
) -> None:
    bundle = reachable / "bb"
    make_bundle(busybox_layout, bundle, "strict", "/bin/sleep", "30")
    name = f"hb-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "create.log"
    try:
        # runc's init keeps the stdio it was given until `start`: give it files, not pipes.
        with open(log, "w") as err:
            created = subprocess.run(
                ["runc", "--root", str(tmp_path / "runc-state"), "create", "-b", str(bundle), name],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                timeout=60, cwd=tmp_path,
            )
        assert created.returncode == 0, log.read_text()
        state = json.loads(runc(tmp_path, "state", name).stdout)
        theirs = dict(line.split(":", 2)[1:] for line in Path(f"/proc/{state['pid']}/cgroup").read_text().splitlines())
        ours = dict(line.split(":", 2)[1:] for line in Path("/proc/self/cgroup").read_text().splitlines())
        for controller in ("memory", "pids"):
            if controller in ours:
                assert theirs[controller].startswith(ours[controller].rstrip("/") + "/hardbox-bundle-")
    finally:
        runc(tmp_path, "delete", "--force", name)


def test_bundle_refuses_non_empty_dir_and_leaves_nothing(
    ready: None, busybox_layout: imagebuild.OciImage, tmp_path: Path
) -> None:
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "keep").write_text("mine")
    proc = hardbox("bundle", f"oci:{busybox_layout.ref}", str(dest), "--profile", "strict")
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert f"bundle directory {dest} exists and is not empty" in proc.stderr
    assert os.listdir(dest) == ["keep"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".taken")]


def test_bundle_warns_when_the_namespace_root_cannot_reach_it(
    ready: None, busybox_layout: imagebuild.OciImage, tmp_path: Path
) -> None:
    proc = hardbox("bundle", f"oci:{busybox_layout.ref}", str(tmp_path / "bb"), "--profile", "strict")
    assert proc.returncode == 0, proc.stderr
    assert "cannot reach the bundle" in proc.stderr  # pytest's tmp dirs are 0700


def test_layers_merge_with_whiteouts_opaque_dirs_hardlinks_and_shift(tmp_path: Path) -> None:
    """The overlay rules of the store's layer format, applied to real directories."""
    need_root()
    from hardbox.runtime.profile.bundle_rootfs import merge_layers

    lower, upper, dest = tmp_path / "l1", tmp_path / "l2", tmp_path / "rootfs"
    for d in (lower / "etc", lower / "app", upper / "app", dest):
        d.mkdir(parents=True)
    (lower / "etc" / "gone").write_text("deleted by the upper layer")
    (lower / "app" / "old").write_text("hidden by the opaque dir")
    (lower / "su").write_text("setuid")
    os.chown(lower / "su", 0, 0)
    os.chmod(lower / "su", 0o4755)  # after chown, which clears setuid
    (lower / "h1").write_text("same inode")
    os.link(lower / "h1", lower / "h2")
    os.chown(lower / "etc", 1000, 1000)
    (upper / "etc").mkdir()
    os.mknod(upper / "etc" / "gone", 0o600 | 0o020000, os.makedev(0, 0))  # whiteout
    os.setxattr(upper / "app", "trusted.overlay.opaque", b"y")
    (upper / "app" / "new").write_text("only this")

    def shift(uid: int, gid: int) -> tuple[int, int]:
        return uid + 100000, gid + 100000

    merge_layers([lower, upper], dest, shift)
    assert not (dest / "etc" / "gone").exists()
    assert sorted(os.listdir(dest / "app")) == ["new"]
    st = os.stat(dest / "su")
    assert st.st_mode & 0o7777 == 0o4755 and st.st_uid == 100000  # setuid survives the chown
    assert os.stat(dest / "h1").st_ino == os.stat(dest / "h2").st_ino
    assert os.stat(dest / "etc").st_uid == 100000  # the upper layer's etc (root) wins
    assert "trusted.overlay.opaque" not in os.listxattr(dest / "app")
