"""Java archives (jar, war, ear and Jenkins plugins) and the archives nested inside
(``WEB-INF/lib/*.jar``, Spring Boot's ``BOOT-INF/lib``), named by Maven coordinates only where
the image states them:

1. ``META-INF/maven/<group>/<artifact>/pom.properties``, as the Maven archiver writes it;
2. else the Maven repository a distribution ships (Debian's ``/usr/share/maven-repo``, where
   ``G/A/V/A-V.jar`` links to the jar in ``/usr/share/java`` beside its ``A-V.pom``);
3. else the manifest, when it names a group (``Implementation-Vendor-Id``) and an artifact
   id that is one (``Implementation-Title`` or ``Bundle-SymbolicName`` without spaces).

Otherwise the coordinates are unknown and are not invented: the jar is listed with its file
name and version under a ``pkg:generic`` purl, marked ``hardbox:maven:coordinates=unknown``,
and is not matched against Maven advisories (the coverage says so).

A jar is a zip file from an untrusted image: the outer file, each nested archive and each
metadata entry are size-limited, nesting stops at ``_MAX_DEPTH``, and the number of entries
looked at is bounded, so a zip bomb costs a recorded problem, not the scan.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass
from typing import IO
from xml.etree import ElementTree

from hardbox.findings import LayerRef
from hardbox.scan.catalog.interface import CatalogContext, Cataloger, Sighting
from hardbox.scan.package import Package, make_purl
from hardbox.scan.walk import ImageFile

_ARCHIVES = (".jar", ".war", ".ear", ".jpi", ".hpi")
_MAX_ARCHIVE = 1024 * 1024 * 1024
_MAX_NESTED = 64 * 1024 * 1024
_MAX_METADATA = 1024 * 1024
_MAX_ENTRIES = 100_000
_MAX_DEPTH = 3
_MAVEN_REPOS = ("/usr/share/maven-repo/",)
_MAX_POM = 1024 * 1024
# What Maven accepts in a groupId or artifactId (maven-model's id pattern).
_MAVEN_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class _Artifact:
    """What one archive states of itself; its location is the sighting's: the image path,
    with "!/inner.jar" for nested archives (as JAR URLs do)."""

    group: str
    artifact: str
    version: str
    licenses: tuple[str, ...]
    source: str  # "pom.properties", "manifest" or "maven-repo"; "" while unknown


@dataclass(frozen=True)
class _RepoEntry:
    """One version directory of a distribution's Maven repository: the coordinates its pom
    states and the jar path beside it (a symlink into /usr/share/java)."""

    group: str
    artifact: str
    version: str
    jar: str


def _pom_coordinates(data: bytes) -> tuple[str, str, str] | None:
    """(groupId, artifactId, version) of a pom, the group and version inherited from
    ``<parent>`` when the project does not state them. Poms have no DTD: one that declares
    a DOCTYPE (entity expansion) is not read."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("a pom with a DOCTYPE or ENTITY declaration")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as err:  # a SyntaxError: damage, recorded like the rest
        raise ValueError(f"not a well-formed pom: {err}") from None

    def text(parent: ElementTree.Element | None, tag: str) -> str:
        if parent is None:
            return ""
        for child in parent:
            if child.tag.rsplit("}", 1)[-1] == tag:
                return (child.text or "").strip()
        return ""

    parent = next((c for c in root if c.tag.rsplit("}", 1)[-1] == "parent"), None)
    group = text(root, "groupId") or text(parent, "groupId")
    artifact = text(root, "artifactId")
    version = text(root, "version") or text(parent, "version")
    if not (group and artifact and version) or not (_MAVEN_ID.match(group) and _MAVEN_ID.match(artifact)):
        return None
    return group, artifact, version


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


class JavaArchiveCataloger(Cataloger[_Artifact]):
    name = "language/java"
    ecosystem = "maven"

    def __init__(self, *, with_files: bool = True) -> None:
        super().__init__(with_files=with_files)
        self._repo: list[_RepoEntry] = []
        # The image's Maven repository by the real path of each jar it links to: known once
        # the walk has read all of it (``packages``).
        self._stated: dict[str, _RepoEntry] = {}

    def wants(self, path: str) -> bool:
        return path.lower().endswith(_ARCHIVES) or (path.startswith(_MAVEN_REPOS) and path.endswith(".pom"))

    def read(self, file: ImageFile) -> None:
        if not file.visible or not file.is_file:
            return
        if file.path.endswith(".pom"):
            self._read_pom(file)
            return
        if file.size > _MAX_ARCHIVE:
            raise ValueError(f"{file.size} bytes, more than the {_MAX_ARCHIVE} archive limit")
        with file.open() as fh:
            self._read_archive(fh, file, file.path, 1)

    def _read_pom(self, file: ImageFile) -> None:
        # G/A/V/A-V.pom beside G/A/V/A-V.jar; Debian adds a "debian" version directory for
        # the same jar, which names no release and is used only when no other one does.
        coordinates = _pom_coordinates(file.read_bytes(_MAX_POM))
        if coordinates is not None:
            self._repo.append(_RepoEntry(*coordinates, file.path.removesuffix(".pom") + ".jar"))

    def _read_archive(self, fh: IO[bytes], file: ImageFile, location: str, depth: int) -> None:
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
                        stated = _Artifact(props.get("groupId", ""), props["artifactId"],
                                           props["version"], (), "pom.properties")
                        self._saw(file, stated, location)
                elif name.upper() == "META-INF/MANIFEST.MF":
                    manifest = _manifest(
                        _read_member(archive, info, _MAX_METADATA).decode("utf-8", "replace")
                    )
                elif name.lower().endswith(_ARCHIVES) and not info.is_dir():
                    self._nested(archive, info, file, f"{location}!/{name}", depth)
            if not found_pom:
                self._from_manifest(manifest, file, location)

    def _nested(
        self,
        archive: zipfile.ZipFile,
        info: zipfile.ZipInfo,
        file: ImageFile,
        location: str,
        depth: int,
    ) -> None:
        if depth >= _MAX_DEPTH:
            self.problem(f"{location}: archives nested deeper than {_MAX_DEPTH}, not opened")
            return
        try:
            data = _read_member(archive, info, _MAX_NESTED)
            self._read_archive(io.BytesIO(data), file, location, depth + 1)
        except (ValueError, zipfile.BadZipFile, OSError, EOFError) as err:
            self.problem(f"{location}: {err}")

    def _from_manifest(self, manifest: dict[str, str], file: ImageFile, location: str) -> None:
        version = (
            manifest.get("Implementation-Version")
            or manifest.get("Bundle-Version")
            or manifest.get("Specification-Version")
            or _file_version(location)
        )
        if not version:
            return
        group = manifest.get("Implementation-Vendor-Id", "").strip()
        artifact = next(
            (
                candidate
                for candidate in (
                    manifest.get("Implementation-Title", "").strip(),
                    manifest.get("Bundle-SymbolicName", "").split(";")[0].strip(),
                )
                if candidate and _MAVEN_ID.match(candidate)
            ),
            "",
        )
        licenses = (manifest["Bundle-License"],) if manifest.get("Bundle-License") else ()
        # Without a group, a title is a display name ("Commons Logging"), not coordinates:
        # left unknown here, and resolved from the image's Maven repository if it has one.
        known = bool(group and artifact and _MAVEN_ID.match(group))
        stated = _Artifact(group if known else "", artifact if known else "", version.strip(),
                           licenses, "manifest" if known else "")
        self._saw(file, stated, location)

    def _saw(self, file: ImageFile, a: _Artifact, location: str) -> None:
        self.saw(file, (a.group, a.artifact, a.version, location), a, location)

    def _repository(self, ctx: CatalogContext) -> dict[str, _RepoEntry]:
        """The image's Maven repository by the real path of each jar it links to."""
        by_jar: dict[str, _RepoEntry] = {}
        for entry in sorted(self._repo, key=lambda e: e.version == "debian"):
            target = ctx.view.resolve(entry.jar)
            if target is not None and target.is_file:
                by_jar.setdefault(target.path, entry)
        return by_jar

    def packages(self, ctx: CatalogContext) -> list[Package]:
        self._stated = self._repository(ctx) if self._repo else {}
        return super().packages(ctx)

    def package(self, sighting: Sighting[_Artifact], layer: LayerRef, ctx: CatalogContext) -> Package:
        a = self._resolved(sighting.record, sighting.location)
        if not a.source:
            name = _file_stem(sighting.location)
            return self.new_package(
                sighting, layer, name, a.version,
                make_purl("generic", name, a.version,
                          qualifiers={"file_name": posixpath.basename(sighting.location)}),
                licenses=a.licenses,
                properties=(("hardbox:maven:coordinates", "unknown"), ("hardbox:maven:evidence", "manifest")),
            )
        return self.new_package(
            sighting, layer, f"{a.group}:{a.artifact}", a.version,
            self.purl(a.artifact, a.version, namespace=a.group),
            licenses=a.licenses, properties=(("hardbox:maven:evidence", a.source),),
        )

    def _resolved(self, a: _Artifact, location: str) -> _Artifact:
        """The coordinates the image's Maven repository states for the jar at ``location``,
        where the archive itself stated none (or only its manifest's)."""
        stated = self._stated.get(location) if a.source in ("", "manifest") else None
        if stated is not None and stated.version != "debian":
            return _Artifact(stated.group, stated.artifact, stated.version, a.licenses, "maven-repo")
        if stated is not None and not a.source:
            return _Artifact(stated.group, stated.artifact, a.version, a.licenses, "maven-repo")
        return a


def _file_stem(location: str) -> str:
    """``/usr/share/java/commons-logging-1.2.jar`` -> ``commons-logging``: the name the jar's
    file gives, the version the way Maven appends it taken off."""
    stem = posixpath.splitext(posixpath.basename(location.rsplit("!/", 1)[-1]))[0]
    head, _, tail = stem.rpartition("-")
    return head if head and tail[:1].isdigit() else stem


def _file_version(location: str) -> str:
    stem = posixpath.splitext(posixpath.basename(location.rsplit("!/", 1)[-1]))[0]
    head, _, tail = stem.rpartition("-")
    return tail if head and tail[:1].isdigit() else ""
