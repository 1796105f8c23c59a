"""Lifecycle: --rm, -d with ps/logs/stop/rm, signals, a killed hardbox, and limits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from helpers.hbrun import RunStore, hardbox_cgroups, make_store

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def store(busybox_layout, tmp_path_factory) -> RunStore:
    return make_store(tmp_path_factory.mktemp("run-lifecycle") / "store", busybox_layout.ref)


def ps(store: RunStore) -> list[dict[str, object]]:
    proc = store.hardbox("ps", "-a", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_rm_leaves_nothing_behind(store, tmp_path):
    # The container runs until the test lets it go (a file in a volume), not for a fixed
    # time: on a loaded machine a short sleep could end before ps ever saw it.
    gate = tmp_path / "gate"
    gate.mkdir()
    os.chmod(gate, 0o777)
    run = store.popen("run", "--rm", "--name", "ephemeral", "-v", f"{gate}:/gate:ro", "bbtest",
                      "sh", "-c", "while [ ! -e /gate/go ]; do sleep 0.1; done",
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: any(s["name"] == "ephemeral" for s in ps(store)), timeout=120)
    [state] = [s for s in ps(store) if s["name"] == "ephemeral"]
    mine = f"hardbox-{str(state['id'])[:12]}"
    assert [p for p in hardbox_cgroups() if p.name == mine]  # the default profile's pids limit
    (gate / "go").touch()
    assert run.wait(timeout=120) == 0
    assert str(state["id"]) not in store.containers()
    assert [p for p in hardbox_cgroups() if p.name == mine] == []


def test_exited_container_is_listed_then_removed(store):
    proc = store.hardbox("run", "--name", "done", "bbtest", "sh", "-c", "exit 4")
    assert proc.returncode == 4
    [state] = [s for s in ps(store) if s["name"] == "done"]
    assert state["status"] == "exited" and state["exit_code"] == 4
    assert "selinux: unavailable on this host" in state["skipped"]  # type: ignore[operator]
    assert store.hardbox("rm", "done").returncode == 0
    assert [s for s in ps(store) if s["name"] == "done"] == []


@pytest.mark.slow
def test_detached_ps_logs_stop_rm(store):
    started = store.hardbox("run", "-d", "--init", "--name", "bg", "bbtest", "sh", "-c", "echo hello; sleep 60")
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    assert len(cid) == 64
    running = store.hardbox("ps")
    assert cid[:12] in running.stdout and "running" in running.stdout
    wait_for(lambda: "hello" in store.hardbox("logs", "bg").stdout)
    stopped = store.hardbox("stop", "bg")
    assert stopped.returncode == 0 and stopped.stdout.strip() == cid[:12]
    [state] = [s for s in ps(store) if s["id"] == cid]
    # 143, not 137: --init forwarded SIGTERM and the shell ended on it; the SIGKILL that
    # follows an ignored SIGTERM after the grace period would have given 137.
    assert state["status"] == "exited" and state["exit_code"] == 143
    assert store.hardbox("rm", cid[:12]).returncode == 0
    assert cid not in store.containers()


def test_rm_refuses_a_running_container_without_force(store):
    cid = store.hardbox("run", "-d", "bbtest", "sleep", "60").stdout.strip()
    refused = store.hardbox("rm", cid)
    assert refused.returncode == 2 and "is running" in refused.stderr
    assert store.hardbox("rm", "-f", cid).returncode == 0
    assert cid not in store.containers()


@pytest.mark.slow
def test_killed_hardbox_leaves_a_stale_container_that_rm_cleans(store):
    run = store.popen("run", "--name", "victim", "bbtest", "sleep", "60",
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: any(s["name"] == "victim" and s["status"] == "running" for s in ps(store)))
    [state] = [s for s in ps(store) if s["name"] == "victim"]
    run.send_signal(signal.SIGKILL)
    run.wait()
    # The container's PID 1 dies with hardbox (parent-death signal): nothing keeps running.
    wait_for(lambda: not os.path.exists(f"/proc/{state['pid']}"))
    [stale] = [s for s in ps(store) if s["name"] == "victim"]
    assert stale["status"] == "stale"
    mine = f"hardbox-{str(stale['id'])[:12]}"
    assert [p for p in hardbox_cgroups() if p.name == mine]  # left behind by the killed run
    assert store.hardbox("rm", "victim").returncode == 0
    assert [p for p in hardbox_cgroups() if p.name == mine] == []
    assert [s for s in ps(store) if s["name"] == "victim"] == []


@pytest.mark.slow
def test_sigterm_is_forwarded(store):
    """Without --init a PID 1 needs its own handler; with --init the reaper forwards."""
    trap = store.popen("run", "--rm", "bbtest", "sh", "-c", "trap 'exit 7' TERM; sleep 60 & wait",
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    init = store.popen("run", "--rm", "--init", "bbtest", "sleep", "60",
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    wait_for(lambda: len([s for s in ps(store) if s["status"] == "running"]) >= 2)
    time.sleep(0.3)  # let sh install its trap
    for p in (trap, init):
        p.send_signal(signal.SIGTERM)
    assert trap.wait(timeout=10) == 7
    assert init.wait(timeout=10) == 128 + signal.SIGTERM


def test_pids_limit_stops_a_fork_bomb(store):
    proc = store.hardbox("run", "--rm", "--pids-limit", "10", "bbtest", "sh", "-c",
                         "for i in $(seq 30); do sleep 5 & done 2>&1; echo spawned")
    assert "can't fork" in proc.stdout + proc.stderr or "Resource temporarily unavailable" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_memory_hog_is_oom_killed_and_reported(store):
    proc = store.hardbox("run", "--rm", "--memory", "32m", "bbtest", "sh", "-c",
                         'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived')
    assert proc.returncode == 137
    assert "survived" not in proc.stdout
    assert "killed by the OOM killer" in proc.stderr
    assert "the container stopped" in proc.stderr


@pytest.mark.slow
def test_oom_kill_of_one_process_names_it_and_says_the_container_went_on(store):
    """The OOM killer takes the hog (a dd with a 64 MiB buffer), not the shell: the run says
    which process died and that the container went on (issue 15)."""
    proc = store.hardbox("run", "--rm", "--memory", "32m", "bbtest", "sh", "-c",
                         "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo survived")
    assert proc.returncode == 0, proc.stderr
    assert "survived" in proc.stdout
    line = next(li for li in proc.stderr.splitlines() if "OOM killer" in li)
    assert "dd (host pid " in line and "went on and exited with status 0" in line, line
    assert "at the memory limit (32 MiB)" in line
