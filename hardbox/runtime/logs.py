"""Reading a detached container's log: ``hardbox logs [--tail N] [-f]``.

The log is the file the detached monitor (lifecycle.py) hands the container as stdout and
stderr. The monitor takes an exclusive ``flock`` on it before the container starts, and the
container inherits that open file, so the lock is held for exactly as long as anything that
can still write to the log lives. ``follow`` uses that as its end: it copies what is there,
then what is appended, and stops once a shared lock can be had, which is when the container
and its monitor are gone (``docker logs -f`` stops when the container exits). A log removed
under it (``--rm``) is still read to its end through the descriptor already open.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable

_BLOCK = 1 << 16
POLL_SECONDS = 0.1


def tail_offset(fd: int, lines: int | None) -> int:
    """Where the last ``lines`` lines of the file start (None: all of it, offset 0). A last
    line without a newline counts as a line, as in tail(1)."""
    if lines is None:
        return 0
    end = os.fstat(fd).st_size
    if lines <= 0:
        return end
    pos = end
    wanted = lines
    # A newline as the file's last byte ends the last line; it does not start another one.
    if end and os.pread(fd, 1, end - 1) == b"\n":
        pos -= 1
    while pos > 0:
        size = min(_BLOCK, pos)
        block = os.pread(fd, size, pos - size)
        idx = len(block)
        while True:
            idx = block.rfind(b"\n", 0, idx)
            if idx < 0:
                break
            wanted -= 1
            if wanted == 0:
                return pos - size + idx + 1
        pos -= size
    return 0


def writers_gone(fd: int) -> bool:
    """Nothing that holds the monitor's lock on this file lives any more."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
            return False
        raise
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def copy_log(fd: int, write: Callable[[bytes], object], *, follow: bool,
             poll: float = POLL_SECONDS) -> None:
    """Copy from ``fd``'s offset to its end; with ``follow``, keep copying what is appended
    until the writers are gone (checked before the last read, so nothing is left behind)."""
    while True:
        done = follow and writers_gone(fd)
        while chunk := os.read(fd, _BLOCK):
            write(chunk)
        if not follow or done:
            return
        time.sleep(poll)
