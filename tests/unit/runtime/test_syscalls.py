"""The ctypes syscall layer against the real kernel: errors read like crun's, calls work."""

from __future__ import annotations

import os
import socket

import pytest
from runtime_forked import in_child

from hardbox.runtime import syscalls
from hardbox.runtime.syscalls import KernelError

pytestmark = pytest.mark.root


def test_error_names_operation_and_path(tmp_path):
    missing = tmp_path / "nope" / "x"
    with pytest.raises(KernelError) as info:
        syscalls.mount("tmpfs", missing, "tmpfs")
    assert str(info.value) == f"mount tmpfs on `{missing}`: No such file or directory"
    assert info.value.errno == 2


def test_capget_matches_proc_status():
    eff, perm, _inh = syscalls.capget()
    with open("/proc/self/status") as fh:
        status = dict(line.split(":\t") for line in fh.read().splitlines() if ":\t" in line)
    assert eff == int(status["CapEff"], 16)
    assert perm == int(status["CapPrm"], 16)


def test_unshare_uts_and_sethostname_stay_in_the_child():
    before = socket.gethostname()

    def body() -> bytes:
        syscalls.unshare(syscalls.CLONE_NEWUTS)
        syscalls.sethostname("hardbox-test-uts")
        return socket.gethostname().encode()

    code, out = in_child(body)
    assert (code, out) == (0, b"hardbox-test-uts")
    assert socket.gethostname() == before


def test_mount_in_private_namespace_and_umount(tmp_path):
    target = tmp_path / "mnt"
    target.mkdir()

    def body() -> bytes:
        syscalls.unshare(syscalls.CLONE_NEWNS)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        syscalls.mount("tmpfs", target, "tmpfs", syscalls.MS_NOSUID, "size=1m")
        (target / "f").write_text("x")
        seen = os.listdir(target)
        syscalls.umount2(target)
        return ",".join(seen).encode() + b"|" + ",".join(os.listdir(target)).encode()

    assert in_child(body) == (0, b"f|")
    assert os.listdir(target) == []  # nothing propagated to the host


def test_prctl_no_new_privs_in_child():
    def body() -> bytes:
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
        return str(syscalls.prctl(syscalls.PR_GET_NO_NEW_PRIVS)).encode()

    assert in_child(body) == (0, b"1")
    assert syscalls.prctl(syscalls.PR_GET_NO_NEW_PRIVS) == 0


def test_open_tree_clone_and_readonly_attr(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("data")
    target = tmp_path / "target"
    target.mkdir()

    def body() -> bytes:
        syscalls.unshare(syscalls.CLONE_NEWNS)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        fd = syscalls.open_tree(src, syscalls.OPEN_TREE_CLONE | syscalls.OPEN_TREE_CLOEXEC)
        syscalls.mount_setattr(fd, syscalls.MOUNT_ATTR_RDONLY)
        syscalls.move_mount(fd, target)
        try:
            (target / "new").write_text("x")
        except OSError as err:
            return f"{(target / 'file').read_text()} {err.errno}".encode()
        return b"writable"

    assert in_child(body) == (0, b"data 30")  # EROFS


def test_move_mount_error_names_target(tmp_path):
    with pytest.raises(KernelError) as info:
        syscalls.move_mount(-1, tmp_path / "x")
    assert str(info.value).startswith(f"move_mount to `{tmp_path / 'x'}`:")
