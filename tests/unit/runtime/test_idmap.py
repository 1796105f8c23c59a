"""The user-namespace map: subuid files, the default range, and writing maps for real."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from hardbox.errors import ContainerError
from hardbox.runtime import idmap, syscalls
from hardbox.runtime.idmap import DEFAULT_RANGE, Extent, IdMap


def test_read_subid_by_name_and_uid(tmp_path):
    f = tmp_path / "subuid"
    f.write_text("alice:200000:65536\n# comment\nbroken line\n1001:300000:1000\nbob:x:1\n")
    assert idmap.read_subid(f, "alice", 1000) == (200000, 65536)
    assert idmap.read_subid(f, "carol", 1001) == (300000, 1000)
    assert idmap.read_subid(f, "bob", 1002) is None  # malformed entry is skipped
    assert idmap.read_subid(tmp_path / "missing", "alice", 1000) is None


@pytest.mark.skipif(os.getuid() != 0, reason="the root branch is chosen by the caller's uid")
def test_root_without_subuid_uses_the_documented_default(tmp_path):
    ids = idmap.for_invoking_user(tmp_path)
    assert ids.uids == (Extent(0, DEFAULT_RANGE[0], DEFAULT_RANGE[1]),)
    assert ids.gids == ids.uids and not ids.rootless
    assert ids.host_uid(0) == 100000 and ids.host_uid(1000) == 101000
    assert "default range" in ids.source


@pytest.mark.skipif(os.getuid() != 0, reason="the root branch is chosen by the caller's uid")
def test_root_with_subuid_entry(tmp_path):
    (tmp_path / "subuid").write_text("root:500000:70000\n")
    (tmp_path / "subgid").write_text("root:600000:70000\n")
    ids = idmap.for_invoking_user(tmp_path)
    assert ids.host_uid(0) == 500000 and ids.host_gid(0) == 600000


def test_container_root_is_never_host_root(tmp_path):
    ids = idmap.for_invoking_user(tmp_path) if os.getuid() == 0 else None
    if ids is not None:
        assert ids.host_uid(0) != 0


def test_unmapped_id_is_an_error():
    ids = IdMap((Extent(0, 100000, 10),), (Extent(0, 100000, 10),), False, "test")
    with pytest.raises(ContainerError, match="id 10 is not mapped"):
        ids.host_uid(10)


def test_extent_validates():
    with pytest.raises(ValueError):
        Extent(0, 100000, 0)


@pytest.mark.root
def test_rootless_needs_subordinate_ids():
    """As an unprivileged uid with no /etc/subuid entry, the run is refused with a hint."""
    etc = tempfile.mkdtemp(prefix="hardbox-etc-")  # readable by the uid the child becomes
    os.chmod(etc, 0o755)
    (Path(etc) / "subuid").write_text("someone-else:100000:65536\n")
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        try:
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            idmap.for_invoking_user(Path(etc))
            child.sendall(b"accepted")
        except ContainerError as err:
            child.sendall(err.message.encode())
        finally:
            os._exit(0)
    child.close()
    got = parent.recv(4096).decode()
    os.waitpid(pid, 0)
    shutil.rmtree(etc)
    assert got.startswith("rootless run needs subordinate ids for user")


@pytest.mark.root
def test_write_maps_for_a_real_user_namespace():
    ids = IdMap((Extent(0, 100000, 65536),), (Extent(0, 100000, 65536),), False, "test")
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        try:
            syscalls.unshare(syscalls.CLONE_NEWUSER)
            child.sendall(b"U")
            child.recv(1)
            with open("/proc/self/uid_map") as u, open("/proc/self/gid_map") as g:
                child.sendall((u.read() + g.read()).encode())
        finally:
            os._exit(0)
    child.close()
    assert parent.recv(1) == b"U"
    idmap.write_maps(pid, ids)
    parent.sendall(b"M")
    maps = parent.recv(4096).decode().split()
    os.waitpid(pid, 0)
    assert maps == ["0", "100000", "65536"] * 2
