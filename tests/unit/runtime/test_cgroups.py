"""cgroups for real, beneath this test's own cgroup: limits written, a bounded fork bomb
stopped at pids.max, a memory hog killed by the OOM killer, everything removed afterwards."""

from __future__ import annotations

import errno
import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hardbox.runtime.cgroups import open_manager
from hardbox.runtime.cgroups.base import (
    CgroupLimits,
    CgroupUnavailable,
    cgroup_mounts,
    detect_version,
    own_cgroups,
    recorded_path_ok,
)
from hardbox.runtime.cgroups.v1 import V1Manager
from hardbox.runtime.cgroups.v2 import V2Manager, read_keyed

pytestmark = pytest.mark.root


def need_v1() -> V1Manager:
    if os.geteuid() != 0:
        pytest.skip("needs root to create cgroups beneath our own")
    if detect_version() != 1:
        pytest.skip("this host's controllers are on cgroup v2, not v1")
    return V1Manager.discover()


def need_v2() -> V2Manager:
    if os.geteuid() != 0:
        pytest.skip("needs root to create cgroups beneath our own")
    try:
        return V2Manager.discover()
    except CgroupUnavailable as err:
        pytest.skip(f"no cgroup v2 hierarchy: {err}")


def unique() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def in_cgroup(attach: Callable[[int], None], body: Callable[[int], dict]) -> tuple[dict, int]:
    """Fork a child that waits until ``attach(pid)`` placed it, runs ``body(result_fd)``,
    and reports a JSON dict; returns (report, wait status)."""
    go_r, go_w = os.pipe()
    res_r, res_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(go_w)
        os.close(res_r)
        os.read(go_r, 1)
        try:
            report = body(res_w)
        except BaseException as err:  # reported to the parent, which fails the test
            report = {"error": repr(err)}
        os.write(res_w, json.dumps(report).encode())
        os._exit(0)
    os.close(go_r)
    os.close(res_w)
    try:
        attach(pid)
    finally:
        os.write(go_w, b"x")
        os.close(go_w)
    with os.fdopen(res_r, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    return (json.loads(data) if data else {}), status


def fork_until_refused(_fd: int, attempts: int = 64) -> dict:
    """A bounded fork bomb: fork up to ``attempts`` sleepers, stop at the first refusal."""
    forked = 0
    for _ in range(attempts):
        try:
            child = os.fork()
        except OSError as err:
            return {"forked": forked, "errno": err.errno}
        if child == 0:
            os.closerange(3, 1024)  # let the parent see EOF on the result pipe
            time.sleep(60)  # killed by destroy()
            os._exit(0)
        forked += 1
    return {"forked": forked, "errno": 0}


def allocate(_fd: int, megabytes: int = 512) -> dict:
    chunks = []
    for _ in range(megabytes):
        chunks.append(b"\x01" * (1 << 20))  # touched pages, not just reserved address space
    return {"allocated": len(chunks)}


@pytest.fixture
def v1_cgroups() -> Iterator[list]:
    created: list = []
    yield created
    for cgroup in created:
        cgroup.destroy()


def test_own_cgroup_and_mounts_are_read_from_proc() -> None:
    own = own_cgroups()
    mounts = cgroup_mounts()
    assert "" in own or any(k for k in own)
    assert mounts and all(m.fstype in ("cgroup", "cgroup2") for m in mounts)
    assert detect_version() in (1, 2)
    assert open_manager().version == detect_version()


def test_v1_limits_are_written_beneath_our_own_cgroup(v1_cgroups: list) -> None:
    manager = need_v1()
    cgroup = manager.create(unique(), CgroupLimits(memory=64 << 20, pids=32, cpus=0.5))
    v1_cgroups.append(cgroup)
    own = own_cgroups()
    dirs = {controller: Path(path) for controller, path in cgroup.dirs.items()}
    for controller, path in dirs.items():
        assert str(path.parent) == manager.parents[controller]
        assert str(path.parent).endswith(own[controller].rstrip("/")) or own[controller] == "/"
    assert int((dirs["memory"] / "memory.limit_in_bytes").read_text()) == 64 << 20
    memsw = dirs["memory"] / "memory.memsw.limit_in_bytes"
    if memsw.exists():
        assert int(memsw.read_text()) == 64 << 20
    else:  # no swap accounting: the limit is made a true one by swappiness 0
        assert int((dirs["memory"] / "memory.swappiness").read_text()) == 0
    assert (dirs["pids"] / "pids.max").read_text().strip() == "32"
    assert int((dirs["cpu"] / "cpu.cfs_quota_us").read_text()) == 50_000
    assert int((dirs["cpu"] / "cpu.cfs_period_us").read_text()) == 100_000


def test_v1_fork_bomb_stops_at_pids_max() -> None:
    manager = need_v1()
    cgroup = manager.create(unique(), CgroupLimits(pids=8))
    try:
        report, status = in_cgroup(cgroup.add, fork_until_refused)
        assert os.WIFEXITED(status), report
        # pids.max counts the bomb itself: 7 sleepers fit, the 8th fork is refused.
        assert report == {"forked": 7, "errno": errno.EAGAIN}
        assert cgroup.pids_limit_hit() >= 1
        assert len(cgroup.pids()) == 7  # the sleepers, still there until destroy()
    finally:
        cgroup.destroy()
    assert not any(os.path.exists(p) for p in cgroup.paths())


def test_v1_memory_hog_is_oom_killed_and_reported() -> None:
    manager = need_v1()
    cgroup = manager.create(unique(), CgroupLimits(memory=48 << 20))
    try:
        assert not cgroup.oom_killed()
        report, status = in_cgroup(cgroup.add, allocate)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, report
        assert cgroup.oom_killed()
    finally:
        cgroup.destroy()
    assert not any(os.path.exists(p) for p in cgroup.paths())


def test_v1_name_collision_and_bad_names_are_refused(v1_cgroups: list) -> None:
    manager = need_v1()
    name = unique()
    v1_cgroups.append(manager.create(name, CgroupLimits(pids=4)))
    with pytest.raises(CgroupUnavailable, match="exists"):
        manager.create(name, CgroupLimits(pids=4))
    with pytest.raises(CgroupUnavailable, match="name"):
        manager.create("../escape", CgroupLimits(pids=4))


def test_v2_cgroup_lifecycle_without_controllers() -> None:
    """The unified hierarchy exists even on hybrid hosts: create, add, kill, remove."""
    manager = need_v2()
    cgroup = manager.create(unique(), CgroupLimits())
    assert os.path.dirname(cgroup.path) == manager.parent
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    try:
        cgroup.add(pid)
        assert cgroup.pids() == (pid,)
    finally:
        cgroup.destroy()
        os.waitpid(pid, 0)
    assert not os.path.exists(cgroup.path)


def test_v2_limits_need_controllers() -> None:
    manager = need_v2()
    available = manager.available()
    if not {"memory", "pids"} <= available:
        # Hybrid host: the controllers are bound to v1 hierarchies, so cgroup.controllers of
        # the unified tree does not list them; asking for limits is a clear refusal.
        with pytest.raises(CgroupUnavailable, match="not available"):
            manager.create(unique(), CgroupLimits(pids=8))
        pytest.skip(
            f"cgroup v2 has no memory/pids controllers here ({manager.parent}/cgroup.controllers "
            f"lists {sorted(available) or 'none'}; they are bound to v1); the v2 limits run in a "
            "pure cgroup v2 VM instead: tests/integration/test_cgroup_v2_vm.py"
        )
    cgroup = manager.create(unique(), CgroupLimits(memory=48 << 20, pids=8, cpus=0.5))
    try:
        assert Path(cgroup.path, "pids.max").read_text().strip() == "8"
        assert Path(cgroup.path, "cpu.max").read_text().split() == ["50000", "100000"]
        report, _ = in_cgroup(cgroup.add, fork_until_refused)
        assert report == {"forked": 7, "errno": errno.EAGAIN}
        assert cgroup.pids_limit_hit() >= 1
    finally:
        cgroup.destroy()


def test_v2_event_files_parse(tmp_path: Path) -> None:
    # The kernel's format (Documentation/admin-guide/cgroup-v2.rst, memory.events).
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n")
    assert read_keyed(tmp_path / "memory.events")["oom_kill"] == 2
    assert read_keyed(tmp_path / "missing") == {}


def _joined_by_itself(cgroup: object) -> str:
    """Fork a child that writes "0" to each of the cgroup's join files, as a container's
    first child does; return its /proc/PID/cgroup as it was then."""
    files = [str(f) for f in cgroup.join_files()]  # type: ignore[attr-defined]
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            for path in files:
                fd = os.open(path, os.O_WRONLY)
                os.write(fd, b"0")
                os.close(fd)
            os.write(ready_w, Path(f"/proc/{os.getpid()}/cgroup").read_bytes())
        finally:
            os._exit(0)
    os.close(ready_w)
    with os.fdopen(ready_r, "rb") as fh:
        seen = fh.read().decode()
    os.waitpid(pid, 0)
    return seen


def test_v1_a_process_joins_by_writing_0_to_tasks() -> None:
    """The container's first child moves itself (``tasks``: no global threadgroup lock, so
    no RCU grace period on the start-up path) into every hierarchy of its cgroup."""
    manager = need_v1()
    cgroup = manager.create(unique(), CgroupLimits(memory=64 << 20, pids=16, cpus=0.5))
    try:
        assert {os.path.basename(f) for f in cgroup.join_files()} == {"tasks"}
        seen = _joined_by_itself(cgroup)
        assert set(cgroup.dirs) == {"memory", "pids", "cpu"}  # a directory where a limit is
        for controller in cgroup.dirs:
            line = next(x for x in seen.splitlines() if controller in x.split(":")[1].split(","))
            assert line.endswith(f"/hardbox-{cgroup.name}"), line
    finally:
        cgroup.destroy()


def test_v2_a_process_joins_by_writing_0_to_cgroup_procs() -> None:
    manager = need_v2()
    cgroup = manager.create(unique(), CgroupLimits())
    try:
        assert cgroup.join_files() == (f"{cgroup.path}/cgroup.procs",)
        seen = _joined_by_itself(cgroup)
        assert any(x.startswith("0::") and x.endswith(f"/hardbox-{cgroup.name}") for x in seen.splitlines()), seen
    finally:
        cgroup.destroy()


def test_recorded_cgroup_paths_must_name_the_containers_own_cgroup() -> None:
    """`hardbox rm` destroys the cgroup a container's state names (it may run in another
    cgroup than the `hardbox run` that made it); a state file is input, so a path that is
    not that container's ``hardbox-<name>`` beneath a hierarchy is never taken."""
    manager = need_v1()
    cgroup = manager.create(unique(), CgroupLimits(pids=8))
    try:
        assert set(manager.open_recorded(cgroup.name, list(cgroup.paths())).paths()) == set(cgroup.paths())
        own = Path(manager.parents["pids"])
        hostile = [own, own / ".." / f"hardbox-{cgroup.name}", Path("/etc") / f"hardbox-{cgroup.name}",
                   own / f"hardbox-{cgroup.name}x", f"/{own}/hardbox-{cgroup.name}"]
        mount = next(m.path for m in cgroup_mounts() if m.fstype == "cgroup" and "pids" in m.options)
        assert recorded_path_ok(cgroup.dirs["pids"], cgroup.name, mount)
        for path in hostile:
            assert not recorded_path_ok(path, cgroup.name, mount), path
        # Nothing acceptable recorded: the cgroup the name gives, beneath our own.
        assert set(manager.open_recorded(cgroup.name, hostile).paths()) == set(cgroup.paths())
    finally:
        cgroup.destroy()
