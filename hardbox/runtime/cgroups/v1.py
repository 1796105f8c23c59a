"""cgroup v1 (legacy and hybrid hosts): one directory per controller hierarchy.

For each of memory, pids and cpu, the container's cgroup is ``hardbox-<name>`` beneath the
cgroup this process is in *in that hierarchy* (/proc/self/cgroup lists one per controller).
A true memory limit also caps memory+swap (``memory.memsw.limit_in_bytes``, present when the
kernel accounts swap), as ``docker run --memory`` without ``--memory-swap`` does not — we
prefer no swap, so the OOM killer acts at the limit. The device allow-list goes to the
``devices`` hierarchy (cgroups/devices.py). Only the hierarchies a cgroup enforces something
in get a directory.
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
    DevicesUnavailable,
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
from hardbox.runtime.cgroups.devices import apply_v1

if TYPE_CHECKING:
    from collections.abc import Sequence

CONTROLLERS = ("memory", "pids", "cpu", "devices")


class V1Cgroup(NamedTuple):
    name: str
    dirs: dict[str, str]  # controller -> directory

    def paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.dirs.values()))

    def add(self, pid: int) -> None:
        for path in self.paths():
            write(f"{path}/cgroup.procs", str(pid))

    def join_files(self) -> tuple[str, ...]:
        # ``tasks``, not ``cgroup.procs``: a thread moving itself skips the global
        # threadgroup lock, whose write side waits out an RCU grace period (10-20 ms here;
        # kernel/cgroup/cgroup.c, cgroup_procs_write_start). A single-threaded process
        # moving its one thread has moved itself whole.
        return tuple(f"{path}/tasks" for path in self.paths())

    def pids(self) -> tuple[int, ...]:
        return self._pids(self.paths())

    @staticmethod
    def _pids(paths: tuple[str, ...]) -> tuple[int, ...]:
        found: set[int] = set()
        for path in paths:
            found.update(read_pids(f"{path}/cgroup.procs"))
        return tuple(sorted(found))

    def _oom_control(self) -> dict[str, int]:
        path = self.dirs.get("memory")
        if path is None:
            return {}
        try:
            lines = read_text(f"{path}/memory.oom_control").splitlines()
        except FileNotFoundError:
            return {}
        return {k: int(v) for k, v in (line.split() for line in lines if len(line.split()) == 2)}

    def oom_killed(self) -> bool:
        # "oom_kill N" appeared in memory.oom_control in Linux 4.13; before that, a memory
        # failcnt > 0 with a dead task is the best evidence there is.
        control = self._oom_control()
        if "oom_kill" in control:
            return control["oom_kill"] > 0
        path = self.dirs.get("memory")
        return bool(path and int(read_text(f"{path}/memory.failcnt")) > 0)

    def pids_limit_hit(self) -> int:
        """How often a fork failed at pids.max (v1 has no pids.events counter per-se)."""
        path = self.dirs.get("pids")
        if path is None:
            return 0
        try:
            text = read_text(f"{path}/pids.events")
        except FileNotFoundError:
            return 0
        fields = dict(line.split() for line in text.splitlines() if line.strip())
        return int(fields.get("max", 0))

    def destroy(self) -> None:
        """Kill what is left inside (only processes of this cgroup), then remove it.

        Each directory is removed first: rmdir succeeds only on a cgroup that holds no task
        (EBUSY while one, even a zombie, is there), so after a container's normal end the
        cgroup.procs files need no reading. Only the directories that are still busy go
        through the kill-and-wait below."""
        busy = tuple(path for path in self.paths() if not _removed(path))
        if not busy:
            return
        deadline = time.monotonic() + 10
        while pids := self._pids(busy):
            for pid in pids:
                try:
                    os.kill(pid, SIGKILL)
                except ProcessLookupError:
                    continue
            if time.monotonic() > deadline:
                raise CgroupUnavailable(f"cgroup {self.name}: processes {pids} did not exit after SIGKILL")
            time.sleep(0.02)
        for path in busy:
            rmdir_released(path)


def _removed(path: str) -> bool:
    """rmdir ``path`` if the kernel lets it go now; False while it is busy (or cannot be
    removed for another reason: the caller's ``rmdir_released`` names that)."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


class V1Manager(NamedTuple):
    parents: dict[str, str]  # controller -> our own cgroup directory in that hierarchy

    @property
    def version(self) -> int:
        return 1

    @classmethod
    def discover(cls, all_mounts: list[Mount] | None = None) -> V1Manager:
        own = own_cgroups()
        parents: dict[str, str] = {}
        mounts = [m for m in (cgroup_mounts() if all_mounts is None else all_mounts) if m.fstype == "cgroup"]
        for controller in CONTROLLERS:
            mount = next((m for m in mounts if controller in m.options), None)
            if mount is None or controller not in own:
                continue
            parents[controller] = beneath(mount, own[controller])
        if not parents:
            raise CgroupUnavailable("cgroup v1: none of memory, pids, cpu, devices is mounted")
        return cls(parents)

    def _dirs(self, name: str) -> dict[str, str]:
        leaf = f"hardbox-{check_name(name)}"
        return {c: join(p, leaf) for c, p in self.parents.items()}

    def create(self, name: str, limits: CgroupLimits) -> V1Cgroup:
        needed = {
            "memory": limits.memory is not None,
            "pids": limits.pids is not None,
            "cpu": limits.cpus is not None,
        }
        missing = [c for c, want in needed.items() if want and c not in self.parents]
        if missing:
            raise CgroupUnavailable(f"cgroup v1: controller(s) {', '.join(missing)} not mounted")
        if limits.devices is not None:
            if "devices" not in self.parents:
                raise DevicesUnavailable("cgroup v1: the devices controller is not mounted (see /proc/self/mountinfo)")
            needed["devices"] = True
        dirs = self._dirs(name)
        cgroup = V1Cgroup(name, {c: dirs[c] for c, want in needed.items() if want})
        created: list[str] = []
        try:
            for controller, path in cgroup.dirs.items():
                error = DevicesUnavailable if controller == "devices" else CgroupUnavailable
                try:
                    os.mkdir(path, 0o755)
                except FileExistsError as err:
                    raise error(f"mkdir {path}: a cgroup of that name exists") from err
                except OSError as err:
                    raise error(f"mkdir {path}: {err.strerror}") from err
                created.append(path)
            _apply(cgroup, limits)
        except BaseException:
            for path in reversed(created):
                rmdir_released(path)
            raise
        return cgroup

    def open(self, name: str) -> V1Cgroup:
        dirs = {c: p for c, p in self._dirs(name).items() if os.path.isdir(p)}
        return V1Cgroup(name, dirs)

    def open_recorded(self, name: str, paths: Sequence[str | os.PathLike[str]]) -> V1Cgroup:
        """The directories a container recorded (``hardbox rm`` may run in other cgroups
        than the ``hardbox run`` that made them), each in the hierarchy of its controller."""
        dirs: dict[str, str] = {}
        for mount in cgroup_mounts():
            controller = next((c for c in CONTROLLERS if c in mount.options), None)
            if mount.fstype != "cgroup" or controller is None:
                continue
            for path in paths:
                if recorded_path_ok(path, name, mount.path) and os.path.isdir(path):
                    dirs[controller] = normpath(path)
        return V1Cgroup(name, dirs) if dirs else self.open(name)


def _apply(cgroup: V1Cgroup, limits: CgroupLimits) -> None:
    if limits.devices is not None:
        apply_v1(cgroup.dirs["devices"], limits.devices)
    if limits.memory is not None:
        memory = cgroup.dirs["memory"]
        write(f"{memory}/memory.limit_in_bytes", str(limits.memory))
        # memsw must be >= the memory limit, so it is written second. It exists where the
        # kernel accounts swap; elsewhere (ENOENT: cgroupfs creates no files) swappiness 0.
        try:
            write(f"{memory}/memory.memsw.limit_in_bytes", str(limits.memory))
        except CgroupUnavailable as err:
            if not isinstance(err.__cause__, FileNotFoundError):
                raise
            write(f"{memory}/memory.swappiness", "0")
    if limits.pids is not None:
        write(f"{cgroup.dirs['pids']}/pids.max", str(limits.pids))
    if limits.cpus is not None:
        cpu = cgroup.dirs["cpu"]
        write(f"{cpu}/cpu.cfs_period_us", str(CPU_PERIOD_US))
        write(f"{cpu}/cpu.cfs_quota_us", str(cpu_quota(limits.cpus)))
