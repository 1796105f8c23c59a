"""The container's filesystem: idmapped overlay root, /proc, /dev, tmpfs, volumes, pivot_root.

Two halves, because they need different privileges:

* ``build_rootfs`` (hardbox/runtime/overlay.py, re-exported here) runs in hardbox itself
  (root in the initial user namespace): the idmapped overlay over the image's layers, by
  file descriptor on Linux 6.13+ and through staged paths on 5.19-6.12. The finished
  overlay is a detached mount passed to the container, which attaches it with move_mount.
* ``setup_container_mounts`` runs in the container's PID 1 (in its user, mount and pid
  namespaces) and mounts /proc, /sys, /dev, tmpfs dirs, masks and read-only paths, then
  pivot_root()s into the root and detaches the old root. Volumes are cloned before the pivot
  and attached after the old root is gone, at destinations resolved inside the new root, so
  an image symlink cannot point a volume (or anything else) at the host.

Read-only roots still get an upper dir: an image may lack /proc, /dev or /tmp and their
mount points have to be made somewhere; once they exist the root mount is made read-only,
so the container's writes fail with EROFS. Unprivileged (rootless) runs cannot idmap the
store's directories; their store unpacked the layers already shifted to the container's own
map (image/store/shifted.py), so they are mounted as they are, without idmapping.
"""

from __future__ import annotations

import errno
import os
import stat

from hardbox.errors import ContainerError, UsageError, naming_os_errors
from hardbox.records import TYPE_CHECKING, NamedTuple
from hardbox.runtime import syscalls
from hardbox.runtime.overlay import build_rootfs as build_rootfs
from hardbox.runtime.syscalls import KernelError

if TYPE_CHECKING:
    from collections.abc import Sequence

# Volumes never land in the kernel's own trees: a volume over /proc/sys/kernel hid the real
# cap_last_cap (issue 18), and runc refuses /proc destinations for the same reason.
FORBIDDEN_VOLUME_ROOTS: tuple[str, ...] = ("/proc", "/sys", "/dev")
# Device files bound from the host into the container's /dev (no mknod in a user namespace).
DEVICES: tuple[str, ...] = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS: tuple[tuple[str, str], ...] = (
    ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"),
)
_NOSUID_NODEV = syscalls.MS_NOSUID | syscalls.MS_NODEV
# What of the host's /sys a --network host container must not see (see setup_container_mounts).
HOST_SYSFS_MASKS: tuple[str, ...] = ("/sys/fs/cgroup", "/sys/kernel/debug", "/sys/kernel/tracing", "/sys/kernel/security")


VOLUME_OPTIONS = ("ro", "rw", "idmap", "U")


class Volume(NamedTuple):
    """``-v SRC:DST[:OPTION[,OPTION]]`` after parsing; ``source`` is an absolute host path.

    Options: ``ro``/``rw``; ``idmap``, an idmapped bind mount (host ids shown as the same
    ids inside, so container root writes as the host's root and a directory's owner keeps
    owning what is written there); ``U``, as Podman's: the source tree is
    chowned to container root's host uid and gid before the start.
    """

    source: str
    destination: str
    read_only: bool
    idmap: bool = False
    chown: bool = False

    @classmethod
    def parse(cls, spec: str, *, read_only_default: bool) -> Volume:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise UsageError(f"volume {spec!r}: expected SRC:DST[:ro|rw][,idmap][,U]")
        options = parts[2].split(",") if len(parts) == 3 else []
        unknown = [o for o in options if o not in VOLUME_OPTIONS]
        if unknown:
            raise UsageError(f"volume {spec!r}: unknown option {unknown[0]!r}",
                             f"options are {', '.join(VOLUME_OPTIONS)}, comma-separated")
        if "ro" in options and "rw" in options:
            raise UsageError(f"volume {spec!r}: both ro and rw")
        read_only = "ro" in options or ("rw" not in options and read_only_default)
        if not parts[0].startswith("/"):
            # Docker reads a SRC without a leading slash as a named volume; hardbox has none,
            # and taking it as a path relative to the working directory would surprise both.
            raise UsageError(
                f"volume {spec!r}: {parts[0]!r} is not an absolute path; hardbox has no named volumes",
                f"give the host directory as an absolute path, e.g. -v \"$PWD/{parts[0].removeprefix('./')}:{parts[1]}\"",
            )
        source = os.path.normpath(parts[0])
        if not os.path.exists(source):
            raise UsageError(f"volume {spec!r}: `{source}` does not exist")
        if not parts[1].startswith("/"):
            raise UsageError(f"volume {spec!r}: destination must be an absolute path")
        destination = os.path.normpath(parts[1])
        if forbidden_target(destination):
            raise UsageError(f"volume {spec!r}: destination {destination} is inside {forbidden_target(destination)}",
                             "volumes cannot be mounted over /proc, /sys or /dev")
        return cls(source, destination, read_only, idmap="idmap" in options, chown="U" in options)


def forbidden_target(path: str) -> str | None:
    """The kernel tree (``/proc``, ``/sys``, ``/dev``) that ``path`` is in, or None."""
    return next((root for root in FORBIDDEN_VOLUME_ROOTS if path == root or path.startswith(root + "/")), None)


def _ensure_dir(path: str, mode: int = 0o755) -> None:
    try:
        os.makedirs(path, mode=mode, exist_ok=True)
    except OSError as err:
        raise KernelError(err.errno or errno.EIO, "mkdir", path) from err


def _mount_point(path: str) -> str:
    """A directory of the image to mount on; a symlink there is refused, because before the
    pivot it would be followed from the host's root (the runc CVE-2019-19921 class)."""
    if os.path.islink(path):
        raise KernelError(errno.ELOOP, "mount point is a symlink in the image:", path.lstrip("."))
    _ensure_dir(path)
    return path


def _ensure_file(path: str) -> None:
    if not os.path.lexists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o644))


def resolve_inside(root: str, path: str) -> str:
    """``path`` in the container, resolved with ``root`` as ``/``: symlinks cannot leave it.

    ``root`` is normally ``"."`` (PID 1's cwd is the container root before the pivot), so
    no host path is looked up; after the pivot a plain realpath is already confined.
    """
    current = root
    parts = [p for p in path.split("/") if p not in ("", ".")]
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = os.path.dirname(current) if current != root else root
            continue
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > 40:
                raise KernelError(errno.ELOOP, "resolve", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = root
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        current = candidate
    return current


def _bind(source: str, target: str, flags: int = 0) -> None:
    syscalls.mount(source, target, None, syscalls.MS_BIND | syscalls.MS_REC | flags)


def _make_readonly(path: str) -> None:
    """Bind ``path`` onto itself and mark that mount (and below) read-only."""
    _bind(path, path)
    syscalls.mount_setattr(
        syscalls.AT_FDCWD, syscalls.MOUNT_ATTR_RDONLY, path=path, flags=syscalls.AT_RECURSIVE
    )


def _mask(path: str) -> None:
    """Docker's masking: /dev/null over a file, an empty read-only tmpfs over a directory."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return  # this kernel has no such file; nothing to hide
    if stat.S_ISDIR(st.st_mode):
        syscalls.mount("tmpfs", path, "tmpfs", syscalls.MS_RDONLY | _NOSUID_NODEV)
    else:
        syscalls.mount("/dev/null", path, None, syscalls.MS_BIND)


def _mount_dev(root: str, host_tty: bool) -> None:
    dev = _mount_point(f"{root}/dev")
    syscalls.mount(
        "tmpfs", dev, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_STRICTATIME | syscalls.MS_NOEXEC,
        "mode=755,size=65536k",
    )
    for name in DEVICES:
        if name == "tty" and not host_tty:
            continue
        _ensure_file(f"{dev}/{name}")
        _bind(f"/dev/{name}", f"{dev}/{name}", 0)
    for name, target in DEV_LINKS:
        os.symlink(target, f"{dev}/{name}")
    _ensure_dir(f"{dev}/pts")
    # A private devpts instance: the container cannot see or open the host's ptys.
    syscalls.mount(
        "devpts", f"{dev}/pts", "devpts", syscalls.MS_NOSUID | syscalls.MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620",
    )
    _ensure_dir(f"{dev}/shm")
    syscalls.mount(
        "shm", f"{dev}/shm", "tmpfs", _NOSUID_NODEV | syscalls.MS_NOEXEC, "mode=1777,size=65536k"
    )


class MountPlan(NamedTuple):
    """What ``setup_container_mounts`` mounts; built from the profile and the options."""

    root: str  # an empty directory in the state dir where the root gets attached
    read_only_root: bool
    tmpfs_noexec: bool
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    volumes: tuple[Volume, ...]
    own_netns: bool  # sysfs may only be mounted by the owner of the network namespace
    host_tty: bool


def attach_rootfs(rootfs_fd: int, attach_point: str) -> None:
    """In the container's new mount namespace, before dropping to the container's root:
    stop propagation to the host, then attach the overlay. Later steps reach the root only
    through ``rootfs_fd`` (fchdir), because the state dir above it is 0700 and closed to
    the container's ids."""
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
    syscalls.move_mount(rootfs_fd, attach_point)


def clone_volume(vol: Volume, userns_fd: int | None = None) -> int:
    """A detached copy of ``vol.source``: nosuid, nodev, read-only if asked, and with
    ``userns_fd`` idmapped to that user namespace (MOUNT_ATTR_IDMAP, Linux 5.12+), which
    only host root can do: hardbox makes those, the container's first child the rest."""
    fd = syscalls.open_tree(
        vol.source,
        syscalls.OPEN_TREE_CLONE | syscalls.OPEN_TREE_CLOEXEC | syscalls.AT_RECURSIVE,
    )
    attrs = syscalls.MOUNT_ATTR_NOSUID | syscalls.MOUNT_ATTR_NODEV
    if vol.read_only:
        attrs |= syscalls.MOUNT_ATTR_RDONLY
    if userns_fd is not None:
        attrs |= syscalls.MOUNT_ATTR_IDMAP
    try:
        syscalls.mount_setattr(fd, attrs, userns_fd=userns_fd or 0, flags=syscalls.AT_RECURSIVE,
                               what=f"volume {vol.source}" + (" (idmap)" if userns_fd is not None else ""))
    except BaseException:
        os.close(fd)
        raise
    return fd


def clone_volumes(volumes: Sequence[Volume], idmapped: Sequence[int] = ()) -> list[tuple[int, Volume]]:
    """Detached copies of the volume sources, taken while the host paths are reachable;
    ``idmapped`` are the ``:idmap`` ones hardbox made (``clone_volume`` with the user
    namespace), in order.

    They are attached after the pivot, at destinations resolved inside the new root only.
    """
    premade = iter(idmapped)
    return [(next(premade) if vol.idmap else clone_volume(vol), vol) for vol in volumes]


def prepare_volumes(volumes: Sequence[Volume], root_ids: tuple[int, int], *, can_idmap: bool) -> None:
    """In hardbox, before the start: ``:U`` sources chowned to container root's host ids
    (``root_ids``); ``:idmap`` refused where it cannot be made: idmapping a host directory
    needs host root and a user namespace to map it to."""
    for vol in volumes:
        if vol.idmap and not can_idmap:
            raise ContainerError(
                f"volume {vol.source}:{vol.destination}: idmap needs a run as root with the profile's user namespace",
                "use :U to give the directory to the container's root instead",
            )
    for vol in volumes:
        if vol.chown:
            chown_tree(vol.source, *root_ids)


def write_refusal(vol: Volume, uid: int, gid: int) -> str | None:
    """Why container root (host ``uid``:``gid``) could not write to a read-write volume's
    top directory, for ``--explain``; None when it can (or the volume is ro, idmap or U).
    Owner, group and other bits only: a host owner outside the container's map shows as
    65534 inside, where no capability of container root applies to it."""
    if vol.read_only or vol.idmap or vol.chown:
        return None
    try:
        st = os.stat(vol.source)
    except OSError:
        return None
    mode = st.st_mode
    if ((st.st_uid == uid and mode & stat.S_IWUSR) or (st.st_gid == gid and mode & stat.S_IWGRP)
            or mode & stat.S_IWOTH):
        return None
    return (f"container root is host uid {uid}, and {vol.source} is owned by {st.st_uid}:{st.st_gid} "
            f"mode {stat.S_IMODE(mode):04o}: writes there fail; add :idmap or :U")


def chown_tree(root: str, uid: int, gid: int) -> None:
    """``-v SRC:DST:U``: every entry under ``root`` (itself included) given to uid:gid, as
    Podman's ``:U``. Symlinks are changed themselves, never followed, and the walk stays
    relative to directory descriptors, so a link swapped in during the walk leads nowhere."""
    with naming_os_errors("chown volume", root, ContainerError):
        os.chown(root, uid, gid, follow_symlinks=False)
        if not os.path.isdir(root) or os.path.islink(root):
            return
        for _dir, dirs, files, dir_fd in os.fwalk(root, follow_symlinks=False):
            for name in (*dirs, *files):
                os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)


def setup_container_mounts(
    plan: MountPlan, rootfs_fd: int, volume_fds: Sequence[tuple[int, Volume]]
) -> None:
    """In PID 1: build the mount tree under the attached root and pivot into it."""
    os.fchdir(rootfs_fd)
    os.close(rootfs_fd)
    root = "."
    syscalls.mount("proc", _mount_point(f"{root}/proc"), "proc", _NOSUID_NODEV | syscalls.MS_NOEXEC)
    _mount_point(f"{root}/sys")
    if plan.own_netns:
        syscalls.mount(
            "sysfs", f"{root}/sys", "sysfs",
            _NOSUID_NODEV | syscalls.MS_NOEXEC | syscalls.MS_RDONLY,
        )
    else:
        # The host's network namespace is not ours to mount a sysfs for (sysfs is tied to
        # the mounter's network namespace), so the host's /sys is bound, read-only. Its
        # submounts are locked to us and come along (a non-recursive bind of a tree with
        # locked children fails), so the cgroup tree, which lists host pids and every
        # container, is covered by an empty read-only tmpfs.
        _bind("/sys", f"{root}/sys")
        syscalls.mount_setattr(
            syscalls.AT_FDCWD, syscalls.MOUNT_ATTR_RDONLY, path=f"{root}/sys",
            flags=syscalls.AT_RECURSIVE,
        )
        for hidden in HOST_SYSFS_MASKS:
            _mask(f"{root}{hidden}")
    _mount_dev(root, plan.host_tty)
    tmp_flags = _NOSUID_NODEV | (syscalls.MS_NOEXEC if plan.tmpfs_noexec else 0)
    for name, mode in (("tmp", "1777"), ("run", "755")):
        syscalls.mount("tmpfs", _mount_point(f"{root}/{name}"), "tmpfs", tmp_flags, f"mode={mode}")
    for path in plan.masked_paths:
        _mask(resolve_inside(root, path))
    for path in plan.readonly_paths:
        target = resolve_inside(root, path)
        if os.path.lexists(target):
            _make_readonly(target)

    pivot()
    for fd, vol in volume_fds:
        # Resolved inside the new root (image symlinks stay in it); a destination that
        # resolves into /proc, /sys or /dev is refused, as a literal one was at parse time.
        target = os.path.realpath(vol.destination)
        if forbidden_target(target):
            raise ContainerError(
                f"volume {vol.source}:{vol.destination}: the image resolves the destination to "
                f"{target}, inside {forbidden_target(target)}",
                hint="volumes cannot be mounted over /proc, /sys or /dev",
            )
        if not os.path.lexists(target):
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                _ensure_dir(target)
            else:
                _ensure_dir(os.path.dirname(target))
                _ensure_file(target)
        syscalls.move_mount(fd, target)
        os.close(fd)
    if plan.read_only_root:
        syscalls.mount_setattr(syscalls.AT_FDCWD, syscalls.MOUNT_ATTR_RDONLY, path="/")


def describe(plan: MountPlan) -> list[str]:
    """The mounts a plan makes, for the container's state."""
    tmp = "tmpfs nosuid,nodev" + (",noexec" if plan.tmpfs_noexec else "")
    return [
        "/ overlay of idmapped layers nodev" + (" ro" if plan.read_only_root else " rw"),
        "/proc proc nosuid,nodev,noexec", "/sys sysfs ro", "/dev tmpfs", "/dev/pts devpts newinstance",
        "/dev/shm tmpfs", f"/tmp {tmp}", f"/run {tmp}",
        *(f"{v.destination} bind {v.source} {'ro' if v.read_only else 'rw'}"
          + (",idmap" if v.idmap else "") + (",U" if v.chown else "") for v in plan.volumes),
    ]


def pivot() -> None:
    """pivot_root into the cwd and lazily detach the old root (runc's pivot_root(".", "."))."""
    syscalls.pivot_root(".", ".")
    # The old root is now stacked on top of the new one at "/"; make it a slave so the
    # detach does not propagate anywhere, then drop it.
    syscalls.mount(None, ".", None, syscalls.MS_REC | syscalls.MS_SLAVE)
    syscalls.umount2(".", syscalls.MNT_DETACH)
    os.chdir("/")
