"""``hardbox run --explain``: every hardening step a run would apply, without starting it.

The steps are listed in the order container.py applies them, each with what the profile
(after the run options) makes of it; weakenings the options caused are listed with the
option that caused them, and steps that this host cannot apply say so when the profile
lets them be skipped. The JSON shape (``--explain --json``) is
``{"profile", "source", "steps": [{"step", "setting", "status"}], "weakenings": [...]}``,
where status is ``applied``, ``skipped`` (if-available and unavailable here) or ``off``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hardbox.errors import HardboxError
from hardbox.runtime import capabilities, idmap, network
from hardbox.runtime.cgroups.devices import ALLOWED_DEVICES, describe
from hardbox.runtime.net.options import NetworkOptions
from hardbox.runtime.profile.load import Profile
from hardbox.runtime.selinux import host_has_selinux


@dataclass(frozen=True)
class Step:
    step: str
    setting: str
    status: str = "applied"

    def to_dict(self) -> dict[str, str]:
        return {"step": self.step, "setting": self.setting, "status": self.status}


def steps(profile: Profile, *, volumes: tuple[str, ...] = (), init: bool = False, tty: bool = False,
          net_options: NetworkOptions | None = None) -> list[Step]:
    out: list[Step] = []
    if profile.user_namespace:
        try:
            ids = idmap.for_invoking_user()
            # The image's root user runs as it is (strict included): as this host uid.
            mapping = f"container root runs as host uid {ids.host_uid(0)} (unprivileged); {ids.describe()}"
        except HardboxError as err:  # explain reports a host problem rather than failing
            mapping = f"cannot map: {err}"
        out.append(Step("user namespace", f"container root is not host root; {mapping}"))
    else:
        out.append(Step("user namespace", "off: container root IS host root", "off"))
    nets = "net, " if network.needs_namespace(profile.network) else ""
    out.append(Step("namespaces", f"mount, pid, uts, ipc, cgroup, {nets}user".rstrip(", ")))
    out.append(Step("cgroup limits", _limits(profile), _limits_status(profile)))
    out.append(Step("device allow-list", _devices(), _devices_status(profile)))
    layers = "image layers unpacked shifted to that map" if os.geteuid() != 0 else "idmapped image layers"
    out.append(Step("root filesystem", f"overlay over {layers}, own upper dir, "
                    + ("read-only" if profile.read_only_root else "read-write")))
    out.append(Step("network", network.describe(profile.network), "applied" if profile.network != "host" else "off"))
    if net_options is not None and profile.network == "private":
        out.append(_ports(net_options))
    if profile.network == "private":
        out.append(_egress(profile))
    out.append(Step("/proc", "proc of the container's pid namespace"))
    out.append(Step("masked paths", ", ".join(profile.masked_paths) or "none",
                    "applied" if profile.masked_paths else "off"))
    out.append(Step("read-only paths", ", ".join(profile.readonly_paths) or "none",
                    "applied" if profile.readonly_paths else "off"))
    out.append(Step("/dev", "tmpfs with null, zero, full, random, urandom, tty; private devpts; shm"))
    out.append(Step("/tmp, /run", "tmpfs nosuid,nodev" + (",noexec" if profile.tmpfs_noexec else "")))
    if volumes:
        mode = "read-only unless :rw" if profile.volumes_readonly else "read-write unless :ro"
        notes = "".join(f"; {note}" for note in _volume_notes(profile, volumes))
        out.append(Step("volumes", f"{', '.join(volumes)} ({mode}, nosuid,nodev){notes}"))
    out.append(Step("pivot_root", "into the container root; the host root is detached"))
    out.append(Step("session", "new session" + (" with a new pty (no TIOCSTI into the caller)" if tty else "")))
    out.append(Step("environment", "image Env and --env only; host environment not passed"))
    out.append(Step("rlimits", ", ".join(f"{r.type}={r.soft}:{r.hard}" for r in profile.rlimits) or "inherited",
                    "applied" if profile.rlimits else "off"))
    out.append(Step("file descriptors", "every inherited descriptor but stdio closed"))
    out.append(Step("working directory", "entered by path after pivot_root (CVE-2024-21626)"))
    out.append(Step("no_new_privs", "on" if profile.no_new_privs else "off",
                    "applied" if profile.no_new_privs else "off"))
    out.append(Step("capabilities", _capabilities(profile)))
    out.append(Step("selinux", f"{profile.selinux.type} with a unique MCS pair ({profile.selinux.mode})",
                    _selinux_status(profile)))
    out.append(Step("seccomp", profile.seccomp_name + " filter, installed last before exec",
                    "applied" if profile.seccomp is not None else "off"))
    if init:
        out.append(Step("init", "a reaping PID 1 forwards signals to the command"))
    return out


def _volume_notes(profile: Profile, volumes: tuple[str, ...]) -> list[str]:
    """A volume container root could not write to names the host uid it runs as."""
    from hardbox.runtime.mounts import Volume, write_refusal

    try:
        ids = idmap.for_invoking_user() if profile.user_namespace else None
    except HardboxError:
        return []  # the user namespace step already says why no map can be made
    root = (ids.host_uid(0), ids.host_gid(0)) if ids is not None else (0, 0)
    notes = []
    for spec in volumes:
        try:
            vol = Volume.parse(spec, read_only_default=profile.volumes_readonly)
        except HardboxError as err:
            notes.append(err.message)
            continue
        note = write_refusal(vol, *root) if ids is not None else None
        notes += [note] if note else []
    return notes


def _egress(profile: Profile) -> Step:
    if not profile.egress.restricts:
        return Step("egress", "no policy: every destination is allowed", "off")
    from hardbox.runtime import egress  # only a profile with a policy needs its words

    return Step("egress", "; ".join(egress.describe(profile.egress)) + " (nftables in the container's namespace)")


def _ports(options: NetworkOptions) -> Step:
    """Published ports as asked (a free host port shows as 127.0.0.1:0 until the start)."""
    ports = [str(p) for p in options.publish] + (["every EXPOSEd port on a free port of 127.0.0.1"]
                                                  if options.publish_all else [])
    text = ", ".join(ports) or "none"
    if options.host_gateway:
        text += ("; the host's loopback ports the egress policy allows, on the container's 127.0.0.1, as "
                 + ", ".join(options.host_gateway))
    return Step("published ports", text, "applied" if ports else "off")


def _capabilities(profile: Profile) -> str:
    caps = [capabilities.normalize(c) for c in profile.capabilities]
    text = "bounding, permitted, effective = " + (
        ", ".join(caps) + " (held by container root; a non-root user holds none)" if caps else "none")
    for label, grants in (("inheritable", profile.capabilities_inheritable),
                          ("ambient", profile.capabilities_ambient)):
        text += f"; {label} = " + (", ".join(f"{g.name} ({g.reason})" for g in grants) or "none")
    return text


def _limits(profile: Profile) -> str:
    lim = profile.limits
    parts = [
        f"memory={lim.memory}" if lim.memory is not None else "",
        f"pids={lim.pids}" if lim.pids is not None else "",
        f"cpus={lim.cpus}" if lim.cpus is not None else "",
    ]
    text = ", ".join(p for p in parts if p) or "none"
    return f"{text} ({lim.mode})"


def _limits_status(profile: Profile) -> str:
    lim = profile.limits
    return "off" if lim.memory is None and lim.pids is None and lim.cpus is None else "applied"


def _devices() -> str:
    return f"{describe(ALLOWED_DEVICES)}; cgroup v1 devices controller or a BPF device program on v2"


def _devices_status(profile: Profile) -> str:
    # Every run as root gets the list or is refused; an unprivileged run cannot apply one
    # (container.py, _create_cgroup): it skips it where the limits are if-available.
    if os.geteuid() == 0 or profile.limits.mode == "required":
        return "applied"
    return "skipped"


def _selinux_status(profile: Profile) -> str:
    if profile.selinux.mode == "disabled":
        return "off"

    if host_has_selinux():
        return "applied"
    return "skipped" if profile.selinux.mode == "if-available" else "applied"


def explain(profile: Profile, **kw: Any) -> dict[str, Any]:
    return {
        "profile": profile.name,
        "source": profile.source,
        "steps": [s.to_dict() for s in steps(profile, **kw)],
        "weakenings": [w.to_dict() for w in profile.weakenings],
    }


def render(report: dict[str, Any]) -> str:
    lines = [f"profile {report['profile']} ({report['source']})", ""]
    width = max(len(s["step"]) for s in report["steps"])
    for s in report["steps"]:
        mark = {"applied": "+", "skipped": "~", "off": "-"}[s["status"]]
        lines.append(f" {mark} {s['step']:<{width}}  {s['setting']}" + ("  [skipped: unavailable on this host]" if s["status"] == "skipped" else ""))
    lines.append("")
    if report["weakenings"]:
        lines.append("weakened by options:")
        lines += [f" ! {w['field']}: {w['before']} -> {w['after']} ({w['cause']})" for w in report["weakenings"]]
    else:
        lines.append("no option weakens this profile")
    return "\n".join(lines) + "\n"
