"""Exporting a profile to what other engines read: OCI, Docker/Podman, Kubernetes.

* ``oci``: a runtime-spec ``config.json`` fragment — ``process`` (the capability sets:
  the profile's in bounding, effective and permitted; inheritable and ambient only what the
  profile names in ``capabilities_inheritable``/``capabilities_ambient``, else empty;
  ``noNewPrivileges``, rlimits), ``root.readonly``, ``linux`` (namespaces, uid/gid mappings,
  seccomp in the OCI format resolved for the profile's capabilities, maskedPaths,
  readonlyPaths, resources with a device allow-list). ``bundle.py`` completes it into a
  full config.
* ``docker``: ``docker run`` and ``podman run`` flags, plus the Docker-format seccomp JSON.
* ``k8s``: a Pod with pod- and container-level ``securityContext`` and a Localhost seccomp
  profile. For a profile with no capabilities beyond NET_BIND_SERVICE it meets the Pod
  Security Standards "restricted" level
  (https://kubernetes.io/docs/concepts/security/pod-security-standards/).
* ``spo``: the same Pod pointing at Security Profiles Operator resources (``export_spo.py``).
* The egress policy goes to Kubernetes as a ``NetworkPolicy`` (``export_netpol.py``); the
  Docker and Podman flags cannot hold one and say so in a comment.

The user: hardbox runs an image's root user as it is, inside a user namespace, where it is
an unprivileged host uid (``user_namespace``). Each export carries that same exposure:
Podman gets ``--userns=auto``, Kubernetes ``hostUsers: false``. Docker has no per-container
user namespace (userns-remap is a daemon setting), so a profile whose container root holds
no capability (``strict``) runs the image as uid 65534 there instead, and Kubernetes gets
``runAsNonRoot`` with uid 65534 for clusters without user namespaces; both files say why.

Each exporter returns ``{filename: text}``; the CLI prints or writes them.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import yaml

from hardbox.errors import UsageError
from hardbox.runtime.cgroups.base import CPU_PERIOD_US, cpu_quota
from hardbox.runtime.cgroups.devices import ALLOWED_DEVICES
from hardbox.runtime.idmap import for_invoking_user
from hardbox.runtime.profile import export_netpol
from hardbox.runtime.profile.export_spo import SpoNames, spo_files
from hardbox.runtime.profile.load import Profile
from hardbox.runtime.profile.seccomp_model import SeccompPolicy, native_arch

FORMATS = ("oci", "docker", "k8s", "spo")
# A non-root uid for engines without a user namespace (nobody/nogroup in Debian and Alpine).
NONROOT_ID = 65534
NAMESPACES = ("pid", "ipc", "uts", "mount", "cgroup")
# linux.resources.devices: deny every device, then the one allow-list `hardbox run` applies
# (cgroups/devices.py): a device node that reaches the rootfs anyway cannot be opened
# (issue 18). Absent major/minor mean "any", as in the runtime spec.
DEVICE_RULES: tuple[dict[str, Any], ...] = (
    {"allow": False, "access": "rwm"},
    *({"allow": True, "type": rule.kind,
       **({} if rule.major is None else {"major": rule.major}),
       **({} if rule.minor is None else {"minor": rule.minor}),
       "access": rule.access} for rule in ALLOWED_DEVICES),
)


def oci_seccomp(policy: SeccompPolicy, capabilities: tuple[str, ...]) -> dict[str, Any]:
    """The runtime-spec ``linux.seccomp`` object: rules resolved, no includes/excludes."""
    arch = native_arch()
    out: dict[str, Any] = {
        "defaultAction": policy.default_action,
        "architectures": list(policy.arches_for(arch)),
        "syscalls": [],
    }
    if policy.default_errno_ret is not None:
        out["defaultErrnoRet"] = policy.default_errno_ret
    for rule in policy.resolve(capabilities, arch):
        entry: dict[str, Any] = {"names": list(rule.names), "action": rule.action}
        if rule.errno_ret is not None:
            entry["errnoRet"] = rule.errno_ret
        if rule.args:
            entry["args"] = [a.to_json() for a in rule.args]
        out["syscalls"].append(entry)
    return out


def _id_mappings() -> tuple[list[dict[str, int]], list[dict[str, int]]]:
    ids = for_invoking_user()
    return (
        [{"containerID": e.inside, "hostID": e.outside, "size": e.count} for e in ids.uids],
        [{"containerID": e.inside, "hostID": e.outside, "size": e.count} for e in ids.gids],
    )


def oci_config(profile: Profile) -> dict[str, Any]:
    caps = list(profile.capabilities)
    linux: dict[str, Any] = {
        "namespaces": [{"type": t} for t in NAMESPACES],
        "maskedPaths": list(profile.masked_paths),
        "readonlyPaths": list(profile.readonly_paths),
    }
    if profile.network != "host":
        linux["namespaces"].append({"type": "network"})
    if profile.user_namespace:
        linux["namespaces"].append({"type": "user"})
        linux["uidMappings"], linux["gidMappings"] = _id_mappings()
    if profile.seccomp is not None:
        linux["seccomp"] = oci_seccomp(profile.seccomp, profile.capabilities)
    resources: dict[str, Any] = {}
    if profile.limits.memory is not None:
        # swap == limit: memory+swap capped at the limit, i.e. no swap (runtime-spec).
        resources["memory"] = {"limit": profile.limits.memory, "swap": profile.limits.memory}
    if profile.limits.pids is not None:
        resources["pids"] = {"limit": profile.limits.pids}
    if profile.limits.cpus is not None:
        resources["cpu"] = {"quota": cpu_quota(profile.limits.cpus), "period": CPU_PERIOD_US}
    linux["resources"] = {**resources, "devices": [dict(rule) for rule in DEVICE_RULES]}
    return {
        "ociVersion": "1.0.2",
        "process": {
            "noNewPrivileges": profile.no_new_privs,
            # Inheritable and ambient are empty unless the profile names capabilities for
            # them, as Docker's since CVE-2022-24769: a non-root process then holds no
            # capability after execve, as under `hardbox run`, and root's come from the
            # bounding set. The kernel keeps ambient within inheritable.
            "capabilities": {
                **{s: list(caps) for s in ("bounding", "effective", "permitted")},
                "inheritable": list(dict.fromkeys(profile.inheritable_names + profile.ambient_names)),
                "ambient": list(profile.ambient_names),
            },
            "rlimits": [{"type": r.type, "soft": r.soft, "hard": r.hard} for r in profile.rlimits],
        },
        "root": {"readonly": profile.read_only_root},
        "linux": linux,
    }


def engine_flags(profile: Profile, engine: str, seccomp_file: str) -> list[str]:
    """``docker run`` / ``podman run`` options with the profile's hardening."""
    flags = ["--cap-drop=ALL", *(f"--cap-add={c.removeprefix('CAP_')}" for c in profile.capabilities)]
    if profile.no_new_privs:
        flags.append("--security-opt=no-new-privileges")
    flags.append("--security-opt=seccomp=" + ("unconfined" if profile.seccomp is None else seccomp_file))
    if profile.selinux.mode != "disabled":
        flags.append(f"--security-opt=label=type:{profile.selinux.type}")
    flags.append("--network=" + {"none": "none", "private": "bridge", "host": "host"}[profile.network])
    if profile.read_only_root:
        flags.append("--read-only")
    tmpfs_opts = "rw,nosuid,nodev" + (",noexec" if profile.tmpfs_noexec else "")
    flags += [f"--tmpfs=/tmp:{tmpfs_opts}", f"--tmpfs=/run:{tmpfs_opts}"]
    if profile.limits.memory is not None:
        flags += [f"--memory={profile.limits.memory}", f"--memory-swap={profile.limits.memory}"]
    if profile.limits.pids is not None:
        flags.append(f"--pids-limit={profile.limits.pids}")
    if profile.limits.cpus is not None:
        flags.append(f"--cpus={profile.limits.cpus:g}")
    for r in profile.rlimits:
        flags.append(f"--ulimit={r.type.removeprefix('RLIMIT_').lower()}={r.soft}:{r.hard}")
    if profile.user_namespace and engine == "podman":
        flags.append("--userns=auto")  # docker: userns-remap is a daemon setting, not a flag
    if engine == "docker" and nonroot_without_userns(profile):
        flags.append(f"--user={NONROOT_ID}:{NONROOT_ID}")
    return flags


def nonroot_without_userns(profile: Profile) -> bool:
    """Whether an engine with no user namespace should run the image as uid 65534: the
    profile gives container root an unprivileged host uid and no capability, which a plain
    non-root uid matches; without it the image's root user would be host root."""
    return profile.user_namespace and not profile.capabilities


def _docker_notes(profile: Profile, engine: str) -> list[str]:
    notes = []
    if engine == "docker" and nonroot_without_userns(profile):
        notes.append(f"--user={NONROOT_ID}:{NONROOT_ID}: docker has no per-container user namespace (userns-remap is "
                     "a daemon setting), so the image's root user would be host root; hardbox runs it as an "
                     "unprivileged host uid, and uid 65534 is the same exposure here.")
    elif engine == "docker" and profile.user_namespace:
        notes.append("hardbox runs container root as an unprivileged host uid (user namespace); docker does that "
                     "only with the daemon's userns-remap setting (dockerd --userns-remap=default).")
    if engine == "podman" and profile.user_namespace:
        notes.append("--userns=auto takes the container's ids from the ranges of the user `containers` in "
                     "/etc/subuid and /etc/subgid, which a stock host lacks (podman then fails: \"Cannot find "
                     "mappings for user containers\"): add them once, e.g. `usermod --add-subuids "
                     "2147483647-4294967294 --add-subgids 2147483647-4294967294 containers` after "
                     "`useradd --system --no-create-home containers`.")
    if profile.capabilities_ambient:
        notes.append(f"ambient capabilities {', '.join(profile.ambient_names)} cannot be set by {engine} run: "
                     "a non-root user gets none of them there.")
    if profile.egress.restricts:
        notes.append(f"the profile's egress policy (default {profile.egress.default}, {len(profile.egress.allow)} "
                     f"allow rules) cannot be carried by {engine} run flags: the container may connect anywhere "
                     "its network reaches. `--format k8s` exports it as a NetworkPolicy.")
    return [f"# {n}" for n in notes]


def docker_files(profile: Profile) -> dict[str, str]:
    seccomp_name = f"{profile.name}-seccomp.json"
    out = {}
    for engine in ("docker", "podman"):
        flags = engine_flags(profile, engine, seccomp_name)
        notes = "".join(f"{n}\n" for n in _docker_notes(profile, engine))
        out[f"{engine}-run.txt"] = notes + f"{engine} run " + " ".join(shlex.quote(f) for f in flags) + " IMAGE\n"
    if profile.seccomp is not None:
        out[seccomp_name] = json.dumps(profile.seccomp.to_json(), indent=2) + "\n"
    return out


def k8s_files(profile: Profile) -> dict[str, str]:
    pod = k8s_pod(profile, f"hardbox/{profile.name}.json", profile.selinux.type)
    out = {f"{profile.name}-pod.yaml": k8s_notes(profile) + yaml.safe_dump(pod, sort_keys=False)}
    if profile.seccomp is not None:
        # Copy to /var/lib/kubelet/seccomp/hardbox/<name>.json on every node.
        out[f"{profile.name}.json"] = json.dumps(oci_seccomp(profile.seccomp, profile.capabilities), indent=2) + "\n"
    policy = export_netpol.network_policy(profile.name, profile.egress)
    if policy is not None:
        notes = "".join(f"# {n}\n" for n in export_netpol.notes(profile.egress))
        out[f"{profile.name}-networkpolicy.yaml"] = notes + yaml.safe_dump(policy, sort_keys=False)
    return out


def k8s_pod(profile: Profile, localhost: str, selinux_type: str) -> dict[str, Any]:
    """The Pod carrying the profile's hardening, its seccomp profile at the kubelet path
    ``localhost`` (relative to /var/lib/kubelet/seccomp) and the SELinux type given; the
    ``spo`` export (export_spo.py) points both at its operator's resources."""
    seccomp = (
        {"type": "Localhost", "localhostProfile": localhost}
        if profile.seccomp is not None
        else {"type": "Unconfined"}
    )
    pod_ctx: dict[str, Any] = {"seccompProfile": seccomp}
    container_ctx: dict[str, Any] = {
        "allowPrivilegeEscalation": not profile.no_new_privs,
        "privileged": False,
        "readOnlyRootFilesystem": profile.read_only_root,
        "capabilities": {"drop": ["ALL"], "add": [c.removeprefix("CAP_") for c in profile.capabilities]},
        "seccompProfile": dict(seccomp),  # a copy: YAML would otherwise emit an anchor
        "procMount": "Default",
    }
    if not container_ctx["capabilities"]["add"]:
        del container_ctx["capabilities"]["add"]
    if nonroot_without_userns(profile):
        for ctx in (pod_ctx, container_ctx):
            ctx.update(runAsNonRoot=True, runAsUser=NONROOT_ID, runAsGroup=NONROOT_ID)
    if profile.selinux.mode != "disabled":
        pod_ctx["seLinuxOptions"] = {"type": selinux_type}
    resources: dict[str, Any] = {}
    if profile.limits.memory is not None:
        resources["memory"] = str(profile.limits.memory)
    if profile.limits.cpus is not None:
        resources["cpu"] = f"{round(profile.limits.cpus * 1000)}m"
    container: dict[str, Any] = {"name": "app", "image": "IMAGE", "securityContext": container_ctx}
    if resources:
        container["resources"] = {"limits": resources}
    spec: dict[str, Any] = {
        "hostNetwork": profile.network == "host",
        "hostPID": False,
        "hostIPC": False,
        "automountServiceAccountToken": False,
        "securityContext": pod_ctx,
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory"}}],
    }
    if profile.user_namespace:
        spec["hostUsers"] = False  # a user namespace per pod (Kubernetes >= 1.30 beta)
    container["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"hardbox-{profile.name}", "annotations": {"hardbox.dev/profile": profile.name},
                     # what the egress NetworkPolicy selects (export_netpol.py)
                     "labels": {export_netpol.LABEL: profile.name}},
        "spec": spec,
    }


def k8s_notes(profile: Profile) -> str:
    notes = []
    if profile.user_namespace:
        notes.append("hostUsers: false gives the pod its own user namespace (Kubernetes >= 1.30 with a "
                      "runtime that supports it): container root is an unprivileged host uid, as under "
                      "hardbox run.")
    if nonroot_without_userns(profile):
        notes.append(f"runAsNonRoot and runAsUser {NONROOT_ID} are for clusters without user namespaces, "
                     "where the image's root user would be host root; this profile grants root no "
                     "capability, so uid 65534 is the same exposure.")
    if profile.capabilities_ambient:
        notes.append(f"Kubernetes cannot set ambient capabilities ({', '.join(profile.ambient_names)}): "
                     "a non-root user gets none of them.")
    return "".join(f"# {n}\n" for n in notes)


def export(profile: Profile, fmt: str) -> dict[str, str]:
    """{file name: content} for ``fmt`` (one of FORMATS)."""
    if fmt == "oci":
        return {"config.json": json.dumps(oci_config(profile), indent=2) + "\n"}
    if fmt == "docker":
        return docker_files(profile)
    if fmt == "k8s":
        return k8s_files(profile)
    if fmt == "spo":
        names = SpoNames.for_profile(profile)
        seccomp = None if profile.seccomp is None else oci_seccomp(profile.seccomp, profile.capabilities)
        pod = k8s_pod(profile, names.localhost_profile, names.selinux_type)
        policy = export_netpol.network_policy(profile.name, profile.egress)
        extra = [] if policy is None else [("".join(f"# {n}\n" for n in export_netpol.notes(profile.egress)), policy)]
        return spo_files(profile, names, seccomp, pod, k8s_notes(profile), extra)
    raise UsageError(f"export format {fmt!r}: choose one of {', '.join(FORMATS)}")
