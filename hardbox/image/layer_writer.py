"""Creating a layer's small regular files on a few threads.

Creating a file is the slow part of unpacking a layer: ``openat(O_CREAT)`` costs a journal
transaction, and on virtual disks it is mostly waiting, not CPU. The tar must be read in
order on one thread, but once an entry's bytes are in memory, creating, filling and
stamping the file is independent of every other entry — unless a later entry touches the
same path. So the applier hands small files to this pool together with a duplicate of
their parent directory's descriptor (the file is still created with ``O_EXCL|O_NOFOLLOW``
beneath it), and waits for a pending path before any entry that replaces it, links to it,
whites it out or walks through it, and for every pending file before removing a directory
tree or finishing the layer.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hardbox.image.tarsafe import Parts

_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
THREADS = 4
MAX_PENDING_BYTES = 64 << 20
MAX_PENDING_FILES = 512


class WriteFailed(Exception):
    """Writing one entry failed on a worker thread; ``error`` is the OSError."""

    def __init__(self, entry: str, error: OSError) -> None:
        super().__init__(f"{entry!r}: {error.strerror or error}")
        self.entry = entry
        self.error = error


@dataclass(frozen=True)
class FileJob:
    """Everything needed to create one regular file; ``parent_fd`` is owned by the job."""

    entry: str
    parent_fd: int
    name: str
    data: bytes
    uid: int
    gid: int
    xattrs: tuple[tuple[str, bytes], ...]
    mode: int
    times_ns: tuple[int, int]
    chown: bool = True  # False when a new file already gets uid/gid (see Applier._file)
    chmod: bool = True  # False when creating with ``mode`` already gives exactly ``mode``


@dataclass(frozen=True)
class FileOutcome:
    warnings: tuple[str, ...]
    chown_denied: bool


@dataclass(frozen=True)
class CreationDefaults:
    """What a file created in the tree gets without fchown/fchmod: the process's owner and
    its umask. Unknown (None) when the root is setgid (new files take its group) or has a
    default ACL (which replaces the umask); then every file is chowned and chmodded."""

    owner: tuple[int, int]
    umask: int

    @classmethod
    def of(cls, root_fd: int) -> CreationDefaults | None:
        if os.fstat(root_fd).st_mode & stat.S_ISGID or "system.posix_acl_default" in os.listxattr(root_fd):
            return None
        try:
            status = Path("/proc/self/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("Umask:"):
                return cls((os.geteuid(), os.getegid()), int(line.split()[1], 8))
        return None


def write_file(job: FileJob) -> FileOutcome:
    """Create and fill the file, then chown, xattrs, chmod, times (see layer_apply)."""
    try:
        # The permission bits are given at creation: a new file's descriptor is writable
        # whatever its mode, and it saves an fchmod when the umask leaves the bits alone.
        fd = os.open(job.name, _NEW_FILE_FLAGS, job.mode & 0o777, dir_fd=job.parent_fd)
    except OSError as exc:
        raise WriteFailed(job.entry, exc) from None
    finally:
        os.close(job.parent_fd)
    warnings: list[str] = []
    chown_denied = False
    try:
        view = memoryview(job.data)
        while view:
            view = view[os.write(fd, view) :]
        if job.chown:
            try:
                os.fchown(fd, job.uid, job.gid)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EINVAL):
                    raise
                chown_denied = True
        for name, value in job.xattrs:
            try:
                os.setxattr(fd, name, value)
            except OSError as exc:
                warnings.append(f"{job.entry!r}: xattr {name!r} not set: {exc.strerror}")
        if job.chmod:
            os.fchmod(fd, job.mode)
        os.utime(fd, ns=job.times_ns)
    except OSError as exc:
        raise WriteFailed(job.entry, exc) from None
    finally:
        os.close(fd)
    return FileOutcome(tuple(warnings), chown_denied)


class FileWriter:
    """A bounded pool of pending ``FileJob``s keyed by the path they create."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="layer-write")
        self._pending: dict[Parts, Future[FileOutcome]] = {}
        self._order: deque[tuple[Parts, Future[FileOutcome], FileJob]] = deque()
        self._bytes = 0
        self.warnings: list[str] = []
        self.chown_denied = 0

    def submit(self, parts: Parts, job: FileJob) -> None:
        while self._order and (
            self._bytes + len(job.data) > MAX_PENDING_BYTES or len(self._order) >= MAX_PENDING_FILES
        ):
            self._collect_oldest()
        future = self._pool.submit(write_file, job)
        self._pending[parts] = future
        self._order.append((parts, future, job))
        self._bytes += len(job.data)
        while self._order and self._order[0][1].done():
            self._collect_oldest()

    def wait_for(self, paths: Iterable[Parts]) -> None:
        """Wait until none of ``paths`` is still being written."""
        if self._pending and any(p in self._pending for p in paths):
            self.wait_all()

    def wait_all(self) -> None:
        while self._order:
            self._collect_oldest()

    def _collect_oldest(self) -> None:
        parts, future, job = self._order.popleft()
        self._bytes -= len(job.data)
        if self._pending.get(parts) is future:
            del self._pending[parts]
        outcome = future.result()  # re-raises WriteFailed from the worker
        self.warnings.extend(outcome.warnings)
        self.chown_denied += outcome.chown_denied

    def abandon(self) -> None:
        """After a failure: let running jobs end, drop their results, stop the threads."""
        for _, future, job in self._order:
            if future.cancel():
                os.close(job.parent_fd)  # never reached write_file, which would close it
        self._pool.shutdown(wait=True)
        self._order.clear()
        self._pending.clear()

    def close(self) -> None:
        self.wait_all()
        self._pool.shutdown(wait=True)
