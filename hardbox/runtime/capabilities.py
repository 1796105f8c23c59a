"""Linux capabilities: names <-> numbers, and setting a container process's five sets.

A container process gets the profile's capability list in its bounding, permitted and
effective sets; its inheritable and ambient sets are empty unless the profile asks for
named capabilities there (``capabilities_inheritable`` / ``capabilities_ambient``, each with
a reason), as Docker's since CVE-2022-24769 (GHSA-f3fp-gc8g-vw66): an inheritable set lets a
program with inheritable file capabilities gain them at execve, and ambient hands the list to
every program a non-root user runs.

Container root needs neither: at execve the kernel gives uid 0 every capability in the
bounding set as permitted and effective (capabilities(7), "Capabilities and execution of
programs by root"), so root keeps exactly the profile's list. A non-root user gets none, as
under Docker, unless the profile names ambient capabilities: then exactly those.

The bounding set is dropped first so that no later exec of a file with file capabilities or
a setuid-root binary can win back what was dropped; ambient is raised last because the
kernel only accepts an ambient capability that is already permitted and inheritable.
"""

from __future__ import annotations

from hardbox.errors import UsageError
from hardbox.records import TYPE_CHECKING
from hardbox.runtime import syscalls

if TYPE_CHECKING:
    from collections.abc import Iterable  # annotations only: exec and run load no collections

# include/uapi/linux/capability.h, in number order.
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
_NUMBER = {name: i for i, name in enumerate(CAPABILITIES)}


def normalize(name: str) -> str:
    """``net_bind_service``, ``NET_BIND_SERVICE`` and ``CAP_NET_BIND_SERVICE`` are one name."""
    upper = name.strip().upper()
    full = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    if full not in _NUMBER:
        raise UsageError(f"unknown capability {name!r}", "names are as in capabilities(7), e.g. NET_BIND_SERVICE")
    return full


def number(name: str) -> int:
    return _NUMBER[normalize(name)]


def name_of(num: int) -> str:
    return CAPABILITIES[num] if 0 <= num < len(CAPABILITIES) else f"CAP_{num}"


def to_mask(names: Iterable[str]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << number(name)
    return mask


def from_mask(mask: int) -> list[str]:
    return [name_of(i) for i in range(64) if mask >> i & 1]


def last_cap() -> int:
    """The highest capability this kernel knows (newer kernels may know more than our table)."""
    # Binary: this runs after pivot_root, where Python can no longer import codecs.
    with open("/proc/sys/kernel/cap_last_cap", "rb") as fh:
        return int(fh.read())


def drop_bounding(keep: int, last: int) -> None:
    """Drop every capability up to ``last`` not in ``keep`` from the bounding set (needs
    CAP_SETPCAP). ``last`` is read by hardbox before anything of the image is mounted: read
    inside the container it may be the image's file (a volume over /proc/sys/kernel made
    strict keep a bounding set of 0x1fffffffffc, issue 18)."""
    for cap in range(last + 1):
        if not keep >> cap & 1:
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, cap)


def apply(names: Iterable[str], *, last: int, inheritable: Iterable[str] = (),
          ambient: Iterable[str] = ()) -> None:
    """Set bounding, permitted and effective to exactly ``names``, inheritable to
    ``inheritable`` plus ``ambient`` (the kernel keeps ambient within inheritable), and
    ambient to exactly ``ambient``. Both extra lists must lie within ``names`` (the profile
    loader checks it).

    Call after the final setuid/setgid (with PR_SET_KEEPCAPS set before them), since a uid
    change away from 0 clears permitted and effective.
    """
    keep = to_mask(names)
    raise_ambient = to_mask(ambient)
    inherit = to_mask(inheritable) | raise_ambient
    if inherit & ~keep:
        raise UsageError(f"inheritable/ambient capabilities {from_mask(inherit & ~keep)} "
                         "are not in the capability list", "list them under capabilities: too")
    # setuid away from 0 empties the effective set even with PR_SET_KEEPCAPS; bring back
    # what is still permitted so CAP_SETPCAP can drop the bounding set.
    _, permitted, current_inheritable = syscalls.capget()
    syscalls.capset(permitted, permitted, current_inheritable)
    drop_bounding(keep, last)
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    syscalls.capset(keep, keep, inherit)
    # Ambient makes exactly these survive exec for a non-root user without file capabilities.
    for cap in range(64):
        if raise_ambient >> cap & 1:
            syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, cap)


def set_no_new_privs() -> None:
    """PR_SET_NO_NEW_PRIVS: no exec can gain privileges (setuid bits, file caps) from now on."""
    syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
