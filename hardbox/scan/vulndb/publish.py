"""Publishing a vulnerability index atomically: build it under a temporary name beside the
real one, then move it into place in one rename, so a reader (and ``hardbox gate``) sees
either no database or a complete one — never an empty or half-written file left by a
killed import.

Used by ``db import`` for the first import (later imports change the index inside one
sqlite transaction, which is atomic by itself) and meant for anything else that writes a
whole index (``db update``).

The temporary file is ``.<name>.<pid>.building`` in the same folder (same filesystem, so
the rename is atomic). A build killed before publishing leaves only that file; the next
``building`` call removes such files whose process is gone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

_SUFFIX = ".building"


def _temporary(path: Path, pid: int) -> Path:
    return path.with_name(f".{path.name}.{pid}{_SUFFIX}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(path: Path) -> None:
    """Delete the leftovers of builds of ``path`` whose process no longer runs."""
    prefix = f".{path.name}."
    with suppress(OSError):
        for entry in path.parent.iterdir():
            name = entry.name
            if not (name.startswith(prefix) and (name.endswith(_SUFFIX) or name.endswith(_SUFFIX + "-journal"))):
                continue
            pid = name[len(prefix):].split(".", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                entry.unlink(missing_ok=True)


@contextmanager
def building(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path`` to build the new index in. The caller
    publishes it with ``publish_new`` or ``replace``; whatever is left at exit is removed."""
    remove_stale(path)
    tmp = _temporary(path, os.getpid())
    for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
        leftover.unlink(missing_ok=True)
    try:
        yield tmp
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            leftover.unlink(missing_ok=True)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_new(tmp: Path, path: Path) -> bool:
    """Move the finished ``tmp`` to ``path`` unless ``path`` exists by now (another import
    published first: the caller imports into that one instead). True when published.

    A hard link, not a rename: ``link`` refuses an existing target, so two first imports
    racing never replace each other's database."""
    _sync(tmp)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    tmp.unlink()
    _sync(path.parent)
    return True


def replace(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` over ``path`` in one rename (readers see old or new)."""
    _sync(tmp)
    os.replace(tmp, path)
    _sync(path.parent)
