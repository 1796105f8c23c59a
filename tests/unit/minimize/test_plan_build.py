"""Plan + build on a real Debian minbase root: the static closure, the rules and a real strace
of the probes (run in a chroot) produce a root in which the probes still run, and whose dpkg
database tells the truth."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

from hardbox.minimize.build import write_layer
from hardbox.minimize.pkgdb import truthful_databases
from hardbox.minimize.plan import make_plan
from hardbox.minimize.rootview import RootView
from hardbox.minimize.trace import trace_command

pytestmark = [pytest.mark.root, pytest.mark.slow]

PROBES = [
    ["/bin/bash", "-c", "echo hi; ls / >/dev/null; cat /etc/hostname 2>/dev/null; true"],
    ["getent", "passwd", "root"],
]


def _chroot_argv(root: Path, argv: list[str]) -> list[str]:
    return ["unshare", "--mount", "--pid", "--fork", f"--mount-proc={root}/proc", "chroot", str(root), *argv]


def _chroot(root: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_chroot_argv(root, argv), capture_output=True, text=True,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def _minimize(debian_rootfs: Path, out: Path) -> tuple[Path, list[str]]:
    view = RootView(debian_rootfs)
    traced: dict[str, str] = {}
    opened: set[str] = set()
    for index, argv in enumerate(PROBES, 1):
        _, trace = trace_command(_chroot_argv(debian_rootfs, argv), out)
        traced.update({p: f"probe {index}" for p in trace.paths})
        opened |= trace.opened
    assert "/usr/bin/ls" in traced  # run by bash -c, seen only by the trace
    plan = make_plan(view, commands=PROBES, env_path=None, user="", traced=traced, opened=opened)
    assert not plan.missing_libraries
    kept = set(plan.kept)
    edit = truthful_databases(view, kept)
    layer = out / "layer.tar"
    files, _ = write_layer(view, kept | edit.keep, layer, overrides=edit.overrides)
    with tarfile.open(layer) as tar:
        assert files == len(tar.getnames())
    root = out / "root"
    root.mkdir()
    subprocess.run(["tar", "-xpf", str(layer), "-C", str(root), "--xattrs"], check=True)
    return root, edit.kept_packages


def test_minimized_root_runs_the_probes_and_is_much_smaller(debian_rootfs: Path, tmp_path: Path) -> None:
    root, kept_packages = _minimize(debian_rootfs, tmp_path)
    for argv in PROBES:
        original, minimized = _chroot(debian_rootfs, argv), _chroot(root, argv)
        assert (minimized.returncode, minimized.stdout, minimized.stderr) == (
            original.returncode, original.stdout, original.stderr)
    before = int(subprocess.run(["du", "-sb", str(debian_rootfs)], capture_output=True, text=True).stdout.split()[0])
    after = int(subprocess.run(["du", "-sb", str(root)], capture_output=True, text=True).stdout.split()[0])
    assert after * 10 < before, (before, after)
    # The dpkg database lists exactly the packages whose files were kept.
    listed = subprocess.run(
        ["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f", "${Package}\\n"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert sorted(f"deb:{p}" for p in listed) == sorted(kept_packages)
    assert "deb:bash" in kept_packages and "deb:libc6" in kept_packages
    assert "deb:apt" not in kept_packages
    # Each kept package's file list names only files that are still there.
    for listing in (root / "var/lib/dpkg/info").glob("*.list"):
        for line in listing.read_text().splitlines():
            assert (root / line.lstrip("/")).exists() or (root / line.lstrip("/")).is_symlink(), line


def test_ownership_modes_and_setuid_survive(debian_rootfs: Path, tmp_path: Path) -> None:
    view = RootView(debian_rootfs)
    paths = {"/usr/bin/su", "/etc/shadow", "/tmp", "/usr/bin/chfn"}
    layer = tmp_path / "l.tar"
    write_layer(view, paths, layer)
    with tarfile.open(layer) as tar:
        members = {m.name: m for m in tar.getmembers()}
    for path in paths:
        st = (debian_rootfs / path.lstrip("/")).lstat()
        m = members[path.lstrip("/")]
        assert (m.mode, m.uid, m.gid) == (st.st_mode & 0o7777, st.st_uid, st.st_gid), path
    assert members["usr/bin/su"].mode & 0o4000
    assert members["tmp"].mode == 0o1777
    assert members["etc/shadow"].gid == 42  # group shadow
