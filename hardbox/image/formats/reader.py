"""The seam between image formats and the store: what an archive or layout offers to import.

An ``ImageReader`` (docker archive, OCI layout directory, OCI layout tar) lists the images
it holds as ``Entry`` objects: their names, manifest, config (already read, verified and
validated) and a ``LayerSource`` per layer that opens the layer blob as a stream. The
importer (``store/importer.py``) knows nothing of formats; the readers know nothing of the
store. ``open_reader`` (the package's ``__init__``) detects the format of a path.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from hardbox.errors import InvalidImage, InvalidReference
from hardbox.image import reference
from hardbox.image._json import MAX_JSON_BYTES
from hardbox.image.digest import sha256_bytes
from hardbox.image.formats.config import ImageConfig
from hardbox.image.formats.manifest import Manifest
from hardbox.image.formats.platform import Platform


@dataclass(frozen=True)
class LayerSource:
    """One layer blob as the image offers it. ``digest`` is None where the format does not
    say it (docker archives store layers by file name); the importer computes it."""

    source: str
    digest: str | None
    media_type: str | None
    size: int | None
    open: Callable[[], BinaryIO]


@dataclass(frozen=True)
class Entry:
    """One image in an archive or layout, its manifest and config verified and validated."""

    names: tuple[str, ...]
    source: str
    manifest: Manifest | None
    manifest_bytes: bytes | None
    config: ImageConfig
    config_bytes: bytes
    layers: tuple[LayerSource, ...]

    def __post_init__(self) -> None:
        if len(self.layers) != len(self.config.diff_ids):
            raise InvalidImage(
                f"{self.source}: {len(self.layers)} layers but the config lists "
                f"{len(self.config.diff_ids)} rootfs.diff_ids"
            )


class ImageReader(Protocol):
    """An opened archive or layout."""

    path: Path

    def entries(self, ref: str | None, platform: Platform) -> list[Entry]:
        """The images to import: all of them, or only those named ``ref``."""
        ...

    def close(self) -> None: ...


def read_exact(stream: BinaryIO, digest: str | None, size: int | None, source: str) -> bytes:
    """Read a small blob (manifest, config) whole and check its digest and size when known."""
    data = stream.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise InvalidImage(f"{source}: larger than {MAX_JSON_BYTES} bytes; not a manifest or config")
    if size is not None and len(data) != size:
        raise InvalidImage(f"{source}: size mismatch: descriptor says {size}, blob has {len(data)}")
    actual = sha256_bytes(data)
    if digest is not None and actual != digest:
        raise InvalidImage(f"{source}: digest mismatch: expected {digest}, content is {actual}")
    return data


_NOT_NAME = re.compile(r"[^a-z0-9._-]+")


def repository_for(path: Path) -> str:
    """DIRNAME for ``DIRNAME:REF`` names: the layout's (or archive's) name made a valid
    repository name (lower case, invalid runs become ``-``)."""
    stem = path.name
    for suffix in (".tar", ".tgz", ".tar.gz"):
        stem = stem.removesuffix(suffix)
    name = _NOT_NAME.sub("-", stem.lower()).strip("-._") or "image"
    try:
        reference.parse(name)
    except InvalidReference:
        return "image"
    return name


def name_for(ref_name: str, repository: str, source: str) -> str:
    """The stored name for an OCI ``ref.name`` annotation: itself when it is a full
    reference (it has a repository: ``app:1``, ``quay.io/x/app:1``), else ``DIRNAME:REF``."""
    try:
        if any(c in ref_name for c in ":/@"):
            return str(reference.parse(ref_name))
        return str(reference.parse(f"{repository}:{ref_name}"))
    except InvalidReference as err:
        raise InvalidImage(f"{source}: ref.name {ref_name!r} is not a usable name ({err})") from None


def member_name(name: str) -> str:
    """A tar member or manifest path in the one spelling used for lookups."""
    return os.path.normpath(name.lstrip("/")).removeprefix("./")


# What a file that tarfile could not open is, from its first bytes: the words for the error.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"), (b"PK\x03\x04", "zip"),
)
_READ_COMPRESSIONS = ("gzip", "bzip2", "xz")  # what tarfile's "r:*" reads around a tar


def unreadable_archive(path: Path, err: BaseException) -> str:
    """Why ``path`` is not an archive hardbox reads, in terms of file formats (never
    tarfile's own ``ReadError('invalid header')``)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError as read_err:
        return f"cannot read it: {read_err.strerror or read_err}"
    if not head:
        return "an empty file, not an image archive"
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if kind == "zip":
        return "a zip archive, not a tar archive"
    if kind == "zstd":
        return ("a zstd-compressed file; hardbox reads tar archives plain or compressed with "
                f"{', '.join(_READ_COMPRESSIONS)} (decompress it first: zstd -d)")
    if kind is not None:
        article = "an" if kind == "xz" else "a"
        return f"{article} {kind}-compressed file that does not hold a tar archive (or holds a damaged one)"
    if isinstance(err, (EOFError, tarfile.ReadError)) and "unexpected end" in str(err):
        return "a tar archive that ends early (truncated?)"
    return ("not a tar archive (nor one compressed with gzip, bzip2 or xz, the compressions "
            "hardbox reads)")


class TarMembers:
    """Regular-file members of an outer archive by normalised name. Only regular files are
    ever read: a symlink or hardlink member cannot redirect a blob lookup."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # "r:*": a docker save piped through gzip is still a docker archive.
            self.tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by close()
            members = self.tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as err:
            raise InvalidImage(
                f"{path}: {unreadable_archive(path, err)}",
                "expected a docker-archive tar, an OCI layout tar or an OCI layout directory",
            ) from None
        self.files = {member_name(m.name): m for m in members if m.isfile()}

    def has(self, name: str) -> bool:
        return member_name(name) in self.files

    def size(self, name: str) -> int:
        return self.files[member_name(name)].size

    def open(self, name: str, source: str) -> BinaryIO:
        member = self.files.get(member_name(name))
        if member is None:
            raise InvalidImage(f"{source}: {name!r} is not a file in the archive {self.path}")
        stream = self.tar.extractfile(member)
        assert stream is not None  # regular files always have a stream
        return stream  # type: ignore[return-value]

    def close(self) -> None:
        self.tar.close()
