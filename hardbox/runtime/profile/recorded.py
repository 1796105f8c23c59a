"""A seccomp profile from a real run: the syscalls a workload made, and the files that allow them.

``confined_syscalls(lines)`` reads ``strace -f`` output of a whole `hardbox run` (or
`hardbox exec`) and keeps the calls of the container's processes only: a process counts from
the moment its seccomp filter is installed (the successful ``prctl(PR_SET_SECCOMP, …)`` or
``seccomp(SECCOMP_SET_MODE_FILTER, …)`` that is the last hardening step before exec,
runtime/container.py), and every process it forks inherits that. hardbox's own start-up in
the same process tree is never counted.

``recorded_policy(base, names)`` is the base profile's own Docker-format policy cut down to
those names: each base rule keeps its arguments filters, includes and excludes and loses the
names the workload never called, so arguments stay filtered where the base filtered them and
nothing is allowed that the base did not allow. A recorded call the base answered with its
default action (clone3's ENOSYS, which makes glibc fall back to clone) keeps that answer.
Everything else gets EPERM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hardbox.runtime.profile.seccomp_model import SeccompPolicy, SyscallRule
from hardbox.runtime.strace_log import Call, calls

# What every process needs to start and exit, whatever the run happened to show (a workload
# recorded without ever receiving a signal still needs rt_sigreturn the first time it does).
STARTUP = (
    "execve", "exit", "exit_group", "rt_sigreturn", "brk", "mmap", "munmap", "mprotect",
    "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "futex", "restart_syscall",
)
_ALLOW = "SCMP_ACT_ALLOW"
_EPERM = 1


@dataclass
class SyscallLog:
    """What the container's processes called, and which calls failed with EPERM/ENOSYS."""

    names: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)


def _installs_filter(call: Call) -> bool:
    return call.ok and (
        (call.name == "prctl" and call.args.startswith("PR_SET_SECCOMP"))
        or (call.name == "seccomp" and call.args.startswith("SECCOMP_SET_MODE_FILTER")))


def confined_syscalls(lines: Iterable[str]) -> SyscallLog:
    """The calls made under a seccomp filter, by name (see the module docstring).

    Only filters the container installs count: a filter counts once the process that
    installed it, or one forked from it since, executes a program (the container's filter is
    the last step before exec). The pasta uplink of ``--network private`` is in the same
    process tree and installs a filter of its own, but never executes anything after it, so
    its calls stay out of the workload's profile. strace_log.calls glues split calls and
    gives a child's calls after the fork that made it, so neither a filter installed while
    another process ran nor a child that ran before its parent's fork returned is missed."""
    root_of: dict[int, int] = {}  # confined pid -> the pid that installed its filter
    logs: dict[int, SyscallLog] = {}  # per installing pid
    executed: set[int] = set()  # installing pids whose tree ran a program since
    for call in calls(lines):
        root = root_of.get(call.pid)
        if root is None:
            if _installs_filter(call):
                root_of[call.pid] = call.pid
                logs[call.pid] = SyscallLog()
            continue
        log = logs[root]
        if not call.name.startswith("syscall_"):  # strace's name for a number it cannot name
            log.names.add(call.name)
        if call.errno in ("EPERM", "ENOSYS"):
            log.refused.add(call.name)
        if call.child is not None:
            root_of[call.child] = root
        if call.name == "execve" and call.ok:
            executed.add(root)
    merged = SyscallLog()
    for root in executed:
        merged.names |= logs[root].names
        merged.refused |= logs[root].refused
    return merged


def allowed_names(policy: SeccompPolicy, capabilities: Iterable[str]) -> set[str]:
    """Every syscall some ALLOW rule of ``policy`` lets through (with or without argument
    filters) for a container with these capabilities on this host."""
    return {n for rule in policy.resolve(tuple(capabilities)) if rule.action == _ALLOW for n in rule.names}


def recorded_policy(base: SeccompPolicy, names: Iterable[str]) -> dict[str, object]:
    """Docker-format JSON allowing ``names`` (plus STARTUP) as ``base`` allows them."""
    wanted = set(names) | set(STARTUP)
    rules: list[SyscallRule] = []
    covered: set[str] = set()
    for rule in base.syscalls:
        kept = tuple(n for n in rule.names if n in wanted)
        if kept and _is_eperm(rule.action, rule.errno_ret):
            covered.update(kept)  # what the new default does anyway (libseccomp refuses the rule)
        elif kept:
            rules.append(SyscallRule(kept, rule.action, rule.errno_ret, rule.args, rule.includes,
                                     rule.excludes, rule.comment))
            covered.update(kept)
    leftover = tuple(sorted(wanted - covered))
    if leftover and base.default_action != _ALLOW and not _is_eperm(base.default_action, base.default_errno_ret):
        # The base answered these with its default; so does the recorded profile.
        rules.append(SyscallRule(leftover, base.default_action, base.default_errno_ret,
                                 comment="called by the workload; the base profile's default answer"))
    policy = SeccompPolicy(
        default_action="SCMP_ACT_ERRNO", default_errno_ret=_EPERM, architectures=base.architectures,
        syscalls=tuple(rules), arch_map=base.arch_map,
    )
    return policy.to_json()


def _is_eperm(action: str, errno_ret: int | None) -> bool:
    return action == "SCMP_ACT_ERRNO" and (errno_ret or _EPERM) == _EPERM


def profile_yaml(base: str, seccomp_file: str, described: str) -> str:
    """The profile file: extends the base, names the sibling seccomp JSON by relative path."""
    import json

    return (
        f"# Recorded by `hardbox profile record` from {json.dumps(described)}.\n"
        "# It is the base profile with a seccomp allowlist of exactly the calls the workload made.\n"
        f"extends: {json.dumps(base)}\n"
        f"description: {json.dumps('recorded from ' + described)}\n"
        f"seccomp: {json.dumps('./' + seccomp_file)}\n"
    )
