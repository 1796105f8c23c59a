"""Writing beneath one directory without ever following a symbolic link.

A layer is hostile input: an entry ``a -> /etc`` followed by ``a/passwd`` must not write the
host's ``/etc/passwd`` (the class of bug behind CVE-2018-15664 in ``docker cp``, and the
reason runc, umoci and containerd grew "securejoin" helpers). Rather than resolving
and re-checking paths, every operation here is an ``*at`` system call relative to a
directory file descriptor obtained by walking from the root one component at a time with
``O_NOFOLLOW | O_DIRECTORY``; a component that is a symlink or a file stops the walk with
``Refused``. Final components are created with ``O_EXCL``/``mkdirat``/``symlinkat``/
``linkat`` (which never follow) and changed with the ``follow_symlinks=False`` variants.

Nothing else writes to the tree while a layer is applied (it is a fresh directory in the
store's 0700 tmp area), so a cache of directory descriptors stays truthful as long as this
class drops the entries of every directory it removes.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Parts = tuple[str, ...]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Cached directory descriptors are dropped when more than this many are open; each entry
# opens at most two parent chains (hardlinks), bounded by the layer's depth limit.
_CACHE_SIZE = 64


class Refused(Exception):
    """The layer asks for something that would leave the tree or cannot be represented."""


class Cleared:
    """What ``RootedTree.clear`` found at a path before the new entry takes it."""

    ABSENT = "absent"
    KEPT_DIR = "kept-dir"  # both old and new are directories: OCI keeps the children
    REMOVED = "removed"
    REMOVED_DIR = "removed-dir"
    REMOVED_REPLACEABLE = "removed-replaceable"


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


def show(parts: Parts) -> str:
    return "/".join(parts) or "/"


class RootedTree:
    """A directory tree written only through descriptors beneath ``root`` (empty at first).

    The tree remembers what it created, so most entries need no ``stat`` to learn that
    their path is free. Records about a path (created here, a replaceable whiteout, the
    caller's own) carry a ``stamp``; removing a directory tree stamps its path, and
    ``alive(parts, stamp)`` says whether a record outlived every removal above it. That
    keeps removals O(1) whatever a hostile layer piles up below the removed directory.
    ``on_implicit_dir(parts, replaced)`` is told of every directory created because an
    entry's parent was missing (``replaced``: it took the place of a whiteout).
    """

    def __init__(self, root: Path, on_implicit_dir: Callable[[Parts, bool], None]) -> None:
        self._root_fd = os.open(root, _DIR_FLAGS)
        if os.listdir(self._root_fd):
            os.close(self._root_fd)
            raise FileExistsError(errno.ENOTEMPTY, "layer destination is not empty", str(root))
        self._fds: dict[Parts, int] = {}
        self._on_implicit_dir = on_implicit_dir
        self._clock = 0
        self._removed: dict[Parts, int] = {}  # directory trees removed, and when
        self._present: dict[Parts, int] = {}  # entries created here, and when
        self._replaceable: dict[Parts, int] = {}  # whiteout devices a directory may replace

    def stamp(self) -> int:
        self._clock += 1
        return self._clock

    def alive(self, parts: Parts, stamp: int) -> bool:
        """Whether a record made at ``stamp`` still holds: no directory tree at or above
        ``parts`` was removed since."""
        removed = self._removed
        return not removed or all(removed.get(parts[:i], 0) < stamp for i in range(1, len(parts) + 1))

    def _created(self, parts: Parts) -> None:
        self._present[parts] = self.stamp()

    def exists(self, parts: Parts) -> bool:
        stamp = self._present.get(parts)
        return stamp is not None and self.alive(parts, stamp)

    def mark_replaceable(self, parts: Parts) -> None:
        self._replaceable[parts] = self.stamp()

    def is_replaceable(self, parts: Parts) -> bool:
        stamp = self._replaceable.get(parts)
        return stamp is not None and self.alive(parts, stamp)

    @property
    def root_fd(self) -> int:
        return self._root_fd

    def close(self) -> None:
        self.trim(0)
        os.close(self._root_fd)

    def trim(self, keep: int = _CACHE_SIZE) -> None:
        """Close cached descriptors when more than ``keep`` are open (call between entries)."""
        if len(self._fds) > keep:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    def dir_fd(self, parts: Parts, *, create: bool = True) -> int:
        """The directory ``parts``; missing ones are created (mode 0755) when ``create``."""
        if not parts:
            return self._root_fd
        fd = self._fds.get(parts)
        if fd is not None:
            return fd
        parent = self.dir_fd(parts[:-1], create=create)
        name = parts[-1]
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            fd = self._implicit_dir(parent, parts, replaced=False)
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            if not create or not self.is_replaceable(parts):
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory"
                raise Refused(f"parent {show(parts)!r} is {kind}; refusing to write through it") from None
            os.unlink(name, dir_fd=parent)
            del self._replaceable[parts]
            fd = self._implicit_dir(parent, parts, replaced=True)
        self._fds[parts] = fd
        return fd

    def _implicit_dir(self, parent: int, parts: Parts, *, replaced: bool) -> int:
        os.mkdir(parts[-1], 0o755, dir_fd=parent)
        fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
        os.fchmod(fd, 0o755)  # independent of the process umask
        self._created(parts)
        self._on_implicit_dir(parts, replaced)
        return fd

    def lstat(self, parts: Parts) -> os.stat_result | None:
        """The entry at ``parts`` itself (a symlink is not followed); None if absent."""
        if not self.exists(parts):
            return None
        try:
            return os.stat(parts[-1], dir_fd=self.dir_fd(parts[:-1], create=False), follow_symlinks=False)
        except FileNotFoundError:
            return None

    def clear(self, parts: Parts, *, keep_dir: bool) -> str:
        """Make room for a new entry at ``parts`` (image-spec "Changeset over existing files"):
        remove what is there unless both it and the new entry are directories."""
        parent = self.dir_fd(parts[:-1])
        if not self.exists(parts):
            return Cleared.ABSENT
        name = parts[-1]
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return Cleared.KEPT_DIR
            depth = len(parts)
            for key in [k for k in self._fds if k[:depth] == parts]:
                os.close(self._fds.pop(key))
            shutil.rmtree(name, dir_fd=parent)
            self._removed[parts] = self.stamp()
            del self._present[parts]
            return Cleared.REMOVED_DIR
        os.unlink(name, dir_fd=parent)
        del self._present[parts]
        if self._replaceable.pop(parts, None) is not None:
            return Cleared.REMOVED_REPLACEABLE
        return Cleared.REMOVED

    # -- creating entries; the caller has cleared the path first -------------------------

    def create_file(self, parts: Parts, permissions: int = 0o600) -> int:
        """A new regular file open for writing. A new file's descriptor is writable whatever
        ``permissions`` say, so giving the final bits here often saves an fchmod."""
        fd = os.open(parts[-1], _NEW_FILE_FLAGS, permissions & 0o777, dir_fd=self.dir_fd(parts[:-1]))
        self._created(parts)
        return fd

    def mkdir(self, parts: Parts) -> int:
        parent = self.dir_fd(parts[:-1])
        os.mkdir(parts[-1], 0o700, dir_fd=parent)
        self._created(parts)
        fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
        self._fds[parts] = fd
        return fd

    def symlink(self, parts: Parts, target: str) -> None:
        os.symlink(target, parts[-1], dir_fd=self.dir_fd(parts[:-1]))
        self._created(parts)

    def link(self, parts: Parts, target: Parts) -> None:
        """A hardlink to the existing non-directory ``target`` (linkat without FOLLOW)."""
        target_parent = self.dir_fd(target[:-1], create=False)
        os.link(
            target[-1],
            parts[-1],
            src_dir_fd=target_parent,
            dst_dir_fd=self.dir_fd(parts[:-1]),
            follow_symlinks=False,
        )
        self._created(parts)

    def mknod(self, parts: Parts, mode: int, device: int) -> None:
        os.mknod(parts[-1], mode, device, dir_fd=self.dir_fd(parts[:-1]))
        self._created(parts)

    def mkfifo(self, parts: Parts) -> None:
        os.mkfifo(parts[-1], 0o600, dir_fd=self.dir_fd(parts[:-1]))
        self._created(parts)

    # -- metadata of entries that are not open (symlinks, devices, fifos) ----------------

    def lchown(self, parts: Parts, uid: int, gid: int) -> None:
        os.chown(parts[-1], uid, gid, dir_fd=self.dir_fd(parts[:-1]), follow_symlinks=False)

    def chmod_special(self, parts: Parts, mode: int) -> None:
        """chmod a device node or fifo this tree just made (Linux has no lchmod; the name
        cannot be a symlink because nothing else writes here)."""
        os.chmod(parts[-1], mode, dir_fd=self.dir_fd(parts[:-1]))

    def set_times(self, parts: Parts, atime_ns: int, mtime_ns: int) -> None:
        os.utime(parts[-1], ns=(atime_ns, mtime_ns), dir_fd=self.dir_fd(parts[:-1]), follow_symlinks=False)

    def lsetxattr(self, parts: Parts, name: str, value: bytes) -> None:
        # There is no setxattrat(2) before Linux 6.13: go through the parent's descriptor in
        # /proc/self/fd (a trusted directory) and do not follow the final component.
        path = f"/proc/self/fd/{self.dir_fd(parts[:-1])}/{parts[-1]}"
        os.setxattr(path, name, value, follow_symlinks=False)

    def empty(self) -> None:
        """Remove everything beneath the root (after a failed apply), keeping the root."""
        self.trim(0)
        self._present.clear()
        self._replaceable.clear()
        self._removed.clear()
        for name in os.listdir(self._root_fd):
            st = os.stat(name, dir_fd=self._root_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(name, dir_fd=self._root_fd)
            else:
                os.unlink(name, dir_fd=self._root_fd)
