"""RPM packages from the rpm database: ``rpmdb.sqlite`` (rpm >= 4.16, Fedora 33+, RHEL 9),
read with sqlite3, each row's blob being one rpm header.

A header as the database stores it (rpm's lib/header.c; the on-disk format is in rpm's
docs/manual/format.md, "Header format") is, big-endian: the index length ``il`` and data
length ``dl`` (uint32 each), ``il`` index entries of 16 bytes (tag, type, offset, count),
then ``dl`` bytes of data the entries point into. Types used here: INT32 (4), STRING (6),
STRING_ARRAY (8), I18NSTRING (9). The older Berkeley DB ``Packages`` and the ndb
``Packages.db`` have no reader among hardbox's libraries: finding one is recorded as
"unsupported", never guessed at.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from hardbox.findings import LayerRef
from hardbox.scan.catalog.interface import CatalogContext, Cataloger
from hardbox.scan.package import Package
from hardbox.scan.walk import ImageFile

_DB_DIRS = ("/var/lib/rpm/", "/usr/lib/sysimage/rpm/")
_MAX_DB = 1024 * 1024 * 1024
_MAX_HEADER_TAGS = 0xFFFF  # rpm's HEADER_TAGS_MAX
_MAX_HEADER_DATA = 256 * 1024 * 1024  # rpm's HEADER_DATA_MAX

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH = 1000, 1001, 1002, 1003
TAG_LICENSE, TAG_ARCH, TAG_SOURCERPM = 1014, 1022, 1044
TAG_DIRINDEXES, TAG_BASENAMES, TAG_DIRNAMES = 1116, 1117, 1118
TYPE_INT32, TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING = 4, 6, 8, 9


def parse_header(blob: bytes) -> dict[int, str | list[str] | list[int]]:
    """The tags of one database header blob; raises ValueError when it is damaged."""
    if len(blob) < 8:
        raise ValueError("rpm header shorter than its 8-byte preamble")
    il, dl = struct.unpack_from(">II", blob, 0)
    if il > _MAX_HEADER_TAGS or dl > _MAX_HEADER_DATA:
        raise ValueError(f"rpm header claims {il} tags and {dl} data bytes")
    data_start = 8 + il * 16
    if data_start + dl > len(blob):
        raise ValueError("rpm header is truncated")
    data = blob[data_start : data_start + dl]
    tags: dict[int, str | list[str] | list[int]] = {}
    for i in range(il):
        tag, type_, offset, count = struct.unpack_from(">iIiI", blob, 8 + i * 16)
        if offset < 0 or offset > dl:
            raise ValueError(f"rpm header tag {tag} points outside the data")
        if type_ in (TYPE_STRING, TYPE_I18NSTRING):
            tags[tag] = _strings(data, offset, 1)[0]
        elif type_ == TYPE_STRING_ARRAY:
            tags[tag] = _strings(data, offset, count)
        elif type_ == TYPE_INT32:
            if offset + 4 * count > dl:
                raise ValueError(f"rpm header tag {tag} runs past the data")
            tags[tag] = list(struct.unpack_from(f">{count}i", data, offset))
    return tags


def _strings(data: bytes, offset: int, count: int) -> list[str]:
    out: list[str] = []
    for _ in range(count):
        end = data.find(b"\0", offset)
        if end < 0:
            raise ValueError("rpm header string is not NUL-terminated")
        out.append(data[offset:end].decode("utf-8", errors="replace"))
        offset = end + 1
    return out


@dataclass(frozen=True)
class _Header:
    name: str
    version: str  # [epoch:]version-release, as rpm -q --qf '%{EVR}' spells it
    epoch: str
    arch: str
    license: str
    source_rpm: str
    files: tuple[str, ...]
    location: str
    layer: LayerRef
    visible: bool

    def key(self) -> tuple[str, str, str]:
        return (self.name, self.version, self.arch)


def _split_srpm(srpm: str) -> tuple[str, str]:
    """``bash-5.1.8-6.el9.src.rpm`` -> (``bash``, ``5.1.8-6.el9``)."""
    stem = srpm.removesuffix(".rpm").removesuffix(".src").removesuffix(".nosrc")
    parts = stem.rsplit("-", 2)
    if len(parts) != 3:
        return "", ""
    return parts[0], f"{parts[1]}-{parts[2]}"


class RpmCataloger(Cataloger):
    name = "os/rpm"
    ecosystem = "rpm"

    def __init__(self, *, with_files: bool = True) -> None:
        super().__init__(with_files=with_files)
        self._headers: list[_Header] = []

    def wants(self, path: str) -> bool:
        return path.startswith(_DB_DIRS) and path.rsplit("/", 1)[-1] in (
            "rpmdb.sqlite",
            "Packages",
            "Packages.db",
        )

    def read(self, file: ImageFile) -> None:
        if not file.is_file:
            return
        if not file.path.endswith("rpmdb.sqlite"):
            if file.visible:
                kind = "Berkeley DB" if file.path.endswith("/Packages") else "ndb"
                self.unsupported(
                    f"{file.path}: {kind} rpm database is unsupported (no library reads it); its packages are not listed"
                )
            return
        if file.size > _MAX_DB:
            raise ValueError(f"{file.size} bytes, more than the {_MAX_DB} limit")
        import sqlite3  # here: only images with an rpm database need it

        # immutable=1: read-only, no locking, no journal written next to an image file.
        uri = Path(file.host_path).as_uri() + "?mode=ro&immutable=1"
        with sqlite3.connect(uri, uri=True) as conn:
            try:
                rows = conn.execute("SELECT hnum, blob FROM Packages").fetchall()
            except sqlite3.DatabaseError as err:
                raise ValueError(f"not a readable rpm sqlite database: {err}") from None
        conn.close()
        for hnum, blob in rows:
            try:
                self._add(parse_header(bytes(blob)), file)
            except (ValueError, struct.error, TypeError) as err:
                self.problem(f"{file.path}: header {hnum}: {err}")

    def _add(self, tags: dict[int, str | list[str] | list[int]], file: ImageFile) -> None:
        name, version, release = (tags.get(t) for t in (TAG_NAME, TAG_VERSION, TAG_RELEASE))
        if (
            not isinstance(name, str)
            or not isinstance(version, str)
            or not isinstance(release, str)
        ):
            raise ValueError("header without NAME, VERSION and RELEASE strings")
        epoch_tag = tags.get(TAG_EPOCH)
        epoch = str(epoch_tag[0]) if isinstance(epoch_tag, list) and epoch_tag else ""
        evr = f"{epoch}:{version}-{release}" if epoch else f"{version}-{release}"
        basenames, dirnames, indexes = (
            tags.get(TAG_BASENAMES),
            tags.get(TAG_DIRNAMES),
            tags.get(TAG_DIRINDEXES),
        )
        files: list[str] = []
        if isinstance(basenames, list) and isinstance(dirnames, list) and isinstance(indexes, list):
            for base, index in zip(basenames, indexes, strict=False):
                if isinstance(index, int) and 0 <= index < len(dirnames):
                    files.append(f"{dirnames[index]}{base}")
        arch, license_, srpm = (tags.get(t, "") for t in (TAG_ARCH, TAG_LICENSE, TAG_SOURCERPM))
        self._headers.append(
            _Header(
                name,
                evr,
                epoch,
                str(arch),
                str(license_),
                str(srpm),
                tuple(files),
                file.path,
                file.layer,
                file.visible,
            )
        )

    def packages(self, ctx: CatalogContext) -> list[Package]:
        namespace = ctx.os.id if ctx.os is not None else None
        distro = ctx.os.purl_distro if ctx.os is not None else ""
        found: dict[tuple[str, str, str], Package] = {}
        for h, layer in self.introduced(self._headers, _Header.key):
            source_name, source_version = _split_srpm(h.source_rpm)
            purl_version = h.version.split(":", 1)[1] if h.epoch else h.version
            with self.recording(f"{h.location}: package {h.name!r}"):
                found[h.key()] = Package(
                    name=h.name,
                    version=h.version,
                    ecosystem=self.ecosystem,
                    purl=self.purl(
                        h.name,
                        purl_version,
                        namespace=namespace,
                        qualifiers={"arch": h.arch, "distro": distro, "epoch": h.epoch},
                    ),
                    cataloger=self.name,
                    layer=layer,
                    arch=h.arch,
                    source_name=source_name,
                    source_version=source_version,
                    licenses=(h.license,) if h.license else (),
                    locations=(h.location,),
                    files=h.files if self.with_files else (),
                )
        return sorted(found.values(), key=Package.sort_key)
