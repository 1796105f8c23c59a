"""Volumes, confined path resolution, and the idmapped overlay root built for real."""

from __future__ import annotations

import errno
import os
import platform
import socket

import pytest

from hardbox.errors import ContainerError, UsageError
from hardbox.runtime import mounts, syscalls
from hardbox.runtime.idmap import Extent, IdMap, write_maps
from hardbox.runtime.mounts import Volume
from hardbox.runtime.syscalls import KernelError


def test_volume_parse_defaults_and_modes(tmp_path):
    src = str(tmp_path)
    assert Volume.parse(f"{src}:/data", read_only_default=True) == Volume(src, "/data", True)
    assert Volume.parse(f"{src}:/data", read_only_default=False).read_only is False
    assert Volume.parse(f"{src}:/data:rw", read_only_default=True).read_only is False
    assert Volume.parse(f"{src}:/data/../x:ro", read_only_default=False) == Volume(src, "/x", True)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{src}", "expected SRC:DST"),
        ("{src}:/d:rx", "unknown option 'rx'"),
        ("{src}:relative", "destination must be an absolute path"),
        ("/no/such/dir:/d", "does not exist"),
    ],
)
def test_volume_parse_rejects(tmp_path, spec, message):
    with pytest.raises(UsageError, match=message):
        Volume.parse(spec.format(src=tmp_path), read_only_default=True)


def test_resolve_inside_confines_symlinks_and_dotdot(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "abs").symlink_to("/etc")  # absolute: means the container's /etc
    (root / "up").symlink_to("../../../../")  # climbing: stops at the container root
    (root / "loop").symlink_to("loop")
    monkeypatch.chdir(root)
    assert mounts.resolve_inside(".", "/abs/passwd") == "./etc/passwd"
    assert mounts.resolve_inside(".", "/up/etc") == "./etc"
    assert mounts.resolve_inside(".", "/../../etc") == "./etc"
    with pytest.raises(KernelError) as info:
        mounts.resolve_inside(".", "/loop/x")
    assert info.value.errno == errno.ELOOP


@pytest.mark.root
@pytest.mark.parametrize("mode", ["fd", "paths"])
def test_build_rootfs_idmaps_layers_without_touching_them(tmp_path, monkeypatch, mode):
    """Through the overlay the host sees the image's uid 1000 shifted to 101000, while the
    layer directory itself still says 1000; the newer layer wins over the older one. Both
    routes (runtime/overlay.py); the staged-paths one leaves no mount on the host."""
    if mode == "fd" and _kernel() < (6, 13):
        pytest.skip(f"fsconfig lowerdir+ by fd needs Linux 6.13; this is {platform.release()}")
    monkeypatch.setenv("HARDBOX_OVERLAY_MODE", mode)
    old, new = tmp_path / "old", tmp_path / "new"
    for layer in (old, new):
        (layer / "etc").mkdir(parents=True)
    (old / "etc/passwd").write_text("old")
    (new / "etc/passwd").write_text("new")
    (old / "home").mkdir()
    os.chown(old / "home", 1000, 1000)
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    ids = IdMap((Extent(0, 100000, 65536),), (Extent(0, 100000, 65536),), False, "test")

    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # holds the user namespace the layers are mapped to
        try:
            syscalls.unshare(syscalls.CLONE_NEWUSER)
            child.sendall(b"U")
            child.recv(1)
        finally:
            os._exit(0)
    child.close()
    try:
        assert parent.recv(1) == b"U"
        write_maps(pid, ids)
        userns = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY)
        fd = mounts.build_rootfs([new, old], upper, work, userns)
        os.close(userns)
        view = f"/proc/self/fd/{fd}"
        with open(f"{view}/etc/passwd") as fh:
            assert fh.read() == "new"
        assert os.stat(f"{view}/home").st_uid == 101000
        assert os.stat(f"{view}/etc").st_uid == 100000
        assert os.stat(old / "home").st_uid == 1000  # the store is never shifted
        os.close(fd)
        with open("/proc/self/mountinfo") as fh:
            assert str(tmp_path) not in fh.read()  # staging mounts died with the helper
    finally:
        parent.sendall(b"x")
        os.waitpid(pid, 0)


@pytest.mark.root
def test_build_rootfs_error_names_the_layer(tmp_path):
    with pytest.raises(KernelError, match=f"open_tree `{tmp_path}/missing`"):
        mounts.build_rootfs([tmp_path / "missing"], tmp_path, tmp_path, None)


@pytest.mark.root
def test_paths_route_error_from_the_helper_names_the_layer(tmp_path, monkeypatch):
    monkeypatch.setenv("HARDBOX_OVERLAY_MODE", "paths")
    userns = os.open("/proc/self/ns/user", os.O_RDONLY)
    try:
        with pytest.raises(KernelError, match=f"open_tree `{tmp_path}/missing`"):
            mounts.build_rootfs([tmp_path / "missing"], tmp_path / "upper", tmp_path / "work", userns)
    finally:
        os.close(userns)


@pytest.mark.root
def test_paths_route_keeps_a_colon_in_a_layer_path_whole(tmp_path, monkeypatch):
    """overlayfs splits lowerdir on ':'; an escaped colon stays part of the path."""
    monkeypatch.setenv("HARDBOX_OVERLAY_MODE", "paths")
    layer = tmp_path / "layer:1"
    (layer / "etc").mkdir(parents=True)
    (layer / "etc/hostname").write_text("colon")
    (tmp_path / "upper").mkdir()
    (tmp_path / "work").mkdir()
    fd = mounts.build_rootfs([layer], tmp_path / "upper", tmp_path / "work", None)
    try:
        with open(f"/proc/self/fd/{fd}/etc/hostname") as fh:
            assert fh.read() == "colon"
    finally:
        os.close(fd)


def test_unknown_overlay_mode_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HARDBOX_OVERLAY_MODE", "copy")
    with pytest.raises(ContainerError, match="HARDBOX_OVERLAY_MODE='copy': must be one of auto, fd, paths"):
        mounts.build_rootfs([tmp_path], tmp_path, tmp_path, None)


def _kernel() -> tuple[int, int]:
    major, minor = platform.release().split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)
