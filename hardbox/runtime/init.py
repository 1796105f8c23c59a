"""``--init``: a minimal PID 1 that reaps orphans and forwards signals to the workload.

A container's PID 1 gets no default signal actions (the kernel ignores SIGTERM sent to a
pid namespace's init unless it installed a handler, kernel/signal.c sig_task_ignored), and
it inherits every orphan of the namespace. An ordinary program is neither ready to die on
SIGTERM nor to reap zombies, so with ``--init`` the fully hardened container process (same
namespaces, user, capabilities and seccomp filter) forks the workload and stays as PID 1: it
forwards every catchable signal to the workload, reaps every child, and exits with the
workload's status (128+N for a signal, as a shell reports it), like tini or docker-init.
"""

from __future__ import annotations

import _signal  # the C module: run and exec load no signal.py (its enums: bench/RESULTS.md)
import os

from hardbox.records import TYPE_CHECKING
from hardbox.runtime import syscalls

if TYPE_CHECKING:
    from collections.abc import Callable

# The signals with a name (signal.Signals' members: SIGHUP..SIGSYS, SIGRTMIN, SIGRTMAX)...
_NAMED = {value for name, value in vars(_signal).items()
          if name.startswith("SIG") and not name.startswith("SIG_") and type(value) is int}
# ...that a process may catch, except SIGCHLD which the loop itself waits on.
FORWARDED = tuple(
    s for s in sorted(_signal.valid_signals())
    if s not in (_signal.SIGKILL, _signal.SIGSTOP, _signal.SIGCHLD) and s in _NAMED
)


# What /proc/1/cmdline shows of the init: hardbox's own command line held host paths,
# volume sources and -e values (issue 18).
INIT_NAME = b"hardbox-init"


def hide_host_process() -> None:
    """Before the init forks the workload: blank the argv and environment areas the kernel
    shows in /proc/1/cmdline and /proc/1/environ (they are this interpreter's, started on
    the host), leaving ``hardbox-init``, and make the init non-dumpable so the container
    cannot ptrace-read it either. The workload's exec gets its own areas and dumpability."""

    with open("/proc/self/stat", "rb") as fh:
        fields = fh.read().rpartition(b")")[2].split()
    # proc(5): arg_start, arg_end, env_start, env_end are fields 48-51; fields[0] is field 3.
    arg_start, arg_end, env_start, env_end = (int(f) for f in fields[45:49])
    # The credential changes made this process non-dumpable, which gives its /proc files
    # to host root (proc(5), task_dump_owner); dumpable for the one open, while no other
    # process of the container exists yet, then never again.
    syscalls.prctl(syscalls.PR_SET_DUMPABLE, 1)
    try:
        mem_file = open("/proc/self/mem", "r+b", buffering=0)  # noqa: SIM115 - closed below
    finally:
        syscalls.prctl(syscalls.PR_SET_DUMPABLE, 0)
    with mem_file as mem:
        if arg_end > arg_start:
            mem.seek(arg_start)
            mem.write(INIT_NAME[: arg_end - arg_start - 1].ljust(arg_end - arg_start, b"\0"))
        if env_end > env_start:
            mem.seek(env_start)
            mem.write(bytes(env_end - env_start))


def exit_status(status: int) -> int:
    """A wait status as a shell exit code: the code, or 128+signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def run_as_init(start_workload: Callable[[], None], close_in_init: tuple[int, ...] = ()) -> None:
    """Fork; the child runs ``start_workload`` (which execs); this process reaps and forwards.

    Never returns. ``close_in_init`` are descriptors the init must not keep (the exec-status
    pipe: only the workload's exec may close the last copy).
    """
    workload = os.fork()
    if workload == 0:
        for sig in FORWARDED:
            _signal.signal(sig, _signal.SIG_DFL)
        start_workload()
        os._exit(127)  # start_workload execs or exits itself
    for fd in close_in_init:
        os.close(fd)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(workload, signum)
        except ProcessLookupError:
            return  # it just exited; reaped below

    for sig in FORWARDED:
        try:
            _signal.signal(sig, forward)
        except (OSError, ValueError):
            continue  # a few (SIGRTMIN-based) may be reserved by the C library
    while True:
        pid, status = os.wait()
        if pid == workload:
            os._exit(exit_status(status))
