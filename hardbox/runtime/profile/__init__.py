"""The profile side of the runtime, as runc's ``configs/`` and ``specconv/`` are: the
hardening profile's model, loading and cache, the run options that adjust it, and what is
derived from it (seccomp policy, OCI bundle, SELinux CIL, ``--explain``). The kernel-side
modules that apply a profile stay in ``hardbox/runtime/``."""

from __future__ import annotations

import re

# A shipped profile or seccomp policy is named by this; anything else is a file path.
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def is_shipped_name(name_or_path: str) -> bool:
    """Whether ``--profile`` names a shipped profile (policies/profiles/NAME.yaml) rather
    than a file (load.locate; the run plan cache keys the two apart: plan_cache.py)."""
    return bool(NAME.match(name_or_path)) and not name_or_path.endswith((".yaml", ".yml"))
