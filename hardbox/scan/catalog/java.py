"""Java archives (jar, war, ear and Jenkins plugins): ``META-INF/maven/<group>/<artifact>/
pom.properties`` as the Maven archiver writes it, else ``META-INF/MANIFEST.MF``, and the
archives nested inside (``WEB-INF/lib/*.jar``, Spring Boot's ``BOOT-INF/lib``).

A jar is a zip file from an untrusted image: the outer file, each nested archive and each
metadata entry are size-limited, nesting stops at ``_MAX_DEPTH``, and the number of entries
looked at is bounded, so a zip bomb costs a recorded problem, not the scan.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from dataclasses import dataclass
from typing import IO

from hardbox.findings import LayerRef
from hardbox.scan.catalog.interface import CatalogContext, Cataloger
from hardbox.scan.package import Package
from hardbox.scan.walk import ImageFile

_ARCHIVES = (".jar", ".war", ".ear", ".jpi", ".hpi")
_MAX_ARCHIVE = 1024 * 1024 * 1024
_MAX_NESTED = 64 * 1024 * 1024
_MAX_METADATA = 1024 * 1024
_MAX_ENTRIES = 100_000
_MAX_DEPTH = 3


@dataclass(frozen=True)
class _Artifact:
    group: str
    artifact: str
    version: str
    licenses: tuple[str, ...]
    location: str  # image path, with "!/inner.jar" for nested archives (as JAR URLs do)
    layer: LayerRef
    source: str  # "pom.properties" or "manifest"


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise ValueError(f"{info.filename}: {info.file_size} bytes, more than the {limit} limit")
    with archive.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:  # the header lied about the size
        raise ValueError(f"{info.filename}: inflates past the {limit} limit")
    return data


def _properties(text: str) -> dict[str, str]:
    """java.util.Properties as the Maven archiver writes them: ``key=value`` lines."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _manifest(text: str) -> dict[str, str]:
    """The main section of a JAR manifest; continuation lines start with one space (JAR spec)."""
    values: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line:
            break  # the main section ends at the first blank line
        if line.startswith(" ") and last:
            values[last] += line[1:]
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip()
            values[last] = value.strip()
    return values


class JavaArchiveCataloger(Cataloger):
    name = "language/java"
    ecosystem = "maven"

    def __init__(self, *, with_files: bool = True) -> None:
        super().__init__(with_files=with_files)
        self._artifacts: list[_Artifact] = []

    def wants(self, path: str) -> bool:
        return path.lower().endswith(_ARCHIVES)

    def read(self, file: ImageFile) -> None:
        if not file.visible or not file.is_file:
            return
        if file.size > _MAX_ARCHIVE:
            raise ValueError(f"{file.size} bytes, more than the {_MAX_ARCHIVE} archive limit")
        with file.open() as fh:
            self._read_archive(fh, file.path, file.layer, 1)

    def _read_archive(self, fh: IO[bytes], location: str, layer: LayerRef, depth: int) -> None:
        with zipfile.ZipFile(fh) as archive:
            infos = archive.infolist()
            if len(infos) > _MAX_ENTRIES:
                raise ValueError(f"{len(infos)} zip entries, more than the {_MAX_ENTRIES} limit")
            found_pom = False
            manifest: dict[str, str] = {}
            for info in infos:
                name = info.filename
                if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
                    props = _properties(
                        _read_member(archive, info, _MAX_METADATA).decode("utf-8", "replace")
                    )
                    if props.get("artifactId") and props.get("version"):
                        found_pom = True
                        self._artifacts.append(
                            _Artifact(
                                props.get("groupId", ""),
                                props["artifactId"],
                                props["version"],
                                (),
                                location,
                                layer,
                                "pom.properties",
                            )
                        )
                elif name.upper() == "META-INF/MANIFEST.MF":
                    manifest = _manifest(
                        _read_member(archive, info, _MAX_METADATA).decode("utf-8", "replace")
                    )
                elif name.lower().endswith(_ARCHIVES) and not info.is_dir():
                    self._nested(archive, info, f"{location}!/{name}", layer, depth)
            if not found_pom:
                self._from_manifest(manifest, location, layer)

    def _nested(
        self,
        archive: zipfile.ZipFile,
        info: zipfile.ZipInfo,
        location: str,
        layer: LayerRef,
        depth: int,
    ) -> None:
        if depth >= _MAX_DEPTH:
            self.problem(f"{location}: archives nested deeper than {_MAX_DEPTH}, not opened")
            return
        try:
            data = _read_member(archive, info, _MAX_NESTED)
            self._read_archive(io.BytesIO(data), location, layer, depth + 1)
        except (ValueError, zipfile.BadZipFile, OSError, EOFError) as err:
            self.problem(f"{location}: {err}")

    def _from_manifest(self, manifest: dict[str, str], location: str, layer: LayerRef) -> None:
        version = (
            manifest.get("Implementation-Version")
            or manifest.get("Bundle-Version")
            or manifest.get("Specification-Version")
        )
        title = (
            manifest.get("Implementation-Title")
            or manifest.get("Bundle-SymbolicName", "").split(";")[0]
        )
        if not title:
            # Fall back on the file name the way Maven names artifacts: name-1.2.3.jar.
            stem = posixpath.splitext(posixpath.basename(location))[0]
            head, _, tail = stem.rpartition("-")
            title, version = (
                (head, version or tail) if head and tail[:1].isdigit() else (stem, version)
            )
        if not title or not version:
            return
        group = manifest.get("Implementation-Vendor-Id", "")
        licenses = (manifest["Bundle-License"],) if manifest.get("Bundle-License") else ()
        self._artifacts.append(
            _Artifact(group, title.strip(), version.strip(), licenses, location, layer, "manifest")
        )

    def packages(self, ctx: CatalogContext) -> list[Package]:
        found: dict[tuple[str, str, str, str], Package] = {}
        for a in self._artifacts:
            name = f"{a.group}:{a.artifact}" if a.group else a.artifact
            with self.recording(a.location):
                found[(a.group, a.artifact, a.version, a.location)] = Package(
                    name=name,
                    version=a.version,
                    ecosystem=self.ecosystem,
                    purl=self.purl(a.artifact, a.version, namespace=a.group or None),
                    cataloger=self.name,
                    layer=a.layer,
                    licenses=a.licenses,
                    locations=(a.location,),
                    properties=(("hardbox:maven:evidence", a.source),),
                )
        return sorted(found.values(), key=Package.sort_key)
