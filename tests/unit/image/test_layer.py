"""Layer application: what a valid layer becomes on disk.

Layers here are built with Python's ``tarfile`` (ustar/GNU/PAX: the published layer
format itself), with GNU tar, busybox tar, gzip and zstd, and taken from a real image
built by umoci (the ``busybox_layout`` fixture). The unpacked directory must be an
overlayfs lower directory (docs/architecture.md), which one test proves by mounting it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest
from helpers.cli import need_root, need_tool
from hostile import entry, tar

from hardbox.errors import InvalidImage, StoreError
from hardbox.image.layers.compression import Compression
from hardbox.image.layers.unpack import LayerResult, apply_layer

D, SYM, LNK = tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def apply(blob: bytes, dest: Path, **kw: object) -> LayerResult:
    dest.mkdir(exist_ok=True)
    return apply_layer(io.BytesIO(blob), dest, expected_diff_id=kw.pop("expected", None), source="test", **kw)  # type: ignore[arg-type]


def is_whiteout(path: Path) -> bool:
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def opaque(path: Path) -> bool:
    return os.getxattr(path, "trusted.overlay.opaque") == b"y" and os.getxattr(path, "user.overlay.opaque") == b"y"


# -- the result ---------------------------------------------------------------------------


def test_result_reports_digests_sizes_and_count(tmp_path: Path) -> None:
    blob = tar(entry("etc", D), entry("etc/hostname", data=b"box\n"), entry("bin/sh", SYM, linkname="busybox"))
    result = apply(blob, tmp_path / "l", hash_blob=True)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    assert result.diff_id == digest and result.digest == digest
    assert result.size == result.compressed_size == len(blob)
    assert result.compression is Compression.NONE
    assert result.file_count == 3 and result.skipped == () and result.warnings == ()
    record = json.loads(json.dumps(result.to_json()))
    assert record["diff_id"] == digest and record["compression"] == "none" and record["skipped"] == []


@pytest.mark.parametrize("tool", ["gzip", "zstd"])
def test_compressed_layers_have_the_plain_tar_as_diff_id(tool: str, tmp_path: Path) -> None:
    need_tool(tool)
    plain = tar(entry("f", data=os.urandom(3_000_000)), entry("g", data=b"g"))
    blob = subprocess.run([tool, "-c"], input=plain, capture_output=True, check=True).stdout
    diff_id = "sha256:" + hashlib.sha256(plain).hexdigest()
    result = apply(blob, tmp_path / "l", expected=diff_id, hash_blob=True)
    assert result.compression.value == tool
    assert result.compressed_size == len(blob) and result.size == len(plain)
    assert result.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert (tmp_path / "l/f").read_bytes() == plain[512 : 512 + 3_000_000]


def test_data_after_the_end_of_archive_counts_in_the_diff_id(tmp_path: Path) -> None:
    blob = tar(entry("f", data=b"x")) + b"\0" * 4096 + b"trailing"
    result = apply(blob, tmp_path / "l")
    assert result.diff_id == "sha256:" + hashlib.sha256(blob).hexdigest() and result.size == len(blob)


# -- whiteouts and opaque directories (image-spec layer.md, "Whiteouts") -----------------


def test_whiteout_becomes_overlay_whiteout_device(tmp_path: Path) -> None:
    apply(tar(entry("etc/.wh.motd"), entry(".wh.tmp")), tmp_path / "l")
    assert is_whiteout(tmp_path / "l/etc/motd") and is_whiteout(tmp_path / "l/tmp")
    assert not (tmp_path / "l/etc/.wh.motd").exists()


@pytest.mark.parametrize("whiteout_first", [True, False])
def test_whiteout_does_not_hide_the_same_layers_file(whiteout_first: bool, tmp_path: Path) -> None:
    entries = [entry(".wh.f"), entry("f", data=b"mine")]
    apply(tar(*(entries if whiteout_first else entries[::-1])), tmp_path / "l")
    assert (tmp_path / "l/f").read_bytes() == b"mine"


@pytest.mark.parametrize("whiteout_first", [True, False])
def test_whiteout_and_new_directory_make_an_opaque_directory(whiteout_first: bool, tmp_path: Path) -> None:
    entries = [entry("a/.wh.d"), entry("a/d", D), entry("a/d/new", data=b"n")]
    apply(tar(*(entries if whiteout_first else [entries[1], entries[2], entries[0]])), tmp_path / "l")
    assert opaque(tmp_path / "l/a/d") and (tmp_path / "l/a/d/new").read_bytes() == b"n"
    assert not opaque(tmp_path / "l/a") if "trusted.overlay.opaque" in os.listxattr(tmp_path / "l/a") else True


def test_whiteout_then_implied_directory_is_opaque(tmp_path: Path) -> None:
    apply(tar(entry(".wh.d"), entry("d/x", data=b"x")), tmp_path / "l")
    assert opaque(tmp_path / "l/d") and (tmp_path / "l/d/x").read_bytes() == b"x"


@pytest.mark.parametrize("marker_first", [True, False])
def test_opaque_marker_sets_both_overlay_xattrs_and_keeps_this_layers_children(marker_first: bool, tmp_path: Path) -> None:
    entries = [entry("bin", D), entry("bin/.wh..wh..opq"), entry("bin/sh", data=b"sh")]
    apply(tar(*(entries if marker_first else [entries[0], entries[2], entries[1]])), tmp_path / "l")
    assert opaque(tmp_path / "l/bin") and (tmp_path / "l/bin/sh").read_bytes() == b"sh"
    assert not (tmp_path / "l/bin/.wh..wh..opq").exists()


def test_opaque_marker_without_its_directory_entry_creates_it(tmp_path: Path) -> None:
    apply(tar(entry("var/cache/.wh..wh..opq")), tmp_path / "l")
    assert opaque(tmp_path / "l/var/cache") and list((tmp_path / "l/var/cache").iterdir()) == []


def test_aufs_metadata_is_skipped(tmp_path: Path) -> None:
    result = apply(tar(entry(".wh..wh.plnk", D), entry(".wh..wh.aufs")), tmp_path / "l")
    assert [s.name for s in result.skipped] == [".wh..wh.plnk", ".wh..wh.aufs"]
    assert list((tmp_path / "l").iterdir()) == []


@pytest.mark.root
def test_layers_mount_as_overlay_lower_dirs(tmp_path: Path) -> None:
    """The kernel reads the markers as we wrote them: whiteouts hide, opaque dirs replace."""
    need_root()
    base = tar(
        entry("etc", D), entry("etc/keep", data=b"keep"), entry("etc/gone", data=b"gone"),
        entry("opt", D), entry("opt/old", data=b"old"), entry("srv", D), entry("srv/old", data=b"old"),
    )  # fmt: skip
    top = tar(entry("etc/.wh.gone"), entry("opt/.wh..wh..opq"), entry("opt/new", data=b"new"), entry(".wh.srv"), entry("srv/n", data=b"n"))
    apply(base, tmp_path / "l1")
    apply(top, tmp_path / "l2")
    merged = tmp_path / "merged"
    merged.mkdir()
    opts = f"lowerdir={tmp_path / 'l2'}:{tmp_path / 'l1'}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)], check=True)
    try:
        assert sorted(os.listdir(merged / "etc")) == ["keep"]
        assert sorted(os.listdir(merged / "opt")) == ["new"]
        assert sorted(os.listdir(merged / "srv")) == ["n"]
    finally:
        subprocess.run(["umount", str(merged)], check=True)


def test_records_about_a_removed_directory_die_with_it(tmp_path: Path) -> None:
    """Opaque markers and modes recorded for ``d`` and below do not reach a later ``d``."""
    blob = tar(
        entry("d", D, mode=0o700), entry("d/.wh..wh..opq"), entry("d/sub", D, mode=0o500),
        entry("d", data=b"now a file"),
        entry("d/sub/x", data=b"x"),  # below what is now a file: refused
    )  # fmt: skip
    with pytest.raises(InvalidImage, match="parent 'd' is not a directory"):
        apply(blob, tmp_path / "refused")
    blob = tar(
        entry("d", D, mode=0o700), entry("d/.wh..wh..opq"), entry("d/sub", D, mode=0o500),
        entry("d", data=b"now a file"), entry("d", D, mode=0o751), entry("d/sub/x", data=b"x"),
    )  # fmt: skip
    apply(blob, tmp_path / "l")
    d = tmp_path / "l/d"
    assert stat.S_IMODE(os.lstat(d).st_mode) == 0o751
    assert "trusted.overlay.opaque" not in os.listxattr(d)
    assert stat.S_IMODE(os.lstat(d / "sub").st_mode) == 0o755  # implied anew, not the old 0500


def test_destination_must_be_empty(tmp_path: Path) -> None:
    dest = tmp_path / "l"
    dest.mkdir()
    (dest / "keep").write_text("caller's")
    with pytest.raises(StoreError, match="not empty"):
        apply(tar(entry("f", data=b"x")), dest)
    assert [p.name for p in dest.iterdir()] == ["keep"]


# -- file types and metadata ------------------------------------------------------------------


def test_hardlinks_share_an_inode(tmp_path: Path) -> None:
    apply(tar(entry("bin/busybox", data=b"bb", mode=0o755), entry("bin/sh", LNK, linkname="bin/busybox")), tmp_path / "l")
    a, b = os.lstat(tmp_path / "l/bin/busybox"), os.lstat(tmp_path / "l/bin/sh")
    assert a.st_ino == b.st_ino and a.st_nlink == 2


@pytest.mark.root
def test_ownership_setuid_setgid_sticky_and_mtime(tmp_path: Path) -> None:
    need_root()
    blob = tar(
        entry("usr/bin/passwd", data=b"p", mode=0o4755, uid=0, gid=0),
        entry("usr/bin/wall", data=b"w", mode=0o2755, uid=1000, gid=5),
        entry("tmp", D, mode=0o1777),
        entry("home/u", D, mode=0o2750, uid=1000, gid=1000),
        entry("home/u/f", data=b"f", mode=0o600, uid=1000, gid=1000, pax_headers={"mtime": "1234567890.123456789"}),
        entry("link", SYM, linkname="home/u/f", uid=1000, gid=1000),
    )
    apply(blob, tmp_path / "l")
    root = tmp_path / "l"

    def meta(name: str) -> tuple[int, int, int]:
        st = os.lstat(root / name)
        return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid

    assert meta("usr/bin/passwd") == (0o4755, 0, 0)
    assert meta("usr/bin/wall") == (0o2755, 1000, 5)  # chmod after chown keeps setgid
    assert meta("tmp") == (0o1777, 0, 0)
    assert meta("home/u") == (0o2750, 1000, 1000)
    assert os.lstat(root / "link").st_uid == 1000
    assert os.lstat(root / "home/u/f").st_mtime_ns == 1234567890_123456789
    assert os.lstat(root / "home/u").st_mtime_ns == 1_600_000_000 * 10**9  # set after its children


@pytest.mark.root
def test_file_capability_survives_chown(tmp_path: Path) -> None:
    """chown clears security.capability, so it must be set after the owner (ping's cap_net_raw)."""
    need_root()
    cap = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)  # VFS_CAP_REVISION_2 | effective
    value = cap.decode("utf-8", "surrogateescape")
    blob = tar(entry("bin/ping", data=b"ping", mode=0o755, uid=1000, pax_headers={"SCHILY.xattr.security.capability": value}))
    apply(blob, tmp_path / "l")
    assert os.getxattr(tmp_path / "l/bin/ping", "security.capability") == cap
    assert os.lstat(tmp_path / "l/bin/ping").st_uid == 1000


def test_user_xattrs_kept_and_others_dropped_with_a_warning(tmp_path: Path) -> None:
    blob = tar(entry("f", data=b"x", pax_headers={"SCHILY.xattr.user.mime": "text/plain", "SCHILY.xattr.trusted.x": "1"}))
    result = apply(blob, tmp_path / "l")
    assert os.getxattr(tmp_path / "l/f", "user.mime") == b"text/plain"
    assert "trusted.x" not in os.listxattr(tmp_path / "l/f")
    assert any("'trusted.x' dropped" in w for w in result.warnings)


def test_files_keep_their_mode_below_a_directory_with_a_default_acl(tmp_path: Path) -> None:
    """A default ACL (not the umask) decides a new file's mode; the tar's mode still wins."""
    acl = struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perm, 0xFFFFFFFF) for tag, perm in ((0x01, 7), (0x04, 0), (0x20, 0))
    )  # version 2; user::rwx group::--- other::---
    blob = tar(
        entry("d", D, pax_headers={"SCHILY.xattr.system.posix_acl_default": acl.decode("utf-8", "surrogateescape")}),
        entry("d/f", data=b"x", mode=0o644),
    )
    result = apply(blob, tmp_path / "l")
    assert result.warnings == ()
    assert os.getxattr(tmp_path / "l/d", "system.posix_acl_default") == acl
    assert stat.S_IMODE(os.lstat(tmp_path / "l/d/f").st_mode) == 0o644


@pytest.mark.root
def test_device_nodes_are_recorded_never_created_even_as_root(tmp_path: Path) -> None:
    """Issue 18: an image's ``b 7:0`` reached a host loop device. As root, where mknod
    would work, the apply still creates no node: it records each one as data."""
    need_root()
    blob = tar(
        entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
        entry("dev/loop0", tarfile.BLKTYPE, devmajor=7, devminor=0, mode=0o660, gid=6),
        entry("dev/kvm", tarfile.CHRTYPE, devmajor=10, devminor=232, mode=0o666),
        entry("run/initctl", tarfile.FIFOTYPE, mode=0o600),
    )
    result = apply(blob, tmp_path / "l")
    for name in ("dev/null", "dev/loop0", "dev/kvm"):
        # a whiteout holds the place: what a lower layer had there stays hidden
        assert is_whiteout(tmp_path / "l" / name), name
    assert [(d.name, str(d), d.mode, d.gid) for d in result.devices] == [
        ("dev/null", "c 1:3", 0o666, 0), ("dev/loop0", "b 7:0", 0o660, 6), ("dev/kvm", "c 10:232", 0o666, 0),
    ]
    assert stat.S_ISFIFO(os.lstat(tmp_path / "l/run/initctl").st_mode)
    assert result.skipped == ()
    # The record beside the layer directory carries them, and reads back the same.
    assert type(result).from_json(result.to_json()).devices == result.devices


def test_a_device_node_replaces_this_layers_earlier_entry(tmp_path: Path) -> None:
    blob = tar(entry("dev/x", data=b"file first"), entry("dev/x", tarfile.CHRTYPE, devmajor=1, devminor=1))
    result = apply(blob, tmp_path / "l")
    assert is_whiteout(tmp_path / "l/dev/x")
    assert [str(d) for d in result.devices] == ["c 1:1"]


_USERNS_CHILD = r"""
import ctypes, io, json, sys
from pathlib import Path
from hardbox.image.layers.unpack import apply_layer
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER: no init-namespace capabilities any more
    sys.exit(f"unshare: errno {ctypes.get_errno()}")
blob = sys.stdin.buffer.read()
result = apply_layer(io.BytesIO(blob), Path(sys.argv[1]), expected_diff_id=None, source="userns")
print(json.dumps(result.to_json()))
"""


@pytest.mark.root
def test_device_nodes_are_recorded_and_whiteouts_made_inside_a_user_namespace(tmp_path: Path) -> None:
    """In a user namespace (a rootless store) device nodes are recorded as everywhere, and
    overlay whiteouts (0/0, which mknod allows there since Linux 5.8) are still made."""
    need_root()  # the child writes into a root-owned tmp dir as root without capabilities
    blob = tar(
        entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
        entry("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0),
        entry("etc/.wh.gone"),
        entry("opt/.wh..wh..opq"),
        entry("etc/hosts", data=b"127.0.0.1 localhost\n", uid=1000),
    )
    dest = tmp_path / "l"
    dest.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])}
    proc = subprocess.run(
        [os.sys.executable, "-c", _USERNS_CHILD, str(dest)], input=blob, capture_output=True, env=env  # type: ignore[attr-defined]
    )
    assert proc.returncode == 0, proc.stderr.decode()
    record = json.loads(proc.stdout)
    assert record["skipped"] == []
    assert [(d["name"], d["kind"], d["major"], d["minor"]) for d in record["devices"]] == [
        ("dev/null", "c", 1, 3), ("dev/sda", "b", 8, 0),
    ]
    assert is_whiteout(dest / "dev/null") and is_whiteout(dest / "dev/sda")
    assert is_whiteout(dest / "etc/gone")
    assert os.getxattr(dest / "opt", "user.overlay.opaque") == b"y"
    assert any("trusted.overlay.opaque" in w for w in record["warnings"])
    assert any("chown was not permitted" in w for w in record["warnings"])
    assert (dest / "etc/hosts").read_bytes() == b"127.0.0.1 localhost\n"


# -- real tools and real images --------------------------------------------------------------


def test_busybox_tar_layer(tmp_path: Path) -> None:
    need_tool("busybox")
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "bin/hello").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(src / "bin/hello", 0o755)
    os.symlink("hello", src / "bin/hi")
    os.link(src / "bin/hello", src / "bin/hello2")
    blob = subprocess.run(["busybox", "tar", "-C", str(src), "-cf", "-", "."], capture_output=True, check=True).stdout
    apply(blob, tmp_path / "l")
    out = tmp_path / "l/bin"
    assert (out / "hello").read_bytes() == b"#!/bin/sh\necho hi\n" and os.access(out / "hello", os.X_OK)
    assert os.readlink(out / "hi") == "hello"
    assert os.lstat(out / "hello2").st_ino == os.lstat(out / "hello").st_ino


def test_a_layer_without_a_root_entry_gets_a_0755_root(tmp_path: Path) -> None:
    """Layers after the first rarely carry "./"; the staging directory's 0700 must not
    leak into the merged root (a non-root container user could not reach /bin)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        info = tarfile.TarInfo("etc")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(info)
    dest = tmp_path / "layer"
    dest.mkdir(mode=0o700)
    apply_layer(io.BytesIO(buf.getvalue()), dest, expected_diff_id=None, source="test.tar")
    assert dest.stat().st_mode & 0o7777 == 0o755
