"""A thin ctypes layer over the Linux syscalls the Python 3.11 stdlib lacks.

mount, umount2, pivot_root, unshare, setns, capget/capset, prctl, sethostname, the new
mount API (open_tree, move_mount, mount_setattr, fsopen, fsconfig, fsmount) used for idmapped
layers (bpf(2), for a cgroup v2 device program, is in ``bpf.py``). Every failure raises
``KernelError`` naming the operation and the path, as crun does:
``mount overlay on `/x`: Permission denied``. Nothing here decides policy; callers do.

Syscall numbers are the x86_64 and aarch64 ones (the new mount API shares numbers across
architectures since it was added after the unified table, see include/uapi/asm-generic/unistd.h).
"""

from __future__ import annotations

import ctypes
import errno
import os

# By soname, not ctypes.util.find_library, which runs `ldconfig -p` (tens of ms per run).
_libc = ctypes.CDLL("libc.so.6", use_errno=True)

# clone/unshare flags, include/uapi/linux/sched.h
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags, include/uapi/linux/mount.h
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# new mount API
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
AT_FDCWD = -100
MOVE_MOUNT_F_EMPTY_PATH = 0x00000004
MOUNT_ATTR_RDONLY = 0x00000001
MOUNT_ATTR_NOSUID = 0x00000002
MOUNT_ATTR_NODEV = 0x00000004
MOUNT_ATTR_IDMAP = 0x00100000
FSOPEN_CLOEXEC = 1
FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_SET_FD = 5
FSCONFIG_CMD_CREATE = 6

# prctl options, include/uapi/linux/prctl.h
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_KEEPCAPS = 8

_NR = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126, "bpf": 321},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91, "bpf": 280},
}
_NR_COMMON = {
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "mount_setattr": 442,
}


class KernelError(OSError):
    """A syscall failed; ``str()`` is crun-style: ``op `path`: strerror``."""

    def __init__(self, err: int, operation: str, path: str | None = None) -> None:
        super().__init__(err, os.strerror(err))
        self.operation = operation
        self.path = path

    def __str__(self) -> str:
        where = f" `{self.path}`" if self.path is not None else ""
        return f"{self.operation}{where}: {self.strerror}"


def _nr(name: str) -> int:
    if name in _NR_COMMON:
        return _NR_COMMON[name]
    machine = os.uname().machine
    table = _NR.get(machine)
    if table is None:
        raise KernelError(errno.ENOSYS, f"{name} (unsupported architecture {machine})")
    return table[name]


def _check(result: int, operation: str, path: str | None = None) -> int:
    if result < 0:
        raise KernelError(ctypes.get_errno(), operation, path)
    return result


def _b(path: str | os.PathLike[str] | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def _syscall(name: str, *args: object) -> int:
    fn = _libc.syscall
    fn.restype = ctypes.c_long
    return int(fn(ctypes.c_long(_nr(name)), *args))


def mount(
    source: str | None,
    target: str | os.PathLike[str],
    fstype: str | None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    what = fstype or ("bind" if flags & MS_BIND else "mount")
    if flags & MS_REMOUNT:
        what = "remount"
    _check(
        _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)),
        f"mount {what} on",
        os.fspath(target),
    )


def umount2(target: str | os.PathLike[str], flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), ctypes.c_int(flags)), "umount", os.fspath(target))


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_syscall("pivot_root", _b(new_root), _b(put_old)), "pivot_root to", new_root)


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare {flags:#x}")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname", name)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    fn = _libc.prctl
    fn.restype = ctypes.c_int
    args = (ctypes.c_ulong(a) for a in (arg2, arg3, arg4, arg5))
    return _check(fn(ctypes.c_int(option), *args), f"prctl {option}")


# capget/capset, include/uapi/linux/capability.h (version 3: two 32-bit words per set)
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of the calling thread as 64-bit masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_syscall("capget", ctypes.byref(header), data), "capget")
    eff, perm, inh = (
        int(getattr(data[0], f)) | (int(getattr(data[1], f)) << 32)
        for f in ("effective", "permitted", "inheritable")
    )
    return eff, perm, inh


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        data[i].effective = (effective >> (32 * i)) & 0xFFFFFFFF
        data[i].permitted = (permitted >> (32 * i)) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> (32 * i)) & 0xFFFFFFFF
    _check(_syscall("capset", ctypes.byref(header), data), "capset")


# The new mount API (Linux 5.2+; mount_setattr 5.12+; overlayfs layers by fd 6.13+).


class _MountAttr(ctypes.Structure):
    _fields_ = (
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    )


def open_tree(path: str | os.PathLike[str], flags: int, dirfd: int = -100) -> int:
    """A file descriptor for ``path``'s mount; with OPEN_TREE_CLONE a detached copy."""
    return _check(
        _syscall("open_tree", ctypes.c_int(dirfd), _b(path), ctypes.c_uint(flags)),
        "open_tree",
        os.fspath(path),
    )


def mount_setattr(
    fd: int,
    attr_set: int,
    *,
    userns_fd: int = 0,
    path: str = "",
    flags: int = 0,
    what: str = "",
) -> None:
    """Set mount attributes on ``fd`` itself (``path`` empty) or on ``path`` relative to it."""
    attr = _MountAttr(attr_set, 0, 0, userns_fd)
    if not path:
        flags |= AT_EMPTY_PATH
    _check(
        _syscall(
            "mount_setattr", ctypes.c_int(fd), os.fsencode(path), ctypes.c_uint(flags),
            ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
        ),
        "mount_setattr on",
        what or path or f"fd {fd}",
    )


def move_mount(from_fd: int, to_path: str | os.PathLike[str]) -> None:
    """Attach a detached mount (an fd from open_tree/fsmount) at ``to_path``."""
    _check(
        _syscall(
            "move_mount", ctypes.c_int(from_fd), b"", ctypes.c_int(-100), _b(to_path),
            ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH),
        ),
        "move_mount to",
        os.fspath(to_path),
    )


def fsopen(fstype: str) -> int:
    return _check(_syscall("fsopen", fstype.encode(), ctypes.c_uint(FSOPEN_CLOEXEC)), "fsopen", fstype)


def fsconfig_string(fs_fd: int, key: str, value: str | None = None) -> None:
    cmd = FSCONFIG_SET_FLAG if value is None else FSCONFIG_SET_STRING
    _check(
        _syscall("fsconfig", ctypes.c_int(fs_fd), ctypes.c_uint(cmd), key.encode(), _b(value), ctypes.c_int(0)),
        f"fsconfig {key}",
        value,
    )


def fsconfig_fd(fs_fd: int, key: str, fd: int, what: str = "") -> None:
    _check(
        _syscall("fsconfig", ctypes.c_int(fs_fd), ctypes.c_uint(FSCONFIG_SET_FD), key.encode(), None, ctypes.c_int(fd)),
        f"fsconfig {key}",
        what or None,
    )


def fsconfig_create(fs_fd: int, what: str) -> None:
    _check(
        _syscall("fsconfig", ctypes.c_int(fs_fd), ctypes.c_uint(FSCONFIG_CMD_CREATE), None, None, ctypes.c_int(0)),
        "create",
        what,
    )


def fsmount(fs_fd: int, attr_flags: int = 0) -> int:
    return _check(
        _syscall("fsmount", ctypes.c_int(fs_fd), ctypes.c_uint(FSMOUNT_CLOEXEC), ctypes.c_uint(attr_flags)),
        "fsmount",
    )
