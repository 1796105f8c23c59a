"""Debian packages from the dpkg database: ``var/lib/dpkg/status``, the distroless
``var/lib/dpkg/status.d/*`` (one paragraph file per package), and ``var/lib/dpkg/info/*.list``
for the files each package owns.

The ground truth is dpkg itself: every package ``dpkg-query -W`` lists is reported with the
same name and version. The layer of a package is the earliest layer whose copy of the database
already held that name, version and architecture (database copies hidden by later layers are
read for exactly this). The ``Source:`` field, ``name`` or ``name (version)``, gives the source
package that Debian's security tracker and OSV key advisories by (deb-control(5)).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from hardbox.findings import LayerRef
from hardbox.scan.catalog.interface import CatalogContext, Cataloger, Sighting
from hardbox.scan.package import Package
from hardbox.scan.walk import ImageFile

_STATUS = "/var/lib/dpkg/status"
_STATUS_D = "/var/lib/dpkg/status.d/"
_INFO = "/var/lib/dpkg/info/"
_MAX_DB = 256 * 1024 * 1024
_MAX_LIST = 64 * 1024 * 1024
# dpkg-query -W lists every package the database knows except the purged ("not-installed");
# "config-files" packages left only their conffiles and have no installed version to match.
_NOT_PRESENT = {"not-installed", "config-files"}
_SOURCE = re.compile(r"^(?P<name>[^\s(]+)(?:\s*\((?P<version>[^)\s]+)\))?$")
_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.\-]*$")
_VERSION = re.compile(r"^\S+$")
_LICENSE_LINE = re.compile(r"^License:[ \t]*(\S[^\n]*)$", re.MULTILINE)
# DEP-5's first field, allowing the blank or comment lines some packages put above it.
_DEP5 = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\n){0,3}Format:", re.IGNORECASE)
# Debian policy 12.5: licenses in /usr/share/common-licenses are referred to by path.
_COMMON_LICENSE = re.compile(r"/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+_-]*)")
_SHORT_LICENSE_LINE = re.compile(r"^License:[ \t]*([A-Za-z0-9][A-Za-z0-9.+_-]*)[ \t]*$", re.MULTILINE)
_MAX_COPYRIGHT = 4 * 1024 * 1024
# A deb822 field line: a name without colons or spaces, optional blanks, the colon.
_FIELD = re.compile(r"([^:\s]+)\s*:")


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """The paragraphs of a deb822 file (deb-control(5), Debian Policy 5.1): ``Field: value``
    lines, continuation lines starting with a space or tab, paragraphs separated by blank
    (or whitespace-only) lines. Field names are case-insensitive and kept lower-cased; a
    repeated field keeps its last value; a line that is no field (no colon, a space in the
    name) or a ``#`` comment is skipped. All as python-debian's ``Deb822`` reads it (a test
    compares the two), except that a paragraph of damaged lines does not end the file here,
    where python-debian stops and drops every package after it. python-debian costs 0.15 s
    to import, more than reading the whole database, so this reader is written out."""
    para: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if not line or line.isspace():
            if para:
                yield {key: "\n".join(lines) for key, lines in para.items()}
                para, current = {}, None
            continue
        first = line[0]
        if first == " " or first == "\t":
            # A continuation belongs to the field above: a multi-line Package or Version
            # is then no valid name or version, as dpkg would also say.
            if current is not None:
                current.append(line)
            continue
        if first == "#":
            continue
        field = _FIELD.match(line)
        if field is not None:
            current = para[field[1].lower()] = [line[field.end() :].strip()]
    if para:
        yield {key: "\n".join(lines) for key, lines in para.items()}


@dataclass(frozen=True)
class _Entry:
    name: str
    version: str
    arch: str
    source_name: str
    source_version: str
    maintainer: str


def _copyright_licenses(name: str, ctx: CatalogContext) -> tuple[str, ...]:
    """License short names from ``/usr/share/doc/NAME/copyright``: dpkg records no license,
    and this file is where Debian declares it.

    - A machine-readable file (DEP-5: a ``Format:`` line at the top) names each license in
      its ``License:`` fields.
    - An older free-form file (glibc's, gnutls') points at the licenses' texts in
      ``/usr/share/common-licenses/NAME``, whose NAMEs are Debian's short names; a
      ``License:`` line there counts only when it is one short name (``License: Expat``),
      not prose.

    Regexes over the text are ~100x faster than python-debian's full copyright parser,
    which also prints to stdout on odd files."""
    entry = ctx.view.resolve(f"/usr/share/doc/{name}/copyright")
    if entry is None or not entry.is_file:
        return ()
    try:
        text = entry.read_text(_MAX_COPYRIGHT)
    except (OSError, ValueError):
        return ()
    if _DEP5.match(text):
        found = {m.group(1).strip() for m in _LICENSE_LINE.finditer(text)}
    else:
        found = {m.group(1).rstrip(".") for m in _COMMON_LICENSE.finditer(text)}
        found.update(m.group(1) for m in _SHORT_LICENSE_LINE.finditer(text))
    return tuple(sorted(name for name in found if name))


def _owned_files(listed: tuple[str, ...], ctx: CatalogContext) -> tuple[str, ...]:
    """A ``.list`` names the directories a package touches as well as its files; keep the
    rest. A listed path is a directory when the list names something below it (cheap, and
    right under merged-/usr symlinks, where ``/lib/...`` is not a path of the view), or when
    the view has a directory there (an empty one the package owns)."""
    # rpartition, not posixpath.dirname: the same parent for these absolute paths, at a
    # fraction of the cost over the thousands of lines of a Debian image's lists.
    parents = {path.rpartition("/")[0] or "/" for path in listed}
    get = ctx.view.get
    owned = []
    for path in listed:
        if path in parents:
            continue
        entry = get(path)
        if entry is None or not entry.is_dir:
            owned.append(path)
    return tuple(owned)


class DpkgCataloger(Cataloger[_Entry]):
    name = "os/dpkg"
    ecosystem = "deb"

    def wants(self, path: str) -> bool:
        if path == _STATUS:
            return True
        if path.startswith(_STATUS_D):
            return not path.endswith(".md5sums") and "/" not in path[len(_STATUS_D) :]
        return self.with_files and path.startswith(_INFO) and path.endswith(".list")

    def read(self, file: ImageFile) -> None:
        if not file.is_file:
            return
        if file.path.startswith(_INFO):
            if file.visible:
                self._read_list(file)
            return
        text = file.read_text(_MAX_DB)
        for number, para in enumerate(paragraphs(text)):
            entry = self._entry(para, file, number)
            if entry is not None:
                self.saw(file, (entry.name, entry.version, entry.arch), entry)

    def _entry(self, para: Mapping[str, str], file: ImageFile, number: int) -> _Entry | None:
        name = para.get("package", "").strip()
        version = para.get("version", "").strip()
        status = para.get("status", "install ok installed").split()
        if status and status[-1] in _NOT_PRESENT:
            return None
        where = f"{file.path} paragraph {number + 1}"
        if not _PACKAGE_NAME.match(name):
            self.problem(f"{where}: bad or missing Package field {name!r}")
            return None
        if not _VERSION.match(version):
            self.problem(f"{where}: package {name!r} has a bad or missing Version {version!r}")
            return None
        source_name, source_version = name, version
        source = para.get("source", "").strip()
        if source:
            match = _SOURCE.match(source)
            if match is None:
                self.problem(f"{where}: package {name!r} has a malformed Source field {source!r}")
            else:
                source_name = match["name"]
                source_version = match["version"] or version
        return _Entry(
            name=name,
            version=version,
            arch=para.get("architecture", "").strip(),
            source_name=source_name,
            source_version=source_version,
            maintainer=para.get("maintainer", "").strip(),
        )

    def _read_list(self, file: ImageFile) -> None:
        stem = posixpath.basename(file.path)[: -len(".list")]
        lines = file.read_text(_MAX_LIST).splitlines()
        # The list names every directory the package touches too; keep what it ships.
        self.owned[stem] = tuple(line for line in lines if line and line not in ("/.",))

    def package(self, sighting: Sighting[_Entry], layer: LayerRef, ctx: CatalogContext) -> Package:
        entry = sighting.record
        namespace = ctx.os.id if ctx.os is not None and ctx.os.id in ("debian", "ubuntu") else "debian"
        listed = self.owned.get(f"{entry.name}:{entry.arch}") or self.owned.get(entry.name, ())
        return self.new_package(
            sighting, layer, entry.name, entry.version,
            self.purl(entry.name, entry.version, namespace=namespace,
                      qualifiers={"arch": entry.arch, "distro": ctx.distro}),
            arch=entry.arch,
            source_name=entry.source_name,
            source_version=entry.source_version,
            licenses=_copyright_licenses(entry.name, ctx),
            files=_owned_files(listed, ctx) if self.with_files else (),
            properties=(("hardbox:dpkg:maintainer", entry.maintainer),) if entry.maintainer else (),
        )
