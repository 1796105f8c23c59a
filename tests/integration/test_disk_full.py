"""A full disk is one line naming the operation and the path, crun style (``write `/x/y`: No
space left on device``), with the right exit code: 2, and 125 for ``run`` (issue 16 item
10). Before, import, tag, run and export printed a bare ``[Errno 28]``, ``db import`` called
the full disk "not a hardbox vulnerability database", and ``run -d`` said only that its
monitor exited.

The store lives on a real 30 MB tmpfs mounted for the test, filled up with a file."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import hardbox
from helpers.disks import fill, small_tmpfs

pytestmark = [pytest.mark.root]

NOSPACE = "No space left on device"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk") as mnt:
        yield mnt


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr and "[Errno" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines()
             if not line.startswith(("  hint:", "hardbox: skipped:"))]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_full_disk_names_operation_and_path(small_disk: Path, busybox_archive: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = small_disk / "store"
    monkeypatch.setenv("HARDBOX_ROOT", str(root))
    hardbox("image", "import", str(busybox_archive), check=True)
    feed = small_disk.parent / "osv"
    feed.mkdir()
    (feed / "X-1.json").write_text(json.dumps({
        "schema_version": "1.6.0", "id": "X-1", "modified": "2024-05-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "a"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1"}]}]}],
    }))  # fmt: skip
    fill(small_disk)

    proc = hardbox("image", "tag", "bbtest", "other:1")
    assert proc.returncode == 2
    assert one_line(proc) == f"hardbox: write `{root}/tags.json`: {NOSPACE}"

    proc = hardbox("image", "import", str(busybox_archive), "--tag", "again:1")
    assert proc.returncode == 2
    assert one_line(proc) == f"hardbox: write `{root}/tags.json`: {NOSPACE}"

    # A store that has none of the image's blobs: the first blob write fails.
    proc = hardbox("image", "import", str(busybox_archive), env={**os.environ, "HARDBOX_ROOT": str(small_disk / "s2")})
    assert proc.returncode == 2
    line = one_line(proc)
    assert line.startswith(f"hardbox: write `{small_disk}/s2/") and line.endswith(f"`: {NOSPACE}"), line

    for fmt in ("docker-archive", "oci", "oci-archive"):
        out = small_disk / f"out-{fmt}"
        proc = hardbox("image", "export", "bbtest", "-o", str(out), "--format", fmt)
        assert proc.returncode == 2, proc.stderr
        line = one_line(proc)
        assert line.startswith("hardbox: write `") and line.endswith(f"`: {NOSPACE}"), line
        assert str(out) in line or f"{root}/tmp/" in line, line

    proc = hardbox("db", "import", str(feed))
    assert proc.returncode == 2
    line = one_line(proc)
    assert line.startswith(f"hardbox: write `{root}/db/") and line.endswith(f"`: {NOSPACE}"), line
    assert "not a hardbox vulnerability database" not in line

    for args in (["run"], ["run", "--rm"], ["run", "-d"]):
        proc = hardbox(*args, "bbtest", "--", "true")
        assert proc.returncode == 125, (args, proc.stderr)
        line = one_line(proc)
        assert line.startswith(("hardbox: write `", "hardbox: write container state `")), line
        assert line.endswith(f"`: {NOSPACE}") and f"`{root}/containers/" in line, line


def test_run_with_a_few_blocks_left_names_the_file(small_disk: Path, busybox_archive: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A little room: the state is written, a later file of the start (the seccomp filter,
    the state update) is not. Still one line, 125, and no container left behind."""
    root = small_disk / "store"
    monkeypatch.setenv("HARDBOX_ROOT", str(root))
    hardbox("image", "import", str(busybox_archive), check=True)
    hardbox("run", "--rm", "bbtest", "--", "true", check=True)  # compiles and caches the filter
    fill(small_disk)
    os.truncate(small_disk / "filler", os.stat(small_disk / "filler").st_size - 4096)
    for args in (["run", "--rm"], ["run", "-d"]):
        proc = hardbox(*args, "bbtest", "--", "true")
        assert proc.returncode == 125, (args, proc.stderr)
        line = one_line(proc)
        assert f"`{root}/containers/" in line and line.endswith(f"`: {NOSPACE}"), line
    assert json.loads(hardbox("ps", "-a", "--json", check=True).stdout) == []
