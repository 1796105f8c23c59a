"""fcntl file locks for the store.

``flock`` locks belong to an open file description and die with the process, so a killed
``hardbox image import`` never leaves a lock behind; the next store open can tell a live
import's temp directory (locked) from a dead one's (lockable) and remove only the latter.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (or shared) lock on ``path`` (created if missing) for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class HeldLock:
    """A lock taken now and released by ``release()`` (or at process death)."""

    def __init__(self, path: Path, *, blocking: bool = True) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(self._fd, flags)
        except BaseException:
            os.close(self._fd)
            self._fd = None
            raise

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def fresh_lock(path: Path) -> HeldLock:
    """Create-and-lock ``path``, making sure the file we locked is still the one at ``path``:
    a cleaner may unlink a lock file between our open and our flock, and a lock on an
    unlinked file protects nothing."""
    while True:
        lock = HeldLock(path)
        assert lock._fd is not None
        try:
            same = os.stat(path).st_ino == os.fstat(lock._fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return lock
        lock.release()


def try_lock(path: Path) -> HeldLock | None:
    """The lock on ``path`` if nobody holds it, else ``None`` (never waits)."""
    try:
        return HeldLock(path, blocking=False)
    except BlockingIOError:
        return None
