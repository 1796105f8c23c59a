"""A generated corpus of hostile layer blobs, one case per attack on layer application.

Each case builds its blob with Python's ``tarfile`` (ustar/GNU/PAX, the formats published
layers use) or by damaging such a blob the way a cut download or a crafted archive would.
A case either must be refused — ``InvalidImage`` whose message names the entry — or must
be contained: applied, with ``check(dest)`` proving what landed inside ``dest``. Every
case gets the path of a sentinel directory outside ``dest`` to aim at; the test asserts
the sentinel is untouched either way.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hardbox.image.layers.unpack import LayerLimits

Check = Callable[[Path, Path], None]  # (dest, sentinel)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], bytes]  # sentinel directory -> layer blob
    refused: str | None = None  # text the InvalidImage message must contain (the entry)
    check: Check | None = None  # for contained cases: assertions on dest
    limits: LayerLimits = field(default_factory=LayerLimits)


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = 1_600_000_000
    for key, value in attrs.items():
        setattr(info, key, value)
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    return info, data


def tar(*entries: tuple[tarfile.TarInfo, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if info.size else None)
    return buf.getvalue()


def _file(dest: Path, name: str, content: bytes) -> None:
    path = dest / name
    assert path.is_file() and not path.is_symlink(), f"{name} is not a regular file"
    assert path.read_bytes() == content


def _symlink(dest: Path, name: str, target: str) -> None:
    assert os.readlink(dest / name) == target


def _dir(dest: Path, name: str) -> None:
    path = dest / name
    assert path.is_dir() and not path.is_symlink(), f"{name} is not a directory"


def _gzip_truncated(_: Path) -> bytes:
    blob = gzip.compress(tar(entry("big", data=os.urandom(200_000))))
    return blob[: len(blob) // 2]


def _tar_truncated_in_data(_: Path) -> bytes:
    blob = tar(entry("a", data=b"x" * 5000), entry("b", data=b"y" * 5000))
    return blob[: 512 + 5120 + 512 + 1000]  # a's header and data, b's header, part of b


def _tar_without_end(_: Path) -> bytes:
    blob = tar(entry("a", data=b"x" * 100))
    return blob[:1024]  # a's header and its data block; the zero blocks that end a tar are cut


def _corrupt_header(_: Path) -> bytes:
    blob = bytearray(tar(entry("a", data=b"x" * 100), entry("b", data=b"y"), fmt=tarfile.USTAR_FORMAT))
    blob[1024 + 148 : 1024 + 156] = b"0000000\0"  # second header's checksum
    return bytes(blob)


def _gzip_bomb(_: Path) -> bytes:
    zeros = io.BytesIO()
    with gzip.GzipFile(fileobj=zeros, mode="wb", compresslevel=9) as out:
        out.write(tar(entry("zeros", data=b"\0" * (8 << 20))))
    return zeros.getvalue()


def _link_not_shared(dest: Path, _: Path) -> None:
    """Overwriting one name of a hardlinked file replaces that name, not the shared inode."""
    _file(dest, "f", b"orig")
    _file(dest, "h", b"new")


def _whiteout_device(dest: Path, name: str) -> None:
    st = os.lstat(dest / name)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def cases() -> list[Case]:
    """The corpus. Kept as a function so every test run builds fresh blobs."""
    D = tarfile.DIRTYPE
    SYM = tarfile.SYMTYPE
    LNK = tarfile.LNKTYPE

    def s(sentinel: Path, *parts: str) -> str:
        return str(sentinel.joinpath(*parts))

    return [
        # -- names climbing out, or absolute -------------------------------------------------
        Case("dotdot", lambda _: tar(entry("../outside/pwned", data=b"x")), refused="../outside/pwned"),
        Case("dotdot-deep", lambda _: tar(entry("a/../../pwned", data=b"x")), refused="a/../../pwned"),
        Case(
            "dotdot-inside",
            lambda _: tar(entry("a/../b", data=b"in")),
            check=lambda d, sen: _file(d, "b", b"in"),
        ),
        Case(
            "absolute-name",
            lambda sen: tar(entry(s(sen, "pwned"), data=b"abs")),
            check=lambda d, sen: _file(d, str(sen).lstrip("/") + "/pwned", b"abs"),
        ),
        Case("nul-in-name", lambda _: tar(entry("a\0b", data=b"x", pax_headers={"path": "a\0b"})), refused="a\\x00b"),
        Case(
            "newline-in-name",
            lambda _: tar(entry("evil\nname", data=b"nl")),
            check=lambda d, sen: _file(d, "evil\nname", b"nl"),
        ),
        Case("component-too-long", lambda _: tar(entry("a/" + "x" * 256, data=b"x")), refused="xxxx"),
        Case(
            "too-deep",
            lambda _: tar(entry("/".join(["d"] * 20), data=b"x")),
            refused="d/d/d",
            limits=LayerLimits(max_depth=10),
        ),
        # -- symlinks: data, never followed -----------------------------------------------------
        Case(
            "symlink-is-data",
            lambda sen: tar(entry("shadow", SYM, linkname="/etc/shadow"), entry("out", SYM, linkname=s(sen))),
            check=lambda d, sen: _symlink(d, "shadow", "/etc/shadow"),
        ),
        Case(
            "write-through-symlink",
            lambda sen: tar(entry("a", SYM, linkname=s(sen)), entry("a/pwned", data=b"x")),
            refused="a/pwned",
        ),
        Case(
            "write-through-relative-symlink",
            lambda _: tar(entry("a", SYM, linkname="../../.."), entry("a/pwned", data=b"x")),
            refused="a/pwned",
        ),
        Case(
            "mkdir-through-symlink",
            lambda sen: tar(entry("a", SYM, linkname=s(sen)), entry("a/sub", D)),
            refused="a/sub",
        ),
        Case(
            "symlink-replaced-by-dir",
            lambda sen: tar(entry("a", SYM, linkname=s(sen)), entry("a", D), entry("a/f", data=b"in")),
            check=lambda d, sen: _file(d, "a/f", b"in"),
        ),
        Case(
            "symlink-chain",
            lambda sen: tar(entry("a", SYM, linkname="b"), entry("b", SYM, linkname=s(sen)), entry("a/x", data=b"x")),
            refused="a/x",
        ),
        # -- hardlinks ---------------------------------------------------------------------------
        Case("hardlink-dotdot", lambda _: tar(entry("h", LNK, linkname="../outside/secret")), refused="'h'"),
        Case("hardlink-absolute", lambda sen: tar(entry("h", LNK, linkname=s(sen, "secret"))), refused="'h'"),
        Case(
            "hardlink-through-symlink",
            lambda sen: tar(entry("a", SYM, linkname=s(sen)), entry("h", LNK, linkname="a/secret")),
            refused="'h'",
        ),
        Case("hardlink-earlier-layer", lambda _: tar(entry("h", LNK, linkname="etc/passwd")), refused="not an entry of this layer"),
        Case(
            "hardlink-to-removed-entry",
            lambda _: tar(entry("d", D), entry("d/f", data=b"x"), entry("d", data=b"file"), entry("h", LNK, linkname="d/f")),
            refused="not an entry of this layer",
        ),
        Case("hardlink-to-dir", lambda _: tar(entry("d", D), entry("h", LNK, linkname="d")), refused="is a directory"),
        Case("hardlink-to-self", lambda _: tar(entry("h", LNK, linkname="h")), refused="'h'"),
        Case(
            "hardlink-to-symlink",
            lambda sen: tar(entry("s", SYM, linkname=s(sen, "secret")), entry("h", LNK, linkname="s")),
            check=lambda d, sen: _symlink(d, "h", os.readlink(d / "s")),
        ),
        Case(
            "hardlink-then-overwrite",
            lambda _: tar(entry("f", data=b"orig"), entry("h", LNK, linkname="f"), entry("h", data=b"new")),
            check=_link_not_shared,
        ),
        # -- whiteouts ---------------------------------------------------------------------------
        Case("whiteout-dotdot", lambda _: tar(entry("../.wh.outside")), refused="../.wh.outside"),
        Case("whiteout-names-parent", lambda _: tar(entry("a/.wh...")), refused="a/.wh..."),
        Case("whiteout-names-self", lambda _: tar(entry("a/.wh..")), refused="a/.wh.."),
        Case("whiteout-empty", lambda _: tar(entry("a/.wh.")), refused="a/.wh."),
        Case(
            "whiteout-through-symlink",
            lambda sen: tar(entry("a", SYM, linkname=s(sen)), entry("a/.wh.secret")),
            refused="a/.wh.secret",
        ),
        Case(
            "opaque-through-symlink",
            lambda sen: tar(entry("a", SYM, linkname=s(sen)), entry("a/.wh..wh..opq")),
            refused="a/.wh..wh..opq",
        ),
        Case("below-whiteout-name", lambda _: tar(entry("a/.wh.b/c", data=b"x")), refused="a/.wh.b/c"),
        Case(
            "whiteout-absolute",
            lambda sen: tar(entry(s(sen, ".wh.secret"))),
            check=lambda d, sen: _whiteout_device(d, str(sen).lstrip("/") + "/secret"),
        ),
        # -- duplicates and type changes (later entry wins, as tar does) ---------------------------
        Case(
            "duplicate-file",
            lambda _: tar(entry("f", data=b"first"), entry("f", data=b"second")),
            check=lambda d, sen: _file(d, "f", b"second"),
        ),
        Case(
            "file-replaces-dir",
            lambda _: tar(entry("d", D), entry("d/x", data=b"x"), entry("d", data=b"file")),
            check=lambda d, sen: _file(d, "d", b"file"),
        ),
        Case(
            "dir-replaces-file",
            lambda _: tar(entry("d", data=b"file"), entry("d", D), entry("d/x", data=b"x")),
            check=lambda d, sen: _file(d, "d/x", b"x"),
        ),
        Case("file-below-file", lambda _: tar(entry("f", data=b"x"), entry("f/x", data=b"y")), refused="f/x"),
        # -- damaged streams -----------------------------------------------------------------------
        Case("truncated-gzip", _gzip_truncated, refused="truncated"),
        Case("truncated-tar-data", _tar_truncated_in_data, refused="'b'"),
        Case("truncated-tar-no-end", _tar_without_end, refused="truncated"),
        Case("corrupt-header", _corrupt_header, refused="truncated"),
        Case("not-a-tar", lambda _: b"this is a text file, not a layer\n" * 40, refused="not a tar archive"),
        Case("empty-blob", lambda _: b"", refused="not a tar archive"),
        Case("corrupt-gzip", lambda _: b"\x1f\x8b\x08\x00" + b"\xff" * 100, refused="gzip"),
        # -- limits ---------------------------------------------------------------------------------
        Case(
            "too-many-entries",
            lambda _: tar(*(entry(f"f{i}") for i in range(20))),
            refused="limit of 10 entries",
            limits=LayerLimits(max_entries=10),
        ),
        Case("gzip-bomb", _gzip_bomb, refused="limit of 1048576 bytes", limits=LayerLimits(max_size=1 << 20)),
        Case(
            "huge-pax-header",
            lambda _: tar(entry("f", data=b"x", pax_headers={"comment": "c" * 4000})),
            refused="exceeds the limit",
            limits=LayerLimits(max_header=1024),
        ),
        Case("uid-out-of-range", lambda _: tar(entry("f", data=b"x", uid=2**33)), refused="'f'"),
        Case(
            "device-number-out-of-range",
            lambda _: tar(entry("dev/x", tarfile.CHRTYPE, devmajor=2**40, devminor=1), fmt=tarfile.GNU_FORMAT),
            refused="'dev/x'",
        ),
        Case("mtime-out-of-range", lambda _: tar(entry("f", data=b"x", pax_headers={"mtime": "1e30"})), refused="'f'"),
        Case("empty-symlink-target", lambda _: tar(entry("s", SYM, linkname="")), refused="'s'"),
        # -- metadata an image may not set -----------------------------------------------------------
        Case(
            "forged-overlay-xattrs",
            lambda _: tar(
                entry(
                    "d",
                    D,
                    pax_headers={
                        "SCHILY.xattr.trusted.overlay.opaque": "y",
                        "SCHILY.xattr.user.overlay.redirect": "/etc",
                        "SCHILY.xattr.security.selinux": "system_u:object_r:shadow_t:s0",
                    },
                )
            ),
            check=lambda d, sen: _no_xattrs(d / "d"),
        ),
    ]


def _no_xattrs(path: Path) -> None:
    assert os.listxattr(path, follow_symlinks=False) == [], os.listxattr(path)
