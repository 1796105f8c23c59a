"""The ``spo`` export: a profile as Security Profiles Operator resources, one YAML stream.

The Security Profiles Operator (github.com/kubernetes-sigs/security-profiles-operator)
installs seccomp and SELinux profiles on every node from custom resources, so a cluster
needs no file copied by hand. The stream holds:

* a ``SeccompProfile`` (``security-profiles-operator.x-k8s.io/v1beta1``): the profile's
  seccomp rules resolved for its capabilities on this architecture, as the ``k8s`` export's
  Localhost JSON has them;
* a ``RawSelinuxProfile`` (``v1alpha2``) carrying the statements ``hardbox profile selinux``
  writes inside its CIL block (SPO wraps a raw policy in a block of its own naming), for a
  profile whose SELinux step is not ``disabled``;
* the ``k8s`` export's Pod, with its seccomp profile ``Localhost`` at the path SPO installs
  the profile under and its SELinux type the one SPO's module defines, and the ``k8s``
  export's egress ``NetworkPolicy`` where the profile has one.

Names, versions and paths follow the CRDs SPO publishes (tests/fixtures/spo validates the
output against them). Both versions are served by SPO 0.8 through 1.x. Since 0.9 the
profiles are cluster-scoped: SPO writes ``/var/lib/kubelet/seccomp/operator/NAME.json`` and
wraps a raw SELinux policy as ``(block NAME_ …)`` (name, underscore, the empty namespace), so
its process type is ``NAME_.process``; docs/kubernetes.md says what differs for 0.8.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from hardbox.errors import InputError
from hardbox.runtime.profile.selinux_cil import block_statements

if TYPE_CHECKING:
    from hardbox.runtime.profile.load import Profile

API_GROUP = "security-profiles-operator.x-k8s.io"
SECCOMP_VERSION = "v1beta1"
SELINUX_VERSION = "v1alpha2"
# The CRD's args[].value and valueTwo are int64 with minimum 0.
_INT64_MAX = 2**63 - 1
# runc answers SCMP_ACT_ERRNO without an errno with EPERM.
_EPERM = 1


@dataclass(frozen=True)
class SpoNames:
    """What the resources are called and how a Pod refers to them."""

    name: str  # the resources' metadata.name
    localhost_profile: str  # seccompProfile.localhostProfile (relative to the kubelet's seccomp root)
    selinux_type: str  # seLinuxOptions.type

    @classmethod
    def for_profile(cls, profile: Profile) -> SpoNames:
        # A DNS-1123 label (a valid resource name) that is also a CIL identifier: no dots,
        # which CIL reads as block separators.
        cleaned = re.sub(r"[^a-z0-9-]+", "-", profile.name.lower()).strip("-") or "profile"
        name = f"hardbox-{cleaned}"[:63].rstrip("-")
        return cls(name=name, localhost_profile=f"operator/{name}.json", selinux_type=f"{name}_.process")


def seccomp_profile(names: SpoNames, seccomp: dict[str, Any]) -> dict[str, Any]:
    """The SeccompProfile resource for an OCI ``linux.seccomp`` object (``oci_seccomp``)."""
    spec: dict[str, Any] = {"defaultAction": seccomp["defaultAction"], "architectures": list(seccomp["architectures"])}
    syscalls = []
    for rule in seccomp["syscalls"]:
        entry: dict[str, Any] = {"names": list(rule["names"]), "action": rule["action"]}
        if "errnoRet" in rule:
            entry["errnoRet"] = rule["errnoRet"]
        for arg in rule.get("args", ()):
            if arg["value"] > _INT64_MAX or arg["valueTwo"] > _INT64_MAX:
                raise InputError(
                    f"seccomp rule for {', '.join(rule['names'])}: argument value {arg['value']:#x} does not fit "
                    "the SeccompProfile CRD (int64)",
                    hint="use --format k8s, whose Localhost JSON has no such limit",
                )
        if rule.get("args"):
            entry["args"] = [dict(arg) for arg in rule["args"]]
        syscalls.append(entry)
    spec["syscalls"] = syscalls
    return {"apiVersion": f"{API_GROUP}/{SECCOMP_VERSION}", "kind": "SeccompProfile",
            "metadata": {"name": names.name}, "spec": spec}  # fmt: skip


def raw_selinux_profile(names: SpoNames, profile: Profile) -> dict[str, Any]:
    """The RawSelinuxProfile resource: the block's statements for an image with no exposed
    ports or volumes (an export knows only the profile; ``hardbox profile selinux IMAGE``
    writes an image's own module)."""
    policy = "\n".join(block_statements({}, profile)) + "\n"
    return {"apiVersion": f"{API_GROUP}/{SELINUX_VERSION}", "kind": "RawSelinuxProfile",
            "metadata": {"name": names.name}, "spec": {"policy": policy}}  # fmt: skip


def spo_files(
    profile: Profile, names: SpoNames, seccomp: dict[str, Any] | None, pod: dict[str, Any], pod_notes: str,
    extra: Sequence[tuple[str, dict[str, Any]]] = (),
) -> dict[str, str]:
    """``{NAME-spo.yaml: the stream}``; ``seccomp`` is the OCI seccomp object (None for an
    unconfined profile), ``pod`` the ``k8s`` export's Pod already pointing at ``names``,
    ``extra`` further (comments, resource) documents after it (the egress NetworkPolicy)."""
    documents: list[tuple[str, dict[str, Any]]] = []
    if seccomp is not None:
        notes = [f"Installed by SPO as /var/lib/kubelet/seccomp/{names.localhost_profile} on every node."]
        errno = seccomp.get("defaultErrnoRet")
        if seccomp["defaultAction"] == "SCMP_ACT_ERRNO" and errno not in (None, _EPERM):
            # The CRD has no defaultErrnoRet; the calls whose errno matters to libc (clone3:
            # ENOSYS makes glibc fall back to clone) carry their own errnoRet in the rules.
            notes.append(f"The SeccompProfile CRD has no defaultErrnoRet: syscalls outside the list fail with "
                         f"EPERM here, errno {errno} under hardbox run.")
        documents.append(("".join(f"# {n}\n" for n in notes), seccomp_profile(names, seccomp)))
    if profile.selinux.mode != "disabled":
        notes = [f"SPO wraps the policy as (block {names.name}_ ...): pods run as type {names.selinux_type}.",
                 "It inherits the udica templates container and net_container, which the nodes must have "
                 "(container-selinux, udica). SPO 1.0 refuses blockinherit in a RawSelinuxProfile (its "
                 "validating webhook); there, load hardbox profile selinux's module with semodule instead."]
        documents.append(("".join(f"# {n}\n" for n in notes), raw_selinux_profile(names, profile)))
    if profile.selinux.mode != "disabled":
        pod_notes += (f"# seLinuxOptions.type {names.selinux_type} is outside the Pod Security Standards baseline "
                      "(its SELinux control allows only container_t, container_init_t, container_kvm_t, "
                      "container_engine_t): the namespace must enforce privileged, or drop seLinuxOptions.\n")
    documents.append((pod_notes, pod))
    documents += extra
    text = "---\n".join(notes + yaml.dump(doc, Dumper=_Dumper, sort_keys=False) for notes, doc in documents)
    return {f"{profile.name}-spo.yaml": text}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the CIL policy) as literal blocks, readable in the file."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)
