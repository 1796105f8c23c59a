"""Rootless: an unprivileged user (created by the test, with /etc/subuid entries) runs
hardbox; ids are mapped by the setuid newuidmap/newgidmap, cgroups are skipped with a note.

The user cannot read root's home, where this machine's Python may live; the test then
runs the user's commands in a private mount namespace that shows only that Python's prefix
there (nothing else of /root), so the unprivileged process really is unprivileged.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardbox.runtime import capabilities
from hardbox.runtime.idmap import read_subid
from hardbox.runtime.profile import load_profile

pytestmark = [pytest.mark.root, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def _blocked_ancestor(path: Path) -> Path | None:
    """The topmost ancestor of ``path`` that other users cannot traverse, if any."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not os.stat(parent).st_mode & stat.S_IXOTH:
            return parent
    return None


class User:
    def __init__(self, name: str, home: Path) -> None:
        self.name = name
        self.home = home

    def run(self, *args: str, timeout: float = 120, overlay_mode: str = "auto") -> subprocess.CompletedProcess[str]:
        prefix = Path(sys.base_prefix).resolve()
        blocked = _blocked_ancestor(prefix)
        env = (f"env -i PATH=/usr/bin:/bin HOME={self.home} HARDBOX_ROOT={self.home}/store "
               f"HARDBOX_OVERLAY_MODE={overlay_mode} "
               f"PYTHONPATH={REPO} {Path(sys.executable).resolve()} -m hardbox")
        drop = f"setpriv --reuid={self.name} --regid={self.name} --init-groups {env}"
        if blocked is None:
            script = f'exec {drop} "$@"'
        else:
            script = (
                f"mount --bind {prefix} {self.home}/.prefix && "
                f"mount -t tmpfs -o mode=755 tmpfs {blocked} && mkdir -p {prefix} && "
                f'mount --bind {self.home}/.prefix {prefix} && exec {drop} "$@"'
            )
        return subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *args],
            capture_output=True, text=True, timeout=timeout,
        )


@pytest.fixture(scope="module")
def user(busybox_layout) -> Iterator[User]:
    for tool in ("useradd", "userdel", "usermod", "newuidmap", "setpriv", "unshare"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    name = f"hbrl{secrets.token_hex(4)}"
    home = Path(tempfile.mkdtemp(prefix="hardbox-rootless-"))
    os.chmod(home, 0o755)
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", name], check=True)
    try:
        subprocess.run(["usermod", "--add-subuids", "400000-465535", "--add-subgids", "400000-465535", name], check=True)
        shutil.copytree(busybox_layout.layout, home / "layout", symlinks=True)
        (home / "store").mkdir(mode=0o700)
        (home / ".prefix").mkdir()
        subprocess.run(["chown", "-R", f"{name}:{name}", str(home / "layout"), str(home / "store")], check=True)
        u = User(name, home)
        imported = u.run("image", "import", f"{home}/layout:{busybox_layout.tag}", "--tag", "bbtest")
        assert imported.returncode == 0, imported.stderr
        yield u
    finally:
        subprocess.run(["userdel", name], check=False)
        for f in ("/etc/subuid", "/etc/subgid"):
            lines = Path(f).read_text().splitlines(keepends=True)
            Path(f).write_text("".join(line for line in lines if not line.startswith(f"{name}:")))
        subprocess.run(["chmod", "-R", "u+rwx", str(home)], check=False)
        shutil.rmtree(home)


def test_rootless_overlay_by_paths_needs_no_idmapping(user):
    """The fallback route for kernels before 6.13, forced: a rootless run mounts its layers
    by path inside its user namespace (no helper, nothing to idmap)."""
    proc = user.run("run", "--rm", "bbtest", "sh", "-c",
                    "grep -E '^[0-9]+ [0-9]+ [0-9:]+ / / ' /proc/self/mountinfo | grep -oE 'lowerdir[+]?='; "
                    "test -x /bin/busybox && echo root-ok", overlay_mode="paths")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["lowerdir=", "root-ok"]


def test_rootless_run_is_hardened_and_unprivileged(user):
    proc = user.run("run", "--rm", "--user", "0", "bbtest", "sh", "-c",
                    "id -u; cat /proc/self/uid_map; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; "
                    "touch /written && echo root-writable; ls /sys/class/net")
    assert proc.returncode == 0, proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines()]
    uid = int(subprocess.run(["id", "-u", user.name], capture_output=True, text=True).stdout)
    assert lines[0] == ["0"]
    assert lines[1] == ["0", str(uid), "1"]  # container root is the invoking user, not root
    first = read_subid(Path("/etc/subuid"), user.name, uid)
    assert first is not None and lines[2] == ["1", str(first[0]), str(first[1])]
    caps = dict((k.rstrip(":"), v) for k, v in lines[3:6])
    assert caps["NoNewPrivs"] == "1" and caps["Seccomp"] == "2"
    assert int(caps["CapEff"], 16) == capabilities.to_mask(load_profile("default").capabilities)
    assert ["root-writable"] in lines and lines[-1] == ["lo"]
    # The unprivileged user may not create cgroups here: limits are skipped, not refused.
    assert "skipped: cgroup limits" in proc.stderr
    assert not any((user.home / "store" / "containers").iterdir())


def test_rootless_strict_refuses_nothing_it_can_apply(user):
    proc = user.run("run", "--rm", "--profile", "strict", "bbtest", "sh", "-c", "touch / 2>&1; grep CapEff /proc/self/status")
    assert proc.returncode == 0, proc.stderr
    assert "Read-only file system" in proc.stdout
    assert "0000000000000000" in proc.stdout
