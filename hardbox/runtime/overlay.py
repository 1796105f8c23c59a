"""The container's overlay root over the image's (idmapped) layers, on old kernels and new.

Each image layer directory is cloned as a detached mount (open_tree OPEN_TREE_CLONE) and
idmapped to the container's user namespace (mount_setattr MOUNT_ATTR_IDMAP), so the
container sees files owned as the image gave them while the store keeps them unshifted.
Two ways to hand those layers to overlayfs, chosen by ``HARDBOX_OVERLAY_MODE``:

* ``fd`` — by file descriptor (fsconfig ``lowerdir+`` with FSCONFIG_SET_FD, Linux 6.13+).
  Nothing is ever attached anywhere.
* ``paths`` — for Linux 5.19-6.12: a short-lived helper process enters a private mount
  namespace, attaches each idmapped layer at ``<state dir>/lower/<n>`` (move_mount) and
  mounts overlayfs with a classic ``lowerdir=a:b:c`` string. overlayfs takes its own
  private clones of the lower mounts when it is created (fs/overlayfs/super.c,
  clone_private_mount), so the finished overlay — a detached mount from fsmount — is
  passed back over a socket and outlives the helper; its namespace, and with it the
  staging mounts, go away when it exits, even if hardbox is killed, and the host's mount
  table never sees them. overlayfs accepts idmapped lower layers from Linux 5.19.
* ``auto`` (the default) — ``fd``, and ``paths`` when the kernel refuses ``lowerdir+`` by
  fd: EINVAL (6.5-6.12: the key is unknown or takes a string) or EOPNOTSUPP (before 6.5,
  overlayfs not yet on the new mount API).

Below 5.19 overlayfs refuses idmapped lowers; hardbox then refuses to start (exit 125) with
a message naming the kernel feature, rather than shift ownership by copying every layer per
container (slow, and the store would hold shifted copies — docs/architecture.md).

The overlay is mounted by hardbox (root in the initial user namespace), not inside the
container's user namespace, because overlayfs clones each lower mount privately and the
kernel only lets the owner of the lower mount's namespace do that. Rootless runs (no
idmapping) mount inside the user namespace with the layer paths as they are.
"""

from __future__ import annotations

import errno
import os

from hardbox.errors import ContainerError
from hardbox.records import TYPE_CHECKING
from hardbox.runtime import forked, syscalls
from hardbox.runtime.syscalls import KernelError

if TYPE_CHECKING:
    import _socket
    from collections.abc import Sequence

    # Paths are strings here (a run's start-up loads no pathlib); a Path still works.
    StrPath = str | os.PathLike[str]

MODES = ("auto", "fd", "paths")
MODE_ENV = "HARDBOX_OVERLAY_MODE"
IDMAPPED_LOWER_KERNEL = (5, 19)  # overlayfs: "support idmapped layers" (Linux 5.19)


def overlay_mode() -> str:
    mode = os.environ.get(MODE_ENV, "auto") or "auto"
    if mode not in MODES:
        raise ContainerError(f"{MODE_ENV}={mode!r}: must be one of {', '.join(MODES)}")
    return mode


def build_rootfs(
    layers: Sequence[StrPath],
    upper: StrPath,
    work: StrPath,
    userns_fd: int | None,
    *,
    userxattr: bool = False,
    context: str | None = None,
) -> int:
    """A detached overlay mount of ``layers`` (newest first) with ``upper``/``work``.

    With ``userns_fd`` every layer is idmapped to that user namespace first.
    """
    options = _options(upper, work, userxattr, context)
    mode = overlay_mode()
    if mode != "paths":
        try:
            return _build_by_fd(layers, options, userns_fd, upper)
        except _NoLowerdirPlus:
            if mode == "fd":
                raise ContainerError(
                    f"overlayfs on Linux {os.uname().release} does not take layers by file "
                    f"descriptor (fsconfig lowerdir+, Linux 6.13+); unset {MODE_ENV}"
                ) from None
    if userns_fd is None:
        return _mount(_lowerdir_option(layers), options, upper)
    return _build_in_helper(layers, options, userns_fd, upper)


class _NoLowerdirPlus(Exception):
    """The kernel has no fd-taking ``lowerdir+``: fall back to paths."""


# What fsconfig(FSCONFIG_SET_FD, "lowerdir+") answers where overlayfs takes no layer by fd:
# EINVAL from 6.5 to 6.12 (the key is unknown, then string-only); EOPNOTSUPP before 6.5,
# where overlayfs is still on the legacy mount API and fs/fsopen.c refuses every
# fd-valued parameter for such filesystems (Debian 12's 6.1 says so).
_NO_LOWERDIR_PLUS = (errno.EINVAL, errno.EOPNOTSUPP)


def _options(upper: StrPath, work: StrPath, userxattr: bool, context: str | None) -> list[tuple[str, str | None]]:
    options: list[tuple[str, str | None]] = [("upperdir", os.fspath(upper)), ("workdir", os.fspath(work))]
    # The upper dir dies with the container, so skip overlayfs' syncs of the upper
    # filesystem: without "volatile" every unmount syncs it (~300 ms on ext4 here).
    # overlayfs.rst, "Volatile mount"; the upper is never mounted again after a crash.
    options.append(("volatile", None))
    if context is not None:
        # Every file of the root carries the container's SELinux file label.
        options.append(("context", context))
    if userxattr:
        # Inside a user namespace overlayfs cannot set trusted.* xattrs (overlayfs.rst).
        options.append(("userxattr", None))
    return options


def _clone_layer(layer: StrPath, userns_fd: int | None) -> int:
    fd = syscalls.open_tree(layer, syscalls.OPEN_TREE_CLONE | syscalls.OPEN_TREE_CLOEXEC)
    if userns_fd is not None:
        try:
            syscalls.mount_setattr(fd, syscalls.MOUNT_ATTR_IDMAP, userns_fd=userns_fd, what=os.fspath(layer))
        except BaseException:
            os.close(fd)
            raise
    return fd


def _build_by_fd(layers: Sequence[StrPath], options: list[tuple[str, str | None]], userns_fd: int | None,
                 upper: StrPath) -> int:
    lower_fds: list[int] = []
    fs_fd = -1
    try:
        for layer in layers:
            lower_fds.append(_clone_layer(layer, userns_fd))
        fs_fd = syscalls.fsopen("overlay")
        for fd, layer in zip(lower_fds, layers, strict=True):
            try:
                syscalls.fsconfig_fd(fs_fd, "lowerdir+", fd, os.fspath(layer))
            except KernelError as err:
                if err.errno in _NO_LOWERDIR_PLUS and fd == lower_fds[0]:
                    raise _NoLowerdirPlus from err
                raise
        return _create(fs_fd, options, upper)
    finally:
        for fd in (*lower_fds, fs_fd):
            if fd >= 0:
                os.close(fd)


def _lowerdir_option(paths: Sequence[StrPath]) -> str:
    # overlayfs splits lowerdir on ':' and honours '\' escapes (overlayfs.rst, "Multiple
    # lower layers"); a store path with a colon must not become two layers.
    return ":".join(os.fspath(p).replace("\\", "\\\\").replace(":", "\\:") for p in paths)


def _mount(lowerdir: str, options: list[tuple[str, str | None]], upper: StrPath) -> int:
    fs_fd = syscalls.fsopen("overlay")
    try:
        syscalls.fsconfig_string(fs_fd, "lowerdir", lowerdir)
        return _create(fs_fd, options, upper)
    finally:
        os.close(fs_fd)


def _create(fs_fd: int, options: list[tuple[str, str | None]], upper: StrPath) -> int:
    for key, value in options:
        syscalls.fsconfig_string(fs_fd, key, value)
    try:
        syscalls.fsconfig_create(fs_fd, f"overlay on {upper}")
    except KernelError as err:
        if err.errno == errno.EINVAL and _kernel() < IDMAPPED_LOWER_KERNEL:
            raise ContainerError(
                f"overlayfs on Linux {os.uname().release} cannot stack idmapped layers "
                f"(needs Linux {'.'.join(map(str, IDMAPPED_LOWER_KERNEL))}+)",
                hint="upgrade the kernel, or run hardbox as an unprivileged user (rootless, no idmapping)",
            ) from err
        raise KernelError(err.errno or errno.EIO, "mount overlay on", os.fspath(upper)) from err
    # nodev: a device node in the image (or one the container makes in its upper dir) is
    # never a working device; only hardbox's own /dev holds devices. Without it an image
    # shipping `b 7:0` reached a host loop device from a strict container (issue 18).
    return syscalls.fsmount(fs_fd, syscalls.MOUNT_ATTR_NODEV)


def _kernel() -> tuple[int, ...]:
    parts = []
    for piece in os.uname().release.split("-")[0].split(".")[:2]:
        parts.append(int(piece) if piece.isdigit() else 0)
    return tuple(parts)


def _build_in_helper(layers: Sequence[StrPath], options: list[tuple[str, str | None]], userns_fd: int,
                     upper: StrPath) -> int:
    """The ``paths`` route with idmapped layers, in a helper with a private mount namespace."""
    staging = os.path.join(os.path.dirname(os.fspath(upper)), "lower")
    _mkdir_exist_ok(staging)
    parent, child = forked.socketpair()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the forked helper reports through the socket
        parent.close()
        _helper(layers, options, userns_fd, upper, staging, child)
    child.close()
    try:
        msg, fds = forked.recv_fds(parent, 4096, 1)
    finally:
        parent.close()
        os.waitpid(pid, 0)
    if fds and msg == b"ok":
        return fds[0]
    for fd in fds:
        os.close(fd)
    kind, _, rest = msg.decode(errors="replace").partition("\t")
    if kind == "kernel":
        code, operation, path = rest.split("\t", 2)
        raise KernelError(int(code), operation, path or None)
    message, _, hint = rest.partition("\t")
    raise ContainerError(message or "overlay helper exited without an answer", hint=hint or None)


def _helper(layers: Sequence[StrPath], options: list[tuple[str, str | None]], userns_fd: int, upper: StrPath,
            staging: str, sock: _socket.socket) -> None:
    """Never returns. Everything it attaches lives in its own mount namespace."""
    try:
        syscalls.unshare(syscalls.CLONE_NEWNS)
        # Private first, or the staging mounts would propagate back to the host (shared /).
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        paths: list[str] = []
        for i, layer in enumerate(layers):
            target = os.path.join(staging, str(i))
            _mkdir_exist_ok(target)
            fd = _clone_layer(layer, userns_fd)
            try:
                syscalls.move_mount(fd, target)
            finally:
                os.close(fd)
            paths.append(target)
        mnt = _mount(_lowerdir_option(paths), options, upper)
        forked.send_fds(sock, b"ok", [mnt])
    except KernelError as err:
        sock.send(f"kernel\t{err.errno}\t{err.operation}\t{err.path or ''}".encode())
    except ContainerError as err:
        sock.send(f"error\t{err.message}\t{err.hint}".encode())
    except BaseException as err:  # a forked child must report and exit, never return
        sock.send(f"error\toverlay helper: {err!r}".encode())
    finally:
        os._exit(0)


def _mkdir_exist_ok(path: str) -> None:
    """Path.mkdir(mode=0o700, exist_ok=True): an existing directory is fine, a file is not."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
