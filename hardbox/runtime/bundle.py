"""``hardbox bundle IMAGE DIR --profile NAME``: an OCI bundle that runc starts hardened.

The bundle is ``DIR/rootfs`` (the image's layers merged, ownership shifted into the user
namespace's host range when the profile has one) and ``DIR/config.json``: the profile's OCI
export (export.oci_config) completed with the image's process (Entrypoint/Cmd, Env,
WorkingDir, User), the root, the standard mounts with the profile's tmpfs options, and a
relative ``cgroupsPath`` (runc creates it beneath its own cgroup). The bundle is built in a
temporary sibling directory and renamed into place, so a failure leaves nothing behind.

Rootless, the store's layers are already shifted on disk (image uid N belongs to the user's
N-th subordinate id, image/shifted.py) and the user may not read what those ids keep private.
The layers are then merged as root of a user namespace with the store's map, where every
file shows its image owner and the copies get it — which on the host are exactly the ids a
rootless runtime maps with the bundle's own (identical) map.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbox.errors import HardboxError, InputError, UsageError
from hardbox.runtime.bundle_rootfs import IdShift, merge_layers
from hardbox.runtime.export import oci_config
from hardbox.runtime.profile import Profile

if TYPE_CHECKING:
    from hardbox.image.userns import ShiftMap

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _lookup(rootfs: Path, table: str, name: str) -> int | None:
    """Resolve a user or group name from the image's own /etc/passwd or /etc/group."""
    try:
        text = (rootfs / "etc" / table).read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    return None


def image_user(spec: str, rootfs: Path) -> tuple[int, int]:
    """The image's ``User`` (``uid``, ``name``, ``uid:gid``, ``name:group``) as numbers."""
    if not spec:
        return 0, 0
    user, _, group = spec.partition(":")
    uid = int(user) if user.isdigit() else _lookup(rootfs, "passwd", user)
    if uid is None:
        raise InputError(f"image config: user {user!r} is not in the image's /etc/passwd")
    if group:
        gid = int(group) if group.isdigit() else _lookup(rootfs, "group", group)
        if gid is None:
            raise InputError(f"image config: group {group!r} is not in the image's /etc/group")
    else:
        gid = uid if user.isdigit() else _primary_gid(rootfs, user, uid)
    return uid, gid


def _primary_gid(rootfs: Path, user: str, uid: int) -> int:
    try:
        for line in (rootfs / "etc/passwd").read_text(errors="replace").splitlines():
            fields = line.split(":")
            if len(fields) > 3 and fields[0] == user and fields[3].isdigit():
                return int(fields[3])
    except OSError:
        return uid
    return uid


def _clamped_rlimits(rlimits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """runc sets rlimits from inside the user namespace, where a hard limit cannot rise above
    the one it inherited (setrlimit(2): EPERM without CAP_SYS_RESOURCE in the initial
    namespace); clamp to ours, as `hardbox run` does."""
    import resource

    out = []
    for r in rlimits:
        which = getattr(resource, r["type"], None)
        hard = r["hard"]
        if which is not None:
            own_hard = resource.getrlimit(which)[1]
            if own_hard != resource.RLIM_INFINITY:
                hard = min(hard, own_hard)
        out.append({"type": r["type"], "soft": min(r["soft"], hard), "hard": hard})
    return out


def _mounts(profile: Profile) -> list[dict[str, Any]]:
    tmpfs = ["nosuid", "nodev", "mode=1777"] + (["noexec"] if profile.tmpfs_noexec else [])
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": tmpfs},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": tmpfs},
    ]
    if profile.network == "host" and profile.user_namespace:
        # sysfs cannot be mounted by a user namespace that does not own the net namespace.
        mounts.append({"destination": "/sys", "type": "none", "source": "/sys",
                       "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
    else:
        mounts.append({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                       "options": ["nosuid", "noexec", "nodev", "ro"]})
    return mounts


def bundle_config(profile: Profile, image_config: Any, rootfs: Path, command: Sequence[str] = ()) -> dict[str, Any]:
    """The complete runtime-spec config.json for this image under this profile."""
    config = oci_config(profile)
    args = list(command) if command else [*image_config.entrypoint, *image_config.cmd]
    if not args:
        raise UsageError("the image has no Entrypoint or Cmd; give the command after DIR")
    env = list(image_config.env)
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    uid, gid = image_user(image_config.user, rootfs)
    cwd = image_config.working_dir or "/"
    if not cwd.startswith("/"):
        raise InputError(f"image config: WorkingDir {cwd!r} is not absolute")
    config["process"].update(
        {"terminal": False, "user": {"uid": uid, "gid": gid}, "args": args, "env": env, "cwd": cwd}
    )
    config["process"]["rlimits"] = _clamped_rlimits(config["process"]["rlimits"])
    config["root"]["path"] = "rootfs"
    config["hostname"] = "hardbox"
    config["mounts"] = _mounts(profile)
    config["linux"]["cgroupsPath"] = f"hardbox-bundle-{uuid.uuid4().hex[:12]}"
    return config


def write_bundle(image: Any, dest: Path, profile: Profile, command: Sequence[str] = ()) -> list[str]:
    """Write the bundle for ``image`` (a StoredImage/ImageView) to ``dest``; returns notes."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"bundle directory {dest} exists and is not empty")
    layers = [layer.path for layer in image.layers]
    in_userns = _store_map(layers, profile)
    staging = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir(mode=0o700)
    except OSError as err:
        raise UsageError(f"cannot create the bundle directory {dest}: {err.strerror}") from None
    try:
        rootfs = staging / "rootfs"
        rootfs.mkdir()
        config_probe = oci_config(profile)
        if in_userns is not None:
            from hardbox.image.userns import run_in_userns

            def merge(_: object) -> dict[str, object]:
                return {"notes": merge_layers(layers, rootfs)}

            merged = run_in_userns(in_userns, merge)["notes"]
            notes = [str(n) for n in merged] if isinstance(merged, list) else []
        else:
            shift = None
            if profile.user_namespace:
                shift = _shifter(config_probe["linux"]["uidMappings"], config_probe["linux"]["gidMappings"])
            notes = merge_layers(layers, rootfs, shift)
        config = bundle_config(profile, image.config, rootfs, command)
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        if dest.exists():
            dest.rmdir()
        os.rename(staging, dest)
        # The bundle dir itself must be traversable by the mapped root for runc to start it.
        os.chmod(dest, 0o711)
    except BaseException:
        from hardbox.image.store import remove_tree  # shifted files go through the namespace too

        with contextlib.suppress(OSError):  # the original error matters more
            remove_tree(staging)
        raise
    if profile.user_namespace:
        notes += _unreachable(dest.resolve())
    return notes


def _store_map(layers: Sequence[Path], profile: Profile) -> ShiftMap | None:
    """The map a rootless caller's layers were unpacked with (None as root or for layers not
    in a shifted store), checked against the bundle's own user-namespace map."""
    if os.geteuid() == 0 or not layers:
        return None
    from hardbox.image.shifted import map_of_layer

    recorded = map_of_layer(layers[0])
    if recorded is None:
        return None
    from hardbox.runtime.idmap import check_store_shift, for_invoking_user

    try:
        check_store_shift(recorded, for_invoking_user() if profile.user_namespace else None)
    except HardboxError as err:
        raise InputError(err.message, err.hint) from None
    return recorded


def _unreachable(dest: Path) -> list[str]:
    """The runtime opens the rootfs as the namespace's root, an unprivileged host uid: every
    parent directory must let "others" search it, or runc fails with EACCES on the mount."""
    return [
        f"{parent} is mode {stat.S_IMODE(parent.stat().st_mode):o}: a runtime's user-namespace "
        "root cannot reach the bundle through it (chmod o+x, or write the bundle elsewhere)"
        for parent in dest.parents
        if not parent.stat().st_mode & stat.S_IXOTH
    ]


def _shifter(uid_maps: list[dict[str, int]], gid_maps: list[dict[str, int]]) -> IdShift:
    def one(maps: list[dict[str, int]], value: int, kind: str) -> int:
        for m in maps:
            if m["containerID"] <= value < m["containerID"] + m["size"]:
                return m["hostID"] + value - m["containerID"]
        raise InputError(f"image file owned by {kind} {value}, outside the user namespace's id map")

    def shift(uid: int, gid: int) -> tuple[int, int]:
        return one(uid_maps, uid, "uid"), one(gid_maps, gid, "gid")

    return shift

