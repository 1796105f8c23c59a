"""A profile's egress policy as a Kubernetes ``NetworkPolicy`` (``profile export --format k8s``).

Kubernetes holds the same idea: a ``NetworkPolicy`` with ``policyTypes: [Egress]`` selecting
the pod denies every destination its ``egress`` rules do not list
(https://kubernetes.io/docs/concepts/services-networking/network-policies/). Each ``allow``
rule becomes an ``ipBlock`` with its ports; ``dns: true`` becomes port 53 of the cluster's
resolver (kube-dns, by the labels every distribution gives it), since a pod's resolv.conf
points there and not at the host's. ``host-gateway`` rules have no counterpart (a pod has
no "host's loopback" mapping) and are left out, saying so. The policy selects the exported
Pod by the ``hardbox.dev/profile`` label that Pod carries, and only where a network plugin
enforces NetworkPolicy (the file says so); engines that cannot hold it say so in their
export (export.py).
"""

from __future__ import annotations

from typing import Any

from hardbox.runtime.profile.model import Egress, EgressRule

LABEL = "hardbox.dev/profile"


def _cluster_dns() -> dict[str, Any]:
    """kube-dns / CoreDNS, by the labels kubeadm, GKE, EKS and AKS give it."""
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}


def network_policy(name: str, egress: Egress) -> dict[str, Any] | None:
    """The NetworkPolicy for profile ``name``, or None when the policy stops nothing."""
    if not egress.restricts:
        return None
    rules: list[dict[str, Any]] = []
    if egress.dns:
        rules.append({"to": [_cluster_dns()], "ports": [{"protocol": p, "port": 53} for p in ("UDP", "TCP")]})
    for allowed in egress.allow:
        if allowed.host_gateway:
            continue
        rule: dict[str, Any] = {"to": [{"ipBlock": {"cidr": allowed.cidr}}]}
        ports = _ports(allowed)
        if ports:
            rule["ports"] = ports
        rules.append(rule)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"hardbox-{name}", "annotations": {LABEL: name}},
        "spec": {"podSelector": {"matchLabels": {LABEL: name}}, "policyTypes": ["Egress"], "egress": rules},
    }


def notes(egress: Egress) -> list[str]:
    """Comment lines for the NetworkPolicy file."""
    out = ["Enforced only where the cluster's network plugin enforces NetworkPolicy (Calico, Cilium, ...); "
           "a denied connection may time out there instead of being rejected at once as under hardbox run."]
    if egress.dns:
        out.append("dns: true allows port 53 of the cluster's resolver (kube-dns in kube-system), which a "
                   "pod's resolv.conf names.")
    if any(r.host_gateway for r in egress.allow):
        out.append("host-gateway rules are left out: a pod has no mapping of its node's loopback.")
    return out


def _ports(rule: EgressRule) -> list[dict[str, Any]]:
    protos = ("TCP", "UDP") if rule.proto == "any" else (rule.proto.upper(),)
    if not rule.ports:
        return [] if rule.proto == "any" else [{"protocol": p} for p in protos]
    return [{"protocol": p, "port": port} for port in rule.ports for p in protos]
