"""Fuzz layer application: layer tars of generated hostile entries (escaping names, absolute
paths, symlinks and hardlinks out, devices, FIFOs, whiteouts, duplicate and odd entries,
huge or negative sizes), put into a real layout with their digests right so that the layer
reaches the unpacker, then `hardbox image import`. Besides the exit contract and the store
check, nothing may land outside the store: a sentinel directory the entries aim at stays
empty."""

from __future__ import annotations

import gzip
import io
import itertools
import tarfile
from pathlib import Path

import fuzzkit
import layouts
import pytest
from hypothesis import given
from hypothesis import strategies as st
from storecheck import assert_consistent

pytestmark = [pytest.mark.fuzz]

_counter = itertools.count()

TYPES = [tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
         tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE, tarfile.CONTTYPE, b"Z"]


def _names(sentinel: Path) -> st.SearchStrategy[str]:
    parts = st.sampled_from(["a", "b", "etc", "..", ".", "", ".wh.a", ".wh..wh..opq", ".wh.",
                             "bin", "x" * 120, "\x00", "é", "dev", "proc"])
    return st.one_of(
        st.lists(parts, min_size=1, max_size=5).map("/".join),
        st.sampled_from([str(sentinel / "owned"), f"../../../../../../..{sentinel}/owned",
                         "/", "./", "a/../../b", "etc/passwd", "a/b/c/d/e/f"]),
        st.text(max_size=30),
    )


@st.composite
def _entry(draw: st.DrawFn, sentinel: Path) -> tuple[tarfile.TarInfo, bytes]:
    names = _names(sentinel)
    info = tarfile.TarInfo(draw(names))
    info.type = draw(st.sampled_from(TYPES))
    info.mode = draw(st.sampled_from([0o644, 0o755, 0o4755, 0o777, 0o7777, 0o000, 0o1777]))
    info.uid = draw(st.sampled_from([0, 1000, 65534, 2**21 - 1]))
    info.gid = draw(st.sampled_from([0, 1000, 65534]))
    info.mtime = draw(st.sampled_from([0, 1_600_000_000, 2**33 - 1]))
    if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = draw(st.one_of(names, st.just(str(sentinel)), st.just("/etc/shadow")))
    if info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor = draw(st.sampled_from([0, 1, 8, 4095]))
        info.devminor = draw(st.sampled_from([0, 3, 5, 255]))
    if draw(st.booleans()):
        info.pax_headers = draw(st.dictionaries(
            st.sampled_from(["path", "linkpath", "size", "uid", "SCHILY.xattr.security.capability",
                             "SCHILY.xattr.trusted.overlay.opaque", "SCHILY.xattr.user.x", "mtime"]),
            st.sampled_from(["", "y", "-1", "99999999999", "../../x", "a" * 200, "\x00"]),
            max_size=2,
        ))
    data = draw(st.binary(max_size=64)) if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE) else b""
    info.size = len(data)
    return info, data


@st.composite
def hostile_layer(draw: st.DrawFn, sentinel: Path) -> bytes:
    entries = draw(st.lists(_entry(sentinel), min_size=1, max_size=8))
    fmt = draw(st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]))
    buf = io.BytesIO()
    try:
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as archive:
            for info, data in entries:
                archive.addfile(info, io.BytesIO(data) if data else None)
    except (ValueError, UnicodeError):
        # tarfile itself refuses to write this entry (a NUL or a too-long name in ustar):
        # write what it accepted and the broken rest as raw bytes a crafted tar would hold.
        buf.write(draw(st.binary(min_size=1, max_size=600)))
    blob = buf.getvalue()
    cut = draw(st.sampled_from([None, None, None, 100, 512, 700]))
    if cut is not None:
        blob = blob[:cut]
    return gzip.compress(blob) if draw(st.booleans()) else blob


def test_hostile_layers(tiny_image, tmp_path: Path, store_root: Path) -> None:  # type: ignore[no-untyped-def]
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()

    @fuzzkit.fuzz_settings(2)
    @given(blobs=st.lists(hostile_layer(sentinel), min_size=1, max_size=2))
    def one(blobs: list[bytes]) -> None:
        layout = layouts.copy_layout(tiny_image.layout, tmp_path / f"layout-{next(_counter)}")
        layouts.replace_in_layout(layout, layers=blobs)
        out = fuzzkit.run_cli(["image", "import", str(layout)], root=store_root)
        fuzzkit.check("layer tar", out, allowed=(0, 2))
        assert_consistent(store_root)
        assert not any(sentinel.iterdir()), f"a layer wrote outside the store: {list(sentinel.iterdir())}"
        assert not Path("/etc/owned").exists()

    one()
