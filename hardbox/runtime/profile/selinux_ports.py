"""Which SELinux port type a port has, for the ``name_bind`` rules of a container's module.

udica asks the host's policy (setools); so does hardbox when the host has SELinux: the
loaded policy (``/sys/fs/selinux/policy``) or a compiled policy the user names, read with
setools' ``seinfo --portcon``. Without one, the answer comes from hardbox's table of the
reference policy's port types — the ``portcon`` statements of ``policies/selinux/base.cil``,
taken from refpolicy's ``corenetwork.te.in`` — so 22 is ``ssh_port_t`` and 8080
``http_cache_port_t``, and a port in no entry falls in refpolicy's ranges (reserved below 512,
hi_reserved to 1023, unreserved above). Every module says which of the two it used.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hardbox.errors import InputError
from hardbox.resources import policies

HOST_POLICY = Path("/sys/fs/selinux/policy")
_CIL_PORTCON = re.compile(
    r"^\(portcon (tcp|udp|sctp|dccp) (?:(\d+)|\((\d+) (\d+)\)) \(\S+ \S+ ([A-Za-z0-9_]+) ", re.MULTILINE
)
# seinfo --portcon: "   portcon tcp 22 system_u:object_r:ssh_port_t:s0 - s0:c0.c1023"
_SEINFO_PORTCON = re.compile(r"^\s*portcon (tcp|udp|sctp|dccp) (\d+)(?:-(\d+))? [^:\s]+:[^:\s]+:([A-Za-z0-9_]+)",
                             re.MULTILINE)


@dataclass(frozen=True)
class PortContexts:
    """``entries``: (protocol, first port, last port, type), as the policy lists them;
    ``source`` says where they came from, for the module's comment."""

    source: str
    entries: tuple[tuple[str, int, int, str], ...]

    def type_of(self, proto: str, port: int) -> str:
        """The type of the narrowest entry holding ``port`` (how the kernel's policy lookup
        resolves overlapping portcons: the most specific wins); ``port_t`` when none does."""
        matching = [(hi - lo, kind) for p, lo, hi, kind in self.entries if p == proto and lo <= port <= hi]
        return min(matching)[1] if matching else "port_t"


def reference_table() -> PortContexts:
    path = policies() / "selinux" / "base.cil"
    entries = tuple(
        (m.group(1), int(m.group(2) or m.group(3)), int(m.group(2) or m.group(4)), m.group(5))
        for m in _CIL_PORTCON.finditer(path.read_text())
    )
    return PortContexts("hardbox's table of the reference policy's port types (no SELinux policy to ask)", entries)


def from_policy(path: Path) -> PortContexts:
    """The port contexts of a compiled policy, read with setools' ``seinfo``."""
    seinfo = shutil.which("seinfo")
    if seinfo is None:
        raise InputError(f"{path}: reading a policy's port types needs setools' seinfo (apt install setools)")
    try:
        proc = subprocess.run([seinfo, str(path), "--portcon"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InputError(f"{path}: seinfo failed: {err}") from None
    entries = tuple(
        (m.group(1), int(m.group(2)), int(m.group(3) or m.group(2)), m.group(4))
        for m in _SEINFO_PORTCON.finditer(proc.stdout)
    )
    if proc.returncode != 0 or not entries:
        first = (proc.stderr.strip().splitlines() or ["no portcon statements"])[0]
        raise InputError(f"{path}: not a compiled SELinux policy with port contexts ({first})")
    return PortContexts(f"the SELinux policy {path}", entries)


def for_host(policy: Path | None = None) -> PortContexts:
    """The named policy; else the host's loaded policy when SELinux is on and setools is
    installed; else the reference table."""
    if policy is not None:
        return from_policy(policy)
    if HOST_POLICY.exists() and os.access(HOST_POLICY, os.R_OK) and shutil.which("seinfo"):
        return from_policy(HOST_POLICY)
    return reference_table()
