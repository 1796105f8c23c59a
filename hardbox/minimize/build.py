"""Writes a minimized root filesystem as one uncompressed layer tar.

Entries are written in sorted order (parents first) with the ownership, modes (setuid bits
included), mtimes, xattrs, symlinks and hardlinks of the original; rewritten package
databases replace their originals. The tar is deterministic for the same input, so the same
image and probes give the same layer digest.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from hardbox.minimize.rootview import RootView

# xattrs that carry meaning in an image: file capabilities and user attributes. Overlay and
# SELinux labels belong to the host that unpacked the layer, not to the image.
_XATTR_PREFIXES = ("user.", "security.capability")


def _xattrs(host: Path) -> dict[str, str]:
    found = {}
    try:
        names = os.listxattr(host, follow_symlinks=False)
    except OSError:
        return {}
    for name in names:
        if name.startswith(_XATTR_PREFIXES) and not name.startswith("user.overlay."):
            try:
                value = os.getxattr(host, name, follow_symlinks=False)
            except OSError:
                continue
            found[f"SCHILY.xattr.{name}"] = value.decode("latin-1")
    return found


def with_parents(paths: Iterable[str]) -> list[str]:
    full: set[str] = set()
    for path in paths:
        while path not in ("/", "") and path not in full:
            full.add(path)
            path = posixpath.dirname(path)
    return sorted(full)


def write_layer(
    view: RootView,
    paths: Iterable[str],
    out: Path,
    *,
    overrides: Mapping[str, bytes] | None = None,
) -> tuple[int, int]:
    """Write ``paths`` (and their parents) from ``view`` to ``out``; returns (files, bytes)."""
    overrides = dict(overrides or {})
    inodes: dict[tuple[int, int], str] = {}
    count = total = 0
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        # The root directory itself comes first, as "./", so its mode survives.
        for path in ["/", *with_parents([*paths, *overrides])]:
            host = view.host(path)
            try:
                st = os.lstat(host)
            except FileNotFoundError:
                continue
            info = tarfile.TarInfo(path.lstrip("/") or ".")
            info.uid, info.gid = st.st_uid, st.st_gid
            info.mode = stat.S_IMODE(st.st_mode)
            info.mtime = int(st.st_mtime)
            info.uname = info.gname = ""
            info.pax_headers = _xattrs(host)
            data: io.BufferedIOBase | io.BytesIO | None = None
            if path in overrides:
                info.type = tarfile.REGTYPE
                info.size = len(overrides[path])
                data = io.BytesIO(overrides[path])
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(host)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in inodes:
                    info.type = tarfile.LNKTYPE
                    info.linkname = inodes[key]
                else:
                    inodes[key] = info.name
                    info.type = tarfile.REGTYPE
                    info.size = st.st_size
                    data = open(host, "rb")  # noqa: SIM115 - closed below
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    continue  # an overlay whiteout, not a file of the image
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            elif stat.S_ISFIFO(st.st_mode):
                info.type = tarfile.FIFOTYPE
            else:
                continue
            try:
                tar.addfile(info, data)
            finally:
                if data is not None:
                    data.close()
            count += 1
            total += info.size
    return count, total
