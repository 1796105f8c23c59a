"""Shifted rootless stores: the record of the id map a store's layers were unpacked with.

Root's store holds layers with the owners the image gave them; containers see them shifted
through idmapped mounts. An unprivileged user can neither chown to those owners nor make
idmapped mounts, so its store unpacks every layer inside a user namespace with the map its
rootless containers get (userns.py): the files land on disk owned by the shifted host ids.
``<store root>/userns.json`` records that map on first use; layers unpacked one way are
never mixed with another (a changed /etc/subuid, root adding to a user's store), and the
runtime refuses to run a store's layers under a different map.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from hardbox.errors import StoreError
from hardbox.image.store.store import SHIFT_FILE
from hardbox.image.userns import (
    ShiftMap,
    continue_in_userns,
    rootless_map,
    user_name,
)

if TYPE_CHECKING:
    from hardbox.image.store.store import Store


def recorded_map(store: Store) -> ShiftMap | None:
    """The map in ``userns.json``; None for an unshifted store."""
    return _read_map(store.shift_file)


def map_of_layer(layer: Path) -> ShiftMap | None:
    """The map the store holding ``layer`` (``<root>/layers/<hex>``) unpacked it with; None
    for a layer of an unshifted store, or a directory that is not a store's layer."""
    if layer.parent.name != "layers":
        return None
    return _read_map(layer.parent.parent / SHIFT_FILE)


def enter_store_userns(root: Path) -> None:
    """An unprivileged caller whose store at ``root`` is shifted goes on as root of a user
    namespace with the store's map (userns.continue_in_userns): every file of every layer then
    shows its image owner and is readable, as in root's store — a scan must not miss a secret
    because only image uid 1000 may read it. No-op as root or for an unshifted store."""
    if os.geteuid() == 0:
        return
    shift = _read_map(root / SHIFT_FILE)
    if shift is None:
        return
    # Inside, the euid is 0: without this the default store would be root's.
    os.environ["HARDBOX_ROOT"] = str(root)
    continue_in_userns(shift)


def _read_map(record: Path) -> ShiftMap | None:
    try:
        data = record.read_bytes()
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(data)
    except json.JSONDecodeError as err:
        raise StoreError(f"{record}: damaged ({err})") from None
    return ShiftMap.from_json(obj, str(record))


def map_for_unpacking(store: Store) -> ShiftMap | None:
    """The map new layers must be unpacked with: None as root (unshifted), the invoking
    user's rootless map otherwise, recorded on first use. Caller holds ``writing()``."""
    recorded = recorded_map(store)
    if os.geteuid() == 0:
        if recorded is not None:
            raise StoreError(f"store {store.root} holds layers shifted for a rootless user "
                             f"({recorded.describe()}); root cannot add to it",
                             "use another store for root (set $HARDBOX_ROOT)")
        return None
    wanted = rootless_map()
    if wanted is None:
        user = user_name(os.getuid())
        raise StoreError(f"store {store.root}: a rootless import needs subordinate ids for user "
                         f"{user!r} in `/etc/subuid` and `/etc/subgid`",
                         f"add e.g. `{user}:100000:65536` to both (usermod --add-subuids/--add-subgids)")
    if recorded is None:
        if any(store.layers.iterdir()):
            raise StoreError(f"store {store.root} holds layers unpacked without an id map",
                             "remove the store and import the images again")
        store.write_file(store.shift_file, json.dumps(wanted.to_json(), indent=1).encode())
    elif recorded != wanted:
        raise StoreError(f"store {store.root}: layers were unpacked with {recorded.describe()}, "
                         f"but this user's map is {wanted.describe()}",
                         "/etc/subuid or /etc/subgid changed; remove the store and import again")
    return wanted
