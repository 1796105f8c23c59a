"""RPM packages from the rpm database, in any of the formats rpm has written: sqlite
(``rpmdb.sqlite``), Berkeley DB hash (``Packages``) and ndb (``Packages.db``). The readers
in ``rpmdb/`` yield each format's header blobs; ``rpmdb/header.py`` parses a blob. A
damaged record is one problem (the cataloger goes on, ``partial``), a file that is no
database of its format is one problem for the file (``failed`` when nothing else was
found), and a variant hardbox does not read (an encrypted Berkeley DB) is ``unsupported``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hardbox.findings import LayerRef
from hardbox.scan.catalog.interface import CatalogContext, Cataloger, Sighting
from hardbox.scan.catalog.rpmdb import READERS, Damage, UnsupportedDatabase
from hardbox.scan.catalog.rpmdb.header import (
    TAG_ARCH,
    TAG_BASENAMES,
    TAG_DIRINDEXES,
    TAG_DIRNAMES,
    TAG_EPOCH,
    TAG_LICENSE,
    TAG_NAME,
    TAG_RELEASE,
    TAG_SOURCERPM,
    TAG_VERSION,
    Tags,
    parse_header,
)
from hardbox.scan.package import Package
from hardbox.scan.walk import ImageFile

_DB_DIRS = ("/var/lib/rpm/", "/usr/lib/sysimage/rpm/")


@dataclass(frozen=True)
class _Header:
    name: str
    version: str  # [epoch:]version-release, as rpm -q --qf '%{EVR}' spells it
    epoch: str
    arch: str
    license: str
    source_rpm: str
    files: tuple[str, ...]


def _split_srpm(srpm: str) -> tuple[str, str]:
    """``bash-5.1.8-6.el9.src.rpm`` -> (``bash``, ``5.1.8-6.el9``)."""
    stem = srpm.removesuffix(".rpm").removesuffix(".src").removesuffix(".nosrc")
    parts = stem.rsplit("-", 2)
    if len(parts) != 3:
        return "", ""
    return parts[0], f"{parts[1]}-{parts[2]}"


class RpmCataloger(Cataloger[_Header]):
    name = "os/rpm"
    ecosystem = "rpm"

    def wants(self, path: str) -> bool:
        return path.startswith(_DB_DIRS) and path.rsplit("/", 1)[-1] in READERS

    def read(self, file: ImageFile) -> None:
        if not file.is_file:
            return
        reader = READERS[file.path.rsplit("/", 1)[-1]]
        try:
            for entry in reader(file):
                if isinstance(entry, Damage):
                    self.problem(f"{file.path}: {entry.reason}")
                    continue
                try:
                    self._add(parse_header(entry.blob), file)
                except (ValueError, struct.error, TypeError) as err:
                    self.problem(f"{file.path}: header {entry.key}: {err}")
        except UnsupportedDatabase as err:
            if file.visible:
                self.unsupported(f"{file.path}: {err}; its packages are not listed")

    def _add(self, tags: Tags, file: ImageFile) -> None:
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
        header = _Header(name, evr, epoch, str(arch), str(license_), str(srpm), tuple(files))
        self.saw(file, (header.name, header.version, header.arch), header)

    def package(self, sighting: Sighting[_Header], layer: LayerRef, ctx: CatalogContext) -> Package:
        h = sighting.record
        source_name, source_version = _split_srpm(h.source_rpm)
        purl_version = h.version.split(":", 1)[1] if h.epoch else h.version
        return self.new_package(
            sighting, layer, h.name, h.version,
            self.purl(h.name, purl_version, namespace=ctx.os.id if ctx.os is not None else None,
                      qualifiers={"arch": h.arch, "distro": ctx.distro, "epoch": h.epoch}),
            arch=h.arch,
            source_name=source_name,
            source_version=source_version,
            licenses=(h.license,) if h.license else (),
            files=h.files,
        )
