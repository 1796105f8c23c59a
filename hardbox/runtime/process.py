"""The container process: who it runs as, with what environment, limits and files, and exec.

Everything here runs inside the container after pivot_root, so ``/etc/passwd`` is the
image's and a path is resolved inside the container root. The user comes from the image's
own passwd/group files, never the host's. The environment is the image's ``Env`` plus
``--env`` and nothing from the host (which may hold secrets). Every inherited descriptor
except stdio is closed before exec, and the working directory is entered by path after
the pivot, never through a descriptor that could point at the host (CVE-2024-21626,
"Leaky Vessels", where runc leaked a host fd usable as a cwd).
"""

from __future__ import annotations

import os
import resource
import stat

from hardbox.errors import CommandNotExecutable, CommandNotFound, ContainerError, UsageError
from hardbox.records import TYPE_CHECKING, NamedTuple
from hardbox.runtime import capabilities, syscalls

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class User(NamedTuple):  # not a dataclass: `hardbox exec` imports no dataclasses
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


# Larger than any real passwd or group file; an image's file is read whole into memory.
MAX_ACCOUNT_DB = 16 << 20


def _read_db(path: str) -> list[list[str]]:
    """The image's passwd or group file as split lines; absent is empty.

    Opened non-blocking and checked before reading: a FIFO there hung ``hardbox run``
    forever (issue 18), a device or a huge file would too. Anything but a regular file of
    sane size is refused in one line."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    except OSError as err:
        raise ContainerError(f"open {path} of the image: {err.strerror}") from err
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ContainerError(f"{path} of the image is not a regular file")
        data = fh.read(MAX_ACCOUNT_DB + 1)
    if len(data) > MAX_ACCOUNT_DB:
        raise ContainerError(f"{path} of the image is larger than {MAX_ACCOUNT_DB >> 20} MiB")
    lines = data.decode("utf-8", errors="replace").splitlines()
    return [line.split(":") for line in lines if line.strip() and not line.startswith("#")]


def resolve_user(spec: str, etc: str = "/etc") -> User:
    """``--user`` / image ``User`` -> ids, from the container's own passwd and group.

    ``name``, ``uid``, ``name:group``, ``uid:gid``; a numeric uid absent from passwd is
    allowed (Docker allows it) with gid 0 unless given; an unknown name is an error.
    """
    spec = spec or "0"
    user_part, _, group_part = spec.partition(":")
    passwd = _read_db(f"{etc}/passwd")
    groups = _read_db(f"{etc}/group")
    entry = next((e for e in passwd if len(e) >= 7 and user_part in (e[0], e[2])), None)
    if entry is not None:
        try:
            uid, gid, home, name = int(entry[2]), int(entry[3]), entry[5] or "/", entry[0]
        except ValueError as err:
            raise ContainerError(f"`{etc}/passwd`: bad entry for {user_part!r}") from err
    elif user_part.isdigit():
        uid, gid, home, name = int(user_part), 0, "/", ""
    else:
        raise ContainerError(f"unable to find user {user_part}: no matching entries in passwd file")
    if group_part:
        gentry = next((g for g in groups if len(g) >= 3 and group_part in (g[0], g[2])), None)
        if gentry is not None and gentry[2].isdigit():
            gid = int(gentry[2])
        elif group_part.isdigit():
            gid = int(group_part)
        else:
            raise ContainerError(f"unable to find group {group_part}: no matching entries in group file")
    supplementary = tuple(
        sorted({int(g[2]) for g in groups if len(g) >= 4 and g[2].isdigit() and name and name in g[3].split(",")})
    )
    return User(uid, gid, supplementary, home)


def build_env(
    image_env: Sequence[str], extra: Sequence[str], hostname: str, home: str
) -> dict[str, str]:
    """Image ``Env``, then ``-e``; PATH, HOSTNAME and HOME filled in as Docker does.

    ``-e NAME`` (no ``=``) takes NAME from hardbox's own environment, as in Docker, since
    the user asked for it by name; nothing else of the host is passed.
    """
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    for item in image_env:
        key, sep, value = item.partition("=")
        if key and sep:
            env[key] = value
    for item in extra:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"--env {item!r}: empty variable name")
        if sep:
            env[key] = value
        elif key in os.environ:
            env[key] = os.environ[key]
    env.setdefault("HOME", home or "/")
    return env


def set_rlimits(pid: int, rlimits: Sequence[tuple[str, int, int]]) -> list[str]:
    """prlimit(2) on the container's PID 1 (from hardbox; the workload inherits them).

    A hard limit above hardbox's own can only be granted with CAP_SYS_RESOURCE in the
    initial user namespace; without it the limit is lowered to what hardbox has (tighter,
    never looser) and a note saying so is returned for the run's record.
    """
    notes: list[str] = []
    for name, soft, hard in rlimits:
        which = getattr(resource, name, None)
        if which is None:
            raise ContainerError(f"setrlimit {name}: unknown resource")
        try:
            resource.prlimit(pid, which, (soft, hard))
            continue
        except PermissionError:
            _, own_hard = resource.getrlimit(which)
            if own_hard == resource.RLIM_INFINITY or own_hard >= hard:
                raise ContainerError(f"setrlimit {name} {soft}:{hard} on pid {pid}: permission denied") from None
        except (OSError, ValueError) as err:
            raise ContainerError(f"setrlimit {name} {soft}:{hard}: {err}") from err
        try:
            resource.prlimit(pid, which, (min(soft, own_hard), own_hard))
        except (OSError, ValueError) as err:
            raise ContainerError(f"setrlimit {name} {min(soft, own_hard)}:{own_hard}: {err}") from err
        notes.append(f"rlimit {name}: hard {hard} lowered to {own_hard} (hardbox lacks CAP_SYS_RESOURCE)")
    return notes


def switch_user(user: User) -> None:
    """setgroups, setgid, setuid, keeping capabilities across the uid change (they are set
    to exactly the profile's list right after, by capabilities.apply)."""

    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1)
    os.setgroups(list(user.groups))
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 0)


def become(user: str, image_env: Sequence[str], extra_env: Sequence[str], hostname: str, *,
           no_new_privs: bool, keep_fds: Sequence[int]) -> dict[str, str]:
    """The process's identity, in the order a container's PID 1 and an exec'd process both
    need: close the inherited descriptors, resolve the user and environment from the image's
    files (still as container root), no_new_privs, then switch to the user. Returns the
    environment; the caller sets the capabilities right after (capabilities.apply)."""
    close_fds(keep=keep_fds)
    who = resolve_user(user)
    env = build_env(image_env, extra_env, hostname, who.home)
    if no_new_privs:
        capabilities.set_no_new_privs()
    switch_user(who)
    return env


def enter_workdir(workdir: str) -> None:
    """chdir by path, after the pivot: a relative or escaping path cannot reach the host."""
    if not workdir.startswith("/"):
        raise ContainerError(f"working directory {workdir!r} must be an absolute path")
    try:  # noqa: SIM105 - contextlib is not loaded for a run or an exec
        os.makedirs(workdir, exist_ok=True)
    except OSError:
        pass  # a read-only root: chdir below says whether it exists
    try:
        os.chdir(workdir)
    except OSError as err:
        raise ContainerError(f"chdir to `{workdir}`: {err.strerror}") from err
    # After pivot_root and the old-root detach, the only tree reachable is the container's;
    # still check, as runc does since the fix, that the cwd is a real path under "/".
    if not os.getcwd().startswith("/"):
        raise ContainerError(f"working directory `{workdir}` is outside the container root")


def close_fds(keep: Sequence[int]) -> None:
    """Close every descriptor except ``keep`` (stdio and the exec-status pipe)."""
    keep_sorted = sorted(set(keep))
    low = 0
    for fd in [*keep_sorted, 1 << 20]:
        if low < fd:
            os.closerange(low, min(fd, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        low = fd + 1


def find_executable(name: str, path: str) -> str:
    """The file ``exec`` would run, or a 127/126 error as Docker reports them."""
    candidates = [name] if "/" in name else [os.path.join(d or ".", name) for d in path.split(":")]
    denied: str | None = None
    for candidate in candidates:
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = candidate
        elif os.path.isdir(candidate) and "/" in name:
            raise CommandNotExecutable(f"exec {name}: is a directory")
    if denied is not None:
        raise CommandNotExecutable(f"exec {denied}: permission denied")
    raise CommandNotFound(f"exec {name}: executable file not found in $PATH" if "/" not in name else f"exec {name}: no such file or directory")
