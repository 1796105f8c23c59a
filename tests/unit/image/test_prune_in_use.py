"""`image prune` and `image rm` against live containers: what a running container stands on
is never deleted. Real detached containers started by the real CLI; the store reads the
runtime's state files as data (hardbox/image/store/prune.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hardbox.errors import UsageError
from hardbox.image.store.prune import containers_in_use, prune, remove
from hardbox.image.store.store import Store

pytestmark = pytest.mark.root


def hb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hardbox", *args], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ))


@pytest.fixture
def store(hardbox_root: Path, busybox_layout: object) -> Store:
    if os.geteuid() != 0:
        pytest.skip("needs root: containers are started for real")
    proc = hb("image", "import", busybox_layout.ref, "--tag", "bbtest")  # type: ignore[attr-defined]
    assert proc.returncode == 0, proc.stderr
    # The import also keeps the layout's own name (layout:latest): leave bbtest the only tag.
    assert hb("image", "rm", "layout").returncode == 0
    return Store.open()


def start(name: str, *cmd: str) -> dict[str, object]:
    proc = hb("run", "-d", "--name", name, "bbtest", *cmd)
    assert proc.returncode == 0, proc.stderr
    return ps(name)


def ps(name: str) -> dict[str, object]:
    listed = json.loads(hb("ps", "-a", "--json").stdout)
    (entry,) = [c for c in listed if c["name"] == name]
    return dict(entry)


def test_running_container_pins_its_image_and_layers(store: Store) -> None:
    image = store.get("bbtest")
    layer_dirs = [layer.path for layer in image.layers]
    state = start("pinned", "sleep", "30")
    try:
        assert state["status"] == "running"
        (user,) = containers_in_use(store)
        assert user.name == "pinned" and user.image_id == image.id
        assert user.layers == frozenset(p.name for p in layer_dirs)

        # rm of the image's last tag is refused like Docker's, exit 2, nothing changed.
        proc = hb("image", "rm", "bbtest")
        assert proc.returncode == 2
        assert "image is being used by running container" in proc.stderr and "(pinned)" in proc.stderr
        assert store.get("bbtest").id == image.id

        # Forced (the CLI's -f): the record goes, the layers the container stands on stay,
        # even through prune.
        proc = hb("image", "rm", "-f", "bbtest")
        assert proc.returncode == 0, proc.stderr
        assert f"Deleted: {image.manifest_digest}" in proc.stdout
        assert prune(store).layers == 0
        assert all(p.is_dir() for p in layer_dirs)
        # The container still runs on them: its root still has busybox.
        pid = int(str(state["pid"]))
        assert os.path.exists(f"/proc/{pid}/root/bin/busybox")
        assert ps("pinned")["status"] == "running"
    finally:
        proc = hb("rm", "-f", "pinned")
    assert proc.returncode == 0, proc.stderr
    # Gone: now the layers are collected.
    assert containers_in_use(store) == []
    assert prune(store).layers == len(layer_dirs)
    assert not any(p.exists() for p in layer_dirs)


def test_untagged_image_of_a_running_container_survives_prune(store: Store) -> None:
    image = store.get("bbtest")
    start("untagged", "sleep", "30")
    try:
        assert hb("image", "tag", "bbtest", "other").returncode == 0
        # Removing one of two tags is no removal of the image: allowed while in use.
        assert hb("image", "rm", "bbtest").returncode == 0
        assert hb("image", "rm", "other").returncode == 2
        store.write_tags({})  # now untagged, as a re-tag elsewhere would leave it
        assert prune(store).images == []
        assert store.get(image.id).id == image.id
    finally:
        assert hb("rm", "-f", "untagged").returncode == 0
    assert prune(store).images == [image.manifest_digest]


def test_exited_container_pins_nothing(store: Store) -> None:
    start("done", "true")
    deadline = time.monotonic() + 20
    while ps("done")["status"] != "exited":
        assert time.monotonic() < deadline, ps("done")
        time.sleep(0.1)
    assert containers_in_use(store) == []
    removed = remove(store, "bbtest")  # no refusal: nothing runs
    assert removed.layers == 1
    assert hb("rm", "done").returncode == 0


def test_damaged_state_file_is_skipped(store: Store) -> None:
    bad = store.root / "containers" / ("ab" * 32)
    bad.mkdir(parents=True)
    (bad / "state.json").write_text('{"status": "running", "pid": "one"')
    assert containers_in_use(store) == []
    (bad / "state.json").write_text(json.dumps({"status": "running", "pid": "x", "pid_start": 1}))
    assert containers_in_use(store) == []
    assert remove(store, "bbtest").layers == 1  # nothing live: removed without refusal


def test_rm_refusal_is_a_usage_error_naming_the_container(store: Store) -> None:
    start("named", "sleep", "30")
    try:
        with pytest.raises(UsageError, match=r"image rm bbtest: image is being used by running container [0-9a-f]{12} \(named\)"):
            remove(store, "bbtest")
        assert store.get("bbtest").tags == ("docker.io/library/bbtest:latest",)
    finally:
        assert hb("rm", "-f", "named").returncode == 0
