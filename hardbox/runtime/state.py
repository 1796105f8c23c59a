"""Container state on disk: ``<store>/containers/<id>/state.json`` and its work dirs.

One directory per container holds ``state.json`` (written atomically), the overlay's
``upper`` and ``work`` dirs, the ``rootfs`` attach point and, for ``-d``, ``container.log``.
The state says what was applied and what was skipped ("selinux: unavailable on this host"),
the cgroup path and the host pids. A container whose recorded status is running but whose
PID 1 is gone (hardbox was killed) reads back as ``stale``; ``hardbox rm`` cleans it.
A pid is matched together with its start time, so a recycled pid is not mistaken for it.

``containers/.lock`` (flock) is the state lock: a new container's name is checked and its
directory and first ``state.json`` written under it, so two simultaneous ``run --name X``
cannot both take X, and a directory without ``state.json`` seen under the lock was left by
a start that died. Such leftovers — that directory, a ``state.tmp`` beside a dead
container's state, a detached monitor's ``<id>.log.tmp`` whose flock nobody holds — are
removed at the next start, as the image store cleans ``tmp/``; a live one never is.
"""

from __future__ import annotations

import fcntl
import os
import time

from hardbox import jsontext
from hardbox.errors import ContainerError, UsageError, naming_os_errors
from hardbox.fileio import unlink_missing_ok, write_all
from hardbox.records import TYPE_CHECKING, NamedTuple
from hardbox.root import root_dir

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from types import TracebackType
    from typing import Any


class ContainerState(NamedTuple):
    """The stable JSON shape of ``hardbox ps --json`` entries.

    A NamedTuple, not a dataclass: `hardbox exec` reads it on its way in, and importing
    `dataclasses` (with the `inspect` it pulls in) was a fifth of exec's start-up
    (bench/RESULTS.md). Immutable as before: ``update`` makes a new record (``_replace``);
    the list fields default to empty tuples and read back from JSON as lists."""

    id: str
    name: str
    image: str
    image_id: str
    profile: str
    command: list[str]
    created: float
    status: str = "created"  # or "running", "exited", "stale" (recorded running, found dead)
    pid: int = 0  # host pid of the container's PID 1
    pid_start: int = 0  # its start time (clock ticks since boot), /proc/PID/stat field 22
    monitor_pid: int = 0  # the hardbox process waiting for it
    exit_code: int | None = None
    oom_killed: bool = False
    finished: float | None = None
    cgroup: str = ""
    mounts: Sequence[str] = ()
    skipped: Sequence[str] = ()
    weakenings: Sequence[str] = ()
    log: str = ""
    auto_remove: bool = False
    # The image layer directories the root overlay stands on: `image prune`/`image rm`
    # read this (hardbox/image/store/prune.py) so a live container's layers are never deleted.
    layers: Sequence[str] = ()
    # What `hardbox exec` gives a new process so it has PID 1's hardening and never more
    # (runtime/exec.py): the run's user, workdir and hostname; PID 1's capability list and
    # inheritable/ambient lists, no_new_privs and SELinux label; the cgroup files to join;
    # and the sha256 of the seccomp BPF it installed, kept beside this file as seccomp.bpf
    # ("" = no filter; None = not recorded, so exec refuses). The environment is in process.env (0600), not here:
    # `ps --json` prints this record, and -e values are often secrets.
    process_user: str = ""
    process_workdir: str = "/"
    hostname: str = ""
    capabilities: Sequence[str] = ()
    capabilities_inheritable: Sequence[str] = ()  # the profile's, usually none
    capabilities_ambient: Sequence[str] = ()  # the profile's, usually none
    no_new_privs: bool = True
    selinux_label: str = ""
    cgroup_join: Sequence[str] = ()
    seccomp: str | None = None
    # --network private (runtime/net): the published ports ("127.0.0.1:8080->80/tcp") and
    # the pasta process, by pid and start time, so stop and rm end that process and no other.
    ports: Sequence[str] = ()
    uplink_pid: int = 0
    uplink_start: int = 0

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


def new_id() -> str:
    return os.urandom(32).hex()  # what secrets.token_hex does, without importing it


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat, or None when the pid does not exist."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:  # utf-8: its codec is loaded already
            data = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parens; fields resume after the last ")".
    return int(data[data.rindex(")") + 2 :].split()[19])


class StateDir:
    """The directory of one container. Held as a string and read and written with ``os``
    (``hardbox run`` and ``hardbox exec`` load neither pathlib nor json: bench/RESULTS.md);
    ``path`` is the same directory as a ``Path``, for the commands that want one.

    The container's own hardbox process is the only writer of its state (the foreground
    run, or the detached monitor), so the record it saved last is kept and ``update``
    changes that one instead of reading the file back."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.dir = os.fspath(path)
        self._saved: ContainerState | None = None

    @property
    def path(self) -> Path:
        from pathlib import Path  # for the commands that want one; run and exec use .dir

        return Path(self.dir)

    @property
    def file(self) -> Path:
        return self.path / "state.json"

    def load(self) -> ContainerState:
        file = os.path.join(self.dir, "state.json")
        try:
            with open(file, encoding="utf-8") as fh:
                raw = jsontext.loads(fh.read())
            self._saved = ContainerState(**raw)  # type: ignore[arg-type]
            return self._saved
        except FileNotFoundError as err:
            raise ContainerError(f"container state `{file}` is missing") from err
        except (ValueError, TypeError) as err:
            raise ContainerError(f"container state `{file}` is damaged: {err}") from err

    def save(self, state: ContainerState) -> ContainerState:
        file = os.path.join(self.dir, "state.json")
        tmp = os.path.join(self.dir, "state.tmp")
        data = jsontext.dumps(state.to_dict(), indent=2, sort_keys=True).encode()
        try:
            with naming_os_errors("write container state", file, ContainerError):
                # No fsync, as before: a state torn by a crash of the machine belongs to a
                # container that died with it; the rename keeps readers from a half file.
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
                try:
                    write_all(fd, data)
                finally:
                    os.close(fd)
                os.replace(tmp, file)
        except BaseException:
            unlink_missing_ok(tmp)  # a full disk must not leave a half-written state.tmp
            raise
        self._saved = state
        return state

    def update(self, **changes: Any) -> ContainerState:
        current = self._saved if self._saved is not None else self.load()
        return self.save(current._replace(**changes))

    def live_status(self) -> ContainerState:
        """The state with ``running`` checked against the kernel."""
        state = self.load()
        if state.status in ("running", "created") and not is_alive(state):
            # Created but never started, or started and lost: nobody will finish it now.
            monitor_alive = state.monitor_pid and process_start_time(state.monitor_pid) is not None
            if state.status == "running" or not monitor_alive:
                return state._replace(status="stale")
        return state

    def remove(self) -> None:
        """The directory and everything in it, symlinks never followed (runtime/rmtree.py:
        overlayfs's mode-000 ``work/work`` included, for a rootless owner too)."""
        from hardbox.runtime.rmtree import remove_tree  # --rm and `hardbox rm` only: not exec's

        remove_tree(self.dir)


def is_alive(state: ContainerState) -> bool:
    return state.pid > 0 and process_start_time(state.pid) == state.pid_start


class StateStore:
    """``<store root>/containers``: create, find by id prefix or name, list."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.dir = os.fspath(root)  # a string, as StateDir's

    @property
    def root(self) -> Path:
        from pathlib import Path  # for the commands that want one; run and exec use .dir

        return Path(self.dir)

    @classmethod
    def default(cls) -> StateStore:
        return cls(os.path.join(root_dir(), "containers"))

    def locked(self) -> _StateLock:
        """Hold the state lock (``containers/.lock``) for a ``with`` block."""
        return _StateLock(self.dir)

    def create(self, state: ContainerState) -> StateDir:
        """The new container's directory with its first state, the name reserved: checked and
        written under the state lock, so of two starts with one name exactly one wins."""
        with self.locked():
            self.clean_stale()
            if state.name and any(s.name == state.name for s in self.all()):
                raise UsageError(f"container name {state.name!r} is already in use",
                                 "remove it with `hardbox rm`, or choose another --name")
            path = os.path.join(self.dir, state.id)
            os.mkdir(path, 0o711)
            d = StateDir(path)
            try:
                d.save(state)
            except (OSError, ContainerError) as err:  # save names the file and operation
                _remove_tree(path)  # unsaved, it would be invisible to ps and rm: not left
                if isinstance(err, ContainerError):
                    raise
                raise ContainerError(
                    f"write container state `{os.path.join(path, 'state.json')}`: {err.strerror or err}") from None
            return d

    def clean_stale(self) -> list[str]:
        """Remove what dead starts left (see the module docstring); the names removed.
        Caller holds ``locked()``."""
        removed = []
        with os.scandir(self.dir) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        for entry in entries:
            if entry.name.endswith(".log.tmp") and entry.is_file():
                if _unlocked(entry.path):  # its monitor (and every holder of the log) is gone
                    unlink_missing_ok(entry.path)
                    removed.append(entry.name)
            elif entry.is_dir(follow_symlinks=False):
                if not os.path.exists(os.path.join(entry.path, "state.json")):
                    _remove_tree(entry.path)  # created under the lock, never saved: died there
                    removed.append(entry.name)
                elif os.path.exists(tmp := os.path.join(entry.path, "state.tmp")) and _dead(StateDir(entry.path)):
                    unlink_missing_ok(tmp)
                    removed.append(f"{entry.name}/state.tmp")
        return removed

    def dirs(self) -> list[StateDir]:
        try:
            names = sorted(os.listdir(self.dir))
        except (FileNotFoundError, NotADirectoryError):
            return []
        paths = (os.path.join(self.dir, name) for name in names)
        return [StateDir(p) for p in paths if os.path.isfile(os.path.join(p, "state.json"))]

    def all(self) -> list[ContainerState]:
        out = []
        for d in self.dirs():
            try:
                out.append(d.live_status())
            except ContainerError:
                continue  # a half-written or damaged state is listed by `ps -a` as missing
        return sorted(out, key=lambda s: s.created)

    def find(self, key: str) -> StateDir:
        if not key:  # every id starts with "": `exec ""` must not pick the only container
            raise UsageError("no such container: '' (an empty id or name)", "list containers with `hardbox ps -a`")
        matches = [
            d for d in self.dirs()
            if os.path.basename(d.dir).startswith(key) or _name_of(d) == key
        ]
        if not matches:
            raise UsageError(f"no such container: {key}", "list containers with `hardbox ps -a`")
        if len(matches) > 1:
            raise UsageError(f"container id prefix {key!r} is ambiguous", "give more characters")
        return matches[0]


class _StateLock:
    """``containers/.lock`` held (flock) for a ``with`` block; the directory made 0700 first.
    A class, not contextlib's decorator: run's start-up loads no contextlib."""

    __slots__ = ("dir", "fd")

    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.fd = -1

    def __enter__(self) -> None:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 _tb: TracebackType | None) -> None:
        os.close(self.fd)
        self.fd = -1


def _unlocked(path: str) -> bool:
    """Nobody holds the flock of ``path`` (the detached monitor holds its log's)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _dead(d: StateDir) -> bool:
    """Neither the container nor its monitor runs: nobody will finish writing its state."""
    try:
        state = d.load()
    except ContainerError:
        return True
    monitor = state.monitor_pid > 0 and process_start_time(state.monitor_pid) is not None
    return not is_alive(state) and not monitor


def _remove_tree(path: str) -> None:
    try:
        StateDir(path).remove()
    except FileNotFoundError:
        return  # removed meanwhile by whoever else cleans


def _name_of(d: StateDir) -> str:
    try:
        return d.load().name
    except ContainerError:
        return ""


def now() -> float:
    return time.time()
