"""SELinux for containers: host detection, unique MCS labels, and applying them.

Each container runs as ``system_u:system_r:container_t:s0:cX,cY`` — a category pair no
running container shares, so MCS keeps containers out of each other's files even when they
run as the same uid (the model of container-selinux). Allocations are recorded in
``<store>/containers/selinux-mcs.json`` under an exclusive lock; a pair whose container no
longer has a state directory is free again. Without SELinux on the host nothing is applied
and the run records that (the profile's ``selinux.mode`` decides whether that is fatal).
The policy module generator lives in ``profile.selinux_cil``; ``policy_cil`` is re-exported here.
"""

from __future__ import annotations

import fcntl
import os

from hardbox import jsontext
from hardbox.errors import ContainerError, StoreError
from hardbox.records import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

    StrPath = str | os.PathLike[str]

__all__ = ["Label", "allocate_label", "apply_exec_label", "host_has_selinux", "policy_cil", "release_label"]

# Every `hardbox run` imports this module (host_has_selinux): string paths, no pathlib.
SELINUXFS = "/sys/fs/selinux"
CATEGORIES = 1024  # c0..c1023, as container-selinux's MCS policy declares
_ALLOCATIONS = "selinux-mcs.json"
_LEVEL = r"^s0:c(\d+),c(\d+)$"  # compiled by release_label only: a run loads no re


class Label(NamedTuple):
    """A process label and the matching file label for its rootfs."""

    user: str
    role: str
    type: str
    level: str
    file_type: str = "container_file_t"

    def __str__(self) -> str:
        return f"{self.user}:{self.role}:{self.type}:{self.level}"

    @property
    def file_label(self) -> str:
        return f"{self.user}:object_r:{self.file_type}:{self.level}"


def policy_cil(*args: Any, **kwargs: Any) -> str:
    """``selinux_cil.policy_cil``, imported on first use: starting a container never needs it."""
    from hardbox.runtime.profile.selinux_cil import policy_cil as generate

    return generate(*args, **kwargs)


def host_has_selinux() -> bool:
    """True when the kernel has SELinux enabled (libselinux if installed, else selinuxfs)."""
    if not os.path.exists(f"{SELINUXFS}/enforce"):
        # No selinuxfs: SELinux is off, and libselinux would only say so more slowly
        # (importing its bindings is on every `hardbox run`'s start-up path).
        return False
    try:
        import selinux  # optional (libselinux's bindings), and only where selinuxfs is mounted

        return bool(selinux.is_selinux_enabled())
    except ImportError:
        return os.path.exists(f"{SELINUXFS}/enforce")


def _pair_key(a: int, b: int) -> str:
    return f"c{a},c{b}"


def _lock(state_dir: str) -> int:
    """Take the allocation lock (flock, held until the descriptor is closed)."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(state_dir, ".selinux-mcs.lock"), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read(path: str) -> dict[str, str]:
    try:
        with open(path) as fh:
            data = jsontext.loads(fh.read())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise StoreError(f"read {path}: not a valid MCS allocation record ({err})") from err
    if not isinstance(data, dict):
        raise StoreError(f"read {path}: not a valid MCS allocation record")
    return {str(k): str(v) for k, v in data.items()}


def _write(path: str, data: dict[str, str]) -> None:
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        fh.write(jsontext.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def allocate_label(
    state_dir: StrPath,
    container_id: str,
    type_: str = "container_t",
    file_type: str = "container_file_t",
) -> Label:
    """A fresh ``s0:cX,cY`` (X < Y) for ``container_id``, unused by any live container.

    ``state_dir`` is the store's containers directory; a container is live while
    ``state_dir/<id>`` exists, so stale allocations from a killed hardbox free themselves.
    """
    state_dir = os.fspath(state_dir)
    record = os.path.join(state_dir, _ALLOCATIONS)
    lock = _lock(state_dir)
    try:
        taken = {k: v for k, v in _read(record).items()
                 if os.path.isdir(os.path.join(state_dir, v)) or v == container_id}
        pairs_total = CATEGORIES * (CATEGORIES - 1) // 2
        if len(taken) >= pairs_total:
            raise ContainerError("selinux: every MCS category pair is in use")
        import secrets  # SELinux hosts only: off the common start-up path

        while True:
            a, b = sorted(secrets.SystemRandom().sample(range(CATEGORIES), 2))
            key = _pair_key(a, b)
            if key not in taken:
                break
        taken[key] = container_id
        _write(record, taken)
    finally:
        os.close(lock)
    return Label("system_u", "system_r", type_, f"s0:{key}", file_type)


def release_label(state_dir: StrPath, label: Label) -> None:
    """Free a container's category pair (also happens by itself once its state dir is gone)."""
    import re

    match = re.match(_LEVEL, label.level)
    if not match:
        return
    state_dir = os.fspath(state_dir)
    record = os.path.join(state_dir, _ALLOCATIONS)
    lock = _lock(state_dir)
    try:
        taken = _read(record)
        taken.pop(_pair_key(int(match.group(1)), int(match.group(2))), None)
        _write(record, taken)
    finally:
        os.close(lock)


def apply_exec_label(label: Label | str) -> None:
    """Make the next execve(2) of this thread run as ``label`` (proc(5): attr/exec)."""
    path = "/proc/thread-self/attr/exec"
    try:
        with open(path, "w") as fh:
            fh.write(str(label))
    except OSError as err:
        raise ContainerError(f"selinux: write {label} to {path}: {err.strerror}") from err
