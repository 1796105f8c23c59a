"""A confined view of a root filesystem on the host: image paths resolved like the kernel
would inside the container, but never outside the root.

Symlinks are followed component by component with absolute targets re-rooted and ``..``
clamped at the root (the semantics of openat2's RESOLVE_IN_ROOT), so a hostile image's
``/lib -> /../../etc`` cannot make the minimizer read the host. Every symlink crossed is
reported, because a minimized image must keep the whole chain for the path to still resolve.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path

_MAX_LINKS = 40  # Linux's MAXSYMLINKS


@dataclass(frozen=True)
class Resolved:
    path: str  # the final image path, absolute, symlink-free
    links: tuple[str, ...] = field(default=())  # every symlink crossed, as image paths
    exists: bool = True


class RootView:
    """Paths inside ``root`` as the image sees them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def host(self, image_path: str) -> Path:
        """The host path of an image path that is already resolved (symlink-free)."""
        rel = posixpath.normpath("/" + image_path).lstrip("/")
        return self.root / rel if rel else self.root

    def lstat(self, image_path: str) -> os.stat_result | None:
        try:
            return os.lstat(self.host(image_path))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def resolve(self, image_path: str, *, follow_last: bool = True) -> Resolved:
        """Resolve ``image_path`` inside the root; ``exists`` is False when it dangles."""
        links: list[str] = []
        todo = [c for c in posixpath.normpath("/" + image_path).split("/") if c]
        done = "/"
        budget = _MAX_LINKS
        while todo:
            comp = todo.pop(0)
            if comp == ".":
                continue
            if comp == "..":
                done = posixpath.dirname(done) or "/"
                continue
            candidate = posixpath.join(done, comp)
            st = self.lstat(candidate)
            if st is None:
                rest = posixpath.join(candidate, *todo) if todo else candidate
                return Resolved(posixpath.normpath(rest), tuple(links), exists=False)
            if stat.S_ISLNK(st.st_mode) and (todo or follow_last):
                budget -= 1
                if budget < 0:
                    return Resolved(candidate, tuple(links), exists=False)
                links.append(candidate)
                target = os.readlink(self.host(candidate))
                if target.startswith("/"):
                    done = "/"
                todo = [c for c in target.split("/") if c] + todo
                continue
            if todo and not stat.S_ISDIR(st.st_mode):
                return Resolved(posixpath.join(candidate, *todo), tuple(links), exists=False)
            done = candidate
        return Resolved(done, tuple(links), exists=True)
