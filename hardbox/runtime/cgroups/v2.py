"""cgroup v2 (the unified hierarchy): one directory, controllers enabled by the parent.

The container's cgroup is ``hardbox-<name>`` beneath our own cgroup (the ``0::`` line of
/proc/self/cgroup). The controllers it needs must be listed in our cgroup's
``cgroup.subtree_control``, and the kernel refuses to enable any (EBUSY) while our own cgroup
holds processes and is not the root — the "no internal processes" rule of
Documentation/admin-guide/cgroup-v2.rst. So, as systemd asks of a service it delegates a
subtree to, hardbox first moves itself into a leaf of its own, ``hardbox-supervisor``, when it
is the only process there (a ``systemd-run --scope -p Delegate=yes`` scope): then our cgroup
holds no process and takes the controllers. A cgroup shared with other processes (a login
shell's session scope) cannot be emptied by us: that is a ``CgroupUnavailable`` saying how to
give hardbox one of its own. A later hardbox in ``hardbox-supervisor`` treats its parent as
its own cgroup.
A device allow-list needs no controller: it is a BPF program attached to the container's
cgroup (cgroups/devices.py), so it applies even where the limits cannot.
``memory.swap.max = 0`` makes the memory limit a true one; ``cgroup.kill`` (Linux 5.14) ends
every process inside at once, else each is killed by pid.
"""

from __future__ import annotations

import os
import time

from hardbox.records import TYPE_CHECKING, NamedTuple
from hardbox.runtime.cgroups.base import (
    CPU_PERIOD_US,
    SIGKILL,
    CgroupLimits,
    CgroupUnavailable,
    Mount,
    beneath,
    cgroup_mounts,
    check_name,
    cpu_quota,
    join,
    normpath,
    own_cgroups,
    read_pids,
    read_text,
    recorded_path_ok,
    rmdir_released,
    write,
)
from hardbox.runtime.cgroups.devices import attach_program

if TYPE_CHECKING:
    from collections.abc import Sequence


def read_keyed(path: str | os.PathLike[str]) -> dict[str, int]:
    """A flat-keyed file (memory.events, pids.events, cpu.stat): ``key value`` per line."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        return {}
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


class V2Cgroup(NamedTuple):
    name: str
    path: str

    def paths(self) -> tuple[str, ...]:
        return (self.path,)

    def add(self, pid: int) -> None:
        write(f"{self.path}/cgroup.procs", str(pid))

    def join_files(self) -> tuple[str, ...]:
        # v2 has no per-thread move outside threaded subtrees; "0" names the writer.
        return (f"{self.path}/cgroup.procs",)

    def pids(self) -> tuple[int, ...]:
        return tuple(sorted(read_pids(f"{self.path}/cgroup.procs")))

    def oom_killed(self) -> bool:
        return read_keyed(f"{self.path}/memory.events").get("oom_kill", 0) > 0

    def pids_limit_hit(self) -> int:
        return read_keyed(f"{self.path}/pids.events").get("max", 0)

    def destroy(self) -> None:
        # rmdir first: it succeeds only on a cgroup without tasks (EBUSY while one, even a
        # zombie, is inside), so after a container's normal end nothing more is read.
        try:
            os.rmdir(self.path)
            return
        except FileNotFoundError:
            return
        except OSError:
            pass
        if not os.path.isdir(self.path):
            return
        kill_file = f"{self.path}/cgroup.kill"
        has_kill = os.path.exists(kill_file)
        if has_kill and self.pids():
            write(kill_file, "1")
        deadline = time.monotonic() + 10
        while pids := self.pids():
            if not has_kill:
                for pid in pids:
                    try:
                        os.kill(pid, SIGKILL)
                    except ProcessLookupError:
                        continue
            if time.monotonic() > deadline:
                raise CgroupUnavailable(f"cgroup {self.path}: processes {pids} did not exit")
            time.sleep(0.02)
        rmdir_released(self.path, timeout=max(0.0, deadline - time.monotonic()))


SUPERVISOR = "hardbox-supervisor"  # the leaf hardbox moves itself into (see above)


class V2Manager(NamedTuple):
    parent: str  # our own cgroup directory (the parent of hardbox-supervisor, if we are in it)
    root: str  # where the hierarchy is mounted: the one cgroup exempt from the rule

    @property
    def version(self) -> int:
        return 2

    @classmethod
    def discover(cls, mounts: list[Mount] | None = None) -> V2Manager:
        mount = next((m for m in (cgroup_mounts() if mounts is None else mounts) if m.fstype == "cgroup2"), None)
        own = own_cgroups().get("")
        if mount is None or own is None:
            raise CgroupUnavailable("cgroup v2: the unified hierarchy is not mounted")
        parent = beneath(mount, own)
        if os.path.basename(parent) == SUPERVISOR:
            parent = os.path.dirname(parent)
        return cls(parent, mount.path)

    def _file(self, name: str) -> str:
        return join(self.parent, name)

    def available(self) -> frozenset[str]:
        controllers = self._file("cgroup.controllers")
        try:
            return frozenset(read_text(controllers).split())
        except OSError as err:
            raise CgroupUnavailable(f"read {controllers}: {err.strerror}") from err

    def _enable(self, needed: set[str]) -> None:
        missing = needed - self.available()
        if missing:
            raise CgroupUnavailable(
                f"cgroup v2: controller(s) {', '.join(sorted(missing))} not available in "
                f"{self._file('cgroup.controllers')}"
            )
        control = self._file("cgroup.subtree_control")
        enabled = set(read_text(control).split())
        if needed - enabled:
            self._empty_own_cgroup()
            write(control, " ".join(f"+{c}" for c in sorted(needed - enabled)))

    def _empty_own_cgroup(self) -> None:
        """Leave our own cgroup for the leaf beside the containers' (see the module doc)."""
        if self.parent == self.root:
            return
        procs = self._file("cgroup.procs")
        try:
            inside = {int(p) for p in read_text(procs).split()}
        except OSError as err:
            raise CgroupUnavailable(f"read {procs}: {err.strerror}") from err
        others = inside - {os.getpid()}
        if others:
            # The way out goes in the message: an if-available profile shows only that.
            raise CgroupUnavailable(
                f"cgroup v2: {self.parent} holds {len(others)} other process(es), and a cgroup "
                "with processes of its own cannot hand controllers to the containers' cgroups; "
                "give hardbox one of its own: systemd-run --scope -p Delegate=yes hardbox run ... "
                "(with --user when not root)"
            )
        if not inside:
            return  # we are already in the supervisor leaf
        leaf = self._file(SUPERVISOR)
        try:
            os.mkdir(leaf, 0o755)
        except FileExistsError:
            pass
        except OSError as err:
            raise CgroupUnavailable(f"mkdir {leaf}: {err.strerror}") from err
        write(f"{leaf}/cgroup.procs", "0")

    def create(self, name: str, limits: CgroupLimits) -> V2Cgroup:
        needed = {
            c
            for c, want in (("memory", limits.memory), ("pids", limits.pids), ("cpu", limits.cpus))
            if want is not None
        }
        if needed:
            self._enable(needed)
        path = self._file(f"hardbox-{check_name(name)}")
        try:
            os.mkdir(path, 0o755)
        except FileExistsError as err:
            raise CgroupUnavailable(f"mkdir {path}: a cgroup of that name exists") from err
        except OSError as err:
            raise CgroupUnavailable(f"mkdir {path}: {err.strerror}") from err
        cgroup = V2Cgroup(name, path)
        try:
            apply_limits(path, limits)
            if limits.devices is not None:
                attach_program(path, limits.devices)
        except BaseException:
            cgroup.destroy()
            raise
        return cgroup

    def open(self, name: str) -> V2Cgroup:
        return V2Cgroup(name, self._file(f"hardbox-{check_name(name)}"))

    def open_recorded(self, name: str, paths: Sequence[str | os.PathLike[str]]) -> V2Cgroup:
        """The cgroup a container recorded (``hardbox rm`` may run from another cgroup than
        the one that started it); only a ``hardbox-<name>`` directory of this hierarchy."""
        for path in paths:
            if recorded_path_ok(path, name, self.root):
                return V2Cgroup(name, normpath(path))
        return self.open(name)


def apply_limits(path: str, limits: CgroupLimits) -> None:
    if limits.memory is not None:
        write(f"{path}/memory.max", str(limits.memory))
        if os.path.exists(f"{path}/memory.swap.max"):
            write(f"{path}/memory.swap.max", "0")
    if limits.pids is not None:
        write(f"{path}/pids.max", str(limits.pids))
    if limits.cpus is not None:
        write(f"{path}/cpu.max", f"{cpu_quota(limits.cpus)} {CPU_PERIOD_US}")
