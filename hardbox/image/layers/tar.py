"""Reading a layer tar exactly once: headers through ``tarfile``, bounded and hashed.

``tarfile`` parses the headers (ustar, GNU, PAX), reading forward only; this module adds
what a layer reader needs on top of it:

* the sha256 of the uncompressed stream as it is read, which is the layer's ``diff_id``
  (image-spec ``config.md``: "the digest over the layer's uncompressed tar archive"), the
  end-of-archive padding and anything after it included;
* limits: total uncompressed bytes, number of entries, PAX/GNU long-name header bodies
  (``tarfile`` would otherwise read a header of any claimed size into memory), path
  length and depth;
* truncation detection: ``tarfile`` ends iteration quietly when a header is cut short or
  missing after the first one, so an archive must end with a zero block to be accepted;
* entry names split into path components with ``..`` resolved lexically and refused when
  it climbs above the layer root.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, Self, cast

from hardbox.image.layers.stream import BUFFER, Prefetch
from hardbox.image.layers.tarsafe import Parts, Refused

_META_TYPES = {
    tarfile.XHDTYPE: "PAX extended",
    tarfile.XGLTYPE: "PAX global",
    tarfile.SOLARIS_XHDTYPE: "Solaris extended",
    tarfile.GNUTYPE_LONGNAME: "GNU long-name",
    tarfile.GNUTYPE_LONGLINK: "GNU long-link",
}
NAME_MAX = 255
_NS_LIMIT = 2**63  # utimensat(2) takes a 64-bit time_t; nanoseconds keep well inside it


@dataclass(frozen=True)
class LayerLimits:
    """Bounds on one layer; exceeding any refuses the layer. Defaults are far above any
    real image (a Debian minbase layer is ~200 MB and ~10,000 entries)."""

    max_size: int = 32 << 30  # uncompressed bytes of the tar stream
    max_entries: int = 2_000_000
    max_path_length: int = 4096  # PATH_MAX
    max_depth: int = 256  # path components; bounds the directory descriptors held open
    max_header: int = 1 << 20  # body of one PAX or GNU long-name header
    max_xattr_value: int = 64 << 10  # XATTR_SIZE_MAX

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"LayerLimits.{name} must be a positive integer, not {value!r}")


class _LayerTar(tarfile.TarFile):
    end_marker = False  # set when a zero block (end of archive) was read


class _Header(tarfile.TarInfo):
    max_header = LayerLimits.max_header

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(tarfile_)
        except tarfile.EOFHeaderError:  # type: ignore[attr-defined]
            tarfile_.end_marker = True  # type: ignore[attr-defined]
            raise

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        # Called for every header before tarfile reads a PAX or long-name body into memory.
        if self.type in _META_TYPES and self.size > self.max_header:
            kind = _META_TYPES[self.type]
            raise Refused(f"a {kind} header of {self.size} bytes exceeds the limit of {self.max_header}")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


class LayerReader:
    """One pass over a decompressed layer: ``entries()``, each entry's ``data()``, then
    ``finish()`` for the diff_id and size."""

    def __init__(self, decompressed: io.RawIOBase, limits: LayerLimits) -> None:
        self._limits = limits
        self._stream = Prefetch(decompressed, limits.max_size)
        header = type("_BoundedHeader", (_Header,), {"max_header": limits.max_header})
        try:
            self._tar = _LayerTar.open(
                fileobj=cast(IO[bytes], self._stream),
                mode="r:",
                tarinfo=header,
                encoding="utf-8",
                errors="surrogateescape",
            )
        except BaseException as exc:
            self._stream.close()  # the thread must not go on reading the caller's stream
            if isinstance(exc, (tarfile.TarError, ValueError, OverflowError)):
                raise Refused(f"not a tar archive ({exc})") from None
            raise

    def entries(self) -> Iterator[tarfile.TarInfo]:
        count = 0
        previous = None
        while True:
            try:
                member = self._tar.next()
            except (tarfile.TarError, ValueError, OverflowError) as exc:
                after = f" after entry {previous!r}" if previous is not None else ""
                raise Refused(f"damaged tar header{after} ({exc})") from None
            if member is None:
                break
            # TarFile keeps every header for random access we never use.
            self._tar.members.clear()  # type: ignore[attr-defined]
            count += 1
            if count > self._limits.max_entries:
                raise Refused(f"more than the limit of {self._limits.max_entries} entries")
            previous = member.name
            yield member
        if not self._tar.end_marker:
            after = f" after entry {previous!r}" if previous is not None else ""
            raise Refused(f"tar archive is truncated: no end-of-archive block{after}")

    def data(self, member: tarfile.TarInfo) -> IO[bytes]:
        data = self._tar.extractfile(member)
        if data is None:  # only for non-regular members, which callers do not ask about
            raise Refused("entry has no file data")
        return data

    def finish(self) -> tuple[str, int]:
        """Drain what follows the end-of-archive block (it is part of the diff_id) and
        return ``("sha256:…", uncompressed size)``."""
        while self._stream.read(BUFFER):
            pass
        return "sha256:" + self._stream.sha256.hexdigest(), self._stream.size

    def close(self) -> None:
        """Stop the decompressing thread (on every path, success or failure)."""
        self._stream.close()


def split_name(name: str, limits: LayerLimits) -> Parts:
    """Path components of an entry name relative to the layer root.

    Absolute names are taken relative to the root (as every OCI implementation does);
    ``..`` is resolved lexically — a layer is written without following any symlink, so
    the lexical path is the one written — and refused when it climbs above the root.
    """
    if "\0" in name:
        raise Refused("name contains a NUL byte")
    if len(name.encode("utf-8", "surrogateescape")) > limits.max_path_length:
        raise Refused(f"name is longer than the limit of {limits.max_path_length} bytes")
    parts: list[str] = []
    for component in name.split("/"):
        if component in ("", "."):
            continue
        if component == "..":
            if not parts:
                raise Refused("name climbs out of the layer root with '..'")
            parts.pop()
            continue
        if len(component.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise Refused(f"a path component is longer than {NAME_MAX} bytes")
        parts.append(component)
    if len(parts) > limits.max_depth:
        raise Refused(f"name is deeper than the limit of {limits.max_depth} components")
    return tuple(parts)


def times_ns(member: tarfile.TarInfo) -> tuple[int, int]:
    """(atime, mtime) in nanoseconds; PAX keeps sub-second times as decimal strings, which
    a float cannot hold exactly."""

    def exact(key: str) -> int | None:
        raw = member.pax_headers.get(key)
        if raw is None:
            return None
        try:
            return int(Decimal(raw).scaleb(9))
        except (InvalidOperation, ValueError, OverflowError):
            return None

    mtime = exact("mtime")
    if mtime is None:
        mtime = int(Decimal(member.mtime).scaleb(9)) if isinstance(member.mtime, float) else int(member.mtime) * 10**9
    atime = exact("atime")
    if atime is None:
        atime = mtime
    if not (-_NS_LIMIT < mtime < _NS_LIMIT and -_NS_LIMIT < atime < _NS_LIMIT):
        raise Refused("timestamp out of range")
    return atime, mtime


_XATTR_KEY = "SCHILY.xattr."
# Kept: user.* (unprivileged, applications use them), security.capability (file
# capabilities, e.g. ping's cap_net_raw; the runtime's bounding set still decides what a
# container can use) and POSIX ACLs (permissions). Dropped with a warning: the overlay
# namespaces (trusted.overlay.*, user.overlay.*: an image could forge opaque/redirect/
# metacopy markers and change how overlayfs reads the store), other trusted.* (host
# administration data), security.selinux/ima/evm (the host labels and measures, not the
# image).
_XATTR_ALLOWED_EXACT = frozenset({"security.capability", "system.posix_acl_access", "system.posix_acl_default"})


def xattrs(member: tarfile.TarInfo, limits: LayerLimits) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The entry's allowed extended attributes and a note for each dropped one."""
    kept: list[tuple[str, bytes]] = []
    dropped: list[str] = []
    for key, value in member.pax_headers.items():
        if not key.startswith(_XATTR_KEY):
            continue
        name = key[len(_XATTR_KEY) :]
        raw = value.encode("utf-8", "surrogateescape")
        allowed = (name.startswith("user.") and not name.startswith("user.overlay.")) or name in _XATTR_ALLOWED_EXACT
        if not allowed:
            dropped.append(f"xattr {name!r} dropped (not an allowed namespace)")
        elif len(raw) > limits.max_xattr_value or "\0" in name:
            dropped.append(f"xattr {name!r} dropped (malformed or over {limits.max_xattr_value} bytes)")
        else:
            kept.append((name, raw))
    return kept, dropped
