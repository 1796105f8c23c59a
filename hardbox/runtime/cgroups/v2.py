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
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from hardbox.records import NamedTuple
from hardbox.runtime.cgroups.base import (
    CPU_PERIOD_US,
    CgroupLimits,
    CgroupUnavailable,
    Mount,
    beneath,
    cgroup_mounts,
    check_name,
    cpu_quota,
    own_cgroups,
    recorded_path_ok,
    rmdir_released,
    write,
)
from hardbox.runtime.cgroups.devices import attach_program


def read_keyed(path: Path) -> dict[str, int]:
    """A flat-keyed file (memory.events, pids.events, cpu.stat): ``key value`` per line."""
    try:
        text = path.read_text()
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
    path: Path

    def paths(self) -> tuple[Path, ...]:
        return (self.path,)

    def add(self, pid: int) -> None:
        write(self.path / "cgroup.procs", str(pid))

    def join_files(self) -> tuple[Path, ...]:
        # v2 has no per-thread move outside threaded subtrees; "0" names the writer.
        return (self.path / "cgroup.procs",)

    def pids(self) -> tuple[int, ...]:
        try:
            return tuple(sorted(int(p) for p in (self.path / "cgroup.procs").read_text().split()))
        except FileNotFoundError:
            return ()

    def oom_killed(self) -> bool:
        return read_keyed(self.path / "memory.events").get("oom_kill", 0) > 0

    def pids_limit_hit(self) -> int:
        return read_keyed(self.path / "pids.events").get("max", 0)

    def destroy(self) -> None:
        if not self.path.is_dir():
            return
        kill_file = self.path / "cgroup.kill"
        if kill_file.exists() and self.pids():
            write(kill_file, "1")
        deadline = time.monotonic() + 10
        while pids := self.pids():
            if not kill_file.exists():
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        continue
            if time.monotonic() > deadline:
                raise CgroupUnavailable(f"cgroup {self.path}: processes {pids} did not exit")
            time.sleep(0.02)
        rmdir_released(self.path, timeout=max(0.0, deadline - time.monotonic()))


SUPERVISOR = "hardbox-supervisor"  # the leaf hardbox moves itself into (see above)


class V2Manager(NamedTuple):
    parent: Path  # our own cgroup directory (the parent of hardbox-supervisor, if we are in it)
    root: Path  # where the hierarchy is mounted: the one cgroup exempt from the rule

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
        if parent.name == SUPERVISOR:
            parent = parent.parent
        return cls(parent, mount.path)

    def available(self) -> frozenset[str]:
        try:
            return frozenset((self.parent / "cgroup.controllers").read_text().split())
        except OSError as err:
            raise CgroupUnavailable(f"read {self.parent / 'cgroup.controllers'}: {err.strerror}") from err

    def _enable(self, needed: set[str]) -> None:
        missing = needed - self.available()
        if missing:
            raise CgroupUnavailable(
                f"cgroup v2: controller(s) {', '.join(sorted(missing))} not available in "
                f"{self.parent / 'cgroup.controllers'}"
            )
        control = self.parent / "cgroup.subtree_control"
        enabled = set(control.read_text().split())
        if needed - enabled:
            self._empty_own_cgroup()
            write(control, " ".join(f"+{c}" for c in sorted(needed - enabled)))

    def _empty_own_cgroup(self) -> None:
        """Leave our own cgroup for the leaf beside the containers' (see the module doc)."""
        if self.parent == self.root:
            return
        procs = self.parent / "cgroup.procs"
        try:
            inside = {int(p) for p in procs.read_text().split()}
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
        leaf = self.parent / SUPERVISOR
        try:
            leaf.mkdir(mode=0o755, exist_ok=True)
        except OSError as err:
            raise CgroupUnavailable(f"mkdir {leaf}: {err.strerror}") from err
        write(leaf / "cgroup.procs", "0")

    def create(self, name: str, limits: CgroupLimits) -> V2Cgroup:
        needed = {
            c
            for c, want in (("memory", limits.memory), ("pids", limits.pids), ("cpu", limits.cpus))
            if want is not None
        }
        if needed:
            self._enable(needed)
        path = self.parent / f"hardbox-{check_name(name)}"
        try:
            path.mkdir(mode=0o755)
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
        return V2Cgroup(name, self.parent / f"hardbox-{check_name(name)}")

    def open_recorded(self, name: str, paths: Sequence[Path]) -> V2Cgroup:
        """The cgroup a container recorded (``hardbox rm`` may run from another cgroup than
        the one that started it); only a ``hardbox-<name>`` directory of this hierarchy."""
        for path in paths:
            if recorded_path_ok(path, name, self.root):
                return V2Cgroup(name, path)
        return self.open(name)


def apply_limits(path: Path, limits: CgroupLimits) -> None:
    if limits.memory is not None:
        write(path / "memory.max", str(limits.memory))
        if (path / "memory.swap.max").exists():
            write(path / "memory.swap.max", "0")
    if limits.pids is not None:
        write(path / "pids.max", str(limits.pids))
    if limits.cpus is not None:
        write(path / "cpu.max", f"{cpu_quota(limits.cpus)} {CPU_PERIOD_US}")
