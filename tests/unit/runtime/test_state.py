"""Container state on disk: create, find, list, and stale detection against real pids."""

from __future__ import annotations

import os

import pytest

from hardbox.errors import ContainerError, UsageError
from hardbox.runtime.state import ContainerState, StateStore, new_id, process_start_time


def _state(name: str = "", **kw: object) -> ContainerState:
    return ContainerState(
        id=new_id(), name=name, image="bbtest", image_id="sha256:" + "0" * 64,
        profile="default", command=["sh"], created=1.0, **kw,  # type: ignore[arg-type]
    )


def test_create_load_find_by_prefix_and_name(tmp_path):
    store = StateStore(tmp_path / "containers")
    a = store.create(_state("web"))
    b = store.create(_state())
    assert store.find(a.path.name[:12]).path == a.path
    assert store.find("web").path == a.path
    assert store.find(b.path.name).load().name == ""
    assert oct(os.stat(store.root).st_mode & 0o777) == "0o700"


def test_duplicate_name_and_unknown_id(tmp_path):
    store = StateStore(tmp_path / "containers")
    store.create(_state("web"))
    with pytest.raises(UsageError, match="already in use"):
        store.create(_state("web"))
    with pytest.raises(UsageError, match="no such container: nothing"):
        store.find("nothing")


def test_ambiguous_prefix(tmp_path):
    store = StateStore(tmp_path / "containers")
    for _ in range(20):
        store.create(_state())
    # 20 ids over 16 hex digits: at least two share their first one (pigeonhole).
    firsts = [d.path.name[0] for d in store.dirs()]
    shared = max(set(firsts), key=firsts.count)
    with pytest.raises(UsageError, match="ambiguous"):
        store.find(shared)


def test_empty_key_names_no_container(tmp_path):
    """`hardbox exec "" ...` once ran in the only container there was (every id starts with
    ""): an empty id or name is refused, as Docker refuses it."""
    store = StateStore(tmp_path / "containers")
    store.create(_state("web"))
    with pytest.raises(UsageError, match="no such container"):
        store.find("")


def test_running_with_a_dead_pid_is_stale(tmp_path):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    start = process_start_time(pid)
    os.waitpid(pid, 0)
    assert start is not None and process_start_time(pid) is None
    store = StateStore(tmp_path / "containers")
    d = store.create(_state(status="running", pid=pid, pid_start=start))
    assert d.live_status().status == "stale"
    assert [s.status for s in store.all()] == ["stale"]


def test_running_with_a_live_pid_but_other_start_time_is_stale(tmp_path):
    """A recycled pid is not the container: the start time must match too."""
    me = os.getpid()
    store = StateStore(tmp_path / "containers")
    alive = store.create(_state(status="running", pid=me, pid_start=process_start_time(me) or 0))
    recycled = store.create(_state(status="running", pid=me, pid_start=1))
    assert alive.live_status().status == "running"
    assert recycled.live_status().status == "stale"


def test_update_and_damaged_state(tmp_path):
    store = StateStore(tmp_path / "containers")
    d = store.create(_state())
    assert d.update(status="exited", exit_code=3).exit_code == 3
    d.file.write_text("{not json")
    with pytest.raises(ContainerError, match="is damaged"):
        d.load()
    assert store.all() == []  # a damaged state is not listed as a container
