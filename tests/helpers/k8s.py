"""Kubernetes manifests for the ``gate --k8s`` tests: what a container that meets every Pod
Security Standards restricted control looks like, written once for every manifest that
holds one (a test then breaks it on purpose, or not)."""

from __future__ import annotations


def restricted_container(name: str, image: str, *, indent: int, also: tuple[str, ...] = ()) -> str:
    """A container entry as YAML, its ``- name`` line ``indent`` spaces in, whose
    securityContext meets the restricted controls; ``also`` adds lines to that context."""
    lines = [f"- name: {name}", f"  image: {image}", "  securityContext:",
             "    allowPrivilegeEscalation: false", "    readOnlyRootFilesystem: true",
             "    capabilities: {drop: [ALL]}", *(f"    {line}" for line in also)]
    return "".join(" " * indent + line + "\n" for line in lines)
