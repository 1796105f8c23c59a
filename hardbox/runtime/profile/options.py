"""Folding `hardbox run` options into a profile, and naming every weakening they cause.

``apply_options(profile, options)`` takes a ``RunOptions`` — Docker's option names
(``--cap-add``, ``--cap-drop``, ``--network``, ``--read-only``, ``--memory``,
``--pids-limit``, ``--cpus``), built from the command line in one place (cli/run.py) — and
returns the adjusted profile plus the list of ``Weakening``s, which `--explain` and the
run's state show. Tightening (dropping a capability, a lower limit, ``--read-only``) is never
a weakening. A ``strict`` profile refuses any weakening with a usage error (exit 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from hardbox.errors import InputError, UsageError
from hardbox.runtime.capabilities import CAPABILITIES
from hardbox.runtime.profile.model import Egress, Profile, Weakening, parse_bytes

# How open each network mode is; moving up the list is a weakening.
_NETWORK_OPENNESS = {"none": 0, "private": 1, "host": 2}


@dataclass(frozen=True)
class RunOptions:
    """The run options a profile cares about; ``None``/empty means "as the profile says"."""

    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    network: str | None = None
    read_only: bool = False
    memory: str | int | None = None
    pids_limit: int | None = None
    cpus: float | None = None


def _cap(name: str) -> str:
    upper = name.strip().upper()
    if not re.fullmatch(r"[A-Z_]+", upper):
        raise UsageError(f"capability {name!r} is not a capability name like NET_ADMIN")
    return upper if upper.startswith("CAP_") or upper == "ALL" else f"CAP_{upper}"


def apply_options(profile: Profile, options: RunOptions) -> tuple[Profile, tuple[Weakening, ...]]:
    """Fold run options into ``profile``; return it with the weakenings they caused."""
    weak: list[Weakening] = []
    changes: dict[str, Any] = {}

    caps = list(profile.capabilities)
    drops = [_cap(c) for c in options.cap_drop]
    if "ALL" in drops:
        caps = []
    caps = [c for c in caps if c not in drops]
    for raw in options.cap_add:
        cap = _cap(raw)
        added = list(CAPABILITIES) if cap == "ALL" else [cap]
        for one in added:
            if one not in CAPABILITIES:
                raise UsageError(f"--cap-add {raw}: unknown capability {one}")
            if one not in caps:
                caps.append(one)
                weak.append(Weakening("capabilities", "-", one, f"--cap-add {raw}"))
    if tuple(caps) != profile.capabilities:
        changes["capabilities"] = tuple(caps)
        # A dropped capability leaves the inheritable and ambient sets too (they lie within it).
        for key in ("capabilities_inheritable", "capabilities_ambient"):
            changes[key] = tuple(g for g in getattr(profile, key) if g.name in caps)

    network = options.network
    if network:
        if network not in _NETWORK_OPENNESS:
            raise UsageError(f"--network {network}: choose one of {', '.join(_NETWORK_OPENNESS)}")
        if _NETWORK_OPENNESS[network] > _NETWORK_OPENNESS[profile.network]:
            weak.append(Weakening("network", profile.network, network, f"--network {network}"))
        changes["network"] = network
        if network == "host" and profile.egress.restricts:
            # The host's namespace is not the container's to firewall: the policy goes.
            weak.append(Weakening("network.egress", f"default {profile.egress.default}", "not enforced",
                                  f"--network {network}"))
            changes["egress"] = Egress()

    if options.read_only:
        changes["read_only_root"] = True

    limits = profile.limits
    memory = options.memory
    if memory is not None:
        try:
            new_memory = parse_bytes(memory)
        except InputError as err:
            raise UsageError(f"--memory {memory}: {err.message}") from err
        if limits.memory is not None and new_memory > limits.memory:
            weak.append(Weakening("limits.memory", str(limits.memory), str(new_memory), f"--memory {memory}"))
        limits = replace(limits, memory=new_memory)
    pids = options.pids_limit
    if pids is not None:
        # Docker: 0 or -1 means unlimited.
        new_pids = None if pids <= 0 else int(pids)
        if limits.pids is not None and (new_pids is None or new_pids > limits.pids):
            weak.append(Weakening("limits.pids", str(limits.pids), str(new_pids or "unlimited"), f"--pids-limit {pids}"))
        limits = replace(limits, pids=new_pids)
    cpus = options.cpus
    if cpus is not None:
        if float(cpus) <= 0:
            raise UsageError(f"--cpus {cpus}: must be a positive number")
        if limits.cpus is not None and float(cpus) > limits.cpus:
            weak.append(Weakening("limits.cpus", str(limits.cpus), str(float(cpus)), f"--cpus {cpus}"))
        limits = replace(limits, cpus=float(cpus))
    if limits != profile.limits:
        changes["limits"] = limits

    if weak and profile.strict:
        raise UsageError(
            f"profile {profile.name} is strict and refuses {weak[0].cause} ({weak[0].field})",
            hint="use --profile default, or write a profile that extends default with the change",
        )
    result = tuple(weak)
    return profile.with_weakenings(result, **changes), result
