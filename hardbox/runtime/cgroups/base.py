"""The cgroup seam: the ``CgroupManager`` and ``Cgroup`` protocols, the limits they enforce,
their errors, and the reading of the host's hierarchies that both implementations share.

Two implementations stand behind the protocol: ``v2`` (the unified hierarchy, the common case
today) and ``v1`` (one hierarchy per controller; this covers "hybrid" hosts, where cgroup2 is
mounted too but holds no controllers); the package's ``open_manager`` picks one. This module
imports neither (pip-audit's ``interface.py`` rule). Every cgroup hardbox creates lives
beneath the cgroup hardbox itself runs in (read from ``/proc/self/cgroup``), never elsewhere:
that is the part of the tree the caller was delegated.

A manager raises ``CgroupUnavailable`` when it cannot create or write a cgroup; whether that
stops the run is the profile's ``limits.mode`` (required | if-available), the caller's call.
The device allow-list (``devices.py``: the v1 devices controller, a BPF program on v2) is
part of what a cgroup enforces; failing to apply it raises ``DevicesUnavailable``.
"""

from __future__ import annotations

import os
import time

from hardbox import fileio
from hardbox.errors import ContainerError
from hardbox.records import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Protocol

    from hardbox.runtime.cgroups.devices import DeviceRule
else:
    Protocol = object  # the protocols are for mypy; typing stays off the run path (hardbox/records.py)

# Paths are strings, read and written with ``os``: a cached ``hardbox run`` and ``hardbox
# exec`` load no pathlib (bench/RESULTS.md, issue 14).
MOUNTINFO = "/proc/self/mountinfo"
SELF_CGROUP = "/proc/self/cgroup"
SIGKILL = 9  # signal(7); the same number on every architecture (no ``signal`` module on the run path)
# A cgroup name: a letter or digit, then up to 127 of letters, digits, '_', '.', '-' (ASCII).
_NAME_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_REST = _NAME_FIRST | frozenset("_.-")


class CgroupUnavailable(ContainerError):
    """A cgroup could not be created or a limit not written."""

    default_hint = (
        "run as root or with a delegated cgroup (systemd-run --user --scope -p Delegate=yes), "
        "or use a profile whose limits.mode is if-available"
    )


class DevicesUnavailable(CgroupUnavailable):
    """The device allow-list could not be applied (no v1 devices controller, bpf refused)."""

    default_hint = (
        "hardbox confines every container it starts as root to a device allow-list (the cgroup "
        "v1 devices controller, or a BPF device program on cgroup v2); run it where the kernel "
        "offers one of them to root"
    )


class CgroupLimits(NamedTuple):
    """What to enforce; ``None`` = no limit. ``memory`` bytes, ``cpus`` as docker --cpus,
    ``devices`` the allow-list (``devices.ALLOWED_DEVICES``), everything else denied."""

    memory: int | None = None
    pids: int | None = None
    cpus: float | None = None
    devices: tuple[DeviceRule, ...] | None = None

    @property
    def has_limits(self) -> bool:
        return self.memory is not None or self.pids is not None or self.cpus is not None


# CFS bandwidth: quota per period; docker --cpus uses a 100 ms period (moby daemon/oci_linux.go).
CPU_PERIOD_US = 100_000


def cpu_quota(cpus: float) -> int:
    # The kernel refuses quotas below 1 ms (kernel/sched/core.c, min_cfs_quota_period).
    return max(1000, round(cpus * CPU_PERIOD_US))


class Cgroup(Protocol):
    """One container's cgroup (in v1: one directory per controller)."""

    @property
    def name(self) -> str: ...

    def paths(self) -> tuple[str, ...]: ...

    def add(self, pid: int) -> None: ...

    def join_files(self) -> tuple[str, ...]:
        """The files a process writes "0" to, to move itself in (a container's first child
        does, before it leaves the initial user namespace)."""
        ...

    def pids(self) -> tuple[int, ...]: ...

    def oom_killed(self) -> bool: ...

    def pids_limit_hit(self) -> int: ...

    def destroy(self) -> None: ...


class CgroupManager(Protocol):
    @property
    def version(self) -> int: ...

    def create(self, name: str, limits: CgroupLimits) -> Cgroup: ...

    def open(self, name: str) -> Cgroup: ...

    def open_recorded(self, name: str, paths: Sequence[str | os.PathLike[str]]) -> Cgroup:
        """The cgroup at the paths a container recorded, if they are ``hardbox-<name>``
        directories of this hierarchy; else ``open(name)``."""
        ...


class Mount(NamedTuple):
    path: str  # where the hierarchy is mounted
    root: str  # which part of the hierarchy the mount shows (mountinfo field 4)
    fstype: str  # cgroup | cgroup2
    options: frozenset[str]  # super options: the v1 controllers, name=systemd, ...


def read_text(path: str | os.PathLike[str]) -> str:
    """A /proc or cgroupfs file, whole. Bytes decoded as the file system's names are
    (``os.fsdecode``: UTF-8, surrogateescape): a mount point whose name is not UTF-8 is still
    read, not a traceback."""
    return fileio.read_text(path, errors="surrogateescape")


def cgroup_mounts(mountinfo: str | os.PathLike[str] = MOUNTINFO) -> list[Mount]:
    mounts = []
    for line in read_text(mountinfo).splitlines():
        # mountinfo(5): fields ... " - " fstype source superopts
        head, _, tail = line.partition(" - ")
        fields, after = head.split(), tail.split()
        if len(fields) < 5 or len(after) < 3 or after[0] not in ("cgroup", "cgroup2"):
            continue
        path = fields[4].replace("\\040", " ")
        mounts.append(Mount(normpath(path), fields[3], after[0], frozenset(after[2].split(","))))
    return mounts


def own_cgroups(self_cgroup: str | os.PathLike[str] = SELF_CGROUP) -> dict[str, str]:
    """Controller (or "" for the unified hierarchy) -> our cgroup path in it."""
    own: dict[str, str] = {}
    for line in read_text(self_cgroup).splitlines():
        _hid, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own


def path_parts(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """A POSIX path's parts as ``PurePosixPath(path).parts`` gives them: the root ("/", or
    "//", which POSIX lets differ), then every name, without empty and "." ones ("..",
    kept, is for the caller to judge)."""
    text = os.fspath(path)
    names = tuple(n for n in text.split("/") if n and n != ".")
    if not text.startswith("/"):
        return names
    root = "//" if text.startswith("//") and not text.startswith("///") else "/"
    return (root, *names)


def normpath(path: str | os.PathLike[str]) -> str:
    """``str(PurePosixPath(path))``: the same parts, joined ("." for none)."""
    parts = path_parts(path)
    if not parts:
        return "."
    if parts[0] in ("/", "//"):
        return parts[0] + "/".join(parts[1:])
    return "/".join(parts)


def join(directory: str, relative: str) -> str:
    """``directory`` / ``relative`` as pathlib joins them (empty and "." names dropped);
    ``relative`` stays beneath ``directory`` even when it starts with "/"."""
    relative = relative.lstrip("/")
    return normpath(directory + relative if directory.endswith("/") else f"{directory}/{relative}")


def beneath(mount: Mount, own_path: str) -> str:
    """The directory of our own cgroup under ``mount`` (which may show only a subtree)."""
    rel = own_path
    if mount.root != "/" and (rel == mount.root or rel.startswith(mount.root + "/")):
        rel = rel[len(mount.root):]
    return join(mount.path, rel)


def detect_version(mounts: list[Mount] | None = None) -> int:
    """2 when the unified hierarchy holds the controllers, else 1 (legacy or hybrid)."""
    mounts = cgroup_mounts() if mounts is None else mounts
    if any(m.fstype == "cgroup" and m.options & {"memory", "pids", "cpu"} for m in mounts):
        return 1
    return 2 if any(m.fstype == "cgroup2" for m in mounts) else 0


def recorded_path_ok(path: str | os.PathLike[str], name: str, mount: str | os.PathLike[str]) -> bool:
    """A path from a container's state names its own cgroup: ``hardbox-<name>`` beneath the
    hierarchy's mount, no ``..`` (a state file is input too: it must never name another
    cgroup for ``hardbox rm`` to kill and remove)."""
    parts, under = path_parts(path), path_parts(mount)
    last = parts[-1] if parts and parts[-1] not in ("/", "//") else ""
    return last == f"hardbox-{check_name(name)}" and ".." not in parts and parts[:len(under)] == under


def check_name(name: str) -> str:
    # The rule of the regex ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$ it replaces, without the
    # newline that regex's $ let through at the end.
    if not (0 < len(name) <= 128 and name[0] in _NAME_FIRST and all(c in _NAME_REST for c in name)):
        raise CgroupUnavailable(f"cgroup name {name!r} must be letters, digits, '.', '_' or '-'")
    return name


def write(path: str, value: str) -> None:
    """Write one control file in one write(2), naming it on failure (as crun does)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as err:
        raise CgroupUnavailable(f"write {value!r} to {path}: {err.strerror}") from err


def read_pids(procs: str) -> list[int]:
    """The pids a ``cgroup.procs`` lists; [] when the cgroup is gone."""
    try:
        with open(procs, "rb") as fh:
            return [int(p) for p in fh.read().split()]
    except FileNotFoundError:
        return []


def rmdir_released(path: str, timeout: float = 5.0) -> None:
    """Remove an emptied cgroup directory, retrying while the kernel still holds it.

    rmdir answers EBUSY until the last task is reaped (zombies count), so a cgroup whose
    processes were just killed is retried for up to ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if time.monotonic() > deadline:
                raise CgroupUnavailable(f"rmdir {path}: {err.strerror}") from err
            time.sleep(0.02)
