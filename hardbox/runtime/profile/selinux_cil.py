"""A CIL policy module for one container, in the style of udica.

udica (github.com/containers/udica) turns a container's inspect output into a policy that
``blockinherit``s generic templates and adds exactly what this container needs: the
capabilities it keeps, the ports it binds, the host paths it mounts. Here the inputs are the
image config (``ExposedPorts``, ``Volumes``) and the hardbox profile (capabilities, network),
plus ``-v`` volumes. The templates are ``policies/selinux/templates.cil``; on a host they are
loaded with the module (``semodule -i templates.cil hardbox_NAME.cil``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hardbox.errors import InputError
from hardbox.runtime.profile.selinux_ports import PortContexts, reference_table

if TYPE_CHECKING:
    from hardbox.runtime.profile.load import Profile

# capability(7) numbers >= 32 live in SELinux's capability2 class.
_CAPABILITY2 = frozenset(
    {"mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read",
     "perfmon", "bpf", "checkpoint_restore"}
)
_FILE_READ = "ioctl read getattr lock open map"
_FILE_WRITE = "ioctl read write create getattr setattr lock append map unlink link rename open"
_DIR_READ = "ioctl read getattr lock open search"
_DIR_WRITE = "ioctl read write create getattr setattr lock open add_name remove_name reparent search rmdir rename"


@dataclass(frozen=True)
class Volume:
    """A bind mount the container gets, with the SELinux type of the host path."""

    source: str
    target: str
    read_only: bool
    type: str = "container_file_t"


def module_name(image_name: str) -> str:
    """``docker.io/library/nginx:1.25`` -> ``hardbox_nginx``: a valid CIL block name."""
    base = image_name.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    cleaned = re.sub(r"[^a-z0-9_]", "_", base.lower()).strip("_") or "container"
    return f"hardbox_{cleaned}"


def exposed_ports(config: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(proto, port) from an OCI/Docker image config's ``config.ExposedPorts``."""
    section = config.get("config") or {}
    ports = section.get("ExposedPorts") or {}
    if not isinstance(ports, Mapping):
        raise InputError("image config: config.ExposedPorts must be an object")
    out = []
    for spec in ports:
        number, _, proto = str(spec).partition("/")
        proto = proto or "tcp"
        if proto not in ("tcp", "udp", "sctp") or not number.isdigit() or not 0 < int(number) < 65536:
            raise InputError(f"image config: exposed port {spec!r} is not PORT[/tcp|udp|sctp]")
        if proto != "sctp":  # the templates declare no sctp_socket class; udica skips it too
            out.append((proto, int(number)))
    return sorted(set(out))


def image_volumes(config: Mapping[str, Any]) -> list[str]:
    section = config.get("config") or {}
    volumes = section.get("Volumes") or {}
    if not isinstance(volumes, Mapping):
        raise InputError("image config: config.Volumes must be an object")
    return sorted(str(v) for v in volumes)


def policy_cil(
    image_config: Mapping[str, Any] | Any,
    profile: Profile,
    *,
    name: str = "container",
    volumes: Sequence[Volume] = (),
    ports: PortContexts | None = None,
) -> str:
    """The CIL module text for a container of this image under this profile; port types from
    ``ports`` (default: hardbox's reference table)."""
    block = module_name(name)
    ports = ports or reference_table()
    lines = [
        f"; hardbox SELinux module for {name} under profile {profile.name}",
        f"; load with: semodule -i templates.cil {block}.cil",
        f"; run as: system_u:system_r:{block}.process:s0:cX,cY",
        f"; port types from {ports.source}",
        f"(block {block}",
        *(f"    {statement}" for statement in block_statements(image_config, profile, volumes=volumes, ports=ports)),
        ")",
    ]
    return "\n".join(lines) + "\n"


def block_statements(
    image_config: Mapping[str, Any] | Any,
    profile: Profile,
    *,
    volumes: Sequence[Volume] = (),
    ports: PortContexts | None = None,
) -> list[str]:
    """The statements inside the module's block, one per line (comments included): what a
    Security Profiles Operator ``RawSelinuxProfile`` carries, since SPO wraps the policy in
    a block of its own naming."""
    config = getattr(image_config, "raw", image_config)
    if not isinstance(config, Mapping):
        raise InputError("image config: not a JSON object")
    lines = ["(blockinherit container)"]
    if profile.network != "none":
        lines.append("(blockinherit net_container)")
    caps = [c.lower().removeprefix("cap_") for c in profile.capabilities]
    cap1 = [c for c in caps if c not in _CAPABILITY2]
    cap2 = [c for c in caps if c in _CAPABILITY2]
    if cap1:
        lines.append(f"(allow process process (capability ({' '.join(cap1)})))")
    if cap2:
        lines.append(f"(allow process process (capability2 ({' '.join(cap2)})))")
    exposed = exposed_ports(config)
    if exposed and profile.network == "none":
        lines.append(f"; exposed ports {exposed} not allowed: the profile's network is none")
    elif exposed:
        contexts = ports or reference_table()
        for proto, port in exposed:
            kind = contexts.type_of(proto, port)
            lines.append(f"(allow process {kind} ({proto}_socket (name_bind)))  ; {port}/{proto}")
    for path in image_volumes(config):
        lines.append(f"; image volume {path}: a container_file_t volume, covered by the template")
    for vol in volumes:
        if not re.fullmatch(r"[a-z0-9_]+_t", vol.type):
            raise InputError(f"volume {vol.source}: SELinux type {vol.type!r} is not a type name")
        file_perms, dir_perms = (_FILE_READ, _DIR_READ) if vol.read_only else (_FILE_WRITE, _DIR_WRITE)
        lines.append(f"; volume {vol.source} -> {vol.target} ({'ro' if vol.read_only else 'rw'})")
        lines.append(f"(allow process {vol.type} (dir ({dir_perms})))")
        lines.append(f"(allow process {vol.type} (file ({file_perms})))")
        lines.append(f"(allow process {vol.type} (lnk_file (read getattr)))")
    return lines


def host_path_type(path: str) -> str:
    """The SELinux type of a host path (its ``security.selinux`` xattr), as udica reads it;
    ``container_file_t`` where the host has no labels (the runtime relabels with ``:z``)."""
    try:
        context = os.getxattr(path, "security.selinux").decode().rstrip("\x00")
    except OSError:
        return "container_file_t"
    parts = context.split(":")
    return parts[2] if len(parts) >= 3 else "container_file_t"
