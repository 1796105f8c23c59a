"""A SIGKILLed ``hardbox minimize`` leaves nothing running, and prune cleans what it left.

The probe sleeps, so minimize is killed while its traced probe runs: strace, the probe's
``hardbox run`` and the container's PID 1 are all alive at that moment. Each is then
followed by its pid *and* start time (never by name: other tests run hardbox and strace
too), and each must be gone. The probe's record is left ``stale`` with its cgroups;
``hardbox image prune`` removes both (issue 16, item 13).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.hbrun import hardbox_cgroups, make_store

from hardbox.runtime.state import process_start_time

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _descendants(pid: int) -> dict[int, int]:
    """pid -> start time of every process below ``pid``."""
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        for child in _children(todo.pop()):
            start = process_start_time(child)
            if start is not None:
                found[child] = start
                todo.append(child)
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_killed_minimize_orphans_nothing(busybox_layout, tmp_path: Path) -> None:
    store = make_store(tmp_path / "store", busybox_layout.ref)
    minimize = subprocess.Popen(
        [sys.executable, "-m", "hardbox", "minimize", "bbtest", "--tag", "bb:min",
         "--probe", "sleep 30"],
        env=store.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs: dict[int, int] = {}
    running: list[dict[str, object]] = []
    deadline = time.monotonic() + 180
    try:
        # Wait for the traced probe: strace below minimize, and the probe's container up.
        while True:
            assert minimize.poll() is None, "minimize ended before its traced probe ran"
            assert time.monotonic() < deadline, "the traced probe never started"
            procs = _descendants(minimize.pid)
            ps = json.loads(store.hardbox("ps", "--json").stdout or "[]")
            running = [s for s in ps if s["status"] == "running"]
            if running and any(_comm(p) == "strace" for p in procs):
                break
            time.sleep(0.1)
    finally:
        minimize.send_signal(signal.SIGKILL)
        minimize.wait()
    [probe] = running
    container = (int(probe["pid"]), int(probe["pid_start"]))  # type: ignore[call-overload]
    assert any(_comm(p) == "strace" for p in procs) and len(procs) >= 2  # strace, its hardbox
    procs[container[0]] = container[1]

    deadline = time.monotonic() + 10  # the probe would sleep 20 s more: it must be killed
    while left := {p: s for p, s in procs.items() if process_start_time(p) == s}:
        assert time.monotonic() < deadline, f"still running after minimize died: {left}"
        time.sleep(0.1)

    [stale] = [s for s in json.loads(store.hardbox("ps", "-a", "--json").stdout)
               if s["id"] == probe["id"]]
    assert stale["status"] == "stale"
    mine = f"hardbox-{str(probe['id'])[:12]}"
    assert [p for p in hardbox_cgroups() if p.name == mine]  # left by the killed probe
    pruned = store.hardbox("image", "prune")
    assert pruned.returncode == 0, pruned.stderr
    assert "1 stale container record" in pruned.stdout
    assert [p for p in hardbox_cgroups() if p.name == mine] == []
    assert str(probe["id"]) not in store.containers()
    assert not os.path.exists(store.root / "containers" / str(probe["id"]))
