"""Who the OOM killer killed in a container, so the run can say it.

The cgroup tells only that it happened (``memory.events`` ``oom_kill``, v1's
``memory.oom_control``). The kernel log says whom: for every kill in a memory cgroup it
prints ``oom-kill:constraint=CONSTRAINT_MEMCG,...,oom_memcg=PATH,...,task=NAME,pid=PID,...``
(mm/oom_kill.c, dump_oom_summary). A run with a memory limit opens ``/dev/kmsg`` at the start,
positioned at its end, and reads what came since when the container exits: a kill of one
process of a container that goes on is then reported as that, naming the process, instead
of "the container was killed". Where the log cannot be read (no /dev/kmsg, dmesg_restrict for
a rootless caller), the report says a process was killed without naming it.
"""

from __future__ import annotations

import errno
import os

from hardbox.records import NamedTuple

KMSG = "/dev/kmsg"
# Compiled by ``victims`` (only after the cgroup reported a kill): a run loads no ``re``.
KILL_PATTERN = r"oom-kill:.*\boom_memcg=(?P<memcg>[^,]*),.*\btask=(?P<task>[^,]*),pid=(?P<pid>\d+)"


class Victim(NamedTuple):
    task: str  # the process name the kernel prints (comm)
    pid: int  # the host pid


class OomWatch:
    """The kernel log from now on, filtered to one container's cgroup (``hardbox-<name>``)."""

    def __init__(self, cgroup_dir_name: str) -> None:
        self.cgroup_dir_name = cgroup_dir_name
        self._fd: int | None = None
        try:
            fd = os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return  # no log to read: the report will not name the process
        try:
            os.lseek(fd, 0, os.SEEK_END)  # only what the container's life adds
        except OSError:
            os.close(fd)
            return
        self._fd = fd

    def victims(self) -> list[Victim]:
        """The kills recorded in this container's cgroup since the watch began."""
        if self._fd is None:
            return []
        import re

        kill = re.compile(KILL_PATTERN)
        found: list[Victim] = []
        while True:
            try:
                record = os.read(self._fd, 8192)  # one record per read (Documentation/ABI/testing/dev-kmsg)
            except BlockingIOError:
                break
            except OSError as err:
                if err.errno == errno.EPIPE:
                    continue  # records were overwritten before we read them; go on with the rest
                break
            if not record:
                break
            text = record.decode(errors="replace")
            match = kill.search(text)
            if match and match["memcg"].rstrip("/").rsplit("/", 1)[-1] == self.cgroup_dir_name:
                found.append(Victim(match["task"], int(match["pid"])))
        return found

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def report(victims: list[Victim], pid1: int, exit_code: int, limit: int | None) -> str:
    """The run's one line about an OOM kill (``hardbox: `` is added by the caller)."""
    at = f" at the memory limit ({_mib(limit)})" if limit else " at the memory limit"
    main_killed = any(v.pid == pid1 for v in victims) or (not victims and exit_code == 137)
    if main_killed:
        name = next((f" ({v.task})" for v in victims if v.pid == pid1), "")
        return f"the container's main process{name} was killed by the OOM killer{at}; the container stopped"
    named = ", ".join(f"{v.task} (host pid {v.pid})" for v in victims) or "a process"
    return (f"{named} in the container was killed by the OOM killer{at}; "
            f"the container went on and exited with status {exit_code}")


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g} MiB"
