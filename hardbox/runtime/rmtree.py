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
        _remove_entry(parent_fd, name, top=True)
    finally:
        os.close(parent_fd)


def _remove_entry(parent_fd: int, name: str, *, top: bool = False) -> None:
    """Remove ``name`` in the directory ``parent_fd``: a directory with its contents, any
    other entry (a symlink included) by unlink."""
    try:
        fd = _open_dir(parent_fd, name)
    except OSError as err:
        if err.errno in (errno.ENOTDIR, errno.ELOOP):  # a file or a symlink: unlink the name itself
            _unlink(parent_fd, name, top)
            return
        if err.errno == errno.ENOENT and not top:
            return  # removed meanwhile
        raise
    try:
        _empty(fd)
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=parent_fd)
    except FileNotFoundError:
        if top:
            raise


def _unlink(parent_fd: int, name: str, top: bool) -> None:
    try:
        os.unlink(name, dir_fd=parent_fd)
    except FileNotFoundError:
        if top:
            raise


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


def _empty(dir_fd: int) -> None:
    with os.scandir(dir_fd) as entries:
        children = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
    for name, is_dir in children:
        if is_dir:
            _remove_entry(dir_fd, name)
        else:
            try:
                os.unlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                continue  # removed meanwhile
            except IsADirectoryError:  # a directory swapped in after the listing
                _remove_entry(dir_fd, name)
