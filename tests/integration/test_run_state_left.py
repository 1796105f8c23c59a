"""State a start leaves behind (issue 16, items 12 and 14), with real containers.

- ``--name`` is reserved under the state lock: of several simultaneous ``run -d --name X``
  exactly one starts, the others exit 125 naming the clash, and stop/logs/rm then work.
- A full disk (a real, tiny tmpfs under ``containers/``) fails the start in one line and
  leaves no ``state.tmp``, no ``<id>.log.tmp`` and no state directory.
- What a start killed half-way leaves (an unsaved state directory, a monitor's log.tmp whose
  lock nobody holds, a ``state.tmp`` beside a dead container's state) is removed at the next
  start, and the same left by a live process (its log.tmp locked, its container running) is
  kept.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.hbrun import RunStore, make_store

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def store(busybox_layout, tmp_path_factory) -> RunStore:
    return make_store(tmp_path_factory.mktemp("run-state") / "store", busybox_layout.ref)


def _leftovers(root: Path) -> list[str]:
    containers = root / "containers"
    return sorted(str(p.relative_to(containers)) for p in containers.rglob("*.tmp"))


def _busy_host(store: RunStore, count: int) -> list[Path]:
    """``count`` exited containers: one real one, copied with fresh ids and names. On a
    busy host the name check reads every state, which is the window two starts race in."""
    assert store.hardbox("run", "--name", "seed", "bbtest", "true").returncode == 0
    containers = store.root / "containers"
    [seed] = [p for p in containers.iterdir() if p.is_dir()
              and json.loads((p / "state.json").read_text())["name"] == "seed"]
    copies = []
    for i in range(count):
        state = json.loads((seed / "state.json").read_text())
        state.update(id=f"{i:064x}", name=f"old-{i}")
        copy = containers / state["id"]
        copy.mkdir()
        (copy / "state.json").write_text(json.dumps(state))
        copies.append(copy)
    return [seed, *copies]


def test_a_name_is_taken_once_under_concurrency(store: RunStore, tmp_path: Path) -> None:
    exited = _busy_host(store, 300)
    go = tmp_path / "go"
    # All wait at one barrier, so their name checks overlap as two CI jobs' do.
    procs = [subprocess.Popen(
        ["sh", "-c", f'while [ ! -e "{go}" ]; do sleep 0.01; done; exec "$0" "$@"',
         sys.executable, "-m", "hardbox", "run", "-d", "--name", "twin", "bbtest",
         "sh", "-c", "echo up; sleep 60"],
        env=store.env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(8)]
    time.sleep(0.5)
    go.touch()
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
    started = [out.strip() for code, out, _ in results if code == 0]
    assert len(started) == 1, results
    for code, _, err in results:
        if code != 0:
            assert code == 125, err
            assert "'twin' is already in use" in err and len(err.strip().splitlines()) <= 2, err
    ps = json.loads(store.hardbox("ps", "-a", "--json").stdout)
    assert [s["id"] for s in ps if s["name"] == "twin"] == started
    deadline = time.monotonic() + 10
    while "up" not in store.hardbox("logs", "twin").stdout:
        assert time.monotonic() < deadline, "no output from the container"
        time.sleep(0.1)
    assert store.hardbox("stop", "twin").returncode == 0
    assert store.hardbox("rm", "-f", "twin").returncode == 0
    assert store.hardbox("ps", "-a", "--json").stdout.count("twin") == 0
    assert store.hardbox("rm", exited[0].name).returncode == 0
    for copy in exited[1:]:  # copies of its state: no cgroup or mount of their own
        shutil.rmtree(copy)


def test_a_full_disk_leaves_no_invisible_state(busybox_layout, tmp_path: Path) -> None:
    store = make_store(tmp_path / "store", busybox_layout.ref)
    containers = store.root / "containers"
    containers.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(containers)],
                   check=True)
    try:
        with open(containers / "filler", "wb", buffering=0) as fh:  # to the last block
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError:
                pass
        failed = store.hardbox("run", "-d", "--name", "full", "bbtest", "true")
        assert failed.returncode == 125, failed.stderr
        assert "No space left on device" in failed.stderr and "Traceback" not in failed.stderr
        assert _leftovers(store.root) == []
        assert [p.name for p in containers.iterdir() if p.is_dir()] == []
        (containers / "filler").unlink()
        ran = store.hardbox("run", "--rm", "--name", "full", "bbtest", "true")
        assert ran.returncode == 0, ran.stderr  # the name was not left taken either
    finally:
        subprocess.run(["umount", str(containers)], check=True)


def test_what_a_killed_start_left_is_cleaned_and_a_live_one_kept(store: RunStore) -> None:
    containers = store.root / "containers"
    # A detached container that runs: its monitor lives, so its state.tmp is in use.
    live = store.hardbox("run", "-d", "bbtest", "sleep", "60")
    assert live.returncode == 0, live.stderr
    live_id = live.stdout.strip()
    (containers / live_id / "state.tmp").write_text("{")
    # A start killed between mkdir and its first save: a directory with only state.tmp.
    dead_dir = containers / ("d" * 64)
    dead_dir.mkdir(mode=0o711)
    (dead_dir / "state.tmp").write_text('{"id": "')
    # A detached monitor killed before its container started: an unlocked log.tmp ...
    (containers / f"{'e' * 64}.log.tmp").write_text("starting\n")
    # ... and one whose monitor is still starting: it holds the log's flock.
    held = containers / f"{'f' * 64}.log.tmp"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(held)!r}, os.O_WRONLY | os.O_CREAT, 0o600)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert store.hardbox("run", "--rm", "bbtest", "true").returncode == 0
        assert not dead_dir.exists()
        assert not (containers / f"{'e' * 64}.log.tmp").exists()
        assert held.exists()  # its owner lives
        assert (containers / live_id / "state.tmp").exists()  # its monitor lives
    finally:
        holder.kill()
        holder.wait()
    assert store.hardbox("stop", live_id).returncode == 0
    assert store.hardbox("run", "--rm", "bbtest", "true").returncode == 0
    assert not held.exists()
    assert not (containers / live_id / "state.tmp").exists()
    assert store.hardbox("rm", live_id).returncode == 0
