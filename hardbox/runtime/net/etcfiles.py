"""/etc/hostname, /etc/hosts and /etc/resolv.conf for a container, as Docker writes them.

They are written into the container's state directory (``hostname``, ``hosts``,
``resolv.conf``: runtime/egress.py reads the resolvers from the last) and bind-mounted read-only over the
image's files (as extra volumes, runtime/mounts.py), so a read-only root still gets them and
the workload cannot rewrite them. A ``-v`` onto one of the same paths wins.
"""

from __future__ import annotations

import os

from hardbox.errors import ContainerError, write_failed
from hardbox.fileio import write_all
from hardbox.runtime.mounts import Volume
from hardbox.runtime.net.plan import NetworkPlan

_HOST_HOSTS = "/etc/hosts"


def hosts_text(plan: NetworkPlan) -> str:
    if plan.mode == "host":
        # The host's network, so the host's names (Docker copies the file the same way).
        try:
            with open(_HOST_HOSTS, encoding="utf-8", errors="replace") as fh:
                base = fh.read().rstrip("\n") + "\n"
        except OSError:
            base = "127.0.0.1\tlocalhost\n"
    else:
        base = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
        # The container's own name on its address (Docker), or 127.0.1.1 without one (Debian).
        base += f"{plan.container_address or '127.0.1.1'}\t{plan.hostname}\n"
    return base + "".join(f"{address}\t{name}\n" for address, name in plan.hosts)


def resolv_conf_text(plan: NetworkPlan) -> str:
    lines = ["# written by hardbox for this container; the host's /etc/resolv.conf is unchanged"]
    lines += [f"nameserver {s}" for s in plan.nameservers]
    if plan.search:
        lines.append("search " + " ".join(plan.search))
    if plan.resolv_options:
        lines.append("options " + " ".join(plan.resolv_options))
    return "\n".join(lines) + "\n"


def write(state_dir: str | os.PathLike[str], plan: NetworkPlan,
          user_volumes: tuple[Volume, ...]) -> tuple[Volume, ...]:
    """Write the three files into the state dir and return the read-only binds for the ones
    no ``-v`` already covers."""
    contents = {"/etc/hostname": plan.hostname + "\n", "/etc/hosts": hosts_text(plan),
                "/etc/resolv.conf": resolv_conf_text(plan)}
    taken = {os.path.normpath(v.destination) for v in user_volumes}
    directory = os.fspath(state_dir)
    volumes = []
    try:
        for target, text in contents.items():
            if target in taken:
                continue
            path = os.path.join(directory, os.path.basename(target))
            _write_file(path, text.encode("utf-8"))
            volumes.append(Volume(path, target, read_only=True))
    except OSError as err:
        raise write_failed("write", state_dir, err, ContainerError) from err
    return tuple(volumes)


def _write_file(path: str, data: bytes) -> None:
    # Mode 0644 set on the open file: readable by every user of the container, writable by
    # none, whatever the umask. O_NOFOLLOW: the state dir is hardbox's own, never a link's.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.fchmod(fd, 0o644)
        write_all(fd, data)
    finally:
        os.close(fd)
