"""Which namespaces a container gets, and entering them in the order the kernel needs.

The user namespace is unshared first and alone: hardbox (outside) must write its id map
before the child can hold capabilities anywhere, and every namespace unshared afterwards is
then owned by it, so the container's root is privileged over its own mount, network, uts,
ipc and cgroup namespaces and over nothing of the host's (user_namespaces(7), "Interaction
of user namespaces and other types of namespaces"). The pid namespace applies to the
children of the unsharing process, which is why the container's PID 1 is a second fork.
"""

from __future__ import annotations

from hardbox.records import NamedTuple
from hardbox.runtime import syscalls


class NamespaceSet(NamedTuple):
    user: bool
    network: bool  # False: the host's network namespace (--network host)

    def flags_after_user(self) -> int:
        """mount, pid, uts, ipc, cgroup always; net unless the host's is shared."""
        flags = (
            syscalls.CLONE_NEWNS
            | syscalls.CLONE_NEWPID
            | syscalls.CLONE_NEWUTS
            | syscalls.CLONE_NEWIPC
            | syscalls.CLONE_NEWCGROUP
        )
        if self.network:
            flags |= syscalls.CLONE_NEWNET
        return flags

    def names(self) -> list[str]:
        names = ["user"] if self.user else []
        names += ["mount", "pid", "uts", "ipc", "cgroup"]
        if self.network:
            names.append("net")
        return names


def unshare_user() -> None:
    syscalls.unshare(syscalls.CLONE_NEWUSER)


def unshare_rest(namespaces: NamespaceSet) -> None:
    """Unshare the remaining namespaces in one call; must follow the cgroup join, so the
    cgroup namespace's root is the container's own cgroup."""
    syscalls.unshare(namespaces.flags_after_user())
