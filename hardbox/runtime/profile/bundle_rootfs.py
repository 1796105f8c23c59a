"""Merging an image's unpacked layers into one plain directory (an OCI bundle's rootfs).

The store keeps layers as overlayfs lower dirs (docs/architecture.md, "Unpacked layer
format"): a whiteout is a 0/0 character device, an opaque directory carries
``trusted.overlay.opaque=y`` / ``user.overlay.opaque=y``. Applying the layers oldest first with
those two rules gives the same tree overlayfs would show. Ownership can be shifted through an
id map on the way (a runc bundle with a user namespace needs the files owned by the mapped
host ids, as ``umoci unpack --uid-map`` does); setuid/setgid bits are restored after chown,
which clears them.

Device nodes are never reproduced (issue 18): a bundle's rootfs is bind-mounted by the runtime
without ``nodev``, so an image's ``b 8:0`` would be the host's disk to anyone who can reach the
file, in or out of the container. A block or character device other than a whiteout is left
out and returned as a ``LeftOut`` (the image's path, its layer, why), for the bundle's record.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hardbox.errors import InvalidImage

_OPAQUE = ("trusted.overlay.opaque", "user.overlay.opaque")
_SKIP_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")

IdShift = Callable[[int, int], tuple[int, int]]


@dataclass(frozen=True)
class LeftOut:
    """An entry of the image the bundle's rootfs does not have: ``path`` as the image names
    it (absolute), ``layer`` the index of the layer it came from (oldest 0)."""

    path: str
    layer: int
    reason: str


@dataclass
class Merged:
    """What ``merge_layers`` could not reproduce: ``notes`` (xattrs the target refused) and
    the device nodes it left out, by image path (a later layer may replace or delete one)."""

    notes: list[str] = field(default_factory=list)
    left_out: dict[str, LeftOut] = field(default_factory=dict)

    def forget(self, path: str) -> None:
        """``path`` was replaced, whited out or hidden by an opaque directory: neither it nor
        anything under it is missing from the merged tree any more."""
        for key in [k for k in self.left_out if k == path or k.startswith(path.rstrip("/") + "/")]:
            del self.left_out[key]


def device_reason(kind: str, major: int, minor: int) -> str:
    """Why a device node (``kind`` ``"b"`` or ``"c"``) is not in the bundle's rootfs."""
    name = "block" if kind == "b" else "character"
    return f"{name} device {major}:{minor} left out: a bundle holds no device nodes"


def _device_reason(st: os.stat_result) -> str:
    kind = "b" if stat.S_ISBLK(st.st_mode) else "c"
    return device_reason(kind, os.major(st.st_rdev), os.minor(st.st_rdev))


def _remove_confined(dest: Path, path: str) -> None:
    """Remove the image's ``path`` from ``dest`` if it is there; a parent that is a symlink
    (which may point anywhere on the host) or not a directory means it is not."""
    *parents, name = [p for p in path.split("/") if p not in ("", ".", "..")] or [""]
    current = str(dest)
    for part in parents:
        current = os.path.join(current, part)
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return
        except FileNotFoundError:
            return
    if name:
        _remove(os.path.join(current, name))


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    for name in _OPAQUE:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue  # ENODATA: not set; ENOTSUP: the filesystem has no such namespace
    return False


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _copy_xattrs(src: str, dst: str) -> list[str]:
    failed = []
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        return []
    for name in names:
        if name.startswith(_SKIP_XATTR_PREFIXES):
            continue
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        except OSError as err:
            failed.append(f"{dst}: xattr {name}: {err.strerror}")
    return failed


def _finish(src_st: os.stat_result, dst: str, shift: IdShift | None) -> None:
    uid, gid = src_st.st_uid, src_st.st_gid
    if shift is not None:
        uid, gid = shift(uid, gid)
    os.lchown(dst, uid, gid)
    if not stat.S_ISLNK(src_st.st_mode):
        # After chown: chown(2) clears setuid/setgid, so the mode goes on last.
        os.chmod(dst, stat.S_IMODE(src_st.st_mode))
        os.utime(dst, ns=(src_st.st_atime_ns, src_st.st_mtime_ns))


def merge_layers(layers: Sequence[Path], dest: Path, shift: IdShift | None = None,
                 recorded: Sequence[Sequence[LeftOut]] = ()) -> Merged:
    """Apply ``layers`` (oldest first) into the empty directory ``dest``.

    ``recorded[i]`` are the device nodes layer ``i`` ships that the store kept as data
    instead of creating them (its ``<layer dir>.json``): each one still replaces what a lower
    layer had at its path. Returns what could not or must not be reproduced (``Merged``); a
    layer that is not a directory is an ``InvalidImage``.
    """
    merged = Merged()
    for index, layer in enumerate(layers):
        if not layer.is_dir():
            raise InvalidImage(f"layer {layer}: unpacked layer directory is missing")
        links: dict[tuple[int, int], str] = {}
        dirs: list[tuple[os.stat_result, str]] = []
        for root, subdirs, files in os.walk(layer):
            rel_root = os.path.relpath(root, layer)
            for name in [*subdirs, *files]:
                src = os.path.join(root, name)
                dst = os.path.normpath(os.path.join(dest, rel_root, name))
                image_path = os.path.normpath(os.path.join("/", rel_root, name))
                st = os.lstat(src)
                if not stat.S_ISDIR(st.st_mode):
                    merged.forget(image_path)  # replaced or whited out, with all below it
                if _is_whiteout(st):
                    _remove(dst)
                    continue
                if stat.S_ISDIR(st.st_mode):
                    merged.left_out.pop(image_path, None)  # a directory replaces a node
                    if os.path.lexists(dst) and (os.path.islink(dst) or not os.path.isdir(dst)):
                        os.unlink(dst)
                    if os.path.isdir(dst) and _is_opaque(src):
                        shutil.rmtree(dst)
                        merged.forget(image_path)
                    if not os.path.isdir(dst):
                        os.mkdir(dst, 0o700)
                    dirs.append((st, dst))
                    merged.notes += _copy_xattrs(src, dst)
                    continue
                _remove(dst)
                if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    # Never mknod (nor copy) an image's device: the path stays absent, as the
                    # node replaced whatever a lower layer had there.
                    merged.left_out[image_path] = LeftOut(image_path, index, _device_reason(st))
                    continue
                if stat.S_ISLNK(st.st_mode):
                    os.symlink(os.readlink(src), dst)
                elif stat.S_ISREG(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    if st.st_nlink > 1 and key in links:
                        os.link(links[key], dst)  # a hardlink inside this layer stays one
                        continue
                    shutil.copyfile(src, dst, follow_symlinks=False)
                    links[key] = dst
                else:  # fifos and sockets: inert without a reader or listener
                    os.mknod(dst, stat.S_IFMT(st.st_mode) | 0o600)
                merged.notes += [] if stat.S_ISLNK(st.st_mode) else _copy_xattrs(src, dst)
                _finish(st, dst, shift)
        for node in recorded[index] if index < len(recorded) else ():
            _remove_confined(dest, node.path)
            merged.forget(node.path)
            merged.left_out[node.path] = node
        # Directories last, deepest first: their modes may forbid writing into them.
        for st, dst in reversed(dirs):
            _finish(st, dst, shift)
        _finish(os.lstat(layer), str(dest), shift)
    return merged
