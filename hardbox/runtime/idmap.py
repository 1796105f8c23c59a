"""The user-namespace id map: which host uids/gids a container's ids become.

Container root is never host root. The host range comes from ``/etc/subuid`` and
``/etc/subgid`` for the invoking user when they have an entry (subuid(5)), else from the
documented default ``DEFAULT_RANGE`` (host ids 100000-165535), one range shared by every
container, as rootful Podman does without subids. Files a container writes land in its own
upper dir owned by those shifted ids; the image's layers are shown unshifted through
idmapped mounts (see mounts.py), so root's store never holds shifted copies.

Run as root, hardbox writes ``/proc/PID/uid_map`` itself. Run by an unprivileged user
(rootless), it asks the setuid helpers ``newuidmap``/``newgidmap`` from the uidmap package,
which check the same files: container root is then the invoking user, and container ids
1..N come from the user's subordinate range. A rootless store unpacks its layers with that
very map (image/userns.py), so they need no idmapping; ``check_store_shift`` refuses a
store unpacked with another.
"""

from __future__ import annotations

import os

from hardbox.errors import ContainerError
from hardbox.image.userns import (
    Extent,
    ShiftMap,
    read_subid,
    rootless_map,
    user_name,
    write_maps_as_root,
    write_maps_by_helpers,
)
from hardbox.records import NamedTuple

__all__ = ["DEFAULT_RANGE", "Extent", "IdMap", "for_invoking_user", "read_subid", "write_maps"]

# (first host id, count) used when /etc/subuid has no entry for the invoking user.
DEFAULT_RANGE = (100000, 65536)


class IdMap(NamedTuple):
    uids: tuple[Extent, ...]
    gids: tuple[Extent, ...]
    rootless: bool
    source: str  # where the range came from, for --explain and state

    def host_uid(self, inside: int) -> int:
        return _to_host(self.uids, inside)

    def host_gid(self, inside: int) -> int:
        return _to_host(self.gids, inside)

    def shift(self) -> ShiftMap:
        return ShiftMap(self.uids, self.gids)

    def describe(self) -> str:
        def fmt(extents: tuple[Extent, ...]) -> str:
            return ", ".join(f"{e.inside}->{e.outside} (+{e.count})" for e in extents)

        return f"uids {fmt(self.uids)}; gids {fmt(self.gids)} [{self.source}]"


def _to_host(extents: tuple[Extent, ...], inside: int) -> int:
    for e in extents:
        if e.inside <= inside < e.inside + e.count:
            return e.outside + inside - e.inside
    raise ContainerError(f"id {inside} is not mapped into the container's user namespace")


def for_invoking_user(etc: str | os.PathLike[str] = "/etc") -> IdMap:
    etc = os.fspath(etc)  # a string path: a run loads no pathlib (bench/RESULTS.md)
    uid = os.getuid()
    user = user_name(uid)
    if uid != 0:
        shift = rootless_map(etc)
        if shift is None:
            raise ContainerError(
                f"rootless run needs subordinate ids for user {user!r} in `{etc}/subuid` and `{etc}/subgid`",
                f"add e.g. `{user}:100000:65536` to both (usermod --add-subuids/--add-subgids)",
            )
        # The same map a rootless store unpacks its layers with (image/userns.py).
        return IdMap(uids=shift.uids, gids=shift.gids, rootless=True,
                     source=f"rootless: {etc}/subuid and {etc}/subgid of {user}")
    subuid = read_subid(f"{etc}/subuid", user, uid)
    subgid = read_subid(f"{etc}/subgid", user, uid)
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


def write_maps(pid: int, idmap: IdMap) -> None:
    """Install ``idmap`` for the user namespace of ``pid`` (which has just unshared it)."""
    if idmap.rootless:
        write_maps_by_helpers(pid, idmap.shift(), ContainerError)
    else:
        write_maps_as_root(pid, idmap.shift(), ContainerError)


def check_store_shift(recorded: ShiftMap | None, ids: IdMap | None) -> None:
    """Refuse layers whose on-disk owners do not fit the container's map: a rootless run
    needs layers unpacked with exactly its map, a root run unshifted ones (it idmaps them)."""
    rootless = ids is not None and ids.rootless
    if rootless and recorded is None:
        raise ContainerError("the image store's layers were unpacked without an id map; a rootless run "
                             "would show every file as owned by container root",
                             "remove the store and import the images again as this user")
    if recorded is not None and (ids is None or not rootless or recorded != ids.shift()):
        mine = ids.shift().describe() if ids is not None else "no user namespace"
        raise ContainerError(f"the image store's layers were unpacked with {recorded.describe()}, "
                             f"but this container's map is {mine}",
                             "import the image into a store of this user (set $HARDBOX_ROOT)")
