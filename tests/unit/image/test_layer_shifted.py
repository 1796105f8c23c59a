"""Shifted unpacking (image/userns.py): a layer applied in a child inside a real user
namespace lands on disk with the image's owners moved into the map's host range, and a
hostile layer is refused there with the same one-line error as in-process.

Run as root, the map is written by hardbox itself (no subids needed); the rootless route
through newuidmap is exercised end to end in tests/integration/test_run_rootless.py.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import hostile
import pytest

from hardbox.errors import InvalidImage
from hardbox.image.layers.unpack import apply_layer
from hardbox.image.store.transaction import _apply_shifted
from hardbox.image.userns import Extent, ShiftMap

pytestmark = pytest.mark.root

BASE = 300000
SHIFT = ShiftMap(uids=(Extent(0, BASE, 65536),), gids=(Extent(0, BASE, 65536),))


@pytest.fixture
def arena() -> Iterator[Path]:
    """A directory the namespace's root (host uid BASE) can reach: pytest's arena sits
    below a 0700 directory of host root, which is not mapped into the namespace."""
    if os.geteuid() != 0:
        pytest.skip("writing an arbitrary id map needs root (rootless: test_run_rootless.py)")
    path = Path(tempfile.mkdtemp(prefix="hardbox-shifted-"))
    os.chmod(path, 0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def _dest(arena: Path, name: str) -> Path:
    dest = arena / name
    dest.mkdir(mode=0o700)
    os.chown(dest, BASE, BASE)  # as the store's tmp dir is the invoking user's
    return dest


def test_owners_are_shifted_and_whiteouts_made(arena: Path) -> None:
    blob = hostile.tar(
        hostile.entry("etc", tarfile.DIRTYPE),
        hostile.entry("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
        hostile.entry("home/user", tarfile.DIRTYPE, uid=1000, gid=1000, mode=0o700),
        hostile.entry("home/user/.profile", data=b"x", uid=1000, gid=1000, mode=0o600),
        hostile.entry("etc/.wh.gone"),
    )
    dest = _dest(arena, "layer")
    result = _apply_shifted(SHIFT, io.BytesIO(blob), dest, None, "unit:shifted")
    assert result.warnings == ()  # every chown was permitted inside the namespace
    assert result.diff_id == apply_layer(io.BytesIO(blob), _dest(arena, "plain"),
                                         expected_diff_id=None, source="unit:plain").diff_id

    def owner(rel: str) -> tuple[int, int]:
        st = os.lstat(dest / rel)
        return st.st_uid, st.st_gid

    assert owner("etc/passwd") == (BASE, BASE)
    assert owner("home/user") == (BASE + 1000, BASE + 1000)
    assert owner("home/user/.profile") == (BASE + 1000, BASE + 1000)
    assert stat.S_IMODE(os.lstat(dest / "home/user").st_mode) == 0o700
    gone = os.lstat(dest / "etc/gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == os.makedev(0, 0)


def test_hostile_layer_gives_the_same_error_and_leaves_nothing(arena: Path) -> None:
    blob = hostile.tar(hostile.entry("ok", data=b"fine"), hostile.entry("../../escape", data=b"x"))
    with pytest.raises(InvalidImage) as plain:
        apply_layer(io.BytesIO(blob), _dest(arena, "plain"), expected_diff_id=None, source="unit:layer")
    dest = _dest(arena, "shifted")
    with pytest.raises(InvalidImage) as shifted:
        _apply_shifted(SHIFT, io.BytesIO(blob), dest, None, "unit:layer")
    assert shifted.value.message == plain.value.message and "../../escape" in shifted.value.message
    assert shifted.value.hint == plain.value.hint
    assert list(dest.iterdir()) == []
    assert not (arena / "escape").exists()


def test_damaged_stream_is_refused_in_the_child(arena: Path) -> None:
    blob = hostile.tar(hostile.entry("big", data=b"y" * 4096))[:1500]  # cut inside the data
    dest = _dest(arena, "cut")
    with pytest.raises(InvalidImage, match="unit:cut"):
        _apply_shifted(SHIFT, io.BytesIO(blob), dest, None, "unit:cut")
    assert list(dest.iterdir()) == []
