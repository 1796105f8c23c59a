"""A run request and the plan derived from it: what a container will be, before it starts.

``RunRequest`` is what the CLI asks for (image, the profile's resolved spec — spec.py —,
command, volumes, terminal); ``make_plan`` turns it into the ``Plan`` the forked container process carries
out, with everything that can fail done first (the seccomp filter is compiled already, in
the spec).
``error_for`` maps the status a failed start reports to Docker's 125/126/127 errors.
"""

from __future__ import annotations

import os

from hardbox.errors import CommandNotExecutable, CommandNotFound, ContainerError
from hardbox.records import TYPE_CHECKING, NamedTuple
from hardbox.runtime import capabilities, mounts, namespaces, network
from hardbox.runtime.net.options import NetworkOptions

if TYPE_CHECKING:
    from hardbox.image.userns import ShiftMap
    from hardbox.runtime.overlay import StrPath
    from hardbox.runtime.selinux import Label
    from hardbox.runtime.spec import ProfileSpec

_ERROR_CLASSES: dict[int, type[ContainerError]] = {
    125: ContainerError, 126: CommandNotExecutable, 127: CommandNotFound,
}


def error_for(code: int, message: str) -> ContainerError:
    """The error class of a start failure reported as Docker's 125/126/127."""
    return _ERROR_CLASSES.get(code, ContainerError)(message)


class ImageInput(NamedTuple):
    """What the runtime needs of a stored image (image/store/store.py's StoredImage)."""

    ref: str
    id: str
    layers: tuple[StrPath, ...]  # unpacked layer dirs, oldest first (strings from the plan cache)
    user: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = ""
    shift: ShiftMap | None = None  # the id map a rootless store unpacked the layers with
    exposed_ports: tuple[str, ...] = ()  # the config's ExposedPorts keys (-P publishes them)


class RunRequest(NamedTuple):
    image: ImageInput
    profile: ProfileSpec
    command: tuple[str, ...] = ()
    entrypoint: str | None = None
    env: tuple[str, ...] = ()
    user: str | None = None
    workdir: str | None = None
    hostname: str | None = None
    name: str = ""
    volumes: tuple[mounts.Volume, ...] = ()
    tty: bool = False
    interactive: bool = False
    init: bool = False
    auto_remove: bool = False
    network: NetworkOptions = NetworkOptions()  # -p, -P, --dns, --add-host
    skipped: tuple[str, ...] = ()  # notes from the caller (e.g. --explain-only)

    def argv(self) -> tuple[str, ...]:
        """Docker's rule: --entrypoint replaces Entrypoint and drops the image's Cmd."""
        if self.entrypoint is not None:
            entry: tuple[str, ...] = (self.entrypoint,) if self.entrypoint else ()
            args = self.command
        else:
            entry = self.image.entrypoint
            args = self.command or self.image.cmd
        argv = entry + args
        if not argv:
            raise ContainerError("no command specified", "give a command after IMAGE")
        return argv


class Plan(NamedTuple):
    """Everything PID 1 needs, computed in hardbox before the fork."""

    argv: tuple[str, ...]
    env: tuple[str, ...]
    extra_env: tuple[str, ...]
    user: str
    workdir: str
    hostname: str
    namespaces: namespaces.NamespaceSet
    capabilities: tuple[str, ...]
    no_new_privs: bool
    seccomp_bpf: bytes | None
    selinux_label: Label | None
    tty: bool
    interactive: bool
    init: bool
    layers: tuple[StrPath, ...]  # newest first, for the rootless overlay
    upper: str
    work: str
    mount_template: mounts.MountPlan
    last_cap: int  # /proc/sys/kernel/cap_last_cap, read before the image is mounted
    # Empty unless the profile names them (capabilities.py: root needs neither).
    capabilities_inheritable: tuple[str, ...] = ()
    capabilities_ambient: tuple[str, ...] = ()



def make_plan(req: RunRequest, state_id: str, base: StrPath, label: Label | None) -> Plan:
    """What PID 1 will do, decided in hardbox before the fork (paths fixed), so the forked
    side only carries it out."""
    profile = req.profile
    base = os.fspath(base)
    refuse_unlockable_masks(profile)
    nsset = namespaces.NamespaceSet(
        user=profile.user_namespace, network=network.needs_namespace(profile.network)
    )
    image_env = req.image.env
    if req.tty:
        from hardbox.runtime.tty import terminal_env  # -t only; PID 1 loads it anyway

        image_env = (terminal_env(), *image_env)  # below the image's ENV and -e, as Docker
    return Plan(
        argv=req.argv(),
        env=image_env,
        extra_env=req.env,
        user=req.user if req.user is not None else req.image.user,
        workdir=req.workdir or req.image.working_dir or "/",
        hostname=req.hostname or state_id[:12],
        namespaces=nsset,
        capabilities=profile.capabilities,
        no_new_privs=profile.no_new_privs,
        seccomp_bpf=profile.seccomp_bpf,
        selinux_label=label,
        tty=req.tty,
        interactive=req.interactive,
        init=req.init,
        layers=tuple(reversed(req.image.layers)),
        upper=os.path.join(base, "upper"),
        work=os.path.join(base, "work"),
        mount_template=mounts.MountPlan(
            root=os.path.join(base, "rootfs"),
            read_only_root=profile.read_only_root,
            tmpfs_noexec=profile.tmpfs_noexec,
            masked_paths=profile.masked_paths,
            readonly_paths=profile.readonly_paths,
            volumes=req.volumes,
            own_netns=nsset.network,
            host_tty=os.path.exists("/dev/tty"),
        ),
        last_cap=capabilities.last_cap(),
        capabilities_inheritable=profile.inheritable_names,
        capabilities_ambient=profile.ambient_names,
    )


def refuse_unlockable_masks(profile: ProfileSpec) -> None:
    """CAP_SYS_ADMIN lets container root unmount the masks over /proc and /sys. Docker
    stops that with AppArmor; hardbox has no LSM to lean on where SELinux is absent and
    cannot lock mounts it makes in the container's own mount namespace, so the
    combination is refused: asking for it means writing a profile that also clears
    ``masked_paths`` and ``readonly_paths`` — intent stated in the profile, not implied by
    one ``--cap-add`` (docs/writing-a-profile.md)."""
    if "CAP_SYS_ADMIN" in profile.capabilities and (profile.masked_paths or profile.readonly_paths):
        raise ContainerError(
            "CAP_SYS_ADMIN would let the container unmount the masked and read-only /proc and /sys "
            "paths, which hardbox cannot lock without an LSM",
            hint="to accept that, use a profile that grants CAP_SYS_ADMIN and sets masked_paths: [] "
            "and readonly_paths: [] (docs/writing-a-profile.md)",
        )

