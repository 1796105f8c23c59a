"""Removing a container's state directory, descriptor by descriptor: ``rm -rf`` that never
follows a symlink.

What ``hardbox run --rm`` and ``hardbox rm`` delete is partly the container's own writing:
the overlay's upper dir holds whatever the workload made, so a name in it may be a symlink
to anywhere on the host, or become one while the walk runs. ``shutil.rmtree`` resists that
with its fd-based walk; this is the same walk without importing ``shutil`` (and the ``bz2``,
``lzma`` and ``zlib`` it loads: ~3 ms of a run's start-up, bench/RESULTS.md):

* every directory is opened relative to its parent's descriptor, by one name from that
  parent's listing, with ``O_NOFOLLOW | O_DIRECTORY``: a symlink (swapped in or not) makes
  the open fail instead of being followed, and the name is then unlinked — the link goes,
  never what it points to. No path with a slash is ever resolved below the top;
* every unlink and rmdir is ``unlinkat`` on the parent's descriptor, so a parent renamed
  or replaced meanwhile does not redirect it;
* an unprivileged owner (a rootless run) cannot list or empty a directory without owner
  ``rwx``: overlayfs leaves ``work/work`` at mode 000. Such a directory is opened first
  with ``O_PATH`` (no permission needed on it; still ``O_NOFOLLOW | O_DIRECTORY``) and made
  0700 through its descriptor's ``/proc/self/fd`` link, which names that inode and no path
  (``fchmod`` refuses ``O_PATH`` descriptors). Root needs no change of mode.

An entry that is gone when its turn comes was removed by someone else; that is not an error.
The walk keeps its own stack (a container can nest directories deeper than Python's
recursion limit, which stopped ``shutil.rmtree`` of 3.11 with a RecursionError, and than the
descriptor limit): see ``_empty``.
"""

from __future__ import annotations

import errno
import os

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_PATH_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OWNER_RWX = 0o700


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove ``path`` and everything below it; a symlink is removed, never followed.
    Raises ``FileNotFoundError`` when ``path`` does not exist, ``OSError`` on a failure."""
    path = os.fspath(path)
    parent, name = os.path.split(os.path.abspath(path))
    parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = _open_dir(parent_fd, name)
        except OSError as err:
            if err.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            os.unlink(name, dir_fd=parent_fd)  # a file or a symlink: the name itself goes
            return
        _empty(fd)
        os.rmdir(name, dir_fd=parent_fd)
    finally:
        os.close(parent_fd)


def _open_dir(parent_fd: int, name: str) -> int:
    """``name`` opened as a directory, never through a symlink; made owner-rwx first when
    this (unprivileged) process could not otherwise list and empty it."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        _make_owner_rwx(parent_fd, name)
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    if os.geteuid() != 0 and os.fstat(fd).st_mode & _OWNER_RWX != _OWNER_RWX:
        os.fchmod(fd, _OWNER_RWX)  # readable but not writable (0500): unlinks inside need w
    return fd


def _make_owner_rwx(parent_fd: int, name: str) -> None:
    handle = os.open(name, _PATH_FLAGS, dir_fd=parent_fd)
    try:
        os.chmod(f"/proc/self/fd/{handle}", _OWNER_RWX)  # this inode, whatever its name is now
    finally:
        os.close(handle)


class _Level:
    """One directory of the walk: its descriptor (-1 while closed to spare descriptors),
    its identity, its name in its parent, and the entries still to remove."""

    __slots__ = ("fd", "identity", "name", "pending")

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.identity = (0, 0)
        self.name = name
        with os.scandir(fd) as entries:  # scandir reads a duplicate: fd stays open
            self.pending = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
        self.pending.reverse()  # popped from the end, in listing order


def _empty(top_fd: int) -> None:
    """Remove everything below the directory ``top_fd``, which is closed on return.

    Iterative, not recursive: a workload can nest directories deeper than Python's
    recursion limit or the descriptor limit. At most ``_OPEN_LEVELS`` directories are held
    open; an ancestor closed meanwhile is reopened as ``..`` of its child (never a
    symlink) and used only if it is the very directory it was (device and inode)."""
    stack = [_Level(top_fd, "")]
    try:
        while stack:
            level = stack[-1]
            if level.pending:
                name, is_dir = level.pending.pop()
                child = _remove_or_open(level.fd, name, is_dir)
                if child >= 0:
                    try:
                        stack.append(_Level(child, name))
                    except BaseException:
                        os.close(child)
                        raise
                    _spare_descriptors(stack)
                continue
            stack.pop()
            if not stack:
                os.close(level.fd)
                level.fd = -1
                break
            parent = stack[-1]
            if parent.fd < 0:
                parent.fd = _reopen_parent(level.fd, parent.identity)
            os.close(level.fd)
            level.fd = -1
            try:
                os.rmdir(level.name, dir_fd=parent.fd)
            except FileNotFoundError:
                continue  # removed meanwhile
    finally:
        for level in stack:
            if level.fd >= 0:
                os.close(level.fd)


def _remove_or_open(dir_fd: int, name: str, is_dir: bool) -> int:
    """Unlink ``name`` (a file, a symlink) and return -1, or open it as a directory to be
    emptied and return its descriptor."""
    if not is_dir:
        try:
            os.unlink(name, dir_fd=dir_fd)
            return -1
        except FileNotFoundError:
            return -1  # removed meanwhile
        except IsADirectoryError:
            pass  # a directory swapped in after the listing: emptied below
    try:
        return _open_dir(dir_fd, name)
    except FileNotFoundError:
        return -1
    except OSError as err:
        if err.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
    try:  # a file or a symlink (swapped in or not): the name goes, never what it points to
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return -1  # removed meanwhile
    return -1


_OPEN_LEVELS = 64


def _spare_descriptors(stack: list[_Level]) -> None:
    """Close the descriptor of the level ``_OPEN_LEVELS`` above the newest, noting its
    identity so that it can be reopened and recognised on the way back up."""
    if len(stack) > _OPEN_LEVELS:
        level = stack[-1 - _OPEN_LEVELS]
        if level.fd >= 0:
            st = os.fstat(level.fd)
            level.identity = (st.st_dev, st.st_ino)
            os.close(level.fd)
            level.fd = -1


def _reopen_parent(child_fd: int, identity: tuple[int, int]) -> int:
    fd = os.open("..", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=child_fd)
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != identity:
        os.close(fd)
        raise OSError(errno.ESTALE, "a directory being removed was moved during the removal")
    return fd
