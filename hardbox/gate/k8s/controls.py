"""The checks ``hardbox gate --k8s`` makes on a workload's pod spec: the Pod Security
Standards controls, one per control the Kubernetes documentation lists
(https://kubernetes.io/docs/concepts/security/pod-security-standards/, kept in
tests/fixtures/k8s, whose test compares the two lists), and hardbox's own addition, a
read-only root filesystem.

Each control says what its level allows, field by field, as the page's "Restricted Fields"
and "Allowed Values" do and as the Pod Security Admission controller reads them: a container
field that is unset falls back to the pod's where the API has both (runAsNonRoot,
seccompProfile), and the three Linux-only restricted controls skip a pod whose
``spec.os.name`` is ``windows``. A violation names the field (keys below the pod spec), so
the finding carries its line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hardbox.findings import Severity
from hardbox.gate.k8s.manifests import Keys, Workload

# Baseline "Capabilities": what may be added (Docker's default set).
BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
})  # fmt: skip
RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                "persistentVolumeClaim", "projected", "secret"})
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_HOOKS = ("postStart", "preStop")
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


@dataclass(frozen=True)
class Violation:
    keys: Keys  # below the pod spec, or from the document's root with ``from_root``
    what: str
    from_root: bool = False


@dataclass(frozen=True)
class Control:
    id: str
    name: str  # as the Pod Security Standards page names the control
    level: str  # baseline, restricted, or hardbox (hardbox's own)
    severity: Severity
    fix: str
    check: Callable[[Workload], list[Violation]]

    @property
    def rule_name(self) -> str:
        slug = "".join(c if c.isalnum() else "-" for c in self.name.lower()).strip("-")
        return f"k8s-{self.level}/{'-'.join(filter(None, slug.split('-')))}"

    @property
    def description(self) -> str:
        where = "hardbox" if self.level == "hardbox" else f"Pod Security Standards {self.level}"
        return f"{where}: {self.name}"


def _sc(w: Workload, at: Keys) -> Keys:
    """The keys of the securityContext of the container at ``at`` (of the pod for ``()``)."""
    return (*at, "securityContext")


def _contexts(w: Workload, *, pod: bool = True) -> list[Keys]:
    """The securityContext keys a control reads: the pod's (unless ``pod`` is false, for the
    fields only a container has) and every container's."""
    return ([_sc(w, ())] if pod else []) + [_sc(w, at) for at, _ in w.containers()]


def _each_context(w: Workload, field: Keys, kind: type, bad: Callable[[Any], bool],
                  what: str, *, pod: bool = True) -> list[Violation]:
    """A violation for every securityContext whose ``field`` holds a value ``bad`` rejects;
    ``what`` says so, ``{value}`` standing for the value."""
    out = []
    for sc in _contexts(w, pod=pod):
        keys = (*sc, *field)
        value = w.get(keys, kind)
        if bad(value):
            out.append(Violation(keys, what.format(value=value)))
    return out


def _is_windows(w: Workload) -> bool:
    return w.get(("os", "name"), str) == "windows"


def host_process(w: Workload) -> list[Violation]:
    return _each_context(w, ("windowsOptions", "hostProcess"), bool, lambda host: host is True,
                         "runs a Windows HostProcess container")


def host_namespaces(w: Workload) -> list[Violation]:
    return [Violation((f,), f"{f} is true: the pod shares the host's {f.removeprefix('host').lower()} namespace")
            for f in ("hostNetwork", "hostPID", "hostIPC") if w.get((f,), bool)]


def privileged(w: Workload) -> list[Violation]:
    return _each_context(w, ("privileged",), bool, lambda on: on is True,
                         "runs a privileged container", pod=False)


def _added(w: Workload, at: Keys) -> list[str]:
    added = w.get((*_sc(w, at), "capabilities", "add"), list) or []
    return [str(c) for c in added]


def baseline_capabilities(w: Workload) -> list[Violation]:
    out = []
    for at, _ in w.containers():
        extra = [c for c in _added(w, at) if c not in BASELINE_CAPABILITIES]
        if extra:
            out.append(Violation((*_sc(w, at), "capabilities", "add"), f"adds {', '.join(extra)}"))
    return out


def _volumes(w: Workload) -> list[tuple[int, dict[str, object]]]:
    out = []
    for index, volume in enumerate(w.get(("volumes",), list) or []):
        if not isinstance(volume, dict):
            raise w.doc.error([*w.spec_keys, "volumes", index], "expected a volume (a mapping)")
        out.append((index, volume))
    return out


def host_path(w: Workload) -> list[Violation]:
    return [Violation(("volumes", i, "hostPath"), f"mounts the host path {_name(v)}")
            for i, v in _volumes(w) if v.get("hostPath") is not None]


def _name(volume: dict[str, object]) -> str:
    return f"volume {volume.get('name')!s}"


def host_ports(w: Workload) -> list[Violation]:
    out = []
    for at, _ in w.containers():
        for index in range(len(w.get((*at, "ports"), list) or [])):
            host = w.get((*at, "ports", index, "hostPort"), int)
            if host:
                out.append(Violation((*at, "ports", index, "hostPort"), f"binds host port {host}"))
    return out


def host_probes(w: Workload) -> list[Violation]:
    out = []
    for at, _ in w.containers():
        handlers = [(p,) for p in _PROBES] + [("lifecycle", h) for h in _HOOKS]
        for handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                keys = (*at, *handler, action, "host")
                host = w.get(keys, str)
                if host:
                    out.append(Violation(keys, f"{handler[-1]} {action} goes to host {host}"))
    return out


def apparmor(w: Workload) -> list[Violation]:
    out = _each_context(w, ("appArmorProfile", "type"), str,
                        lambda kind: kind not in (None, "RuntimeDefault", "Localhost"),
                        "AppArmor profile {value}")
    for key, value in w.annotations().items():
        if str(key).startswith(_APPARMOR_ANNOTATION) and not (
            value == "runtime/default" or (isinstance(value, str) and value.startswith("localhost/"))
        ):
            keys = (*w.pod_metadata_keys, "annotations", str(key))
            out.append(Violation(keys, f"AppArmor annotation {key}: {value}", from_root=True))
    return out


def selinux(w: Workload) -> list[Violation]:
    out = []
    for sc in _contexts(w):
        base = (*sc, "seLinuxOptions")
        kind = w.get((*base, "type"), str)
        if kind is not None and kind not in SELINUX_TYPES:
            out.append(Violation((*base, "type"), f"SELinux type {kind}"))
        for field in ("user", "role"):
            if w.get((*base, field), str):
                out.append(Violation((*base, field), f"sets the SELinux {field}"))
    return out


def proc_mount(w: Workload) -> list[Violation]:
    return _each_context(w, ("procMount",), str, lambda mount: mount not in (None, "Default"),
                         "procMount {value} (the /proc masks off)", pod=False)


def baseline_seccomp(w: Workload) -> list[Violation]:
    return _each_context(w, ("seccompProfile", "type"), str, lambda kind: kind == "Unconfined",
                         "seccomp Unconfined")


def sysctls(w: Workload) -> list[Violation]:
    out = []
    for index, _ in enumerate(w.get(("securityContext", "sysctls"), list) or []):
        keys = ("securityContext", "sysctls", index, "name")
        name = w.get(keys, str)
        if name not in SAFE_SYSCTLS:
            out.append(Violation(keys, f"sets sysctl {name}"))
    return out


def volume_types(w: Workload) -> list[Violation]:
    out = []
    for index, volume in _volumes(w):
        kinds = {k for k, v in volume.items() if k != "name" and v is not None}
        if not kinds & RESTRICTED_VOLUMES:
            out.append(Violation(("volumes", index), f"{_name(volume)} is a {', '.join(sorted(kinds)) or 'typeless'} volume"))
    return out


def privilege_escalation(w: Workload) -> list[Violation]:
    if _is_windows(w):
        return []
    return _each_context(w, ("allowPrivilegeEscalation",), bool, lambda allowed: allowed is not False,
                         "allowPrivilegeEscalation is not false", pod=False)


def run_as_non_root(w: Workload) -> list[Violation]:
    pod = w.get(("securityContext", "runAsNonRoot"), bool)
    out = [Violation(("securityContext", "runAsNonRoot"), "runAsNonRoot is false")] if pod is False else []
    for at, _ in w.containers():
        value = w.get((*_sc(w, at), "runAsNonRoot"), bool)
        if value is False or (value is None and pod is not True):
            out.append(Violation((*_sc(w, at), "runAsNonRoot"), "may run as root (runAsNonRoot not true here or in the pod)"))
    return out


def run_as_non_root_user(w: Workload) -> list[Violation]:
    return _each_context(w, ("runAsUser",), int, lambda uid: uid == 0, "runAsUser is 0")


def restricted_seccomp(w: Workload) -> list[Violation]:
    if _is_windows(w):
        return []
    pod = w.get(("securityContext", "seccompProfile", "type"), str)
    out = []
    if pod is not None and pod not in SECCOMP_TYPES:
        out.append(Violation(("securityContext", "seccompProfile", "type"), f"seccomp {pod}"))
    for at, _ in w.containers():
        keys = (*_sc(w, at), "seccompProfile", "type")
        kind = w.get(keys, str)
        if (kind is not None and kind not in SECCOMP_TYPES) or (kind is None and pod not in SECCOMP_TYPES):
            out.append(Violation(keys, f"seccomp {kind or 'unset here and in the pod'} (RuntimeDefault or Localhost)"))
    return out


def restricted_capabilities(w: Workload) -> list[Violation]:
    if _is_windows(w):
        return []
    out = []
    for at, _ in w.containers():
        caps = (*_sc(w, at), "capabilities")
        dropped = [str(c) for c in (w.get((*caps, "drop"), list) or [])]
        if "ALL" not in dropped:
            out.append(Violation((*caps, "drop"), "does not drop ALL capabilities"))
        extra = [c for c in _added(w, at) if c != "NET_BIND_SERVICE"]
        if extra:
            out.append(Violation((*caps, "add"), f"adds {', '.join(extra)} (only NET_BIND_SERVICE may be)"))
    return out


def read_only_root(w: Workload) -> list[Violation]:
    return _each_context(w, ("readOnlyRootFilesystem",), bool, lambda read_only: read_only is not True,
                         "the root filesystem is writable", pod=False)


C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
CONTROLS: tuple[Control, ...] = (
    Control("HB-K8S-001", "HostProcess", "baseline", C, "remove windowsOptions.hostProcess", host_process),
    Control("HB-K8S-002", "Host Namespaces", "baseline", C, "set hostNetwork, hostPID and hostIPC false (or leave them out)", host_namespaces),
    Control("HB-K8S-003", "Privileged Containers", "baseline", C, "remove securityContext.privileged: true", privileged),
    Control("HB-K8S-004", "Capabilities", "baseline", H, "add no capability beyond Docker's default set", baseline_capabilities),
    Control("HB-K8S-005", "HostPath Volumes", "baseline", C, "use an emptyDir, configMap, secret or persistentVolumeClaim instead of hostPath", host_path),
    Control("HB-K8S-006", "Host Ports", "baseline", H, "remove hostPort; expose the port with a Service", host_ports),
    Control("HB-K8S-007", "Host Probes / Lifecycle Hooks", "baseline", H, "remove host from the probe or hook: it then goes to the pod", host_probes),
    Control("HB-K8S-008", "AppArmor", "baseline", H, "use appArmorProfile type RuntimeDefault or Localhost", apparmor),
    Control("HB-K8S-009", "SELinux", "baseline", H, "leave seLinuxOptions out, or use type container_t (no user or role)", selinux),
    Control("HB-K8S-010", "/proc Mount Type", "baseline", H, "remove procMount or set it to Default", proc_mount),
    Control("HB-K8S-011", "Seccomp", "baseline", H, "use seccompProfile type RuntimeDefault or Localhost", baseline_seccomp),
    Control("HB-K8S-012", "Sysctls", "baseline", H, "set only the namespaced, safe sysctls", sysctls),
    Control("HB-K8S-013", "Volume Types", "restricted", M, "use configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected or secret volumes", volume_types),
    Control("HB-K8S-014", "Privilege Escalation", "restricted", M, "set securityContext.allowPrivilegeEscalation: false in every container", privilege_escalation),
    Control("HB-K8S-015", "Running as Non-root", "restricted", M, "set securityContext.runAsNonRoot: true in the pod (or every container)", run_as_non_root),
    Control("HB-K8S-016", "Running as Non-root user", "restricted", M, "set runAsUser to a non-zero uid, or leave it out", run_as_non_root_user),
    Control("HB-K8S-017", "Seccomp", "restricted", M, "set securityContext.seccompProfile.type: RuntimeDefault (or Localhost) in the pod", restricted_seccomp),
    Control("HB-K8S-018", "Capabilities", "restricted", M, "set capabilities.drop: [ALL] in every container; add back only NET_BIND_SERVICE", restricted_capabilities),
    Control("HB-K8S-019", "Read-only root filesystem", "hardbox", L, "set securityContext.readOnlyRootFilesystem: true; mount an emptyDir where the app writes", read_only_root),
)  # fmt: skip
LEVELS = ("privileged", "baseline", "restricted")

# The policy's `kubernetes.require` names: hardbox's list of what every container must have,
# each the control that checks it (checked on its own when the policy's level lacks it).
REQUIREMENTS = {
    "run-as-non-root": "HB-K8S-015",
    "no-privilege-escalation": "HB-K8S-014",
    "read-only-root-filesystem": "HB-K8S-019",
    "drop-all-capabilities": "HB-K8S-018",
    "seccomp": "HB-K8S-017",
    "no-host-namespaces": "HB-K8S-002",
    "no-host-path": "HB-K8S-005",
    "no-privileged": "HB-K8S-003",
}


def controls_for(level: str, require: tuple[str, ...]) -> tuple[Control, ...]:
    """The controls a policy asks for: every one of its Pod Security Standards level (and the
    levels below it), then each required check the level does not already make."""
    levels = LEVELS[1:LEVELS.index(level) + 1]
    wanted = {c.id for c in CONTROLS if c.level in levels} | {REQUIREMENTS[r] for r in require}
    return tuple(c for c in CONTROLS if c.id in wanted)
