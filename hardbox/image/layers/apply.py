"""Turning tar entries into an overlayfs lower directory (docs/architecture.md).

Each layer is unpacked on its own, so the OCI whiteout rules (image-spec ``layer.md``,
"Whiteouts") become overlayfs markers instead of deletions:

* ``DIR/.wh.NAME`` -> a character device 0/0 named NAME (an overlay whiteout), unless this
  layer has its own NAME: "whiteout files MUST only apply to resources in lower/parent
  layers", so the layer's file simply stays, and the layer's directory becomes opaque (it
  replaces the lower one instead of merging with it). Order inside the tar does not matter.
* ``DIR/.wh..wh..opq`` -> xattrs ``trusted.overlay.opaque=y`` (what a root overlay mount
  reads) and ``user.overlay.opaque=y`` (what a user-namespace mount with ``userxattr``
  reads) on DIR, set once at the end.
* Other ``.wh..wh.*`` names are aufs metadata (``.wh..wh.plnk``) and are skipped.

Hardlinks must name an entry this layer already wrote (that is what Docker, containerd and
umoci produce; image-spec: "extracting a layer with hardlink references to files outside
of the layer may fail"): a link to anything else is refused rather than copied, since the
lower layers are not at hand and guessing would make the layer depend on its neighbours.

Device nodes are data, never devices: an image's ``c``/``b`` entries are recorded as
``DeviceNode``s (the scan reports an image that ships them) and nothing is created, so the
store holds no node that could open a host device through a runtime that forgot ``nodev``
or a device allow-list (issue 18: ``b 7:0`` reached a host loop device). Whiteouts stay the
overlayfs 0/0 markers they must be; 0/0 opens nothing.

Metadata order per entry: chown, then xattrs (chown clears ``security.capability``), then
chmod (chown clears setuid/setgid), then times; a regular file skips the chown or chmod it
does not need (``CreationDefaults``). Directory modes and times are applied last,
deepest first, so writing children neither fails on a read-only directory nor moves its
mtime.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hardbox.image.layers.tar import LayerLimits, LayerReader, split_name, times_ns, xattrs
from hardbox.image.layers.tarsafe import Cleared, CreationDefaults, Parts, Refused, RootedTree, show

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
AUFS_META_PREFIX = ".wh..wh."
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_COPY_CHUNK = 1 << 20
_MAX_ID = 0xFFFFFFFE  # (uid_t)-1 means "leave unchanged" to chown(2)


@dataclass(frozen=True)
class SkippedEntry:
    """A tar entry the layer has that the unpacked directory does not, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class DeviceNode:
    """A device node an image ships, kept as data (``kind`` is ``"c"`` or ``"b"``)."""

    name: str
    kind: str
    major: int
    minor: int
    mode: int
    uid: int
    gid: int

    def __str__(self) -> str:
        return f"{self.kind} {self.major}:{self.minor}"


@dataclass
class _DirMeta:
    stamp: int  # RootedTree.stamp() when recorded; stale once a tree above is removed
    mode: int
    atime_ns: int
    mtime_ns: int


class Applier:
    """Applies the entries of one layer, in tar order, beneath ``dest``."""

    def __init__(self, dest: Path, reader: LayerReader, limits: LayerLimits) -> None:
        self.tree = RootedTree(dest, self._implicit_dir)
        self._reader = reader
        self._limits = limits
        self._dirs: dict[Parts, _DirMeta] = {}
        self._opaque: dict[Parts, int] = {}  # directory -> stamp when marked
        self._buffer = memoryview(bytearray(_COPY_CHUNK))
        self.skipped: list[SkippedEntry] = []
        self.devices: list[DeviceNode] = []
        self.warnings: list[str] = []
        self.applied = 0
        self._chown_denied = 0
        self._fast = CreationDefaults.of(self.tree.root_fd)

    def apply(self, member: tarfile.TarInfo) -> None:
        self.tree.trim()
        parts = split_name(member.name, self._limits)
        if any(p.startswith(WHITEOUT_PREFIX) for p in parts[:-1]):
            raise Refused("a whiteout name cannot have entries below it")
        if parts and parts[-1].startswith(WHITEOUT_PREFIX):
            self._whiteout(member, parts)
        elif not parts:
            if not member.isdir():
                raise Refused("the layer root can only be a directory")
            self._root(member)
        elif member.isdir():
            self._directory(member, parts)
        elif member.isreg():
            self._file(member, parts)
        elif member.issym():
            self._symlink(member, parts)
        elif member.islnk():
            self._hardlink(member, parts)
        elif member.ischr() or member.isblk():
            self._device(member, parts)
        elif member.isfifo():
            self._fifo(member, parts)
        else:
            self._skip(member, f"unsupported tar entry type {member.type!r}")
            return
        self.applied += 1

    def finish(self) -> None:
        """Opaque markers, then directory modes and times (deepest first)."""
        if () not in self._dirs:
            # A layer without a "./" entry (what most builders write after the first layer,
            # and what minimize writes) leaves the root as the runtime's merge sees it:
            # 0755, as Docker's and containerd's unpackers create it, not the 0700 of the
            # staging directory.
            os.fchmod(self.tree.root_fd, 0o755)
        for parts, stamp in sorted(self._opaque.items()):
            self.tree.trim()
            if self.tree.alive(parts, stamp):
                self._set_opaque(parts)
        for parts in sorted(self._dirs, key=len, reverse=True):
            self.tree.trim()
            meta = self._dirs[parts]
            if not self.tree.alive(parts, meta.stamp):
                continue  # removed with a directory above it
            fd = self.tree.dir_fd(parts, create=False)
            os.fchmod(fd, meta.mode)
            os.utime(fd, ns=(meta.atime_ns, meta.mtime_ns))
        if self._chown_denied:
            self.warnings.append(
                f"{self._chown_denied} entries keep the unpacking user's ownership: chown was not permitted"
            )

    # -- entry kinds -----------------------------------------------------------------------

    def _whiteout(self, member: tarfile.TarInfo, parts: Parts) -> None:
        parent = parts[:-1]
        self.tree.dir_fd(parent)  # the directory holding a marker exists in this layer
        if parts[-1] == OPAQUE_MARKER:
            self._mark_opaque(parent)
            return
        if parts[-1].startswith(AUFS_META_PREFIX):
            self._skip(member, "aufs metadata, not a whiteout")
            return
        name = parts[-1][len(WHITEOUT_PREFIX) :]
        if name in ("", ".", ".."):
            raise Refused("whiteout names no entry (would hide its own directory)")
        target = (*parent, name)
        existing = self.tree.lstat(target)
        if existing is None:
            # Fails closed: with no whiteout, a file a later layer deleted would reappear.
            self.tree.mknod(target, stat.S_IFCHR, os.makedev(0, 0))
            self.tree.mark_replaceable(target)
        elif stat.S_ISDIR(existing.st_mode):
            self._mark_opaque(target)
        # else: this layer's own entry already hides the lower one.

    def _root(self, member: tarfile.TarInfo) -> None:
        fd = self.tree.root_fd
        self._chown_fd(fd, member)
        self._xattrs_fd(fd, member)
        self._dirs[()] = _DirMeta(self.tree.stamp(), member.mode & 0o7777, *times_ns(member))

    def _directory(self, member: tarfile.TarInfo, parts: Parts) -> None:
        cleared = self._clear(parts, keep_dir=True)
        if cleared == Cleared.KEPT_DIR:
            fd = self.tree.dir_fd(parts)
        else:
            fd = self.tree.mkdir(parts)
            if cleared == Cleared.REMOVED_REPLACEABLE:
                self._mark_opaque(parts)  # ".wh.NAME" and a new NAME/ in one layer
        self._chown_fd(fd, member)
        self._xattrs_fd(fd, member)
        self._dirs[parts] = _DirMeta(self.tree.stamp(), member.mode & 0o7777, *times_ns(member))

    def _file(self, member: tarfile.TarInfo, parts: Parts) -> None:
        self._clear(parts, keep_dir=False)
        uid, gid = self._ids(member)
        mode = member.mode & 0o7777
        fast = self._fast
        fd = self.tree.create_file(parts, mode)
        try:
            if member.size:
                self._copy(self._reader.data(member), fd)
            if fast is None or (uid, gid) != fast.owner:
                self._chown_fd(fd, member)
            self._xattrs_fd(fd, member)
            if fast is None or mode & (0o7000 | fast.umask):
                os.fchmod(fd, mode)
            os.utime(fd, ns=times_ns(member))
        finally:
            os.close(fd)

    def _symlink(self, member: tarfile.TarInfo, parts: Parts) -> None:
        # The target is data (it is resolved inside the container's root, at run time);
        # it is never followed here.
        target = member.linkname
        if not target or "\0" in target or len(target) > self._limits.max_path_length:
            raise Refused("symlink target is empty, malformed or too long")
        self._clear(parts, keep_dir=False)
        self.tree.symlink(parts, member.linkname)
        self._special_metadata(member, parts, mode=None)

    def _hardlink(self, member: tarfile.TarInfo, parts: Parts) -> None:
        target = split_name(member.linkname, self._limits)
        if not target or target[: len(parts)] == parts:
            raise Refused(f"hardlink to {member.linkname!r} names the entry itself or a directory above it")
        try:
            existing = self.tree.lstat(target)
        except FileNotFoundError:
            existing = None
        if existing is None or self.tree.is_replaceable(target):
            raise Refused(f"hardlink target {show(target)!r} is not an entry of this layer")
        if stat.S_ISDIR(existing.st_mode):
            raise Refused(f"hardlink target {show(target)!r} is a directory")
        self._clear(parts, keep_dir=False)
        self.tree.link(parts, target)  # shares the target's inode, owner and mode

    def _device(self, member: tarfile.TarInfo, parts: Parts) -> None:
        if not (0 <= member.devmajor <= 0xFFFFFFFF and 0 <= member.devminor <= 0xFFFFFFFF):
            raise Refused(f"device number {member.devmajor}:{member.devminor} out of range")
        # This layer's own earlier entry of that name goes, as any replaced entry does; the
        # node itself is recorded, never created (see the module docstring). In its place a
        # whiteout: what a lower layer had there stays hidden, as the node would hide it.
        self._clear(parts, keep_dir=False)
        self.tree.mknod(parts, stat.S_IFCHR, os.makedev(0, 0))
        self.tree.mark_replaceable(parts)
        self.devices.append(DeviceNode(
            show(parts), "c" if member.ischr() else "b", member.devmajor, member.devminor,
            member.mode & 0o7777, member.uid, member.gid,
        ))

    def _fifo(self, member: tarfile.TarInfo, parts: Parts) -> None:
        self._clear(parts, keep_dir=False)
        self.tree.mkfifo(parts)
        self._special_metadata(member, parts, mode=member.mode & 0o7777)

    # -- helpers ---------------------------------------------------------------------------

    def _clear(self, parts: Parts, *, keep_dir: bool) -> str:
        return self.tree.clear(parts, keep_dir=keep_dir)

    def _mark_opaque(self, parts: Parts) -> None:
        self._opaque[parts] = self.tree.stamp()

    def _implicit_dir(self, parts: Parts, replaced: bool) -> None:
        if replaced:
            self._mark_opaque(parts)  # ".wh.NAME" then "NAME/child": a new NAME

    def _copy(self, source: IO[bytes], fd: int) -> None:
        readinto = source.readinto  # type: ignore[attr-defined]
        buffer = self._buffer
        while True:
            n = readinto(buffer)
            if not n:
                return
            view = buffer[:n]
            while view:
                view = view[os.write(fd, view) :]

    def _ids(self, member: tarfile.TarInfo) -> tuple[int, int]:
        if not (0 <= member.uid <= _MAX_ID and 0 <= member.gid <= _MAX_ID):
            raise Refused(f"uid/gid {member.uid}/{member.gid} out of range")
        return member.uid, member.gid

    def _chown_fd(self, fd: int, member: tarfile.TarInfo) -> None:
        uid, gid = self._ids(member)
        try:
            os.fchown(fd, uid, gid)
        except OSError as exc:
            # EPERM without CAP_CHOWN, EINVAL for an id unmapped in our user namespace.
            if exc.errno not in (errno.EPERM, errno.EINVAL):
                raise
            self._chown_denied += 1

    def _xattrs_fd(self, fd: int, member: tarfile.TarInfo) -> None:
        kept, dropped = xattrs(member, self._limits)
        self.warnings.extend(f"{member.name!r}: {note}" for note in dropped)
        for name, value in kept:
            if name == "system.posix_acl_default":
                self._fast = None  # a default ACL, not the umask, now shapes new files' modes
            try:
                os.setxattr(fd, name, value)
            except OSError as exc:
                self.warnings.append(f"{member.name!r}: xattr {name!r} not set: {exc.strerror}")

    def _special_metadata(self, member: tarfile.TarInfo, parts: Parts, *, mode: int | None) -> None:
        uid, gid = self._ids(member)
        try:
            self.tree.lchown(parts, uid, gid)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EINVAL):
                raise
            self._chown_denied += 1
        kept, dropped = xattrs(member, self._limits)
        self.warnings.extend(f"{member.name!r}: {note}" for note in dropped)
        for name, value in kept:
            try:
                self.tree.lsetxattr(parts, name, value)
            except OSError as exc:  # the kernel refuses user.* on symlinks and devices
                self.warnings.append(f"{member.name!r}: xattr {name!r} not set: {exc.strerror}")
        if mode is not None:
            self.tree.chmod_special(parts, mode)
        self.tree.set_times(parts, *times_ns(member))

    def _set_opaque(self, parts: Parts) -> None:
        existing = self.tree.lstat(parts) if parts else os.fstat(self.tree.root_fd)
        if existing is None or not stat.S_ISDIR(existing.st_mode):
            return  # replaced by a non-directory later in the layer: nothing to make opaque
        fd = self.tree.dir_fd(parts, create=False)
        failures = []
        for name in OPAQUE_XATTRS:
            try:
                os.setxattr(fd, name, b"y")
            except OSError as exc:  # trusted.* needs CAP_SYS_ADMIN in the initial namespace
                failures.append(f"{name}: {exc.strerror}")
        if len(failures) == len(OPAQUE_XATTRS):
            raise OSError(errno.EPERM, f"cannot mark {show(parts)!r} opaque ({'; '.join(failures)})")
        if failures:
            self.warnings.append(f"{show(parts)!r}: opaque marker incomplete ({failures[0]})")

    def _skip(self, member: tarfile.TarInfo, reason: str) -> None:
        self.skipped.append(SkippedEntry(member.name, reason))
