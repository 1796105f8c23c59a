"""``atomic_write``: the target holds the old content or the new, never a part, and no
temporary file outlives the block."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hardbox.atomicfile import atomic_write


def test_the_new_content_replaces_the_old_whole(tmp_path: Path) -> None:
    target = tmp_path / "auth.json"
    target.write_bytes(b"old")
    with atomic_write(target) as fh:
        fh.write(b"new ")
        # Mid-write, readers still see the old file.
        assert target.read_bytes() == b"old"
        fh.write(b"content")
    assert target.read_bytes() == b"new content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auth.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "db.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="cut off"), atomic_write(target, suffix=".part") as fh:
        fh.write(b"half")
        raise RuntimeError("cut off")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.json"]


def test_the_mode_is_set_on_the_new_file(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    with atomic_write(target, mode=0o640) as fh:
        fh.write(b"s")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
