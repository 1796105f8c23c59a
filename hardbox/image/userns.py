"""User-namespace id maps shared by the store (shifted rootless unpacking) and the runtime.

An unprivileged user cannot chown files to the ids an image names. As Podman does, a
rootless store unpacks each layer in a child process inside a user namespace whose map is
the one the container will get — container uid 0 is the invoking user, 1..N the user's
subordinate range from ``/etc/subuid`` (subuid(5)) — so ``fchown(1000)`` there lands on
disk as the shifted host id, and the container, started with the same map, sees the
image's owners without idmapped mounts (which an unprivileged user cannot create).

Whiteouts need nothing special here: since Linux 5.8 ``mknod`` of a 0/0 character device
(overlayfs' whiteout) needs no CAP_MKNOD ("vfs: allow unprivileged whiteout creation"), and
an overlay mounted with ``userxattr`` honours those devices as it does for root.

The runtime imports ``Extent``, ``read_subid`` and ``write_maps_by_helpers`` from here: the
image package sits below the runtime and must not import it.
"""

from __future__ import annotations

import os
import pwd
import sys

from hardbox import errors
from hardbox.errors import HardboxError, StoreError
from hardbox.fileio import write_all
from hardbox.records import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

# What `hardbox run` uses of this module (Extent, ShiftMap, read_subid, rootless_map,
# write_maps_*) loads no json, pathlib or typing: paths are strings, and json is imported by
# the unpacking child's reply alone (bench/RESULTS.md, issue 14).

CLONE_NEWUSER = 0x10000000
_CHUNK = 1 << 16


# NamedTuples, not dataclasses: `hardbox run` builds its id map from these, and defining
# them must not load dataclasses and inspect on its start-up path (bench/RESULTS.md).
class _Extent(NamedTuple):
    inside: int
    outside: int
    # uid_map's own column name (user_namespaces(7)); it hides tuple.count, which no one calls.
    count: int  # type: ignore[assignment]


class Extent(_Extent):
    """One line of a uid_map: ``inside`` .. ``inside+count-1`` -> ``outside`` .. ."""

    __slots__ = ()

    def __new__(cls, inside: int, outside: int, count: int) -> Extent:
        if count <= 0 or inside < 0 or outside < 0:
            raise ValueError(f"bad id map extent ({inside}, {outside}, {count})")
        return super().__new__(cls, inside, outside, count)


class ShiftMap(NamedTuple):
    """The uid and gid maps a rootless store's layers were unpacked with."""

    uids: tuple[Extent, ...]
    gids: tuple[Extent, ...]

    def to_json(self) -> dict[str, object]:
        return {key: [[e.inside, e.outside, e.count] for e in extents]
                for key, extents in (("uids", self.uids), ("gids", self.gids))}

    @classmethod
    def from_json(cls, obj: object, source: str) -> ShiftMap:
        if not isinstance(obj, dict):
            raise StoreError(f"{source}: damaged id map record (not a JSON object)")
        try:
            return cls(*(tuple(Extent(*map(int, line)) for line in obj[key]) for key in ("uids", "gids")))
        except (KeyError, TypeError, ValueError) as err:
            raise StoreError(f"{source}: damaged id map record ({err})") from None

    def describe(self) -> str:
        def fmt(extents: tuple[Extent, ...]) -> str:
            return ", ".join(f"{e.inside}->{e.outside} (+{e.count})" for e in extents)

        return f"uids {fmt(self.uids)}; gids {fmt(self.gids)}"


def read_subid(path: str | os.PathLike[str], user: str, uid: int) -> tuple[int, int] | None:
    """The first ``start:count`` range of ``user`` (by name or uid) in a subuid/subgid file."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StoreError(f"read `{path}`: {err.strerror}") from err
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (user, str(uid)):
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue  # a malformed line is skipped, as shadow-utils does
        if start > 0 and count > 0:
            return start, count
    return None


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def rootless_map(etc: str | os.PathLike[str] = "/etc") -> ShiftMap | None:
    """The map of a rootless container of the invoking user, or None without subids."""
    uid, gid = os.getuid(), os.getgid()
    user = user_name(uid)
    subuid = read_subid(f"{os.fspath(etc)}/subuid", user, uid)
    subgid = read_subid(f"{os.fspath(etc)}/subgid", user, uid)
    if subuid is None or subgid is None:
        return None
    # Container root is the invoking user; 1..N are the subordinate range.
    return ShiftMap(uids=(Extent(0, uid, 1), Extent(1, *subuid)), gids=(Extent(0, gid, 1), Extent(1, *subgid)))


def write_maps_by_helpers(pid: int, shift: ShiftMap, error: type[HardboxError]) -> None:
    """Install ``shift`` for the user namespace of ``pid`` with the setuid helpers
    ``newuidmap``/``newgidmap`` (uidmap package), which check /etc/subuid themselves."""
    import shutil  # rootless store work only: kept off `hardbox run`'s start-up
    import subprocess

    for tool, extents in (("newuidmap", shift.uids), ("newgidmap", shift.gids)):
        exe = shutil.which(tool)
        if exe is None:
            raise error(f"{tool} is not installed", "install the uidmap package")
        args = [str(v) for e in extents for v in (e.inside, e.outside, e.count)]
        proc = subprocess.run([exe, str(pid), *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise error(f"{tool} {pid}: {proc.stderr.strip() or 'failed'}")


def write_maps_as_root(pid: int, shift: ShiftMap, error: type[HardboxError]) -> None:
    """Install ``shift`` by writing /proc/PID/{uid,gid}_map: root may write any map itself
    (user_namespaces(7)); the helpers would want subordinate ids for root. setgroups stays
    allowed, so the namespace can still drop supplementary groups."""
    for name, extents in (("uid_map", shift.uids), ("gid_map", shift.gids)):
        text = "".join(f"{e.inside} {e.outside} {e.count}\n" for e in extents)
        path = f"/proc/{pid}/{name}"
        try:
            with open(path, "wb") as fh:  # one write(2), as the kernel wants; digits need no codec
                fh.write(text.encode())
        except OSError as err:
            raise error(f"write to `{path}`: {err.strerror}") from err


def _write_maps(pid: int, shift: ShiftMap) -> None:
    if os.geteuid() != 0:
        write_maps_by_helpers(pid, shift, StoreError)
    else:
        write_maps_as_root(pid, shift, StoreError)


def run_in_userns(shift: ShiftMap, work: Callable[[BinaryIO | None], dict[str, object]],
                  feed: BinaryIO | None = None) -> dict[str, object]:
    """Run ``work`` in a forked child inside a new user namespace mapped by ``shift``.

    ``work`` gets a pipe carrying what is read from ``feed`` (on a thread here, until the
    child stops reading), so everything read from ``feed`` is seen by the caller's hashing
    reader as if read in-process. ``work`` returns a JSON object, which is returned here; a
    ``HardboxError`` it raises is raised here again, same class and one-line message.
    """
    import threading  # a rootless store's work only: kept off `hardbox run`'s start-up

    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    result_r, result_w = os.pipe()
    feed_r, feed_w = os.pipe() if feed is not None else (-1, -1)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child; its outcome is the parent's result
        for fd in (ready_r, go_w, result_r, feed_w):
            if fd >= 0:
                os.close(fd)
        _child(ready_w, go_r, result_w, feed_r, work)
    for fd in (ready_w, go_r, result_w, feed_r):
        if fd >= 0:
            os.close(fd)
    pump: threading.Thread | None = None
    pump_error: list[BaseException] = []
    try:
        # Not ready: the child could not unshare and its reply says why (read below).
        ready = os.read(ready_r, 1) == b"U"
        try:
            if ready:
                _write_maps(pid, shift)
                os.write(go_w, b"G")
        finally:
            os.close(go_w)  # without "G" the child reads EOF and exits
        if ready and feed is not None:
            pump = threading.Thread(target=_pump, args=(feed, feed_w, pump_error), daemon=True)
            pump.start()
            feed_w = -1  # the pump owns and closes it
        chunks = []
        while chunk := os.read(result_r, _CHUNK):
            chunks.append(chunk)
    finally:
        os.close(ready_r)
        os.close(result_r)
        if feed_w >= 0:
            os.close(feed_w)
        _, status = os.waitpid(pid, 0)
        if pump is not None:
            pump.join()
    if pump_error:
        raise pump_error[0]
    return _outcome(b"".join(chunks), status)


def _pump(feed: BinaryIO, fd: int, error: list[BaseException]) -> None:
    try:
        while data := feed.read(_CHUNK):
            write_all(fd, data)
    except BrokenPipeError:
        pass  # the child has read all it needs (the tar's end); the caller drains the rest
    except BaseException as exc:  # a read error of the source: re-raised by the caller
        error.append(exc)
    finally:
        os.close(fd)


def _unshare_user() -> None:
    import ctypes  # in the unpacking child only: kept off `hardbox run`'s start-up

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(ctypes.c_int(CLONE_NEWUSER)) != 0:
        raise StoreError(f"unshare(CLONE_NEWUSER): {os.strerror(ctypes.get_errno())}")


def _enter_as_root(ready_w: int, go_r: int) -> bool:
    """In a forked child: a new user namespace, "U" to the parent, then — once the parent
    answers "G", its map written — uid and gid 0 there. False when the parent gave up."""
    _unshare_user()
    os.write(ready_w, b"U")
    if os.read(go_r, 1) != b"G":
        return False
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    return True


def continue_in_userns(shift: ShiftMap) -> None:
    """Go on with this process's work as root of a new user namespace mapped by ``shift``,
    as ``podman unshare`` does: fork; the child returns from here inside the namespace (its
    uid and gid 0, mapped to the caller); this process waits for it and exits with its
    status, passing SIGTERM and SIGHUP on (SIGINT reaches the child from the terminal).

    For commands that read a rootless store's layers whole (scan, sbom): inside, every file
    shows its image owner and root of the namespace may read it, as root reads its own store.
    """
    import signal  # scan/sbom of a rootless store only: kept off start-up

    sys.stdout.flush()
    sys.stderr.flush()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(go_w)
        try:
            if not _enter_as_root(ready_w, go_r):
                os._exit(125)  # the parent could not write the map and reports why
        except BaseException as exc:  # report and stop: the parent's code must not run twice
            sys.stderr.write(f"hardbox: entering the store's user namespace: {exc}\n")
            os._exit(125)
        finally:
            os.close(ready_w)
            os.close(go_r)
        return
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) == b"U":
            _write_maps(pid, shift)
            os.write(go_w, b"G")
    finally:
        os.close(ready_r)
        os.close(go_w)  # without "G" the child exits
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda n, _f: os.kill(pid, n))
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _child(ready_w: int, go_r: int, result_w: int, feed_r: int,
           work: Callable[[BinaryIO | None], dict[str, object]]) -> None:
    import traceback  # the unpacking child only: kept off start-up

    code = 0
    try:
        if not _enter_as_root(ready_w, go_r):
            os._exit(1)  # the parent could not write the map and reports why
        stream = os.fdopen(feed_r, "rb") if feed_r >= 0 else None
        reply: dict[str, object] = {"ok": work(stream)}
    except HardboxError as exc:
        reply = {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}
    except BaseException as exc:
        code = 1
        reply = {"error": "StoreError", "message": f"unpacking in a user namespace failed: "
                 f"{''.join(traceback.format_exception_only(exc)).strip()}", "hint": ""}
    try:
        import json  # the unpacking child's reply only

        write_all(result_w, json.dumps(reply).encode())
    finally:
        os._exit(code)


def _outcome(data: bytes, status: int) -> dict[str, object]:
    import json  # the unpacking child's reply only

    try:
        reply = json.loads(data)
    except json.JSONDecodeError:
        raise StoreError(f"the unpacking child died ({_status(status)}) without a result") from None
    if "ok" in reply:
        return dict(reply["ok"])
    cls = getattr(errors, str(reply.get("error")), StoreError)
    if not (isinstance(cls, type) and issubclass(cls, HardboxError)):
        cls = StoreError
    raise cls(str(reply.get("message")), reply.get("hint") or None)


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.waitstatus_to_exitcode(status)}"


def remove_shifted(path: str | os.PathLike[str], fix: Callable[[Callable[..., Any], str, object], None]) -> bool:
    """Remove a tree the invoking user may not (it holds files of its subordinate ids)
    from inside a user namespace with the user's map; False when there is no such map."""
    shift = rootless_map() if os.geteuid() != 0 else None
    if shift is None:
        return False

    import shutil  # removing only: not on `hardbox run`'s path

    def remove(_: object) -> dict[str, object]:
        shutil.rmtree(path, onerror=fix)
        return {}

    run_in_userns(shift, remove)
    return True
