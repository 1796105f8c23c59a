"""The probes die with ``hardbox minimize``: a parent-death signal on every process it starts.

A probe is ``hardbox run`` in a subprocess, traced by ``strace -f``. Killed with SIGKILL,
minimize gets no chance to clean up, so each child is tied to its parent by the kernel:
``PR_SET_PDEATHSIG`` (prctl(2)) sends it SIGKILL when the parent dies. The flag survives
execve but not fork, so ``strace``'s own child (the probe's hardbox) sets it again through
this module's ``__main__``: ``python -m hardbox.minimize.lifeline PARENT_PID -- ARGV...``
arms it and execs ARGV. The probe's container then dies with its hardbox (the runtime arms
PID 1 the same way), leaving a stale record that ``hardbox rm`` or ``image prune`` cleans.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence

from hardbox.runtime import syscalls


def arm(parent: int) -> None:
    """SIGKILL this process when ``parent`` dies; if it already died (before the prctl took
    effect, we were reparented), die now."""
    syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


def armed_preexec() -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess`` that ties the child to this process."""
    parent = os.getpid()
    return lambda: arm(parent)


def tied(argv: Sequence[str]) -> list[str]:
    """``argv`` run so that it dies with whichever process starts it (strace, minimize)."""
    return [sys.executable, "-m", "hardbox.minimize.lifeline", "--", *argv]


def main(args: Sequence[str]) -> None:
    argv = list(args[1:]) if args and args[0] == "--" else list(args)
    if not argv:
        sys.exit("usage: python -m hardbox.minimize.lifeline -- ARGV...")
    # Our parent is whoever forked us (minimize or strace); the exec keeps the flag.
    arm(os.getppid())
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
