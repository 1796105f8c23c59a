"""The user-namespace id map: which host uids/gids a container's ids become.

Container root is never host root. The host range comes from ``/etc/subuid`` and
``/etc/subgid`` for the invoking user when they have an entry (subuid(5)), else from the
documented default ``DEFAULT_RANGE`` (host ids 100000-165535), one range shared by every
container, as rootful Podman does without subids. Files a container writes land in its own
upper dir owned by those shifted ids; the image's layers are shown unshifted through
idmapped mounts (see mounts.py), so the store never holds shifted copies.

Run as root, hardbox writes ``/proc/PID/uid_map`` itself. Run by an unprivileged user
(rootless), it asks the setuid helpers ``newuidmap``/``newgidmap`` from the uidmap package,
which check the same files: container root is then the invoking user, and container ids
1..N come from the user's subordinate range.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from hardbox.errors import ContainerError

# (first host id, count) used when /etc/subuid has no entry for the invoking user.
DEFAULT_RANGE = (100000, 65536)


@dataclass(frozen=True)
class Extent:
    """One line of a uid_map: ``inside`` .. ``inside+count-1`` -> ``outside`` .. ."""

    inside: int
    outside: int
    count: int

    def __post_init__(self) -> None:
        if self.count <= 0 or self.inside < 0 or self.outside < 0:
            raise ValueError(f"bad id map extent {self}")


@dataclass(frozen=True)
class IdMap:
    uids: tuple[Extent, ...]
    gids: tuple[Extent, ...]
    rootless: bool
    source: str  # where the range came from, for --explain and state

    def host_uid(self, inside: int) -> int:
        return _to_host(self.uids, inside)

    def host_gid(self, inside: int) -> int:
        return _to_host(self.gids, inside)

    def describe(self) -> str:
        def fmt(extents: tuple[Extent, ...]) -> str:
            return ", ".join(f"{e.inside}->{e.outside} (+{e.count})" for e in extents)

        return f"uids {fmt(self.uids)}; gids {fmt(self.gids)} [{self.source}]"


def _to_host(extents: tuple[Extent, ...], inside: int) -> int:
    for e in extents:
        if e.inside <= inside < e.inside + e.count:
            return e.outside + inside - e.inside
    raise ContainerError(f"id {inside} is not mapped into the container's user namespace")


def read_subid(path: Path, user: str, uid: int) -> tuple[int, int] | None:
    """The first ``start:count`` range of ``user`` (by name or uid) in a subuid/subgid file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ContainerError(f"read `{path}`: {err.strerror}") from err
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


def for_invoking_user(etc: Path = Path("/etc")) -> IdMap:
    uid, gid = os.getuid(), os.getgid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    subuid = read_subid(etc / "subuid", user, uid)
    subgid = read_subid(etc / "subgid", user, uid)
    if uid != 0:
        if subuid is None or subgid is None:
            raise ContainerError(
                f"rootless run needs subordinate ids for user {user!r} in `{etc}/subuid` and `{etc}/subgid`",
                f"add e.g. `{user}:100000:65536` to both (usermod --add-subuids/--add-subgids)",
            )
        # Container root is the invoking user; 1..N are the subordinate range.
        return IdMap(
            uids=(Extent(0, uid, 1), Extent(1, subuid[0], subuid[1])),
            gids=(Extent(0, gid, 1), Extent(1, subgid[0], subgid[1])),
            rootless=True,
            source=f"rootless: {etc}/subuid and {etc}/subgid of {user}",
        )
    if subuid is not None and subgid is not None:
        source = f"{etc}/subuid and {etc}/subgid of {user}"
    else:
        subuid = subgid = DEFAULT_RANGE
        source = f"default range {DEFAULT_RANGE[0]}:{DEFAULT_RANGE[1]} (no {etc}/subuid entry for {user})"
    return IdMap(
        uids=(Extent(0, subuid[0], subuid[1]),),
        gids=(Extent(0, subgid[0], subgid[1]),),
        rootless=False,
        source=source,
    )


def _map_text(extents: tuple[Extent, ...]) -> str:
    return "".join(f"{e.inside} {e.outside} {e.count}\n" for e in extents)


def write_maps(pid: int, idmap: IdMap) -> None:
    """Install ``idmap`` for the user namespace of ``pid`` (which has just unshared it)."""
    if idmap.rootless:
        import shutil
        import subprocess

        for tool, extents in (("newuidmap", idmap.uids), ("newgidmap", idmap.gids)):
            exe = shutil.which(tool)
            if exe is None:
                raise ContainerError(f"{tool} is not installed", "install the uidmap package")
            args = [str(v) for e in extents for v in (e.inside, e.outside, e.count)]
            proc = subprocess.run([exe, str(pid), *args], capture_output=True, text=True)
            if proc.returncode != 0:
                raise ContainerError(f"{tool} {pid}: {proc.stderr.strip() or 'failed'}")
        return
    for name, text in (
        ("uid_map", _map_text(idmap.uids)),
        # setgroups must be denied before an unprivileged writer may set gid_map; root need
        # not, and keeping setgroups allowed lets the container drop supplementary groups.
        ("gid_map", _map_text(idmap.gids)),
    ):
        path = f"/proc/{pid}/{name}"
        try:
            with open(path, "w", encoding="ascii") as fh:
                fh.write(text)
        except OSError as err:
            raise ContainerError(f"write to `{path}`: {err.strerror}") from err
