"""cgroup limits for a container: ``open_manager`` detects the host's hierarchy and hands out
the manager for it (the registry of the two implementations, ``v1`` and ``v2``).

The interface they implement, the limits and the errors are in ``base``; the device
allow-list in ``devices``.
"""

from __future__ import annotations

from hardbox.records import TYPE_CHECKING
from hardbox.runtime.cgroups.base import CgroupUnavailable, cgroup_mounts, detect_version

if TYPE_CHECKING:
    from hardbox.runtime.cgroups.base import CgroupManager


def open_manager() -> CgroupManager:
    """The manager for this host's hierarchy; ``CgroupUnavailable`` when there is none."""
    mounts = cgroup_mounts()  # read once: every run starts here
    version = detect_version(mounts)
    # The implementations are imported here, for start-up speed: a run needs only the one
    # of its host's hierarchy.
    if version == 1:
        from hardbox.runtime.cgroups.v1 import V1Manager

        return V1Manager.discover(mounts)
    if version == 2:
        from hardbox.runtime.cgroups.v2 import V2Manager

        return V2Manager.discover(mounts)
    raise CgroupUnavailable("no cgroup hierarchy is mounted (see /proc/self/mountinfo)")
