"""``hardbox bundle IMAGE DIR --profile NAME``: an OCI bundle that runc starts hardened.

The bundle is ``DIR/rootfs`` (the image's layers merged, ownership shifted into the user
namespace's host range when the profile has one) and ``DIR/config.json``: the profile's OCI
export (export.oci_config) completed with the image's process (Entrypoint/Cmd, Env,
WorkingDir, User), the root, the standard mounts with the profile's tmpfs options, and a
relative ``cgroupsPath`` (runc creates it beneath its own cgroup). The bundle is built in a
temporary sibling directory and renamed into place, so a failure leaves nothing behind.

Who may reach it (issue 18): the rootfs keeps the image's setuid files, so DIR is mode 0700
and owned by the host id the container's root runs as (the user namespace's root, which the
runtime needs to reach the rootfs; the caller without a user namespace). No other host user
can list, read or execute anything in it. Device nodes of the image are never created in the
rootfs; ``DIR/hardbox-bundle.json`` lists them with everything else of the image the rootfs
does not have (``NOTE_FILE``).

Rootless, the store's layers are already shifted on disk (image uid N belongs to the user's
N-th subordinate id, image/store/shifted.py) and the user may not read what those ids keep private.
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
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardbox.errors import HardboxError, InputError, UsageError
from hardbox.image.store.shifted import map_of_layer
from hardbox.image.store.store import remove_tree
from hardbox.image.userns import run_in_userns
from hardbox.runtime.idmap import check_store_shift, for_invoking_user
from hardbox.runtime.mounts import HOST_SYSFS_MASKS
from hardbox.runtime.profile.bundle_record import left_out_record, recorded_devices
from hardbox.runtime.profile.bundle_rootfs import IdShift, LeftOut, Merged, merge_layers
from hardbox.runtime.profile.export import oci_config
from hardbox.runtime.profile.load import Profile

if TYPE_CHECKING:
    from hardbox.image.userns import ShiftMap

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Beside config.json: {"image", "profile", "left_out": [{"path", "layer", "reason"}]}, the
# image's entries the rootfs does not have (bundle_record.left_out_record).
NOTE_FILE = "hardbox-bundle.json"


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
    import resource  # only for a rootless bundle's rlimits: kept off start-up

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


def host_sysfs(profile: Profile) -> bool:
    """The host's /sys is bound (not a fresh sysfs) into a host-network user namespace."""
    return profile.network == "host" and profile.user_namespace


def _mounts(profile: Profile) -> list[dict[str, Any]]:
    """The mounts `hardbox run` makes (runtime/mounts.py ``setup_container_mounts`` and
    ``_mount_dev``), with the same options; kept equal by test_bundle_runc's mountinfo test.

    Two differences are the runtime's, not ours: runc bind-mounts /dev/null, zero, full,
    random, urandom and tty itself (``hardbox run`` binds tty only when it has one), and
    makes the /dev/ptmx, fd and std* links. There is no /dev/mqueue: `hardbox run` mounts
    none, and POSIX message queues have no use an isolated workload needs.
    """
    tmpfs = ["nosuid", "nodev"] + (["noexec"] if profile.tmpfs_noexec else [])
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        # noexec, as `hardbox run`: nothing in /dev is a program; devices still open.
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "noexec", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": [*tmpfs, "mode=1777"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": [*tmpfs, "mode=755"]},
    ]
    if host_sysfs(profile):
        # sysfs cannot be mounted by a user namespace that does not own the net namespace;
        # bundle_config masks what `hardbox run` masks of the host's tree (HOST_SYSFS_MASKS).
        # nosuid/nodev/noexec go beyond `hardbox run`'s read-only bind of it: kept, stricter.
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
    if host_sysfs(profile):  # the cgroup tree lists host pids
        masked = config["linux"]["maskedPaths"]
        masked += [p for p in HOST_SYSFS_MASKS if p not in masked]
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
        staging.mkdir(mode=0o700)  # 0700 from the start: the setuid files land inside
    except OSError as err:
        raise UsageError(f"cannot create the bundle directory {dest}: {err.strerror}") from None
    try:
        rootfs = staging / "rootfs"
        rootfs.mkdir()
        config_probe = oci_config(profile)
        merged = _merge(image, rootfs, in_userns, profile, config_probe)
        config = bundle_config(profile, image.config, rootfs, command)
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        left_out = left_out_record(image, merged)
        record = {"image": image.id, "profile": profile.name, "left_out": left_out}
        (staging / NOTE_FILE).write_text(json.dumps(record, indent=2) + "\n")
        os.chmod(staging, 0o700)  # whatever the umask did
        uid, gid = _owner(config)
        if (uid, gid) != (os.geteuid(), os.getegid()):
            os.chown(staging, uid, gid)
        if dest.exists():
            dest.rmdir()
        os.rename(staging, dest)
    except BaseException:
        with contextlib.suppress(OSError):  # the original error matters more
            remove_tree(staging)  # shifted files go through the namespace too
        raise
    notes = list(merged.notes)
    if left_out:
        notes.append(f"{len(left_out)} entries of the image are not in the rootfs (device nodes "
                     f"are never created): listed in {dest / NOTE_FILE}")
    if profile.user_namespace:
        notes += _unreachable(dest.resolve())
    return notes


def _merge(image: Any, rootfs: Path, in_userns: ShiftMap | None, profile: Profile,
           config: dict[str, Any]) -> Merged:
    layers = [layer.path for layer in image.layers]
    recorded = [recorded_devices(layer.path, i) for i, layer in enumerate(image.layers)]
    if in_userns is None:
        shift = None
        if profile.user_namespace:
            shift = _shifter(config["linux"]["uidMappings"], config["linux"]["gidMappings"])
        return merge_layers(layers, rootfs, shift, recorded)

    def merge(_: object) -> dict[str, object]:
        done = merge_layers(layers, rootfs, None, recorded)
        return {"notes": done.notes, "left_out": [asdict(n) for n in done.left_out.values()]}

    reply = run_in_userns(in_userns, merge)
    notes, left = reply.get("notes"), reply.get("left_out")
    return Merged(
        notes=[str(n) for n in notes] if isinstance(notes, list) else [],
        left_out={n["path"]: LeftOut(**n) for n in left} if isinstance(left, list) else {},
    )


def _owner(config: dict[str, Any]) -> tuple[int, int]:
    """The host ids of the container's root: the runtime mounts the rootfs as that user, so it
    alone (and host root) may enter the bundle; the caller when there is no user namespace."""
    def root_of(maps: list[dict[str, int]] | None, own: int) -> int:
        return next((m["hostID"] for m in maps or [] if m["containerID"] == 0), own)

    linux = config["linux"]
    return root_of(linux.get("uidMappings"), os.geteuid()), root_of(linux.get("gidMappings"), os.getegid())


def _store_map(layers: Sequence[Path], profile: Profile) -> ShiftMap | None:
    """The map a rootless caller's layers were unpacked with (None as root or for layers not
    in a shifted store), checked against the bundle's own user-namespace map."""
    if os.geteuid() == 0 or not layers:
        return None

    recorded = map_of_layer(layers[0])
    if recorded is None:
        return None

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

