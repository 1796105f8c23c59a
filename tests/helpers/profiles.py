"""Profiles the tests write: a deny-by-default egress policy over ``default``, in the YAML
mapping form of ``network:`` (docs/writing-a-profile.md)."""

from __future__ import annotations


def egress_profile(*allow: str, dns: bool | None = None, default: str = "deny") -> str:
    """The profile text; each ``allow`` entry is one YAML flow mapping
    (``{cidr: 10.20.0.0/16, ports: [5432], proto: tcp}``)."""
    lines = ["extends: default", "network:", "  mode: private", "  egress:", f"    default: {default}",
             "    allow:", *(f"      - {rule}" for rule in allow)]
    if dns is not None:
        lines.append(f"    dns: {'true' if dns else 'false'}")
    return "\n".join(lines) + "\n"
