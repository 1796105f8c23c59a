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

import contextlib
import os
import signal
from collections.abc import Callable

# Every signal a process may catch, except SIGCHLD which the loop itself waits on.
FORWARDED = tuple(
    s for s in signal.valid_signals()
    if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD) and isinstance(s, signal.Signals)
)


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
            signal.signal(sig, signal.SIG_DFL)
        start_workload()
        os._exit(127)  # start_workload execs or exits itself
    for fd in close_in_init:
        os.close(fd)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):  # it just exited; reaped below
            os.kill(workload, signum)

    for sig in FORWARDED:
        try:
            signal.signal(sig, forward)
        except (OSError, ValueError):
            continue  # a few (SIGRTMIN-based) may be reserved by the C library
    while True:
        pid, status = os.wait()
        if pid == workload:
            os._exit(exit_status(status))
