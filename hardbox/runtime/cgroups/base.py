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

import re
import time
from collections.abc import Sequence
from pathlib import Path

from hardbox.errors import ContainerError
from hardbox.records import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from hardbox.runtime.cgroups.devices import DeviceRule

if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # the protocols are for mypy; typing stays off the run path (hardbox/records.py)

MOUNTINFO = Path("/proc/self/mountinfo")
SELF_CGROUP = Path("/proc/self/cgroup")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


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

    def paths(self) -> tuple[Path, ...]: ...

    def add(self, pid: int) -> None: ...

    def join_files(self) -> tuple[Path, ...]:
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

    def open_recorded(self, name: str, paths: Sequence[Path]) -> Cgroup:
        """The cgroup at the paths a container recorded, if they are ``hardbox-<name>``
        directories of this hierarchy; else ``open(name)``."""
        ...


class Mount(NamedTuple):
    path: Path  # where the hierarchy is mounted
    root: str  # which part of the hierarchy the mount shows (mountinfo field 4)
    fstype: str  # cgroup | cgroup2
    options: frozenset[str]  # super options: the v1 controllers, name=systemd, ...


def cgroup_mounts(mountinfo: Path = MOUNTINFO) -> list[Mount]:
    mounts = []
    for line in mountinfo.read_text().splitlines():
        # mountinfo(5): fields ... " - " fstype source superopts
        head, _, tail = line.partition(" - ")
        fields, after = head.split(), tail.split()
        if len(fields) < 5 or len(after) < 3 or after[0] not in ("cgroup", "cgroup2"):
            continue
        path = fields[4].replace("\\040", " ")
        mounts.append(Mount(Path(path), fields[3], after[0], frozenset(after[2].split(","))))
    return mounts


def own_cgroups(self_cgroup: Path = SELF_CGROUP) -> dict[str, str]:
    """Controller (or "" for the unified hierarchy) -> our cgroup path in it."""
    own: dict[str, str] = {}
    for line in self_cgroup.read_text().splitlines():
        _hid, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own


def beneath(mount: Mount, own_path: str) -> Path:
    """The directory of our own cgroup under ``mount`` (which may show only a subtree)."""
    rel = own_path
    if mount.root != "/" and (rel == mount.root or rel.startswith(mount.root + "/")):
        rel = rel[len(mount.root):]
    return mount.path / rel.lstrip("/")


def detect_version(mounts: list[Mount] | None = None) -> int:
    """2 when the unified hierarchy holds the controllers, else 1 (legacy or hybrid)."""
    mounts = cgroup_mounts() if mounts is None else mounts
    if any(m.fstype == "cgroup" and m.options & {"memory", "pids", "cpu"} for m in mounts):
        return 1
    return 2 if any(m.fstype == "cgroup2" for m in mounts) else 0


def recorded_path_ok(path: Path, name: str, mount: Path) -> bool:
    """A path from a container's state names its own cgroup: ``hardbox-<name>`` beneath the
    hierarchy's mount, no ``..`` (a state file is input too: it must never name another
    cgroup for ``hardbox rm`` to kill and remove)."""
    return path.name == f"hardbox-{check_name(name)}" and ".." not in path.parts and path.is_relative_to(mount)


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise CgroupUnavailable(f"cgroup name {name!r} must be letters, digits, '.', '_' or '-'")
    return name


def write(path: Path, value: str) -> None:
    """Write one control file, naming it on failure (as crun does)."""
    try:
        path.write_text(value)
    except OSError as err:
        raise CgroupUnavailable(f"write {value!r} to {path}: {err.strerror}") from err


def rmdir_released(path: Path, timeout: float = 5.0) -> None:
    """Remove an emptied cgroup directory, retrying while the kernel still holds it.

    rmdir answers EBUSY until the last task is reaped (zombies count), so a cgroup whose
    processes were just killed is retried for up to ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if time.monotonic() > deadline:
                raise CgroupUnavailable(f"rmdir {path}: {err.strerror}") from err
            time.sleep(0.02)
